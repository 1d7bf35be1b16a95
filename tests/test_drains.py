"""bench/drains.py's drains, at a small size: the zone it leaves short is the one `repair`
leaves breaking its spreads, and `fitc plan` restores them at scale (`spread_restore`).

The fleet: bench/fleet.py's shape at 200 nodes, 60 workloads, seed 5; at rest as `fitc solve`
placed it (tests/fixtures/drains, node -> workload -> replicas: a solve's placement depends on
its time). The generator drains pool `cpu11` (12 nodes of 64 cores, zone us-east-1c): 3 zone
spreads then lack room there (its other nodes' room, free nodes whole, summed by label)."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import pytest

from fitlang.driver import Compilation
from fitlang.plan import as_json, make_plan
from fitlang.solve.move_scale import ScaleMove
from fitlang.solve.moving import move_objectives
from fitlang.solve.spread_restore import _counted, _excess
from fitlang.solve.verify_plan import verify_plan

from solving import bench_module

AT_REST = Path(__file__).parent / "fixtures" / "drains" / "fleet200-seed5-at-rest.json"


@pytest.fixture(scope="module")
def drained(tmp_path_factory):
    """The instance the generator writes (p.fit, now.json, the inventory files) and its drain."""
    drains, fleet = bench_module("drains"), bench_module("fleet")
    generated = fleet.generate(200, 60, seed=5)
    hosted = json.loads(AT_REST.read_text())
    numbered: dict[str, itertools.count] = {}  # (each replica once: one named twice is E0801)
    placement = {"assignments": [{"workload": w, "replica": next(numbered.setdefault(w, itertools.count())),
                                  "node": node}
                                 for node, counts in hosted.items() for w, n in counts.items()
                                 for _ in range(n)]}
    found = drains.short_drains(drains.AtRest(generated.policy, generated.files, placement), 40)
    where = tmp_path_factory.mktemp("drained")
    drains.write_instance(where, generated.files, generated.policy, placement, found[0], "0.01")
    return where, found


def test_the_drain_taken_leaves_zone_c_short_of_three_spreads(drained):
    _, found = drained
    first = found[0]
    assert (first.zone, first.pools, first.nodes) == ("us-east-1c", ["cpu11"], 12)
    assert sorted(first.short) == ["svc1", "svc2", "svc21"]
    assert first.cores_short > 0
    assert not (drained[0] / "p.fit").read_text().count("pool cpu11 {")


def test_repair_leaves_exactly_those_spreads_broken(drained):
    where, found = drained
    compilation = Compilation(where / "p.fit", current=str(where / "now.json"))
    from fitlang.model.build import with_current

    problem = with_current(compilation.problem, compilation.check().program, compilation.current_state())
    fleet = ScaleMove(dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[]))
    fleet.repair(fleet.start())
    counted = _counted(fleet)
    broken = {name for name, spreads in fleet.spreads.items() if _excess(spreads, counted)}
    assert broken == set(found[0].short)


def test_the_plan_restores_them_at_scale_and_verify_accepts_it(drained, monkeypatch):
    # the search from what runs alone: on a loaded machine it may end short of its bound
    # with half the limit left, and the whole model, solved then, may do better
    from fitlang.solve import moving

    monkeypatch.setattr(moving, "_whole_model_may_pay", lambda *_: False)
    where, _ = drained
    compilation = Compilation(where / "p.fit", current=str(where / "now.json"))
    result = make_plan(compilation, compilation.current_state(), 30.0)
    assert result.placement is not None and result.placement.backend == "move_scale"
    assert result.plan is not None and result.problem is not None
    found, problems = verify_plan(result.problem, compilation.check().program, json.loads(as_json(result)))
    assert problems == [] and found == []
