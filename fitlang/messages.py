"""Every diagnostic fitc can report, one class each. docs/errors.md documents each code.

Code ranges: E00xx syntax and encoding, E01xx files and imports, E02xx names,
E03xx types, units and values, E04xx rules and their consistency.
Later stages add their own ranges (E05xx placement, W0xxx warnings); those of time (E09xx,
W09xx) are in `messages_time.py`, re-exported here.
"""

from __future__ import annotations

from fitlang.diagnostics import Message, Severity

# ---- E00xx: syntax ------------------------------------------------------


class InvalidCharacter(Message):
    code = "E0001"
    summary = "invalid character"
    template = "unexpected character {char}"
    fix = "Remove the character, or put it inside a string literal."
    char: str


class UnexpectedToken(Message):
    code = "E0002"
    summary = "unexpected token"
    template = "unexpected {found}; expected {expected}"
    fix = ("Read the expected tokens in the message; usually a value, bracket or name is missing "
           "before the caret.")
    found: str
    expected: str


class UnterminatedString(Message):
    code = "E0003"
    summary = "unterminated string"
    template = "unterminated string literal; strings end with `\"` on the same line"
    fix = "Close the string with `\"` on the same line; write a newline inside a string as `\n`."


class UnexpectedEnd(Message):
    code = "E0004"
    summary = "unexpected end of file"
    template = "unexpected end of file; {detail}"
    fix = "Add the missing closing bracket; the caret shows the bracket that was never closed."
    detail: str


class MissingEquals(Message):
    code = "E0005"
    summary = "missing `=` in attribute"
    template = "expected `=` between attribute `{name}` and its value{condition}"
    fix = ("Write attributes as `name = value`; a condition on a node or device is a `require` "
           "line: `require memory >= 40GB`.")
    name: str
    condition: str = ""  # where a comparison stood for the `=`: how a condition is written


class UnbalancedBrace(Message):
    code = "E0006"
    summary = "unbalanced closing bracket"
    template = "`{char}` has no matching opening bracket"
    fix = "Remove the extra bracket, or add the opening one it was meant to close."
    char: str


class InvalidEncoding(Message):
    code = "E0007"
    summary = "file is not valid UTF-8 text"
    template = "{detail}"
    fix = "Save the file as UTF-8."
    detail: str


class NestingTooDeep(Message):
    code = "E0008"
    summary = "nesting too deep"
    template = "expressions and blocks nest deeper than {limit} levels"
    fix = "Flatten the expression: name parts of it with `const`."
    limit: int


class UnknownUnit(Message):
    code = "E0009"
    summary = "unknown unit"
    template = "unknown unit `{unit}`{hint}"
    fix = "Use one of the units in docs/language.md: `m`, `Mi`, `Gi`, `GB`, `USD/h`, `W`, `kW`, `h`, ..."
    unit: str
    hint: str


class TooManyErrors(Message):
    code = "E0010"
    summary = "too many syntax errors"
    template = "too many syntax errors; stopped after {count}"
    fix = "Fix the first errors and run again; the rest are often consequences."
    count: int


class QuotedBlockName(Message):
    code = "E0011"
    summary = "block name written as a string"
    template = "a `{kind}` block's name is an identifier, not a string: {written}{suggestion}"
    fix = ("Write the name without quotes: letters, digits and `_`, not starting with a digit "
           "(`buy eu_cloud { ... }`, not `buy \"eu-cloud\" { ... }`). The quick fix writes the "
           "string's letters and digits with `_` for the rest.")
    kind: str
    written: str
    suggestion: str = ""  # `; write `buy eu_cloud``, when the string holds a letter or digit


# ---- E01xx: files and imports -------------------------------------------


class ImportNotFound(Message):
    code = "E0101"
    summary = "imported module not found"
    template = "cannot find module `{module}`{hint}"
    fix = "Check the path: `std/NAME` for the standard library, `./file.fit` relative to this file."
    module: str
    hint: str


class ImportCycle(Message):
    code = "E0102"
    summary = "import cycle"
    template = "import cycle: {cycle}"
    fix = "Move what both files need into a third file that both import."
    cycle: str


class FileUnreadable(Message):
    code = "E0103"
    summary = "referenced file missing or unreadable"
    template = "cannot read `{file}`: {reason}"
    fix = "Check the path (relative to the .fit file) and the file's permissions."
    file: str
    reason: str


# ---- E02xx: names -------------------------------------------------------


class UnknownName(Message):
    code = "E0201"
    summary = "unknown name"
    template = "unknown name `{name}`{hint}"
    fix = "Check the spelling, or import the module that defines the name."
    name: str
    hint: str


class DuplicateDefinition(Message):
    code = "E0202"
    summary = "duplicate definition"
    template = "`{name}` is already defined (at {where})"
    fix = ("Rename one of the two definitions; a name imported from the standard library cannot "
           "be redefined: declare yours under a new name.")
    name: str
    where: str


class UnknownAccelerator(Message):
    code = "E0203"
    summary = "unknown GPU or accelerator model"
    template = "unknown GPU model `{name}`{hint}"
    fix = ("Use a model the standard library or your own `accelerator` blocks define "
           "(`import \"std/accelerators\"`).")
    name: str
    hint: str


class UnknownBlockKind(Message):
    code = "E0204"
    summary = "unknown block kind"
    template = "unknown {where} `{kind}`{hint}"
    fix = "Use one of: accelerator, pool, inventory, offer, buy, workload, profile, policy."
    where: str
    kind: str
    hint: str


class UnknownAttribute(Message):
    code = "E0205"
    summary = "unknown attribute"
    template = "`{block}` has no attribute `{name}`{hint}"
    fix = "Check the spelling; docs/language.md lists every block's attributes."
    block: str
    name: str
    hint: str


class MissingAttribute(Message):
    code = "E0206"
    summary = "missing required attribute"
    template = "{block} `{name}` needs {attribute}"
    fix = "Add the attribute, or `use` a profile that sets it."
    block: str
    name: str
    attribute: str


