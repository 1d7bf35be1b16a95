"""The checker: every diagnostic code, and what a checked program holds."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from fitlang.check.checker import check_file
from fitlang.check.loader import Workspace
from fitlang.check.program import AllOf, Compare, Negation
from fitlang.diagnostics import REGISTRY
from fitlang.render import human

from conftest import FIXTURES, ROOT, policies

ERROR_FIXTURES = FIXTURES / "errors"
CHECKER_CODES = sorted(code for code in REGISTRY if code[1] in "0" and code[:3] in
                       ("E00", "E01", "E02", "E03", "E04"))


def check_text(tmp_path: Path, text: str, name: str = "t.fit"):
    path = tmp_path / name
    path.write_text(text)
    return check_file(path, Workspace())


def codes_of(result) -> list[str]:
    return [d.code for d in result.diagnostics]


def test_every_checker_code_has_a_fixture():
    missing = [code for code in CHECKER_CODES if not (ERROR_FIXTURES / f"{code}.fit").exists()]
    assert missing == []


@pytest.mark.parametrize("code", CHECKER_CODES)
def test_fixture_reports_its_code(code, snapshot, monkeypatch):
    monkeypatch.chdir(ROOT)
    path = Path("tests/fixtures/errors") / f"{code}.fit"
    result = check_file(path, Workspace())
    assert code in codes_of(result)
    assert all(d.line >= 1 for d in [d.span for d in result.diagnostics])
    sources = {m.path: m.text for m in result.workspace.modules.values()}
    assert human(result.diagnostics, sources.get) == snapshot


@pytest.mark.parametrize(("db", "sidecar", "codes"), [
    ("  exclusive = true\n", "  affinity db on node\n", ["E0413"]),  # the target exclusive
    ("", "  exclusive = true\n  affinity db on node\n", ["E0413"]),  # itself exclusive
    ("  exclusive = true\n", "  anti_affinity db on node\n", []),  # apart: both hold
    ("  exclusive = true\n", "  affinity db on zone\n", []),  # another node of the zone
])
def test_an_affinity_on_nodes_beside_exclusive_is_refused(tmp_path, db, sidecar, codes):
    text = (f"workload db {{\n  replicas = 1\n  cpu = 4\n  memory = 8GiB\n{db}}}\n"
            f"workload sidecar {{\n  replicas = 2\n  cpu = 1\n  memory = 1GiB\n{sidecar}}}\n")
    assert codes_of(check_text(tmp_path, text)) == codes


@pytest.mark.parametrize("rule, codes", [
    ("anti_affinity self on zone", []),  # counted over every option's replicas together
    ("anti_affinity self on region", []),
    ("spread zone max_skew 1", []),  # counted over every option's replicas together
    ("spread region max_skew 2", []),
])
def test_zone_wide_rules_of_an_option_workload(tmp_path, rule, codes):
    from option_domains import apart_policy

    text = apart_policy().replace("anti_affinity self on zone", rule)
    assert codes_of(check_text(tmp_path, text)) == codes


def test_every_code_is_documented():
    text = (ROOT / "docs" / "errors.md").read_text()
    undocumented = [code for code in REGISTRY if f"## {code}" not in text]
    assert undocumented == []


def test_a_message_class_declares_exactly_the_fields_its_template_shows():
    from fitlang.diagnostics import Message

    with pytest.raises(TypeError, match="shows \\['name'\\], its fields are \\['nome'\\]"):
        class Misspelt(Message):  # never registered: its definition fails
            code = "E9998"
            summary = "a test message"
            template = "`{name}` is wrong"
            nome: str
    assert "E9998" not in REGISTRY


def test_a_message_is_made_with_exactly_its_fields_of_their_declared_types():
    from fitlang import messages as msg
    from fitlang.span import Span

    span = Span(1, 1, 1, 2)
    made = msg.UnknownUnit(unit="Gb", hint="; did you mean `GB`?").diagnostic("a.fit", span)
    assert made == msg.UnknownUnit.at("a.fit", span, unit="Gb", hint="; did you mean `GB`?")
    assert (made.code, made.message) == ("E0009", "unknown unit `Gb`; did you mean `GB`?")
    with pytest.raises(TypeError):  # a field left out
        msg.UnknownUnit.at("a.fit", span, unit="Gb")
    with pytest.raises(TypeError):  # a field the message does not have
        msg.UnknownUnit.at("a.fit", span, unit="Gb", hint="", units="Gb")
    with pytest.raises(TypeError, match=r"TooManyErrors\.count is str"):  # the tests check types
        msg.TooManyErrors(count="ten")  # type: ignore[arg-type]  # what mypy rejects too


def test_all_errors_in_a_file_are_reported(tmp_path):
    result = check_text(tmp_path, (
        'const X = 4 + 8GiB\n'
        'pool p {\n  count = -1\n  cpu = 4\n  memroy = 8Gi\n}\n'
        'workload w {\n  replicas = 2.5\n  cpu = 1\n  memory = 1Gi\n  kind = daemon\n}\n'))
    assert codes_of(result) == ["E0302", "E0206", "E0303", "E0205", "E0304", "E0305"]


def test_did_you_mean_for_attributes_models_and_choices(tmp_path):
    result = check_text(tmp_path, (
        'accelerator H100 {\n  vendor = nvidia\n  memory = 80GB\n}\n'
        'pool p {\n  count = 1\n  cpu = 4\n  memroy = 8Gi\n  memory = 8Gi\n'
        '  gpu {\n    model = H10\n    count = 1\n  }\n  arch = amd46\n}\n'))
    messages = [d.message for d in result.diagnostics]
    assert any("did you mean `memory`" in m for m in messages)
    assert any(m == "unknown GPU model `H10`; did you mean `H100`?" for m in messages)
    assert any("did you mean `amd64`" in m for m in messages)


def test_units_are_normalised(tmp_path):
    result = check_text(tmp_path, (
        'pool p {\n  count = 2\n  cpu = 2 + 500m\n  memory = 1GiB + 512Mi\n  disk = 1TB\n'
        '  price = 0.5 USD/h * 3\n}\n'))
    assert result.diagnostics == []
    pool = result.program.pools["p"]
    assert pool.shape.cpu_milli == 2500
    assert pool.shape.memory == 1024 ** 3 + 512 * 1024 ** 2
    assert pool.shape.disk == 10 ** 12
    assert pool.price == Fraction(3, 2)


@pytest.mark.parametrize("expr, code", [
    ("4 + 8GiB", "E0302"), ("1 USD/h + 1GiB", "E0302"), ("2GiB * 2GiB", "E0302"),
    ("80GB / 0", "E0306"), ('"a" + 1', "E0307"), ("not 3", "E0301"), ("[1, \"a\"]", "E0301"),
])
def test_expression_type_errors(tmp_path, expr, code):
    assert codes_of(check_text(tmp_path, f"const X = {expr}\n")) == [code]


def test_size_divided_by_size_is_a_plain_number(tmp_path):
    result = check_text(tmp_path, "const X = 80GiB / 8GiB\npool p {\n  count = X\n  cpu = 1\n"
                                  "  memory = 1Gi\n}\n")
    assert result.diagnostics == []
    assert result.program.pools["p"].count == 10


def test_requirements_become_predicates(tmp_path):
    result = check_text(tmp_path, (
        'workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n'
        '  require "eu-west-1a" == zone and not (labels["tier"] in ["a", "b"])\n}\n'))
    assert result.diagnostics == []
    (requirement,) = result.program.workloads["w"].requirements
    predicate = requirement.predicate
    assert isinstance(predicate, AllOf)
    zone, negation = predicate.items
    assert (zone.subject, zone.op, zone.value) == (("zone",), "==", "eu-west-1a")
    assert isinstance(negation, Negation) and isinstance(negation.item, Compare)
    assert negation.item.subject == ("labels", "tier") and negation.item.value == ["a", "b"]


def test_mirrored_comparison_keeps_its_meaning(tmp_path):
    result = check_text(tmp_path, (
        'workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n'
        '  gpu {\n    count = 1\n    require 40GB < memory\n  }\n}\n'))
    requirement = result.program.workloads["w"].gpu_requirements[0]  # (then the default `family == gpu`)
    assert (requirement.predicate.op, requirement.predicate.value) == (">", 40 * 10 ** 9)


def test_profiles_merge_and_the_workload_wins(tmp_path):
    result = check_text(tmp_path, (
        'profile base {\n  cpu = 1\n  memory = 1Gi\n  priority = 5\n  spread zone max_skew 2\n}\n'
        'profile big {\n  use base\n  cpu = 8\n}\n'
        'workload w {\n  use big\n  replicas = 3\n  priority = 9\n}\n'))
    assert result.diagnostics == []
    workload = result.program.workloads["w"]
    assert (workload.cpu_milli, workload.memory, workload.priority) == (8000, 1024 ** 3, 9)
    assert [s.max_skew for s in workload.spreads] == [2]


def test_profile_cycle_is_reported(tmp_path):
    result = check_text(tmp_path, (
        'profile a {\n  use b\n}\nprofile b {\n  use a\n}\n'
        'workload w {\n  use a\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n}\n'))
    assert "E0209" in codes_of(result)


def test_missing_attribute_from_profile_is_still_missing(tmp_path):
    result = check_text(tmp_path, 'profile p {\n  cpu = 1\n}\nworkload w {\n  use p\n  replicas = 1\n}\n')
    assert codes_of(result) == ["E0206"]
    assert "needs `memory`" in result.diagnostics[0].message


def test_aliased_import_and_stdlib_import(tmp_path):
    (tmp_path / "lib.fit").write_text('const CORES = 4\nprofile p {\n  cpu = CORES\n  memory = 1Gi\n}\n')
    result = check_text(tmp_path, (
        'import "./lib.fit" as lib\n'
        'workload w {\n  use lib.p\n  replicas = lib.CORES\n}\n'))
    assert result.diagnostics == []
    assert result.program.workloads["w"].replicas == 4


def test_an_inventory_is_priced_by_the_prices_of_the_offers_in_scope(tmp_path):
    # a cluster's nodes are the stdlib's instance types: `instance_prices` takes their offers'
    # prices instead of copying them (the start tree: "an offer has no attribute `price`")
    (tmp_path / "nodes.json").write_text('{"items": []}')
    result = check_text(tmp_path, (
        'import "std/aws"\nimport "std/aws" as aws\n'
        'inventory eks {\n  format = kubectl\n  file = "nodes.json"\n  instance_prices = {\n'
        '    "m7i.2xlarge": aws_m7i_2xlarge.price,\n    "m7g.2xlarge": aws.aws_m7g_2xlarge.price,\n'
        '    "g6.xlarge": aws_g6_xlarge.spot_price,\n    "c7g.4xlarge": aws_c7g_4xlarge.price * 0.7,\n'
        '  }\n}\n'
        'const TYPE = aws_c7g_4xlarge.instance_type\n'))
    assert result.diagnostics == []
    assert result.program.inventories["eks"].instance_prices == {
        "m7i.2xlarge": Fraction("0.4032"), "m7g.2xlarge": Fraction("0.3264"),
        "g6.xlarge": Fraction("0.40"), "c7g.4xlarge": Fraction("0.406")}


def test_what_an_expression_cannot_read_of_an_offer_is_said_truly(tmp_path):
    result = check_text(tmp_path, (
        'import "std/aws"\nconst A = aws_m7i_2xlarge.cpu\nconst B = aws_m7i_2xlarge.pricee\n'
        'const C = aws_m7i_2xlarge.spot_price\nconst D = aws_m7i_2xlarge.price + 1GiB\n'))
    assert [(d.code, d.message) for d in result.diagnostics] == [
        ("E0309", "offer `aws_m7i_2xlarge` has no readable attribute `cpu` (an expression reads its "
                  "`price`, `spot_price` or `instance_type`)"),
        ("E0309", "offer `aws_m7i_2xlarge` has no readable attribute `pricee`; did you mean `price`?"),
        ("E0309", "offer `aws_m7i_2xlarge` has no value for `spot_price`"),
        ("E0302", "cannot add a price in USD/h and a size in bytes")]


def test_imports_are_not_transitive(tmp_path):
    (tmp_path / "a.fit").write_text('const A = 1\n')
    (tmp_path / "b.fit").write_text('import "./a.fit"\nconst B = A\n')
    result = check_text(tmp_path, 'import "./b.fit"\nconst C = B + A\n')
    assert codes_of(result) == ["E0201"]


def test_syntax_error_does_not_cascade_into_unknown_names(tmp_path):
    result = check_text(tmp_path, (
        'profile p {\n  cpu = = 1\n}\n'
        'workload w {\n  use p\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n}\n'))
    assert codes_of(result) == ["E0002"]


def test_inventory_file_is_resolved_relative_to_the_policy(tmp_path):
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "nodes.json").write_text("{}")
    result = check_text(tmp_path, 'inventory dc {\n  format = kubectl\n  file = "inv/nodes.json"\n}\n')
    assert result.diagnostics == []
    assert result.program.inventories["dc"].file == str(tmp_path / "inv" / "nodes.json")


def test_buy_without_offers_means_every_offer_in_scope(tmp_path):
    result = check_text(tmp_path, (
        'offer a {\n  provider = aws\n  instance_type = "m7i.large"\n  regions = ["us-east-1"]\n'
        '  cpu = 2\n  memory = 8GiB\n  price = 0.1008 USD/h\n}\nbuy {\n  max_count = 3\n}\n'))
    assert result.diagnostics == []
    (buy,) = result.program.buys
    assert [o.name for o in buy.offers] == ["a"] and buy.max_count == 3


def test_valid_fixture_is_clean(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = check_file(Path("tests/fixtures/valid/everything.fit"), Workspace())
    assert result.diagnostics == []
    program = result.program
    assert sorted(program.pools) == ["h100", "l40s"]
    assert program.pools["l40s"].price == 10
    trainer = program.workloads["trainer"]
    assert (trainer.gpu_count, trainer.gang, trainer.time_limit_seconds) == (8, True, 86400)
    assert program.policy.objective == ["cost", "nodes"]
    assert program.policy.budget == 250


def test_errors_doc_is_generated_from_the_registry():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_errors_doc", ROOT / "tools" / "gen_errors_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render_doc() == (ROOT / "docs" / "errors.md").read_text(), \
        "docs/errors.md is stale: run .venv/bin/python tools/gen_errors_doc.py"


def test_block_accessors_are_generated_from_the_schema():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_blocks", ROOT / "tools" / "gen_blocks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render_blocks() == (ROOT / "fitlang" / "check" / "blocks.py").read_text(), \
        "fitlang/check/blocks.py is stale: run .venv/bin/python tools/gen_blocks.py"


def test_block_accessors_name_every_attribute_of_their_block():
    import dataclasses

    from fitlang.check import blocks
    from fitlang.check import schema as s
    from fitlang.frozen import made_dataclass

    fields = {cls: [f.name for f in dataclasses.fields(made_dataclass(cls))]
              for cls in (blocks.PoolBlock, blocks.WorkloadBlock, blocks.LatencyBlock,
                          blocks.WorkloadGpuOptionBlock, blocks.PolicyBlock)}
    assert fields[blocks.PoolBlock] == list(s.POOL.attrs)
    assert fields[blocks.WorkloadBlock] == list(s.WORKLOAD.attrs)
    assert fields[blocks.LatencyBlock] == ["from_", "to"]  # `from` is a Python keyword
    assert fields[blocks.WorkloadGpuOptionBlock] == list(s.GPU_OPTION.attrs)
    # the targets' settings blocks are theirs (each target's settings class is its accessor)
    assert fields[blocks.PolicyBlock] == ["objective", "budget", "allow_unplaced", "move_price",
                                          "min_saving", "max_drained", "max_moves", "horizon", "step",
                                          "start",
                                          "carbon_budget"]
    # a value under a name the block does not have is an error, not a silent None
    with pytest.raises(TypeError):
        blocks.PoolBlock.of({"cout": 3})
    assert blocks.LatencyBlock.of({"from": "berlin"}).from_ == "berlin"


def test_target_settings_blocks_are_declared_by_their_targets(tmp_path):
    from fitlang.check import schema as s
    from fitlang.check.settings import SETTINGS
    from fitlang.targets.kubernetes import KubernetesSettings
    from fitlang.targets.slurm import SlurmSettings
    from fitlang.targets.terraform import TerraformSettings

    assert dict(SETTINGS) == {"kubernetes": KubernetesSettings, "slurm": SlurmSettings,
                              "terraform": TerraformSettings}
    assert sorted(s.POLICY.blocks) == ["kubernetes", "slurm", "terraform"]
    policy = check_text(tmp_path, 'policy {\n  slurm { partition = "gpu" }\n'
                                  '  terraform {\n    provider = gcp\n    cluster = "c"\n  }\n}\n'
                        ).program.policy
    assert policy.settings_of(SlurmSettings) == SlurmSettings(
        partition="gpu", origin=policy.settings_of(SlurmSettings).origin,
        spans=policy.settings_of(SlurmSettings).spans)
    assert policy.work_partition() == "gpu"
    assert sorted(policy.settings_of(TerraformSettings).spans) == ["cluster", "provider"]
    assert policy.bought_cluster("gcp", "europe-west4") == "c"
    assert policy.bought_cluster("aws", "eu-west-1") is None
    # a block the policy does not state: the target's defaults
    assert policy.settings_of(KubernetesSettings).namespace == "default"
    assert policy.settings_of(KubernetesSettings).origin is None


def test_a_new_target_declares_its_settings_with_no_edit_in_check(tmp_path):
    from dataclasses import dataclass

    from fitlang.check import schema as s
    from fitlang.check import types as t
    from fitlang.check.program import TargetSettings
    from fitlang.check.settings import SETTINGS, register

    @dataclass(frozen=True, kw_only=True)
    class ToySettings(TargetSettings):
        level: Fraction = Fraction(1)

    register(s.BlockSchema("toy", "none", {"level": s.Attr(t.NUMBER, minimum=Fraction(0))}),
             ToySettings)
    try:
        stated = check_text(tmp_path, "policy {\n  toy { level = 3 }\n}\n")
        assert codes_of(stated) == []
        assert stated.program.policy.settings_of(ToySettings).level == 3
        wrong = check_text(tmp_path, "policy {\n  toy {\n    levle = 3\n    level = -1\n  }\n}\n",
                           "wrong.fit")
        assert codes_of(wrong) == ["E0205", "E0303"]
    finally:
        del s.SETTINGS_BLOCKS["toy"], SETTINGS["toy"]


@pytest.mark.parametrize("policy, imported", [
    ("policy {\n  objective = cost\n}\n", False),
    ('policy {\n  slurm { partition = "gpu" }\n}\n', True),
])
def test_the_checker_imports_the_targets_only_for_a_settings_block(tmp_path, policy, imported):
    """`fitc check` of a file without a target's settings block does not import the targets
    (nor the solver they import); with one, the driver's loader imports them, once."""
    import subprocess
    import sys

    (tmp_path / "p.fit").write_text(policy)
    probe = ("import sys; from pathlib import Path; from fitlang.driver import Compilation; "
             "result = Compilation(Path(sys.argv[1])).check(); "
             "print(sorted(d.code for d in result.diagnostics), 'fitlang.targets' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "p.fit")],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    assert run.stdout.split() == ["[]", str(imported)]


def _documented_examples() -> list[tuple[str, int, str]]:
    """Every ```fit block of the README and docs/ (not the generated errors.md, whose
    examples are wrong on purpose): (file, line, text)."""
    import re

    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        if path.name == "errors.md":
            continue
        text = path.read_text()
        for match in re.finditer(r"```fit\n(.*?)```", text, re.S):
            found.append((path.name, text[:match.start()].count("\n") + 1, match.group(1)))
    return found


def test_there_are_documented_examples_to_check():
    assert len([e for e in _documented_examples() if e[0] == "language.md"]) >= 16


@pytest.mark.parametrize("name, line, text", _documented_examples(),
                         ids=lambda value: str(value) if not isinstance(value, str) or
                         "\n" not in value else "")
def test_every_documented_example_checks_clean_as_pasted(tmp_path, name, line, text):
    # the files the examples name, as a project beside them would have them
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "teams.fit").write_text('const TEAM = "ml"\n')
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "onprem-nodes.json").write_text(
        (FIXTURES / "inventory" / "nodes.json").read_text())
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "pods.json").write_text('{"kind": "List", "items": []}')
    path = tmp_path / "example.fit"
    path.write_text(text)
    result = check_file(path, Workspace())
    assert [(d.code, d.message) for d in result.diagnostics] == [], f"{name}:{line}"


