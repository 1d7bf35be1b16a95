"""`fitc test`: policy tests written in fit (`*_test.fit`). The outcomes below are worked out by
hand from the policies written here (prices x nodes), not read from the solver."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest

from fitlang.syntax.parser import parse_source
from fitlang.testing.overrides import apply_overrides
from fitlang.testing.suite import read_test_file

from conftest import EXAMPLES, SHOP_POLICY, policies

POLICY = SHOP_POLICY  # two pools in two zones; `web` needs 2 CPUs a replica, one a node



def write(tmp_path: Path, tests: str, policy: str = POLICY) -> Path:
    (tmp_path / "shop.fit").write_text(policy)
    path = tmp_path / "shop_test.fit"
    path.write_text(tests)
    return path


def codes(result) -> list[str]:
    return [line.split("[")[1][:5] for line in result.stdout.splitlines() if "error[" in line]


def test_the_shipped_examples_hold_their_hand_worked_outcomes(fitc):
    result = fitc("test", "examples/", "--format", "json")
    document = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout
    assert document["failed"] == 0 and document["passed"] == len(document["tests"]) >= 3
    assert {Path(t["file"]).name for t in document["tests"]} == {
        p.name for p in EXAMPLES.glob("*_test.fit")}


def test_a_passing_test_exits_0_and_a_failing_expectation_is_e0710_at_its_line(tmp_path, fitc):
    # 2 replicas, one per node: both small_a nodes, 2 x 1.00 = 2.00 USD/h, all in zone-a
    path = write(tmp_path, """\
test cheapest {
  expect {
    outcome = placed
    min_cost = 2 USD/h
    max_cost = 2 USD/h
    workload web {
      pools = ["small_a"]
      zones = ["zone-a"]
      placed = 2
    }
  }
}

test wrong {
  expect {
    max_cost = 1 USD/h
    workload web {
      pools = ["big_b"]
    }
  }
}
""")
    result = fitc("test", str(path.name), cwd=tmp_path)
    assert result.returncode == 1
    assert codes(result) == ["E0710", "E0710"]
    lines = [line for line in result.stdout.splitlines() if "error[E0710]" in line]
    assert lines[0].startswith("shop_test.fit:16:5:") and "at most 1.00 USD/h, got 2.00 USD/h" in lines[0]
    assert lines[1].startswith("shop_test.fit:18:7:") and "[big_b] only, got some in [small_a]" in lines[1]
    assert result.stdout.rstrip().splitlines()[-1].startswith("1 passed, 1 failed")
    only = fitc("test", "shop_test.fit", "--run", "^cheap", cwd=tmp_path)
    assert only.returncode == 0 and only.stdout.startswith("1 passed")


def test_overrides_change_the_policy_as_written_there(tmp_path, fitc):
    # 3 replicas, one per node: small_a has 2 nodes, so the third goes to big_b: 2 + 3 = 5.00;
    # with small_a drained by a `require`, all 3 need big_b, which has 2 nodes: infeasible
    write(tmp_path, """\
test three_replicas {
  workload web {
    replicas = 3
  }
  expect {
    outcome = placed
    max_cost = 5 USD/h
    min_cost = 5 USD/h
    workload web {
      pools = ["small_a", "big_b"]
    }
  }
}

test only_zone_b {
  workload web {
    replicas = 3
    require zone == "zone-b"
  }
  expect {
    outcome = infeasible
  }
}
""")
    result = fitc("test", "shop_test.fit", "-v", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.count("PASS ") == 2


def test_an_override_edits_the_policy_text_in_place():
    policy = POLICY
    tests = ("test t {\n  workload web {\n    replicas = 5\n    priority = 10\n"
             "    require zone == \"zone-b\"\n  }\n  pool big_b {\n    count = 4\n  }\n"
             "  expect {\n    outcome = placed\n  }\n}\n")
    case_file = parse_source(tests, "t_test.fit").module
    overrides = [e for e in case_file.decls[0].entries if e.kind.name != "expect"]
    module = parse_source(policy, "shop.fit").module
    changed, problems = apply_overrides(module, policy, overrides, "t_test.fit", tests)
    assert problems == []
    expected = policy.replace("  count = 2\n  cpu = 8", "  count = 4\n  cpu = 8").replace(
        "  replicas = 2\n", "  replicas = 5\n").replace(
        "  anti_affinity self on node\n}", "  anti_affinity self on node\n  priority = 10\n"
                                           "  require zone == \"zone-b\"\n}")
    assert changed == expected


def test_a_test_file_with_errors_reports_every_one_and_runs_nothing(tmp_path, fitc):
    path = write(tmp_path, """\
pool stray {
  count = 1
}

test no_expectation {
}