class DuplicateAttribute(Message):
    code = "E0207"
    summary = "attribute set twice"
    template = "`{name}` is set twice in this block"
    fix = "Keep one of the two settings."
    name: str


class WrongKindOfName(Message):
    code = "E0208"
    summary = "name refers to the wrong kind of thing"
    template = "`{name}` is {actual}, but {expected} is expected here"
    fix = "Refer to a declaration of the kind this place expects."
    name: str
    actual: str
    expected: str


class DefinitionCycle(Message):
    code = "E0209"
    summary = "cyclic definition"
    template = "`{name}` depends on itself: {cycle}"
    fix = "Break the cycle: a value or profile may not depend on itself."
    name: str
    cycle: str


class MissingName(Message):
    code = "E0210"
    summary = "block needs a name"
    template = "`{kind}` blocks need a name, as in `{kind} my_{kind} {{ ... }}`"
    fix = "Give the block a name: `pool gpu_a { ... }`."
    kind: str


class UnexpectedName(Message):
    code = "E0211"
    summary = "block takes no name"
    template = "`{kind}` blocks take no name"
    fix = "Remove the name: there is one `policy` and it has none."
    kind: str


class StatementNotAllowed(Message):
    code = "E0212"
    summary = "statement not allowed in this block"
    template = "`{statement}` is not allowed in `{block}`"
    fix = "Move the rule into a `workload` or `profile`."
    statement: str
    block: str


class RegionOfAnotherProvider(Message):
    code = "E0213"
    summary = "an offer priced in another provider's region"
    template = "offer `{offer}` is sold by {provider}, but `{region}` is a region of {other}"
    fix = "Price the offer only in its own provider's regions (`region` blocks state their provider)."
    offer: str
    provider: str
    region: str
    other: str


# ---- E03xx: types, units and values -------------------------------------


class TypeMismatch(Message):
    code = "E0301"
    summary = "type mismatch"
    template = "expected {expected}, found {found}"
    fix = "Give a value of the expected type."
    expected: str
    found: str


class UnitMismatch(Message):
    code = "E0302"
    summary = "incompatible units"
    template = "{detail}"
    fix = ("Write the value with a unit of the expected dimension (`80GiB`, `3.5 USD/h`, `24h`), "
           "or convert it.")
    detail: str


class OutOfRange(Message):
    code = "E0303"
    summary = "value out of range"
    template = "{what} must be {bound}, found {value}"
    fix = "Give a value within the stated bounds."
    what: str
    bound: str
    value: str


class NotIntegral(Message):
    code = "E0304"
    summary = "count is not a whole number"
    template = "{what} must be a whole number, found {value}"
    fix = "Counts are whole numbers; CPU is a whole number of millicores (`500m`)."
    what: str
    value: str


class InvalidEnumValue(Message):
    code = "E0305"
    summary = "invalid choice"
    template = "`{value}` is not a valid {what}; expected one of {choices}{hint}"
    fix = "Use one of the listed choices."
    value: str
    what: str
    choices: str
    hint: str


class DivisionByZero(Message):
    code = "E0306"
    summary = "division by zero"
    template = "division by zero"
    fix = "Divide by a non-zero value."


class InvalidOperator(Message):
    code = "E0307"
    summary = "operator not defined for these operands"
    template = "operator `{op}` is not defined for {left} and {right}"
    fix = "Use the operator on operands it is defined for (comparisons of order need numbers)."
    op: str
    left: str
    right: str


class UnknownFunction(Message):
    code = "E0308"
    summary = "unknown function"
    template = "unknown function `{name}`; fitlang has no functions{hint}"
    fix = "fit has no function calls; write the value directly or name it with `const`."
    name: str
    hint: str


class InvalidKey(Message):
    code = "E0309"
    summary = "invalid key or attribute access"
    template = "{target} has no {what} `{name}`{hint}"
    fix = "Use a key or attribute the value has."
    target: str
    what: str
    name: str
    hint: str


class ValueTooLarge(Message):
    code = "E0310"
    summary = "value above its documented range"
    template = "{what} must be at most {limit}, found {value}"
    fix = ("Give a value within the range docs/language.md (\"Ranges\") states for it; fitc "
           "bounds every quantity so that a typo cannot exhaust memory or time.")
    what: str
    limit: str
    value: str


class NumberTooLarge(Message):
    code = "E0311"
    summary = "number literal too large"
    template = "the number `{value}` is outside what fitc accepts (a magnitude of at most {limit})"
    fix = ("Write a number of at most 1e18 in magnitude, with a unit where it has one "
           "(`64Ti`, not `70368744177664Ki`).")
    value: str
    limit: str


# ---- E04xx: rules and their consistency ---------------------------------


class InvalidTopology(Message):
    code = "E0401"
    summary = "invalid topology key"
    template = "invalid topology `{key}`; use node, zone, region or a quoted node label"
    fix = "Use `node`, `zone`, `region`, or a node label key in quotes (`\"rack\"`)."
    key: str


class SelfAffinity(Message):
    code = "E0402"
    summary = "affinity of a workload with itself"
    template = "`affinity self` always holds; did you mean `anti_affinity self`?"
    fix = "Use `anti_affinity self on node` to keep replicas apart; replicas always share their own workload."


class ContradictoryRule(Message):
    code = "E0403"
    summary = "rules contradict each other"
    template = "{detail}"
    fix = "Compare a node attribute with a value: `memory >= 80GB`, not with another attribute."
    detail: str


class EmptyList(Message):
    code = "E0404"
    summary = "list must not be empty"
    template = "`{name}` must list at least one value"
    fix = "List at least one value, or leave the attribute out."
    name: str


class DuplicateBlock(Message):
    code = "E0405"
    summary = "block given twice"
    template = "`{kind}` may appear only once{where}"
    fix = "Merge the two blocks into one."
    kind: str
    where: str


class ResidencyConflict(Message):
    code = "E0406"
    summary = "residency contradicts the workload's own regions or zones"
    template = ("workload `{workload}` must keep its data in {allowed}, but its {what} allows only "
                "{places}")
    fix = ("Drop the region or zone restriction, name places inside the residency (stdlib/regions.fit "
           "lists each region's jurisdiction), or widen `residency`.")
    workload: str
    allowed: str
    what: str
    places: str