def test_an_unknown_accelerator_names_the_import_that_defines_it(tmp_path):
    result = check_text(tmp_path, 'pool a {\n  count = 1\n  cpu = 1\n  memory = 1Gi\n'
                                  '  gpu {\n    model = H100\n    count = 1\n  }\n}\n')
    (diagnostic,) = result.diagnostics
    assert diagnostic.code == "E0203"
    assert diagnostic.message.endswith('`import "std/accelerators"` defines it')


def test_redefining_a_stdlib_offer_says_where_the_first_is(tmp_path):
    from fitlang.resources import stdlib_dir

    line = next(number for number, text in enumerate(
        (stdlib_dir() / "aws.fit").read_text().splitlines(), start=1)
        if text.startswith("offer aws_p4d_24xlarge "))
    result = check_text(tmp_path, 'import "std/aws"\n\noffer aws_p4d_24xlarge {\n  provider = aws\n'
                                  '  instance_type = "x"\n  regions = ["us-east-1"]\n  cpu = 1\n'
                                  '  memory = 1Gi\n  price = 1 USD/h\n}\n')
    (diagnostic,) = [d for d in result.diagnostics if d.code == "E0202"]
    (related,) = diagnostic.related
    assert (Path(related.path).name, related.span.line) == ("aws.fit", line)
    assert diagnostic.span.line == 3


