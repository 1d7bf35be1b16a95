"""A plan from a current state that already breaks a rule (issue 18, `solve/repair_first.py`):
a node over its capacity (two one-GPU replicas on a one-GPU node, as where a pool shrank under
an old placement). The plan repairs it first (the replicas beyond the policy's stop there, the
first wave moves off it), says so where the budgets leave it broken past the first wave
(W0814), and `fitc verify --current` and the Kubernetes read-back allow a wave to leave such a
node over its capacity, never more than when the wave began.

The outcomes are worked out by hand in each test's comment.
"""

from __future__ import annotations

import json
from pathlib import Path

from test_plan_targets import codes, planned
from test_plan_verify import _codes

from fitlang.driver import Compilation
from fitlang.model.current import CurrentState, Running
from fitlang.plan import as_json, make_plan

# old: 3 one-GPU nodes at 3.00 USD/h; new: 3 one-GPU nodes at 1.00 USD/h; `infer` (one GPU a
# replica) moves one replica a wave
POLICY = 'import "std/accelerators"\n' + "".join(
    f"pool {name} {{\n  count = 3\n  cpu = 8\n  memory = 32GiB\n"
    f"  gpu {{\n    model = L4\n    count = 1\n  }}\n  price = {price} USD/h\n}}\n"
    for name, price in (("old", "3.00"), ("new", "1.00"))) + """
workload infer {
  image = "registry.example.com/infer:1"
  replicas = REPLICAS
  cpu = 2
  memory = 4GiB
  gpu {
    count = 1
  }
  max_disrupted = 1
}
"""


def _written(tmp_path: Path, replicas: int, nodes: list[str]) -> tuple[Path, Path, CurrentState]:
    policy = tmp_path / "p.fit"
    policy.write_text(POLICY.replace("REPLICAS", str(replicas)))
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"assignments": [{"workload": "infer", "replica": number, "node": node}
                                                 for number, node in enumerate(nodes)]}))
    return policy, state, CurrentState(running=tuple(Running("infer", node) for node in nodes))


def _plan(policy: Path, state: CurrentState) -> tuple[dict, list[str]]:
    result = make_plan(Compilation(policy), state)
    assert result.plan is not None
    return json.loads(as_json(result)), sorted({d.code for d in result.diagnostics})


def test_the_replica_beyond_the_policys_stops_on_the_overfull_node(tmp_path):
    # 3 run, 2 asked: old-0 holds one, old-2 two (over its one GPU). Stopping one on old-2
    # repairs it before any move (the start tree stopped old-0's, in node order, and left
    # old-2 over its GPU until wave 1: the Kubernetes read-back's E0602 at wave-00). Then each
    # wave moves one replica to a new node, old-2's first: 6.00 -> 4.00 -> 2.00 USD/h.
    policy, state_file, state = _written(tmp_path, 2, ["old-0", "old-2", "old-2"])
    document, found = _plan(policy, state)
    assert [m["source"] for m in document["stop"]] == ["old-2"]
    assert [[m["source"] for m in w["moves"]] for w in document["waves"]] == [["old-2"], ["old-0"]]
    assert [w["cost_after"] for w in document["waves"]] == [4.0, 2.0]
    assert "W0814" not in found
    assert _codes(policy, state, document) == []
    _, _, stderr = planned(tmp_path, policy, state_file, "kubernetes")
    assert "E0602" not in codes(stderr)


def test_a_node_the_budget_cannot_empty_at_once_is_warned_and_read_back(tmp_path):
    # 3 replicas, all on old-2 (one GPU): one leaves a wave (max_disrupted = 1), so old-2 is
    # over its GPU until wave 2 ends (2 there after wave 1, 1 after wave 2): W0814 says so. No
    # wave makes it worse, so the Kubernetes read-back (E0602 at wave-01 on the start tree,
    # which read any overfull node as Pending) and `verify --current` accept the plan.
    policy, state_file, state = _written(tmp_path, 3, ["old-2"] * 3)
    document, found = _plan(policy, state)
    assert [[m["source"] for m in w["moves"]] for w in document["waves"]] == [["old-2"]] * 3
    assert "W0814" in found
    assert _codes(policy, state, document) == []
    _, _, stderr = planned(tmp_path, policy, state_file, "kubernetes")
    assert codes(stderr) == ["W0814", "W0821"]


def test_verify_refuses_a_wave_that_fills_an_overfull_node_more(tmp_path):
    # 3 asked, 3 run: old-0 holds two (over its GPU), old-1 one. A plan whose first wave moves
    # old-1's replica onto old-0 (three there) breaks no rule the wave's start kept (the
    # pool's capacity was broken already, so the start tree accepted it), but asks more of
    # old-0 than when the wave began: E0832. Its later waves end with one on each old node.
    policy, _, state = _written(tmp_path, 3, ["old-0", "old-0", "old-1"])

    def move(source: str, target: str) -> dict:
        return {"workload": "infer", "option": None, "replica": None, "kind": "move",
                "source": source, "target": target}

    def wave(number: int, moves: list[dict], drained: list[str], cost: float) -> dict:
        return {"number": number, "stop_first": False, "moves": moves, "drained": drained,
                "cost_after": cost, "saving": 0.0}

    document = {"changes": True, "kept": False, "cost_before": 6.0, "cost_after": 9.0,
                "min_saving": 0.05, "buy": [], "stop": [], "release": [], "moves": 3,
                "least_moves": 1, "status": "feasible",
                "waves": [wave(1, [move("old-1", "old-0")], ["old-1"], 3.0),
                          wave(2, [move("old-0", "old-1")], [], 6.0),
                          wave(3, [move("old-0", "old-2")], [], 9.0)],
                "diagnostics": []}
    assert _codes(policy, state, document) == ["E0832"]
    # the same waves but the first: each leaves old-0 no fuller than it began
    document["waves"] = [wave(1, [move("old-0", "old-2")], [], 9.0)]
    document["moves"] = 1
    assert _codes(policy, state, document) == []