class OptionsWithModel(Message):
    code = "E0407"
    summary = "accelerator options beside a single model"
    template = "`model = {model}` conflicts with the `option` blocks of this `gpu` block"
    fix = ("Keep one: `model = MODEL` for one accelerator model, or `option MODEL { ... }` blocks "
           "for several acceptable ones (add `option {model} {{ }}` to keep it among them).")
    model: str


class DuplicateOption(Message):
    code = "E0408"
    summary = "accelerator option given twice"
    template = "option `{name}` is given twice"
    fix = "Merge the two `option` blocks into one; each accelerator model is one option."
    name: str


class ThroughputOnSomeOptions(Message):
    code = "E0409"
    summary = "throughput on some options only"
    template = "{detail}"
    fix = ("State `throughput` on every option and on the workload (the replicas must deliver it "
           "together), or on none of them and give each option its `replicas`.")
    detail: str


class ConflictingOptionMeasures(Message):
    code = "E0410"
    summary = "replicas and throughput both given"
    template = "{detail}"
    fix = ("Size the work one way: `replicas` (per option, or on the workload) or `throughput` "
           "(per option and on the workload), not both.")
    detail: str


class ThroughputWithoutOptions(Message):
    code = "E0411"
    summary = "throughput without accelerator options"
    template = ("`throughput` needs `option` blocks in the workload's `gpu` block, each stating what one "
                "replica delivers")
    fix = ("Add `gpu { option MODEL { count = N  throughput = T } }` for each acceptable model, "
           "or give `replicas` instead of `throughput`.")


class ExclusiveAffinity(Message):
    code = "E0413"
    summary = "affinity on nodes with an exclusive workload"
    template = ("`{workload}` must share a node with `{target}` (`affinity {target} on node`), and "
                "`{exclusive}` has `exclusive = true`: its nodes run nothing else")
    fix = ("Drop `exclusive = true` from the exclusive workload, or write the affinity over a wider "
           "domain (`on zone`).")
    workload: str
    target: str
    exclusive: str


# ---- E05xx: placement ---------------------------------------------------


class NoPlacement(Message):
    code = "E0501"
    summary = "no placement meets every hard rule"
    template = "{detail}"
    fix = "Apply one of the repairs `fitc explain` lists: relax a rule, add capacity, or allow buying."
    related_in_text = True
    detail: str


class InventoryError(Message):
    code = "E0502"
    summary = "malformed inventory file"
    template = "{detail}"
    fix = "Give the output of `kubectl get nodes -o json` or `scontrol -d -o show node`, unedited."
    detail: str


class PlacementViolation(Message):
    code = "E0503"
    summary = "placement breaks a rule"
    template = "{detail}"
    fix = "Solve again with `fitc solve`, or correct the placement file by hand."
    detail: str


class ConflictPart(Message):
    code = "E0504"
    summary = "rule that is part of a conflict"
    template = "{detail}"
    fix = "Relax this rule or another in the same conflict; `fitc explain` lists repairs that work."
    detail: str


class PlacementFileError(Message):
    code = "E0505"
    summary = "malformed placement file"
    template = "{detail}"
    fix = "Give the JSON that `fitc solve --format json` prints."
    detail: str


class ExplainedConflict(Message):
    code = "E0510"
    summary = "no placement exists: these rules conflict"
    template = "{detail}"
    fix = ("Apply one of the repairs `fitc explain` prints (each was checked by solving the "
           "repaired policy), or change another rule of the conflict.")
    related_in_text = True
    detail: str


class ExplainUndecided(Message):
    code = "E0511"
    summary = "explain could not decide in the time allowed"
    template = "{detail}"
    fix = ("The message says what was tried and for how long. Where it ran to the limit, run "
           "`fitc explain --time-limit SECONDS` with more time; where it ended well before (the "
           "placement's search gave up), more time may not help: `fitc solve` places what it can.")
    detail: str


class PlacementExists(Message):
    code = "W0505"
    summary = "every replica can be placed: no conflict to explain"
    template = "{detail}"
    severity = Severity.NOTE
    fix = "Nothing to repair: `fitc solve` finds the placement."
    detail: str


class PlacementUndecided(Message):
    code = "E0506"
    summary = "no verdict within the time allowed"
    template = "{detail}"
    fix = ("The solver proved neither a complete placement nor that none exists. Where it ran to "
           "the limit, raise `--time-limit`; where it gave up well before, more time may not help. "
           "`fitc explain` looks for a conflict.")
    detail: str


class SolverAnswerBroken(Message):
    code = "E0507"
    summary = "the solver's placement breaks a rule (a bug in fitc)"
    template = "{detail}"
    fix = ("Nothing was written. Report the policy to fitc's maintainers; meanwhile `fitc solve "
           "--time-limit` with another limit, or `--backend`, may find a placement that holds.")
    detail: str


class PodsOverfull(Message):
    code = "E0512"
    summary = "the placement puts more pods on nodes than their kubelet admits"
    template = ("{count} hold more pods than their kubelet admits (`allocatable.pods`, `max_pods`) as "
                "placed ({nodes}); {tried}")
    fix = ("Nothing was written: the scheduler would leave the extra pods Pending. Raise the nodes' "
           "max pods, ask more per replica (fewer, larger replicas), or allow more nodes.")
    count: str
    nodes: str
    tried: str = "moving replicas off them found no room that keeps every rule"


class SlurmCoresOverfull(Message):
    code = "E0509"
    summary = "the placement overfills nodes read from Slurm in whole cores per job"
    template = ("Slurm gives each job (a workload's replicas on one node) whole cores: {count} "
                "overfull as placed ({nodes}); {tried}")
    fix = ("Nothing was written. Ask each workload's `cpu` in multiples of the nodes' ThreadsPerCore "
           "(then a replica's share is exact), or keep one replica of it per node "
           "(`anti_affinity self on node`); a larger fleet or `--time-limit` may leave room.")
    count: str
    nodes: str
    tried: str = "moving replicas off them found no room that keeps every rule"