def test_stdlib_headers_promise_no_override_that_the_checker_refuses():
    from fitlang.resources import stdlib_dir

    for path in stdlib_dir().glob("*.fit"):
        assert "Override any of them" not in path.read_text(), path.name


# ---- the incremental check (the language server's) ---------------------------------------

_SNIPPETS = [
    "const K = 3\n", "const K = 2 + 1\n", 'const TIER = "gold"\n', "const A = B\nconst B = A\n",
    "profile base {\n  cpu = 2\n  memory = 1Gi\n}\n",
    "profile base {\n  use base\n}\n",
    "accelerator H100 {\n  vendor = nvidia\n  memory = 80GB\n}\n",
    "accelerator H100 {\n  vendor = nvidia\n  memory = K GB\n}\n",
    "pool extra {\n  count = K\n  cpu = 8\n  memory = 32GiB\n  gpu {\n    model = H100\n"
    "    count = 1\n  }\n}\n",
    "workload extra {\n  replicas = K\n  use base\n  require labels[\"tier\"] == TIER\n"
    "  affinity svc_1 on zone\n}\n",
    "workload extra {\n  replicas = 2\n  cpu = 1\n  memory = 1Gi\n  gpu {\n    count = 1\n"
    "    require memory >= H100.memory\n  }\n}\n",
    "policy {\n  budget = BUDGET\n}\n", "import \"std/accelerators\"\n", "region\n", "pool {\n}\n",
]