test misspelt {
  expect {
    outcom = placed
    outcome = plcaed
    max_cost = 3
  }
}
""")
    found = read_test_file(path)
    assert [d.code for d in found.diagnostics] == ["E0701", "E0703", "E0205", "E0305", "E0301"]
    assert "did you mean `outcome`" in found.diagnostics[2].message
    assert "did you mean `placed`" in found.diagnostics[3].message
    result = fitc("test", "shop_test.fit", cwd=tmp_path)
    assert result.returncode == 1 and "passed" in result.stdout and "PASS" not in result.stdout
    checked = fitc("check", ".", cwd=tmp_path)  # `fitc check` reads test files as test files
    assert checked.returncode == 1
    assert sorted({line.split("[")[1][:5] for line in checked.stderr.splitlines() if "error[" in line}) \
        == ["E0205", "E0301", "E0305", "E0701", "E0703"]


def test_an_override_of_a_block_the_policy_lacks_is_e0702_with_a_suggestion(tmp_path, fitc):
    path = write(tmp_path, "test t {\n  workload wbe {\n    replicas = 3\n  }\n"
                           "  expect {\n    outcome = placed\n  }\n}\n")
    result = fitc("test", path.name, cwd=tmp_path)
    assert result.returncode == 1 and codes(result) == ["E0702"]
    assert "did you mean `web`" in result.stdout
    checked = fitc("check", path.name, cwd=tmp_path)  # found without running the test
    assert checked.returncode == 1 and "shop_test.fit:2:3: error[E0702]" in checked.stderr


def test_a_missing_policy_is_e0103_at_the_test(tmp_path, fitc):
    (tmp_path / "lonely_test.fit").write_text("test t {\n  expect {\n    outcome = placed\n  }\n}\n")
    result = fitc("test", "lonely_test.fit", cwd=tmp_path)
    assert result.returncode == 1 and codes(result) == ["E0103"]
    checked = fitc("check", "lonely_test.fit", cwd=tmp_path)
    assert checked.returncode == 1 and "error[E0103]" in checked.stderr


def test_junit_json_and_github_outputs_carry_the_same_failures(tmp_path, fitc):
    # a hostile zone name reaches the failure message: XML and annotations escape it
    hostile = 'z"<&>$(id)${x}'
    policy = POLICY.replace('"zone-a"', json.dumps(hostile))
    write(tmp_path, "test where {\n  expect {\n    workload web {\n      zones = [\"zone-b\"]\n"
                    "    }\n  }\n}\ntest fine {\n  expect {\n    outcome = placed\n  }\n}\n", policy)
    junit = fitc("test", ".", "--format", "junit", cwd=tmp_path)
    assert junit.returncode == 1
    suite = ElementTree.fromstring(junit.stdout).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    failure = suite.find("testcase[@name='where']/failure")
    assert failure is not None and failure.get("type") == "E0710" and hostile in failure.get("message", "")
    document = json.loads(fitc("test", ".", "--format", "json", cwd=tmp_path).stdout)
    assert [(t["name"], t["passed"], [f["code"] for f in t["failures"]]) for t in document["tests"]] == [
        ("where", False, ["E0710"]), ("fine", True, [])]
    github = fitc("test", ".", "--format", "github", cwd=tmp_path).stdout.splitlines()
    assert len(github) == 1 and github[0].startswith("::error file=shop_test.fit,line=4,col=7,")
    assert "\n" not in github[0] and "title=E0710" in github[0]


def test_usage_errors_exit_2(tmp_path, fitc):
    assert fitc("test", str(tmp_path)).returncode == 2  # no test files
    write(tmp_path, "test t {\n  expect {\n    outcome = placed\n  }\n}\n")
    assert fitc("test", ".", "--run", "(", cwd=tmp_path).returncode == 2
    assert fitc("test", "nowhere/", cwd=tmp_path).returncode == 2
    unmatched = fitc("test", ".", "--run", "nothing-matches", cwd=tmp_path)
    assert unmatched.returncode == 1  # a run that tests nothing does not pass


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*_test.fit")), ids=lambda p: p.name)
def test_every_example_test_file_tests_a_shipped_policy(path):
    found = read_test_file(path)
    assert found.diagnostics == [] and found.cases
    assert {case.policy.resolve() for case in found.cases} <= {p.resolve() for p in policies(EXAMPLES)}


def _jenkins_package_and_class(classname: str) -> tuple[str, str]:
    """How Jenkins' JUnit plugin reads a classname (`CaseResult.getPackageName` and
    `getSimpleName`: split at the last dot, "(root)" where there is none)."""
    package, dot, simple = classname.rpartition(".")
    return (package if dot else "(root)", simple)


@pytest.mark.parametrize("directory, package", [
    ("policies", "policies"), ("ci.d/v1.2", "ci_d.v1_2"), (".", "(root)")])
def test_junit_classnames_read_as_the_test_file_in_jenkins_and_gitlab(tmp_path, fitc, directory, package):
    # found as a user (session 59): `classname="policies/platform_test.fit"` read in Jenkins as
    # package `policies/platform_test`, class `fit`; GitLab shows the classname as the suite
    where = tmp_path / directory
    where.mkdir(parents=True, exist_ok=True)
    write(where, "test fine {\n  expect {\n    outcome = placed\n  }\n}\n")
    (where / "shop_test.fit").rename(where / "platform_test.fit")
    (where / "shop.fit").rename(where / "platform.fit")
    path = str(Path(directory) / "platform_test.fit")  # (as fitc names it: no `./`)
    junit = fitc("test", path, "--format", "junit", cwd=tmp_path)
    assert junit.returncode == 0, junit.stderr
    [case] = ElementTree.fromstring(junit.stdout).findall("testsuite/testcase")
    assert _jenkins_package_and_class(case.get("classname", "")) == (package, "platform_test")
    assert case.get("file") == path  # the path as it is, for GitLab's "Filename"