class SpreadOverOptionsTooLarge(Message):
    code = "E0508"
    summary = "spread over accelerator options that fitc cannot hold here"
    template = ("`spread {topology}` of `{workload}` counts the replicas of all its options "
                "together, which fitc holds node by node, or on a larger fleet where one option "
                "may run in every domain or the domains can be dealt out among the options: {why}")
    fix = ("Let one option run in every domain (its nodes in every zone), raise `max_skew`, drop "
           "`gang` or all but one spread of the workload, keep one replica per domain with "
           "`anti_affinity self on zone` (held at any size), or state the fleet in policies of at "
           "most 48 nodes.")
    topology: str
    workload: str
    why: str


class InventoryValueInvalid(Message):
    code = "E0520"
    summary = "inventory value out of range"
    template = "{detail}"
    fix = ("Inventory files state whole, non-negative CPUs and GPUs and sizes within the ranges of "
           "docs/language.md; give the tool's own output, unedited.")
    detail: str


class DuplicateInventoryNode(Message):
    code = "E0521"
    summary = "node listed twice in an inventory, or in two inventories"
    template = "{detail}"
    fix = ("Each node name appears once, in one inventory; remove the repeated entry (or "
           "concatenate files without overlap), or read each inventory from a file of its own "
           "nodes (`kubectl get nodes -l LABEL -o json`, `scontrol -o show node NAMES`).")
    detail: str


class DeclaredTpuSlice(Message):
    code = "E0522"
    summary = "a pool or offer of hosts of a multi-host TPU slice"
    template = ("{block} `{name}` labels its nodes `cloud.google.com/gke-tpu-topology: {topology}`, "
                "{chips} TPU chips, more than the {count} of one node: hosts of a multi-host slice, "
                "which run one job together and are made whole by their GKE node pool")
    fix = ("Declare a single-host topology (`2x2` for 4 chips, as std/gcp's offers do), or read a "
           "GKE cluster's slices from `kubectl get nodes -o json` (an `inventory`): fitc holds a "
           "workload to an inventory slice's hosts, one replica on each, and buys no slice.")
    block: str
    name: str
    topology: str
    chips: int
    count: int


class InventoryNodesLeftOut(Message):
    code = "W0522"
    summary = "inventory nodes or devices that take no work"
    template = "{left_out}"
    severity = Severity.NOTE
    fix = ("Nothing, where the node is cordoned, drained or down on purpose; otherwise bring it back "
           "(`kubectl uncordon`, `scontrol update NodeName=... State=RESUME`) and read the file again.")
    left_out: str


class InventoryGpuAmbiguous(Message):
    code = "W0523"
    summary = "inventory GPUs whose name fits accelerators of different memory"
    template = "{detail}"
    severity = Severity.WARNING
    fix = ("State the inventory's `gpu_model` (an accelerator of std/accelerators or your own): a "
           "Slurm GRES type (`gpu:a100:4`) names a model, not its memory.")
    detail: str


class InventoryGpuModelNotTheirs(Message):
    code = "W0913"
    summary = "an inventory's `gpu_model` that the file's names rule out for some of its GPU nodes"
    template = "{detail}"
    severity = Severity.NOTE
    fix = ("Nothing, where the file names those nodes' GPUs truly (a Slurm cluster of `gpu:a100` and "
           "`gpu:h100` nodes: `gpu_model` settles the A100s' memory, the H100s stay H100); to give "
           "them another model, list them in an inventory of their own with its `gpu_model`.")
    detail: str


class InventoryTypesUnpriced(Message):
    code = "W0524"
    summary = "inventory nodes of an instance type `instance_prices` (or, spot, `spot_prices`) does not list"
    template = "{detail}"
    severity = Severity.WARNING
    fix = ("Add their types to `instance_prices` (the provider's price list, or what the nodes "
           "cost you; an offer's `price`), or state `price` as what every other node costs; spot "
           "nodes' types to `spot_prices` (what spot costs now, or an offer's `spot_price`).")
    detail: str


class TargetLeavesOut(Message):
    code = "W0623"
    summary = "a workload this target does not write"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("Compile with the target that runs it too (`--target slurm --target kubernetes`), or "
           "give it what this target needs (`command` for Slurm, `image` for Kubernetes).")
    detail: str
    target: str


class CommandRunsSrun(Message):
    code = "W0624"
    summary = "a Slurm job's command that starts `srun` itself"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("Drop `srun` (and its options) from the workload's `command`: the script starts the "
           "command with `srun`, one task per replica, on the CPUs and GPUs the placement gives it.")
    detail: str
    target: str


# Out of use since session 59: a workload takes a multi-host TPU slice whole or not at all
# (`rules/tpu_slices.py`), and `verify` refuses a placement on part of one (E0503), so no
# answer the targets write has one. The code stays registered so that it keeps its meaning.
class PartOfTpuSlice(Message):
    code = "W0626"
    summary = "a workload on part of a multi-host TPU slice (no longer reported: `verify` refuses it)"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("Give the workload one replica per host of the slice (a `gang` of that many, asking "
           "all of each host's chips), or keep it off the slice's nodes. fitc now holds a "
           "workload to a slice's hosts itself; `verify` refuses a placement on part of one.")
    detail: str
    target: str


class TargetNeeds(Message):
    code = "E0601"
    summary = "the target needs a setting the policy lacks"
    template = "{target}: {detail}"
    fix = "Add the setting to the workload or the policy's block for that target."
    detail: str
    target: str


class MinDomainsUnwritten(Message):
    code = "W0625"
    summary = "a spread's `min_domains` the scheduler would not hold as placed"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("Nothing to fix in the policy: fitc holds `min_domains` itself. Kubernetes counts a "
           "spread's domains among the nodes one object selects (one pool's), so `minDomains` "
           "there would leave Pending the replicas fitc placed over several pools.")
    detail: str
    target: str


class FilesDoNotRealise(Message):
    code = "E0602"
    summary = "written files do not realise the placement"
    template = "{target}: {detail}"
    fix = ("Compile again (`fitc compile`) and apply what it writes; if the files were edited by "
           "hand, make them select only the nodes the placement chose, with its replica counts.")
    detail: str
    target: str