def _random_edit(rng, text: str, history: list[str]) -> str:
    import re

    kind = rng.choice(["value", "value", "rename", "reference", "delete line", "delete decl",
                       "break", "break", "insert", "insert", "revert"])
    starts = [m.start() for m in re.finditer(r"(?m)^(?=\S)", text)] or [0]
    if kind == "value":
        numbers = list(re.finditer(r"\b\d+\b", text))
        if numbers:
            m = rng.choice(numbers)
            value = rng.choice(["0", "1", "7", "40", "1e30", "0.5", str(rng.randint(2, 500))])
            return text[:m.start()] + value + text[m.end():]
    if kind in ("rename", "reference"):
        pattern = r"(?m)^\w+ (\w+)" if kind == "rename" else r"(?:use|model =|affinity|= ) ?(\w+)"
        names = list(re.finditer(pattern, text))
        if names:
            m = rng.choice(names)
            others = [n.group(1) for n in names]
            new = rng.choice([m.group(1) + "x", rng.choice(others), m.group(1)[:-1] or "q"])
            return text[:m.start(1)] + new + text[m.end(1):]
    if kind == "delete line":
        lines = text.split("\n")
        if len(lines) > 2:
            del lines[rng.randrange(len(lines))]
            return "\n".join(lines)
    if kind == "delete decl" and len(starts) > 1:
        index = rng.randrange(len(starts) - 1)
        return text[:starts[index]] + text[starts[index + 1]:]
    if kind == "break":
        position = rng.randrange(len(text) + 1)
        if rng.random() < 0.3:
            return text[:position] + text[position + 1:]
        return text[:position] + rng.choice(["{", "}", "= =", '"', "\n", " 1"]) + text[position:]
    if kind == "insert":
        position = rng.choice(starts + [len(text)])
        return text[:position] + rng.choice(_SNIPPETS) + text[position:]
    if kind == "revert" and history:
        return rng.choice(history)
    return text


