"""`fitc verify`'s findings are diagnostics: each rule's check and verify's own checks give
E0503 at the rule, or at the policy's root file where a violation has no place in it."""

from __future__ import annotations

from fitlang.solve.verify import verify

from solving import problem_from

# line 11: the `spread` of workload w
POLICY = ('pool p {\n  count = 2\n  cpu = 4\n  memory = 16Gi\n  price = 1 USD/h\n}\n'
          'workload w {\n  replicas = 3\n  cpu = 1\n  memory = 1Gi\n  spread node max_skew 1\n}\n')


def _where(found) -> list[tuple[str, str, int, int]]:
    return [(d.code, d.path, d.span.line, d.span.column) for d in found]


def test_a_broken_rule_is_an_e0503_at_the_rule(tmp_path):
    problem = problem_from(tmp_path, POLICY)
    document = {"assignments": [{"workload": "w", "replica": r, "node": "p-0"} for r in range(3)]}
    violations, problems = verify(problem, document, str(tmp_path / "p.fit"))
    # 3 replicas on p-0, none on p-1: spread 0..3 per node, over max_skew 1
    assert problems == [] and _where(violations) == [("E0503", str(tmp_path / "p.fit"), 11, 3)]
    assert violations[0].message == "`w` is spread 0..3 per node; max_skew is 1"


def test_a_violation_with_no_place_in_the_policy_points_at_the_root_file(tmp_path):
    problem = problem_from(tmp_path, POLICY)
    document = {"assignments": [{"workload": "w", "replica": r, "node": f"p-{r % 2}"}
                                for r in range(3)],
                "objective": {"name": "cost", "value": 5.0}}  # 2 nodes at 1 USD/h: 2.0
    violations, _ = verify(problem, document, "root.fit")
    assert _where(violations) == [("E0503", "root.fit", 1, 1)]
    assert violations[0].message == "the placement states cost = 5.0; its nodes give 2.0"