class InvalidLabelValue(Message):
    code = "E0603"
    summary = "value the API server rejects as a label value"
    template = "{target}: {detail}"
    fix = ("Kubernetes label values are at most 63 characters of letters, digits, `-`, `_` and "
           "`.`, starting and ending with a letter or digit; rename the zone, region, instance "
           "type, node or `dedicated` value.")
    detail: str
    target: str


class PoolsIndistinct(Message):
    code = "E0604"
    summary = "two pools the target cannot tell apart"
    template = "{target}: {detail}"
    fix = ("Give the pools labels that tell them apart, or state the label their nodes carry "
           "(`pool_label` in the policy's `kubernetes` block) and label the nodes.")
    detail: str
    target: str


class PodsPastKubeletDefault(Message):
    code = "W0621"
    summary = "more pods on a node than a kubelet admits by default"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("State the pool's `max_pods` (its kubelets' maxPods): fitc then holds each node to it. A "
           "kubelet admits 110 pods unless configured otherwise; the scheduler leaves the rest Pending.")
    detail: str
    target: str


# Out of use since session 50: the model packs a bought node's `disk` against what its kubelet
# admits (model/node_disks.py) and the Terraform target sets that up, so nothing is left to
# warn of. The code stays registered (and documented) so that it is never given another meaning.
class DiskOnBoughtNodes(Message):
    code = "W0622"
    summary = "ephemeral storage on nodes bought, packed against their local disk (no longer reported)"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("Set the node groups' local NVMe up as the kubelet's ephemeral storage (EKS: a launch "
           "template whose nodeadm NodeConfig sets `localStorage: {strategy: RAID0}`; GKE: "
           "`ephemeral_storage_local_ssd_config`), or state no `disk` and mount the local disk as a "
           "volume; else a node's root disk (EKS's default 20 GiB) holds the pods' ephemeral storage.")
    detail: str
    target: str


class NotEnforceable(Message):
    code = "W0620"
    summary = "rule the target cannot enforce"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("Pin the chosen nodes (`pin_nodes = true` in the policy's `kubernetes` block, or an "
           "inventory), leave the nodes slack, or accept that the scheduler may place pods "
           "elsewhere among the nodes it may use.")
    detail: str
    target: str


class TerraformPolicyDisagrees(Message):
    code = "E0615"
    summary = "the policy's `terraform` block disagrees with what the placement buys"
    template = "{target}: {detail}"
    fix = ("Let the policy's `terraform { provider, region }` name where the capacity is bought, or "
           "restrict the `buy` block (`providers`, `regions`) to it.")
    detail: str
    target: str


class TerraformClusterSpansRegions(Message):
    code = "E0616"
    summary = "one cluster named, but capacity bought in several regions or clouds"
    template = "{target}: {detail}"
    fix = ("A cluster lives in one region of one cloud: restrict the `buy` block to one region, or "
           "remove `cluster` and give the cluster per region in the Terraform variables.")
    detail: str
    target: str


class NoZoneOffersTpu(Message):
    code = "E0617"
    summary = "no zone of the region is known to offer this TPU machine type"
    template = "{target}: {detail}"
    fix = "Buy this offer only in regions where Google sells the TPU (see Google's TPU regions and zones)."
    detail: str
    target: str


class TerraformDrift(Message):
    code = "E0618"
    summary = "the Terraform files do not buy what the placement priced"
    template = "{target}: {detail}"
    fix = "Compile again with `fitc compile --target terraform`, or undo the hand edit."
    detail: str
    target: str


class NoEksAmiType(Message):
    code = "E0619"
    summary = "no EKS AMI type runs this instance type's accelerators"
    template = "{target}: {detail}"
    fix = "Buy this accelerator from another provider, or another instance type on EKS."
    detail: str
    target: str


class UnsatisfiableRule(Message):
    code = "W0101"
    summary = "rule that no node satisfies"
    template = "no node satisfies `{rule}`{detail}"
    severity = Severity.WARNING
    fix = ("Check the rule's value against the pools and offers; a replica that no node can take "
           "is never placed.")
    rule: str
    detail: str


class RuleAlwaysHolds(Message):
    code = "W0102"
    summary = "preference every node meets"
    template = "every node `{workload}` may run on meets `{rule}`; the preference changes nothing"
    severity = Severity.WARNING
    fix = "Remove the preference, or prefer something that tells the nodes apart."
    workload: str
    rule: str


class PoolUnusable(Message):
    code = "W0103"
    summary = "pool no workload can use"
    template = "no workload can run on pool `{pool}`{detail}"
    severity = Severity.WARNING
    fix = ("Remove the pool, or relax the rules that keep workloads off it (`dedicated`, `require`, "
           "GPU models, sizes).")
    pool: str
    detail: str


class WorkloadRunsNowhere(Message):
    code = "W0106"
    summary = "workload no node may take"
    template = "workload `{workload}` runs on no node: {detail}"
    severity = Severity.WARNING
    fix = ("Each pool is ruled out by the first reason named: relax that rule (or state the "
           "default it comes from, such as `arch`), or add a pool or `buy` whose nodes take a "
           "replica; as it stands, no replica is placed and `fitc solve` fails.")
    workload: str
    detail: str


class SpreadMetInOneDomain(Message):
    code = "W0107"
    summary = "spread that buying in one domain meets"
    template = "`spread {topology}` of `{workload}` is met in one {topology}: {detail}"
    severity = Severity.WARNING
    fix = ("A domain of offers exists only where a node is bought, as Kubernetes counts the "
           "domains of the nodes that exist, so every replica bought in one region meets the "
           "spread. To require more domains, state `min_domains N` on the spread (Kubernetes' "
           "`minDomains`: while fewer than N domains have nodes, each holds at most `max_skew`), "
           "or declare capacity in the other domains.")
    topology: str
    workload: str
    detail: str


class KarpenterNotForProvider(Message):
    code = "W0108"
    summary = "bought capacity Karpenter's NodePools are not written for"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("`karpenter_node_class` writes NodePools for AWS capacity (Karpenter's AWS provider); "
           "apply the Terraform target's node group for this offer, or buy it from AWS.")
    detail: str
    target: str