def _incremental_matches_fresh(path: Path, texts, monkeypatch) -> int:
    """Check each text incrementally (as the language server does) and afresh; assert the
    same diagnostics and the same program. Returns how many declarations were reused, and
    how many were checked in all."""
    from fitlang.check.incremental import IncrementalCheck
    from fitlang.lsp.incremental import EditorWorkspace, ParseCache

    monkeypatch.chdir(ROOT)
    cache, incremental = ParseCache(), IncrementalCheck()
    reused = total = 0
    for step, text in enumerate(texts):
        # a text of the root file, or the texts of several files (path -> text)
        overlay = text if isinstance(text, dict) else {path.resolve(): text}
        got = incremental.check(path.resolve(), EditorWorkspace(overlay=dict(overlay), cache=cache))
        want = check_file(path.resolve(), Workspace(overlay=dict(overlay)))
        shown = [(d.code, d.path, d.span, d.message) for d in got.diagnostics]
        assert shown == [(d.code, d.path, d.span, d.message) for d in want.diagnostics], \
            f"step {step}:\n{text}"
        assert [d.related for d in got.diagnostics] == [d.related for d in want.diagnostics]
        assert got.program == want.program, f"step {step}:\n{text}"
        declarations = sum(len(m.decls) for m in got.workspace.modules.values())
        reused, total = reused + declarations - incremental.rechecked, total + declarations
    return reused, total


def _edited(rng, text: str, count: int) -> list[str]:
    """`count` texts, each an edit of the one before; a syntax error is mostly repaired by
    the next edit, as when typing (errors that pile up make every parse slow)."""
    from fitlang.lsp.incremental import ParseCache

    parse = ParseCache().parse  # only whether the text has syntax errors, quickly
    texts, history, broken = [text], [], False
    while len(texts) <= count:
        history.append(texts[-1])
        edited = _random_edit(rng, texts[-1], history[-8:])
        texts.append(edited)
        if parse(edited, "x.fit").diagnostics:
            if broken or rng.random() < 0.7:
                texts.append(texts[-2])  # repaired
            else:
                broken = True
        else:
            broken = False
    return texts


def test_incremental_check_equals_a_fresh_check_on_a_generated_policy(monkeypatch):
    """Random edits (values, renames, deletions, syntax errors, insertions, undo) to a
    generated policy: after each, the incremental check's diagnostics (codes, spans,
    messages, related places) and checked program are those of `check_file`."""
    import random
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    from gen_policy import generate

    rng = random.Random(16)
    texts = _edited(rng, generate(250), 100)
    reused, total = _incremental_matches_fresh(ROOT / "examples" / "generated.fit", texts,
                                               monkeypatch)
    assert reused > 0.8 * total  # and it did reuse most declarations


@pytest.mark.parametrize("example", [p.name for p in policies(ROOT / "examples")])
def test_incremental_check_equals_a_fresh_check_on_the_examples(example, monkeypatch):
    import random

    rng = random.Random(example)
    path = ROOT / "examples" / example
    _incremental_matches_fresh(path, _edited(rng, path.read_text(), 30), monkeypatch)