class BuyRegionUnsold(Message):
    code = "W0104"
    summary = "`buy` region where none of its offers is sold"
    template = "{buy}: no offer it allows is sold in {regions}{detail}"
    severity = Severity.WARNING
    fix = ("Name a region its offers are sold in (`fitc stdlib` lists each standard offer's "
           "regions), import the offers of the provider that sells there, or declare an `offer` "
           "sold there (`regions`, or `region_prices` for a price of its own there).")
    buy: str
    regions: str
    detail: str


class BuyAllowsNoOffer(Message):
    code = "W0105"
    summary = "`buy` that allows no offer"
    template = "{buy} allows no offer, so it buys nothing{detail}"
    severity = Severity.WARNING
    fix = ("Import the offers of the provider it names (`import \"std/azure\"`), declare an `offer` "
           "of that provider, or name in `providers` the provider of the offers in scope.")
    buy: str
    detail: str


class LeftOutUnproven(Message):
    code = "W0502"
    summary = "replicas left out that might fit"
    template = ("the placement leaves {count} replicas out, some of which might fit: the search did not "
                "show they cannot be placed; it ended {when}")
    severity = Severity.WARNING
    fix = ("The policy allows replicas left out (`allow_unplaced`), so the best placement found is "
           "the answer, `feasible`; with more time the search may place more, or prove it cannot.")
    count: int
    when: str


class WorkloadUnplaced(Message):
    code = "W0501"
    summary = "replicas left unplaced"
    template = "{detail}"
    severity = Severity.WARNING
    fix = "Add capacity, lower the replicas, or raise the workload's priority."
    detail: str


# ---- E07xx: policy tests (`fitc test`, `*_test.fit`) ---------------------


class TestFileStatement(Message):
    __test__ = False  # not a pytest test class, whatever its name
    code = "E0701"
    summary = "a test file holds only `test` blocks"
    template = "a test file holds only `test` blocks; `{found}` is not one"
    fix = ("Put declarations in the policy the test names (`policy = \"file.fit\"`), and the "
           "test's changes to it inside the `test` block.")
    found: str


class OverrideTargetMissing(Message):
    code = "E0702"
    summary = "a test changes a block its policy does not declare"
    template = "`{policy}` declares no `{block}`{hint}"
    fix = ("A block in a `test` changes the policy's block of the same kind and name: check the "
           "name, or the policy the test names (`policy = \"file.fit\"`).")
    policy: str
    block: str
    hint: str


class TestExpectsNothing(Message):
    __test__ = False
    code = "E0703"
    summary = "a test with no expectation"
    template = "test `{test}` expects nothing: a test that cannot fail tests nothing"
    fix = "Add `expect { outcome = placed }`, or what else the test should hold."
    test: str


class TestFailed(Message):
    __test__ = False
    code = "E0710"
    summary = "a policy test failed"
    template = "test `{test}` failed: {detail}"
    fix = "Read the expected and actual values in the message: the policy or the test is wrong."
    test: str
    detail: str


# ---- E081x/W081x: moving work (`fitc plan`) -------------------------------------------------

class MaxDisruptedInvalid(Message):
    code = "E0810"
    summary = "`max_disrupted` is neither a count nor a share"
    template = "`max_disrupted` takes a count of replicas (`2`) or a share of them (`20%`), not {found}"
    fix = "Write a whole number of replicas, or a percentage of the workload's replicas."
    found: str


class PinnedCannotStay(Message):
    code = "E0811"
    summary = "a workload that may not move cannot stay where it runs"
    template = "`{workload}` {held}, but no placement that meets every rule keeps " \
               "its {running} running replicas where they are{detail}"
    fix = ("Let it move (`movable = true`, a disruption budget above 0), or change the rule that "
           "rules its current nodes out; `fitc verify` of the current state names the rules its "
           "nodes break.")
    workload: str
    held: str  # why it may not move: `movable = false`, or a budget of 0
    running: int
    detail: str


class NoSafeOrder(Message):
    code = "E0812"
    summary = "no order of moves keeps every rule and budget mid-way"
    template = "no wave can make the next move without breaking a rule or a budget: {detail}"
    fix = ("Raise the binding budget (`max_disrupted`, `max_drained`), or free room for the move "
           "(a node to buy, a pool to grow).")
    detail: str


class OrderOutOfTime(Message):
    code = "E0813"
    summary = "the moves were not put in order within the time limit"
    template = "the time limit ended while the moves were put in order: {detail}"
    fix = ("Raise `--time-limit`: each wave is checked against every rule, and at fleet scale "
           "a move that cannot start beside what runs takes the waves many checks.")
    detail: str


class MoveCapTooLow(Message):
    code = "E0814"
    summary = "no plan within `max_moves`"
    template = "`max_moves = {limit}`, but {detail}"
    fix = ("Raise `max_moves` (`fitc plan` without it says how many the plan moves), or let "
           "the replicas that must move stay: the rule that rules their nodes out, or the nodes "
           "the policy lacks.")
    limit: int
    detail: str


class KeptPastNodeByNode(Message):
    code = "W0815"
    summary = "a workload a pod not Ready could free is kept where it runs at fleet scale"
    template = ("`{workload}` stays where it runs: its PodDisruptionBudget allows 0, and its pod "
                "not Ready {pod} moved first (evicted free of the budget, its successor healthy) "
                "would raise it, which the plan does only node by node (up to 48 nodes; this "
                "fleet has {nodes})")
    severity = Severity.WARNING
    fix = ("Delete the pod not Ready first (`kubectl delete pod`: the API server evicts it free of "
           "the budget, and its successor, once Ready, raises it), then plan again.")
    workload: str
    pod: str
    nodes: int


class BrokenRepairedLate(Message):
    code = "W0814"
    summary = "what runs now overfills a node, and the plan repairs it only after its first wave"
    template = ("what runs now overfills `{node}` ({detail}); the plan moves its replicas off "
                "first, but within the disruption budgets the node fits them only {when}")
    severity = Severity.WARNING
    fix = ("Raise the binding budget (`max_disrupted`, `max_drained`) to repair the node in the "
           "first wave; until the node fits its replicas, what it runs beyond its room may not "
           "run (a pod Pending, a job held).")
    node: str
    detail: str
    when: str


# ---- E083x: `fitc verify` of a plan (`fitc plan --format json`; issue 18) -------------------

class PlanFileError(Message):
    code = "E0830"
    summary = "malformed plan file"
    template = "{detail}"
    fix = "Give the JSON that `fitc plan --format json` prints, with the state it was made from."
    detail: str


class PlanDoesNotChain(Message):
    code = "E0831"
    summary = "a step of the plan does not start from the state the steps before it leave"
    template = "{where}: {detail}"
    fix = ("Make the plan again from what runs now (`fitc plan FILE --current STATE --format "
           "json`): a plan made from another state, or edited, does not chain.")
    where: str
    detail: str


class WaveBreaksRule(Message):
    code = "E0832"
    summary = "a wave of the plan breaks a rule mid-way"
    template = "wave {wave}: while its replicas move, {detail}"
    fix = ("Split the wave (a lower `max_disrupted`), or make the plan again: `fitc plan` starts "
           "a wave's replicas beside the old ones only where every rule still holds.")
    wave: int
    detail: str


class WaveOverBudget(Message):
    code = "E0833"
    summary = "a wave moves more replicas of a workload than its disruption budget"
    template = "wave {wave} moves {moved} replicas of `{workload}`; at most {budget} may move at " \
               "once{source}"
    fix = "Spread the moves over more waves, or raise the budget if the workload tolerates it."
    wave: int
    moved: int
    workload: str
    budget: int
    source: str


class WaveDrainsTooMany(Message):
    code = "E0834"
    summary = "a wave empties more nodes than `max_drained`"
    template = "wave {wave} empties {drained} nodes ({nodes}); `max_drained = {limit}`"
    fix = "Spread the moves over more waves, or raise `max_drained`."
    wave: int
    drained: int
    nodes: str
    limit: int


class PinnedReplicaMoved(Message):
    code = "E0835"
    summary = "the plan moves a replica of a workload that may not move"
    template = "wave {wave} moves `{workload}` from `{source}`, but it may not move ({why})"
    fix = "Leave its replicas where they run, or let it move (`movable = true`, a budget above 0)."
    wave: int
    workload: str
    source: str
    why: str


class PlanOverMoveCap(Message):
    code = "E0815"
    summary = "a plan moves more replicas in all than `max_moves`"
    template = "the plan moves {moved} replicas in all its waves; `max_moves = {limit}`"
    fix = "Make the plan again (`fitc plan`) with the policy that states `max_moves`, or raise it."
    moved: int
    limit: int


class PlanEndsElsewhere(Message):
    code = "E0836"
    summary = "the plan's end state is not its target placement"
    template = "after the last wave {detail}"
    fix = ("Make the plan again: its waves must end in a placement of every replica that keeps "
           "every rule, at the cost the plan states.")
    detail: str


class PlanStatesOtherwise(Message):
    code = "E0837"
    summary = "the plan states a cost or nodes its moves do not give"
    template = "{where} states {stated}; its moves give {actual}"
    fix = "Make the plan again from the same policy and state; do not edit its figures."
    where: str
    stated: str
    actual: str


# ---- E082x/W082x: what runs a plan (`fitc plan --target --out`; issue 18) ------------------

class PlanNotRun(Message):
    code = "W0820"
    summary = "a part of the plan the target's files do not carry out"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("Do that step by hand (the message says which), or name the replicas in the current "
           "state (pods from `kubectl get pods -o json`, jobs from `squeue`), so the files can.")
    target: str
    detail: str


class PlanPinsByName(Message):
    code = "W0821"
    summary = "the plan pins work to nodes by names the cluster may not use"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("Give the pool's real nodes as an inventory, or name the cluster's nodes as fitc does "
           "and say so (`pin_nodes = true` in the policy's `kubernetes` block); a pod pinned to a "
           "name no node has stays Pending (the wave stops there).")
    target: str
    detail: str


class PlanMovesMore(Message):
    code = "W0822"
    summary = "the target moves more than the plan counts"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("Run one replica per job (a job per replica moves alone), or raise the budgets the "
           "wave was sized by: the job's other replicas restart with it.")
    target: str
    detail: str


class DrainEvictsOthers(Message):
    code = "W0828"
    summary = "a drain of the plan evicts pods of no workload of the policy"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("`kubectl drain` evicts every pod of the node but DaemonSets', not only fitc's: move "
           "those pods' owners first (their PodDisruptionBudgets still hold them), or take the "
           "`kubectl drain` line out of the wave's run.sh to leave them running (the node stays "
           "cordoned: uncordon it). A pod no controller runs stops the drain, and the wave.")
    target: str
    detail: str


class ReleaseNamesFitcsNodes(Message):
    code = "W0827"
    summary = "release-nodes.sh finds the nodes it releases by the names fitc gave them"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("Give the current state as the cluster lists its pods and nodes (`kubectl get "
           "pods,pdb,nodes -A -o json`): its nodes of fitc's node groups are then named as the "
           "cluster names them. Or put the cluster's names of those nodes in release-nodes.sh's "
           "`check_nodes` and `release_nodes` lines (`kubectl get nodes -l GROUP_LABEL=GROUP`): "
           "as written, the script stops before changing anything unless a node of each name is "
           "found in its group.")
    target: str
    detail: str


# ---- W0823-W0826: the state a plan reaches (`compile --current`, `explain --current`) --------

class ReachedNotPinned(Message):
    code = "W0823"
    summary = "a part of the plan's end state the target's files leave to the scheduler"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("Nothing to do if the counts per pool are enough (the message says what holds); a "
           "service's replicas are pinned node by node, a job's only on pinned nodes (an "
           "inventory's, `pin_nodes`), a gang's never.")
    target: str
    detail: str