def test_incremental_check_follows_edits_to_an_imported_file(tmp_path, monkeypatch):
    """Edits to a file the root imports (with an alias) and to the root, interleaved."""
    import random

    (tmp_path / "common").mkdir()
    root, imported = tmp_path / "mixed-cluster.fit", tmp_path / "common" / "profiles.fit"
    rng = random.Random(5)
    roots = _edited(rng, (ROOT / "examples" / "mixed-cluster.fit").read_text(), 30)
    imports = _edited(rng, (ROOT / "examples" / "common" / "profiles.fit").read_text(), 30)
    root.write_text(roots[0])
    imported.write_text(imports[0])
    overlays = [{root.resolve(): roots[min(i // 2 + i % 2, len(roots) - 1)],
                 imported.resolve(): imports[min(i // 2, len(imports) - 1)]} for i in range(60)]
    _incremental_matches_fresh(root, overlays, monkeypatch)


# ---- moving work (`fitc plan`): the move attributes and the `%` share ---------------------

MOVING = """
pool p {
  count = 2
  cpu = 4
  memory = 8GiB
}

workload w {
  replicas = 3
  cpu = 1
  memory = 1GiB
  VALUE
}

policy {
  objective = [moves, cost]
  move_price = 0.02 USD/h
  min_saving = 2.5%
  max_drained = 3
}
"""


@pytest.mark.parametrize(("value", "count", "share"), [
    ("max_disrupted = 2", 2, None), ("max_disrupted = 20%", None, Fraction(1, 5)),
    ("max_disrupted = 0", 0, None), ("max_disrupted = 100%", None, Fraction(1))])
def test_max_disrupted_is_a_count_or_a_share(tmp_path, value, count, share):
    result = check_text(tmp_path, MOVING.replace("VALUE", value))
    assert codes_of(result) == []
    workload, policy = result.program.workloads["w"], result.program.policy
    assert (workload.max_disrupted, workload.max_disrupted_share) == (count, share)
    assert policy.objective == ["moves", "cost"] and policy.move_price == Fraction(2, 100)
    assert policy.min_saving == Fraction(25, 1000) and policy.max_drained == 3
    assert workload.movable


def test_max_disrupted_that_is_no_whole_count_is_E0810(tmp_path):
    assert codes_of(check_text(tmp_path, MOVING.replace("VALUE", "max_disrupted = 1.5"))) == ["E0810"]


@pytest.mark.parametrize(("value", "code"), [
    ("movable = 1", "E0301"), ("max_disrupted = 2GiB", "E0302"), ('max_disrupted = "two"', "E0301")])
def test_move_attributes_are_typed(tmp_path, value, code):
    assert codes_of(check_text(tmp_path, MOVING.replace("VALUE", value))) == [code]


def test_a_share_is_no_count_and_stays_under_100_percent(tmp_path):
    text = MOVING.replace("VALUE", "").replace("max_drained = 3", "max_drained = 30%")
    assert codes_of(check_text(tmp_path, text)) == ["E0302"]
    text = MOVING.replace("VALUE", "").replace("min_saving = 2.5%", "min_saving = 150%")
    assert codes_of(check_text(tmp_path, text))  # over its most: a range error


@pytest.mark.parametrize(("value", "codes", "cap"), [
    ("max_moves = 4", [], 4), ("max_moves = 0", [], 0), ("max_moves = 30%", ["E0302"], None),
    ("max_moves = 2.5", ["E0304"], None), ("max_moves = -1", ["E0303"], None)])
def test_max_moves_is_a_whole_count_of_replicas(tmp_path, value, codes, cap):
    """The policy's cap on the replicas a whole plan moves: a count, 0 allowed (a plan that
    only starts, stops, buys and releases), never a share (a share of what?)."""
    result = check_text(tmp_path, MOVING.replace("VALUE", "").replace(
        "  max_drained = 3\n", f"  max_drained = 3\n  {value}\n"))
    assert codes_of(result) == codes
    if not codes:
        assert result.program.policy.max_moves == cap


def test_frozen_classes_are_frozen_dataclasses_made_on_first_use():
    """`Frozen` (the messages' and the block views' base) makes a subclass a frozen dataclass
    when its first instance is made, bases first; before, `made_dataclass` does it."""
    import dataclasses

    from fitlang.frozen import Frozen, made_dataclass

    class Base(Frozen):
        a: int
        b: str = "x"

    class Child(Base):
        c: float = 1.0

    assert not dataclasses.is_dataclass(Base) and not dataclasses.is_dataclass(Child)
    child = Child(1, c=2.5)
    assert dataclasses.is_dataclass(Base) and dataclasses.is_dataclass(Child)
    assert (child.a, child.b, child.c) == (1, "x", 2.5) and child == Child(1, "x", 2.5)
    assert hash(child) == hash(Child(1, "x", 2.5)) and repr(child).endswith("Child(a=1, b='x', c=2.5)")
    with pytest.raises(dataclasses.FrozenInstanceError):
        child.a = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        Base()  # type: ignore[call-arg]

    class Unused(Frozen):
        z: int

    assert [f.name for f in dataclasses.fields(made_dataclass(Unused))] == ["z"]


def test_lazy_dataclasses_take_their_options_and_cost_nothing_after_the_first_instance():
    """`Frozen` and `Mutable` subclasses state dataclass options as class keywords; the
    stand-in `__init__` runs for the first instance only (the class then holds the dataclass's
    own), and a child made after its parent still gets its own fields."""
    import dataclasses

    from fitlang.frozen import Frozen, Mutable, made_dataclass

    class Scope(Frozen, kw_only=True):
        name: str
        watts: int = 0

    class Cap(Scope):
        limit: int

    class Keyed(Frozen, eq=False):
        value: int

    class Node(Mutable):
        text: str
        children: list = dataclasses.field(default_factory=list)

    stand_in = Scope.__init__
    scope = Scope(name="rack", watts=5)
    assert Scope.__init__ is not stand_in and "__init__" in vars(Scope)
    with pytest.raises(TypeError):
        Scope("rack")  # type: ignore[misc]  # keyword-only, as stated
    cap = Cap(7, name="row")  # made after its parent: its positional field, then the parent's
    assert (cap.limit, cap.name, cap.watts) == (7, "row", 0) and scope.watts == 5
    assert [f.name for f in dataclasses.fields(made_dataclass(Cap))] == ["name", "watts", "limit"]
    assert Keyed(1) != Keyed(1) and len({Keyed(1), Keyed(1)}) == 2  # eq=False: compared as itself
    node = Node("a")
    node.text = "b"  # mutable
    node.children.append(Node("c"))
    assert node == Node("b", [Node("c")]) and Node("x").children == []
    assert dataclasses.replace(cap, limit=8) == Cap(8, name="row")

    @dataclasses.dataclass(frozen=True)
    class Decorated(Frozen):  # a mistake: the stand-in would keep the dataclass's __init__ out
        a: int

    with pytest.raises(TypeError, match="no @dataclass"):
        Decorated(1)


def test_a_frozen_class_takes_and_stores_what_the_dataclass_it_mirrors_does():
    """`Frozen` writes a made class's fields through a faster `__init__` of its own: the same
    signature as `dataclasses`' `__init__` for the same class (order, keyword-only, defaults,
    factories), the same stored values, a fresh default from each factory, `__post_init__`
    run, and the instance still frozen."""
    import dataclasses
    import inspect

    from fitlang.frozen import Frozen, Mutable

    posts: list[object] = []

    def body(cls_name: str, base: type, **options: object) -> type:
        namespace = {
            "__annotations__": {"a": "int", "b": "str", "c": "list", "d": "int"},
            "b": "x", "c": dataclasses.field(default_factory=list),
            "d": dataclasses.field(default=4, kw_only=True),
            "__post_init__": lambda self: posts.append(self),
        }
        return type(cls_name, (base,), namespace, **options)

    ours = body("Ours", Frozen)
    theirs = dataclasses.dataclass(frozen=True)(body("Theirs", object))
    made = ours(1, c=[2])
    assert ours.__init__ is not theirs.__init__
    ours_signature = inspect.signature(ours.__init__)
    theirs_signature = inspect.signature(theirs.__init__)
    assert [(p.name, p.kind, repr(p.default)) for p in ours_signature.parameters.values()] == \
        [(p.name, p.kind, repr(p.default)) for p in theirs_signature.parameters.values()]
    for args, kwargs in [((1,), {}), ((1, "y", [3]), {"d": 5}), ((), {"a": 2, "b": "z"})]:
        assert dataclasses.asdict(ours(*args, **kwargs)) == dataclasses.asdict(theirs(*args, **kwargs))
    assert ours(1).c is not ours(1).c and ours(1).c == []
    assert posts[0] is made and len(posts) == 1 + 3 * 2 + 3  # each instance, once
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.a = 3  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        ours(1, "y", [], 5)  # `d` is keyword-only, as in theirs
    assert repr(ours(1, c=[made])) == repr(theirs(1, c=[made])).replace("Theirs", "Ours")
    assert ours(1) == ours(1) and ours(1) != ours(2) and ours(1) != theirs(1)
    assert (ours(1) == ours(1, d=5)) is (theirs(1) == theirs(1, d=5)) is False

    class Key(Frozen):
        a: int
        b: tuple = ()

    class Bag(Mutable):
        a: int

    assert hash(Key(1, (2,))) == hash(Key(1, (2,))) and len({Key(1), Key(1), Key(2)}) == 2
    with pytest.raises(TypeError):
        hash(Bag(1))  # `dataclass(eq=True)` without frozen: unhashable


def test_a_repeated_attribute_is_evaluated_once_and_each_block_gets_its_own_value(tmp_path,
                                                                                 monkeypatch):
    """The same text of an attribute in one scope is evaluated once (`_typed_value`); every
    block still gets the value, lists and maps a copy of their own, and a value that is
    reported is evaluated (and reported) again where it is repeated."""
    from fitlang.check import evaluate

    evaluated = []
    value = evaluate.Evaluator.value
    monkeypatch.setattr(evaluate.Evaluator, "value",
                        lambda self, expr, *rest: evaluated.append(expr) or value(self, expr, *rest))
    pools = "".join(f'pool p{i} {{\n  count = 2\n  cpu = 8\n  memory = 32GiB\n'
                    f'  labels = {{ "team": "web" }}\n  price = 1 USD/h\n}}\n' for i in range(20))
    bad = "".join(f"workload w{i} {{\n  replicas = 1\n  cpu = -1\n  memory = 1GiB\n}}\n"
                  for i in range(3))
    result = check_text(tmp_path, pools + bad)
    first, second = result.program.pools["p0"], result.program.pools["p1"]
    assert (first.shape.cpu_milli, first.labels) == (second.shape.cpu_milli, second.labels) == (
        8000, {"team": "web"})
    assert first.labels is not second.labels
    assert len(evaluated) < 20 * 5 / 2  # each of the 5 pool lines evaluated once, not 20 times
    assert [(d.code, d.span.line) for d in result.diagnostics] == [
        ("E0303", 143), ("E0303", 148), ("E0303", 153)]


def test_a_workload_s_kubernetes_attributes_point_to_fitlang_s_way(tmp_path):
    result = check_text(tmp_path, (
        'workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n  node_selector = { tier: "gold" }\n'
        '  tolerations = ["gpu"]\n  namespace = "ml"\n}\n'))
    assert codes_of(result) == ["E0205", "E0205", "E0205"]
    assert [d.message for d in result.diagnostics] == [
        '`workload` has no attribute `node_selector`; fitlang says it as `require labels["KEY"] == "VALUE"`',
        "`workload` has no attribute `tolerations`; fitlang says it as `tolerate`",
        '`workload` has no attribute `namespace`; fitlang says it as '
        '`policy { kubernetes { namespace = "..." } }`']


def test_one_value_where_a_list_is_asked_for_says_to_bracket_it(tmp_path):
    """A pool's `arch` is one value, a workload's a list: `arch = arm64` on a workload was
    `unknown name` (the word is known: only its brackets are missing)."""
    result = check_text(tmp_path, (
        'workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n  arch = arm64\n'
        '  residency = EU\n}\n'))
    assert [(d.code, d.span.line) for d in result.diagnostics] == [("E0301", 5), ("E0301", 6)]
    assert "`[arm64]`" in result.diagnostics[0].message


def test_features_names_a_node_feature_as_a_condition(tmp_path):
    # `features["NAME"]` is true where the node has the Slurm feature: a condition of its own,
    # negated or combined; compared only with a boolean, indexed only by a string (h52h: a
    # workload could not ask for a Slurm feature)
    from fitlang.check.program import AllOf, Compare, Negation

    result = check_text(tmp_path, (
        'pool p {\n  count = 1\n  cpu = 4\n  memory = 16Gi\n  features = ["nvme"]\n}\n'
        'workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n'
        '  require features["nvme"] and not features["old"]\n}\n'))
    assert codes_of(result) == []
    (requirement,) = result.program.workloads["w"].requirements
    assert requirement.predicate == AllOf(items=(
        Compare(subject=("features", "nvme"), op="==", value=True,
                origin=requirement.predicate.items[0].origin),
        Negation(item=Compare(subject=("features", "old"), op="==", value=True,
                              origin=requirement.predicate.items[1].item.origin))))
    for wrong in ('features["nvme"] == "yes"', "features[3]", "features", 'features["a"] > 1'):
        result = check_text(tmp_path, (
            'workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n'
            f'  require {wrong}\n}}\n'))
        assert codes_of(result) == ["E0301"], wrong


def test_a_workload_s_slurm_feature_attributes_point_to_require_features(tmp_path):
    result = check_text(tmp_path, (
        'workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n  features = ["nvme"]\n'
        '  constraint = "nvme"\n}\n'))
    assert [d.message for d in result.diagnostics] == [
        '`workload` has no attribute `features`; fitlang says it as `require features["NAME"]`',
        '`workload` has no attribute `constraint`; fitlang says it as `require features["NAME"]`']


# ---- W0104: a `buy` region none of its offers is sold in ----------------------------------------

_EU_SERVICE = 'workload api {\n  replicas = 2\n  cpu = 2\n  memory = 4GiB\n  residency = [EU]\n}\n'


@pytest.mark.parametrize("imported, buy, unsold", [
    # found as a user (session 54): std/azure prices no European region; the buy bought nothing
    ("std/azure", 'regions = ["westeurope"]', "`westeurope`"),
    ("std/gcp", 'regions = ["europe-west8", "europe-west4"]', "`europe-west8`"),  # one of two
    # none allowed: W0105 says so at its `providers` (below), and W0104 not again
    ("std/gcp", 'providers = [aws]\n  regions = ["europe-west4"]', None),
    ("std/gcp", 'regions = ["europe-west4", "us-central1"]', None),
    ("std/aws", 'offers = [aws_g6_xlarge]\n  regions = ["eu-central-1"]', None),  # region_prices
    ("std/aws", "max_count = 2", None),  # no `regions`: nothing to check
])
def test_a_buy_region_no_allowed_offer_is_sold_in_is_reported_at_its_regions(tmp_path, imported,
                                                                              buy, unsold):
    text = f'import "{imported}"\n\nbuy eu {{\n  {buy}\n}}\n\n' + _EU_SERVICE
    result = check_text(tmp_path, text)
    found = [d for d in result.diagnostics if d.code == "W0104"]
    if unsold is None:
        assert found == []
        return
    [warning] = found
    assert warning.message.startswith(f"buy `eu`: no offer it allows is sold in {unsold} (")
    line = text.splitlines()[warning.span.line - 1]
    assert line.strip().startswith("regions = [")
    everywhere = unsold.count("`") == 2 * len(buy.split("regions = [")[1].split(","))
    assert ("so it buys nothing" in warning.message) == everywhere


def test_a_buy_region_nothing_is_sold_in_is_told_of_the_regions_under_the_same_law_first(tmp_path):
    # found as a user (session 55): a buy kept to `westeurope` over std/gcp and std/azure was
    # told of `asia-southeast1`, `canadacentral`, `eastus`, ... (the first eight by name)
    text = ('import "std/gcp"\nimport "std/azure"\n\nbuy eu {\n  regions = ["westeurope"]\n}\n\n'
            + _EU_SERVICE)
    [warning] = [d for d in check_text(tmp_path, text).diagnostics if d.code == "W0104"]
    listed = warning.message.split("they are sold in ")[1].rstrip(")").split(", ")
    assert listed[:3] == ["europe-north1", "europe-west1", "europe-west3"]  # (europe-west2: UK)


# ---- W0105: a `buy` that allows no offer ---------------------------------------------------------


@pytest.mark.parametrize("imported, buy, at, detail", [
    # found as a user (session 54): `providers = [azure]` with only std/gcp imported bought
    # nothing, and `solve` said only that no node meets the service's rules
    ('import "std/gcp"', "providers = [azure]", "providers", "no offer in scope is of its "
     '`providers` (azure): they are gcp\'s (`import "std/azure"` brings azure\'s)'),
    ('import "std/gcp"\nimport "std/aws"', "offers = [aws_g6_xlarge]\n  providers = [gcp]", "providers",
     "none of its `offers` is of its `providers` (gcp): they are aws's"),
    ("", "max_count = 3", "buy eu", 'no offer is in scope (`import "std/aws"` or `import "std/gcp"` '
     'or `import "std/azure"`, or declare an `offer`)'),
    ('import "std/gcp"', "providers = [azure]\n  regions = [\"westeurope\"]", "providers", None),
    ('import "std/gcp"', "providers = [gcp]", None, None),
    ('import "std/aws"', "max_count = 2", None, None),
])
def test_a_buy_that_allows_no_offer_is_reported_where_it_narrows_them(tmp_path, imported, buy, at,
                                                                       detail):
    text = f'{imported}\n\nbuy eu {{\n  {buy}\n}}\n\n' + _EU_SERVICE
    result = check_text(tmp_path, text)
    found = [d for d in result.diagnostics if d.code == "W0105"]
    if at is None:
        assert found == []
        return
    [warning] = found
    assert [d.code for d in result.diagnostics if d.code == "W0104"] == []  # the same cause, once
    assert warning.message.startswith("buy `eu` allows no offer, so it buys nothing: ")
    if detail is not None:
        assert warning.message.endswith(detail)
    line = text.splitlines()[warning.span.line - 1]
    assert line.strip().startswith(at)


@pytest.mark.parametrize(("spread", "found"), [
    ("spread region max_skew 1 min_domains 3", []),
    ("spread region max_skew 1 min_domains 0",
     [("E0303", "min_domains must be a whole number >= 1, found 0")]),
    ("spread region max_skew 1 min_domains 1.5",
     [("E0303", "min_domains must be a whole number >= 1, found 1.5")]),
])
def test_a_spread_s_min_domains_is_a_whole_number_of_at_least_one(tmp_path, spread, found):
    """`min_domains N` (Kubernetes' `minDomains`, which the API requires to be at least 1)."""
    text = f"workload w {{\n  replicas = 2\n  cpu = 1\n  memory = 1GiB\n  {spread}\n}}\n"
    result = check_text(tmp_path, text)
    assert [(d.code, d.message) for d in result.diagnostics] == found
    assert all(d.span.line == 5 and d.span.column == text.splitlines()[4].index("min_domains") + 13
               for d in result.diagnostics)
    if not found:
        [rule] = result.program.workloads["w"].spreads
        assert (rule.topology, rule.max_skew, rule.min_domains) == ("region", 1, 3)


@pytest.mark.parametrize("block, topology, found", [
    ("offer", "2x4", ["E0522"]),  # 8 chips on 4-chip hosts: two hosts of one slice
    ("pool", "4x4", ["E0522"]),
    ("offer", "2x2", []),  # one host: std/gcp's own topology
    ("pool", "2x2", []),
])
def test_a_pool_or_offer_of_multi_host_tpu_slice_hosts_is_refused(tmp_path, block, topology, found):
    """A `buy` of v5e hosts labelled `2x4` (found as a user, session 59): GKE makes such a node
    pool whole, two hosts running one job, but a pool or offer is placed and bought node by
    node, a workload on one host of the slice. Refused where it is declared; an inventory's
    slices are read and held whole instead (`rules/tpu_slices.py`)."""
    where = ('  provider = gcp\n  instance_type = "ct5lp-hightpu-4t"\n  regions = ["us-central1"]\n'
             if block == "offer" else "  count = 2\n")
    text = ('import "std/accelerators"\n\n'
            f'{block} v5e {{\n{where}  labels = {{\n'
            '    "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",\n'
            f'    "cloud.google.com/gke-tpu-topology": "{topology}",\n  }}\n'
            '  cpu = 112\n  memory = 192GiB\n  gpu {\n    model = TPU_V5E\n    count = 4\n  }\n'
            '  price = 4.80 USD/h\n}\n\n'
            'workload w {\n  replicas = 1\n  cpu = 8\n  memory = 16GiB\n}\n')
    result = check_text(tmp_path, text)
    refused = [d for d in result.diagnostics if d.code == "E0522"]
    assert [d.code for d in refused] == found
    assert all((d.span.line, f"topology: {topology}`" in d.message) == (7 if block == "offer" else 5, True)
               for d in refused)