class ReachedBesideCurrent(Message):
    code = "W0824"
    summary = "what runs now is not handed over by the files of the plan's end state"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("Run the plan (`fitc plan --target ... --out`) to move what runs, or stop it by hand "
           "(the message says what) after the end state's replicas run: applied beside what "
           "runs now, these files run the work twice.")
    target: str
    detail: str


class LimitBinds(Message):
    code = "W0825"
    summary = "a limit keeps the plan from a cheaper placement, or adds waves"
    template = "{subject}{stated}: {effect}"
    severity = Severity.NOTE
    fix = ("Lift the limit only if the workload tolerates it: the message says what lifting it "
           "alone saves per hour, or how many waves fewer it takes.")
    subject: str
    stated: str
    effect: str


class NoLimitBinds(Message):
    code = "W0826"
    summary = "no limit of the move binds alone"
    template = "no limit binds alone: lifting any one of them ({limits}) saves nothing and no wave"
    severity = Severity.NOTE
    fix = "Nothing to do: the plan reaches the cheapest placement the rules allow."
    limits: str


# ---- E08xx / W08xx: what runs now (`current`, `--current`; issue 18) ----


class CurrentStateError(Message):
    code = "E0801"
    summary = "malformed current-state file"
    template = "{detail}"
    fix = ("Give the output of `kubectl get pods -A -o json` (with PDBs: `kubectl get pods,pdb -A "
           "-o json`), `squeue --json`, `squeue -h -o \"%i|%j|%T|%N\"`, or fitc's own placement "
           "JSON, unedited; `format` in the `current` block says which when the content cannot.")
    detail: str


class UnmanagedWork(Message):
    code = "W0801"
    summary = "running work of no workload of the policy"
    template = "{file}: {count} running {what} of no workload of the policy, {room}: {first}"
    severity = Severity.WARNING
    fix = ("Nothing to do if they are not the policy's (system pods, other teams' jobs); else label "
           "the pods `fitlang.dev/workload: NAME` or name the jobs as the workloads.")
    file: str
    count: int
    what: str
    room: str  # what fitc does with them: their requests take room on their nodes, or not
    first: str


class UnknownStateNodes(Message):
    code = "W0802"
    summary = "replicas run on nodes the policy does not have"
    template = ("{file}: {count} running replica{plural} on {nodes} node{node_plural} no pool or "
                "inventory of the policy has: {first}")
    severity = Severity.WARNING
    fix = ("Normal while nodes are drained or removed from an inventory: the plan moves these "
           "replicas. Otherwise add the nodes to an inventory (is the inventory file current?); "
           "nodes fitc bought are known by their node group's label where the state lists the "
           "cluster's nodes (`kubectl get pods,pdb,nodes -A -o json`).")
    file: str
    count: int
    plural: str
    nodes: int
    node_plural: str
    first: str


class UnknownStateWorkloads(Message):
    code = "W0803"
    summary = "running replicas name a workload or option the policy lacks"
    template = "{file}: {count} running replica{plural} of workloads or options the policy lacks: {first}"
    severity = Severity.WARNING
    fix = ("Normal after a workload or option is removed from the policy: these replicas are not "
           "read, and applying the new placement removes them. Otherwise check the names.")
    file: str
    count: int
    plural: str
    first: str


class BudgetSelectsNothing(Message):
    code = "W0804"
    summary = "disruption budget selects no running replica of the policy"
    template = ("{file}: PodDisruptionBudgets that select no running pod of the policy ({count}): "
                "{first}")
    severity = Severity.WARNING
    fix = ("Nothing to do if they guard other pods; else make the PDB's selector match the pods' "
           "labels (`app.kubernetes.io/name`) in their namespace.")
    file: str
    count: int
    first: str


class ForeignOverfills(Message):
    code = "W0805"
    summary = "running work of no workload of the policy overfills its nodes"
    template = ("{count} node{plural} already run pods or jobs of no workload of the policy that "
                "request more than the node has: fitc places nothing there: {first}")
    severity = Severity.WARNING
    fix = ("Read the inventory and the current state at the same time (a node resized since one "
           "was read), or check the pods' requests on these nodes.")
    count: int
    plural: str
    first: str


class AmbiguousClusterNodes(Message):
    code = "W0806"
    summary = "cluster nodes that could be nodes of several groups fitc buys"
    template = ("{file}: {count} node{plural} of the cluster fit{verb} the node groups of several "
                "offers, regions or pricings fitc buys, so none is counted as bought: {first}")
    severity = Severity.WARNING
    fix = ("Label the nodes as the cloud labels a node group's nodes (EKS "
           "`eks.amazonaws.com/nodegroup`, GKE `cloud.google.com/gke-nodepool`, AKS "
           "`kubernetes.azure.com/agentpool`), with `topology.kubernetes.io/region`: replicas on "
           "them are read as on nodes the policy lacks, and must move.")
    file: str
    count: int
    plural: str
    verb: str
    first: str


class ClosedClusterNodes(Message):
    code = "W0807"
    summary = "cluster nodes that are cordoned or not Ready take no work"
    template = ("{file}: {count} node{plural} of the policy {verb} cordoned or not Ready in the "
                "cluster: fitc places nothing there, and what runs there moves off first: {first}")
    severity = Severity.WARNING
    fix = ("Nothing, where the node is being drained or replaced; uncordon it (`kubectl uncordon`) "
           "or bring it back to Ready, and read the state again, for fitc to place work there.")
    file: str
    count: int
    plural: str
    verb: str
    first: str


class RequestsDiffer(Message):
    code = "W0808"
    summary = "running pods of a workload request other than the policy states"
    template = ("{file}: running pods of {count} workload{plural} request other than the policy "
                "states, and fitc packs nodes by the policy's: {first}")
    severity = Severity.WARNING
    fix = ("A sidecar injected at admission (a service mesh's proxy) or a LimitRange's defaults "
           "change what the pods request: state the workload's `cpu` and `memory` as its pods "
           "request them, or the nodes fitc fills leave pods Pending.")
    file: str
    count: int
    plural: str
    first: str


# time's codes, in a module of their own (re-exported: `msg.<Class>` names every code)
from fitlang.messages_time import *  # noqa: E402, F403
