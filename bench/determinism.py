"""Determinism across every command: the same input, the same bytes, at any load.

    PYTHONPATH=. .venv/bin/python bench/determinism.py /tmp/det              # every case
    PYTHONPATH=. .venv/bin/python bench/determinism.py /tmp/det --only fleet600 --runs 3
    PYTHONPATH=. .venv/bin/python bench/determinism.py /tmp/det --list
    PYTHONPATH=. .venv/bin/python bench/determinism.py /tmp/det --runs 2 --busy 0   # hash seeds alone
    PYTHONPATH=. .venv/bin/python bench/determinism.py /tmp/det --hash-seed 0      # the load alone

Each case is one `fitc` command as a user runs it, with no `--time-limit` (the command's own
default): `solve --format json` on examples/ and on the bench generators' fleets (fleet.py,
inventories.py, ai_fleet.py; 200-1,000 nodes), `solve` of a policy placed in time
(timing_sites.py, issue 19), `plan --current` (examples' states, move_bench.py's pools and
inventory shapes), `explain` (two conflicts, and with `--current` what binds a plan), and
`compile` to each target. Instances are generated under OUT/instances (seeded, so the same
files every time).

Each case runs `--runs` times quiet and `--runs` times loaded, each run under a hash seed of its
own (PYTHONHASHSEED 1, 2, ...: str and bytes hash, and so a set of them iterates, in another
order in each process, which one process's runs never show; `fitc` itself runs under a random
one each time; `--hash-seed N`: every run under N, to tell the load from the hash), loaded:
beside `--busy` processes
spinning on each core it may use (each pinned to its core; the spinners are this script's
children, killed by their id when the run ends), so the command has a fraction of a core on
the wall while its CPU work is the same (`--pinned`: the command and its spinners on one core,
as session 47 ran it; that also takes a core from HiGHS, whose answers depend on how many it
has). Its bytes (stdout, and every file it wrote
under its `--out`) are hashed; a case whose runs differ is reported with the wall seconds of
each run and its CPU seconds (the command's and its children's), so that a stage stopped by
seconds on the wall rather than by its own work shows as a difference between the quiet and
the loaded runs. Each case's verdict (`Case.verdict`): `same`; `timings` where only a JSON
`*_seconds` field differs; `limit` where a run took about its command's default limit or more
(the limit may have ended it, as docs/cli.md says: that hides whether a stage's own cap decided
too): of CPU seconds, as `fitc` counts its default since session 48, or with `--wall` of wall
seconds (the trees before it); `DIFFER` otherwise. Each run's stdout is kept
under OUT/runs/CASE/ to compare.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SECONDS = 60.0  # `fitc solve`, `plan` and `compile` with no --time-limit
EXPLAIN_SECONDS = 30.0  # `fitc explain`'s, to the conflict (its repairs have 10 s more)
# a run this close to its command's limit on the wall may have been ended by it (the limit
# counts from the process's start; the report and exit follow it)
LIMIT_SHARE = 0.8
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(ROOT / "bench"))


@dataclass
class Case:
    name: str
    arguments: list[str]  # after `fitc`; OUT in them is replaced by the run's own directory
    writes: bool = False  # whether the command writes files under OUT
    runs: list[Run] = field(default_factory=list)
    wall_limit: bool = False  # the default limit counts the wall (the trees before session 48)

    def verdict(self) -> str:
        """`same` (every run the same bytes), `timings` (the same but for the `*_seconds`
        fields a document states), `limit` (a run took about the command's default limit or
        more on the wall: the limit, not a stage, may have ended it) or `DIFFER`."""
        if len({run.digest for run in self.runs}) == 1:
            return "same"
        if len({run.masked for run in self.runs}) == 1:
            return "timings"
        limit = EXPLAIN_SECONDS if self.arguments[0] == "explain" else DEFAULT_SECONDS
        took = max(run.wall if self.wall_limit else run.cpu for run in self.runs)
        return "limit" if took >= LIMIT_SHARE * limit else "DIFFER"


@dataclass(frozen=True)
class Run:
    digest: str  # of every byte it wrote
    masked: str  # of the same with the JSON document's `*_seconds` fields left out
    wall: float
    status: str
    cpu: float = 0.0  # the command's CPU seconds, its children's included


def _fleet_files(directory: Path, generated, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return generated.write(directory, name)


def generated_instances(out: Path) -> dict[str, Path]:
    """The bench generators' policies, written once under OUT/instances."""
    import ai_fleet
    import fleet
    import inventories
    import timing_sites

    where = out / "instances"
    paths = {
        "fleet200-s1": _fleet_files(where / "fleet200-s1", fleet.generate(200, 30, seed=1), "fleet"),
        "fleet600-s4": _fleet_files(where / "fleet600-s4", fleet.generate(600, 80, seed=4), "fleet"),
        "inv300-s7": _fleet_files(where / "inv300-s7", inventories.generate(300, 40, seed=7), "inv"),
        "inv1000-s1": _fleet_files(where / "inv1000-s1", inventories.generate(1000, 100, seed=1), "inv"),
        # (its group programs' rows came in a set's order: 199 or 202 nodes by the hash seed, session 57)
        "inv1000-s34": _fleet_files(where / "inv1000-s34", inventories.generate(1000, 100, seed=34), "inv"),
    }
    (where / "ai300-s2").mkdir(parents=True, exist_ok=True)
    paths["ai300-s2"] = ai_fleet.write(ai_fleet.generate(300, 40, seed=2), where / "ai300-s2", "ai")[0]
    for jobs, nodes in ((40, 100), (150, 300)):
        instance = timing_sites.generate(jobs, 48, nodes, seed=1)
        path = where / f"sites{jobs}x{nodes}" / "sites.fit"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(timing_sites.policy_text(instance, "cost"))
        paths[f"sites{jobs}x{nodes}"] = path
    paths.update(_plan_instances(where))
    return paths


def _plan_instances(where: Path) -> dict[str, Path]:
    """move_bench's pools shape (201 nodes) and inventory shape (300 nodes, 10% changed):
    the policy, with its state beside it as `now.json`."""
    import move_bench

    text, state = move_bench.pools_fleet(201, seed=1)
    pools = where / "plan-pools201" / "p.fit"
    pools.parent.mkdir(parents=True, exist_ok=True)
    pools.write_text(text)
    (pools.parent / "now.json").write_text(json.dumps(state))
    inventory = where / "plan-inv300-s1" / "p.fit"
    if not inventory.is_file():
        files, state, base = move_bench.at_rest("inventory", 300, 40, 1, where / "cache")
        changed, _ = move_bench.changed_policy(base, state, 1, "0.01")
        for name, content in files.items():
            (inventory.parent / name).parent.mkdir(parents=True, exist_ok=True)
            (inventory.parent / name).write_text(content)
        inventory.write_text(changed)
        (inventory.parent / "now.json").write_text(json.dumps({"assignments": state["assignments"]}))
    return {"plan-pools201": pools, "plan-inv300-s1": inventory}


def cases(out: Path) -> list[Case]:
    paths = generated_instances(out)
    listed = [Case(f"solve {p.stem}", ["solve", str(p), "--format", "json"])
              for p in sorted(EXAMPLES.glob("*.fit")) if not p.stem.endswith("_test")]
    listed += [Case(f"solve {name}", ["solve", str(paths[name]), "--format", "json"])
               for name in ("fleet200-s1", "fleet600-s4", "inv300-s7", "inv1000-s1", "inv1000-s34",
                            "ai300-s2", "sites40x100", "sites150x300")]
    for state in sorted(EXAMPLES.glob("*-state.json")):
        policy = EXAMPLES / state.name.replace("-state.json", ".fit")
        listed.append(Case(f"plan {policy.stem}", ["plan", str(policy), "--current", str(state),
                                                   "--format", "json"]))
        listed.append(Case(f"explain --current {policy.stem}",
                           ["explain", str(policy), "--current", str(state), "--format", "json"]))
    for name in ("plan-pools201", "plan-inv300-s1"):
        policy = paths[name]
        listed.append(Case(f"plan {name}", ["plan", str(policy), "--current",
                                            str(policy.parent / "now.json"), "--format", "json"]))
    listed += [Case("explain infeasible", ["explain", str(EXAMPLES / "infeasible.fit"), "--format", "json"]),
               Case("explain power-capped-burst",
                    ["explain", str(EXAMPLES / "power-capped-burst.fit"), "--format", "json"])]
    for target, policy in (("kubernetes", EXAMPLES / "llm-inference.fit"),
                           ("kubernetes", paths["fleet600-s4"]),
                           ("slurm", EXAMPLES / "slurm-cluster.fit"),
                           ("terraform", EXAMPLES / "multi-cloud-buy.fit"),
                           ("terraform", paths["inv300-s7"])):
        listed.append(Case(f"compile {target} {policy.stem}",
                           ["compile", str(policy), "--target", target, "--out", "OUT", "--force"],
                           writes=True))
    return listed


def _spin(core: int) -> None:
    os.sched_setaffinity(0, {core})
    while True:
        pass


def _digest(stdout: bytes, written: Path | None) -> str:
    digest = hashlib.sha256(stdout)
    if written is not None and written.is_dir():
        for path in sorted(p for p in written.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(written)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def _without_seconds(document):
    if isinstance(document, dict):
        return {k: _without_seconds(v) for k, v in document.items() if not k.endswith("_seconds")}
    if isinstance(document, list):
        return [_without_seconds(v) for v in document]
    return document


def _masked_digest(stdout: bytes, written: Path | None) -> str:
    """The digest of what the run wrote with the `*_seconds` fields of its JSON left out."""
    with contextlib.suppress(ValueError):
        stdout = json.dumps(_without_seconds(json.loads(stdout)), sort_keys=True).encode()
    return _digest(stdout, written)


def _status(stdout: bytes) -> str:
    try:
        document = json.loads(stdout)
    except ValueError:
        return "-"
    if not isinstance(document, dict):
        return "-"
    status, objective = document.get("status", ""), document.get("objective")
    value = objective.get("value") if isinstance(objective, dict) else None
    return f"{status} {value}" if value is not None else str(status)


def _children_cpu() -> float:
    """The CPU seconds of this script's children waited for (the commands, and theirs)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def run_once(case: Case, work: Path, busy: int, pinned: bool = False,
             hash_seed: int | None = None) -> Run:
    """The command once, in a fresh process; with `busy`, beside `busy` spinners on each core it
    may use, or with `pinned` (session 47's way), it and `busy` spinners on one core: that also
    changes how many cores it has, and HiGHS's answers change with that, not with the load
    (session 48: fleet.py 200 seed 1 pinned to one core, quiet, answered as when loaded).
    Its stdout is kept as WORK/run-N.out (N: the run's number) to compare where runs differ.
    With `hash_seed`, the command's PYTHONHASHSEED: str and bytes hash, and so a set of them
    iterates, in another order in each process (session 51: `explain` named its pools in a
    set's order), which one process's runs never show."""
    written = work / "out" if case.writes else None
    arguments = [str(written) if a == "OUT" else a for a in case.arguments]
    cores = sorted(os.sched_getaffinity(0))[:1] if pinned else sorted(os.sched_getaffinity(0))
    spinners = [multiprocessing.get_context("fork").Process(target=_spin, args=(core,), daemon=True)
                for core in cores for _ in range(busy)]
    for spinner in spinners:
        spinner.start()
    try:
        began, cpu = time.monotonic(), _children_cpu()
        to_one_core = (lambda: os.sched_setaffinity(0, set(cores))) if busy and pinned else None
        environment = dict(os.environ, PYTHONHASHSEED=str(hash_seed)) if hash_seed is not None else None
        done = subprocess.run([sys.executable, "-m", "fitlang.cli", *arguments], capture_output=True,
                              cwd=work, preexec_fn=to_one_core, env=environment)
        wall, cpu = time.monotonic() - began, _children_cpu() - cpu
        (work / f"run-{len(case.runs) + 1}.out").write_bytes(done.stdout)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.join()
    code = f"\nrc={done.returncode}".encode()
    return Run(_digest(done.stdout + code, written), _masked_digest(done.stdout, written) + code.decode(),
               wall, _status(done.stdout), cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--runs", type=int, default=2, help="runs quiet, and as many loaded (2)")
    parser.add_argument("--busy", type=int, default=3, help="spinners on each core beside a loaded run (3)")
    parser.add_argument("--pinned", action="store_true",
                        help="a loaded run and its spinners on one core (session 47's way; fewer cores)")
    parser.add_argument("--only", nargs="*", default=[], help="cases whose name contains any of these")
    parser.add_argument("--list", action="store_true", help="name the cases and stop")
    parser.add_argument("--hash-seed", type=int, default=None,
                        help="every run under this PYTHONHASHSEED (default: run N under N, 1, 2, ...: set "
                             "orders across processes)")
    parser.add_argument("--wall", action="store_true",
                        help="the default limit counts the wall (trees before session 48): `limit` by it")
    arguments = parser.parse_args()
    listed = [c for c in cases(arguments.out)
              if not arguments.only or any(o in c.name for o in arguments.only)]
    if arguments.list:
        print("\n".join(c.name for c in listed))
        return
    differ = []
    for case in listed:
        work = arguments.out / "runs" / case.name.replace(" ", "_")
        work.mkdir(parents=True, exist_ok=True)
        case.wall_limit = arguments.wall
        for number, busy in enumerate([0] * arguments.runs + [arguments.busy] * arguments.runs):
            # quiet, then loaded
            hash_seed = number + 1 if arguments.hash_seed is None else arguments.hash_seed
            case.runs.append(run_once(case, work, busy, arguments.pinned, hash_seed))
        load = os.getloadavg()[0]
        runs = "  ".join(f"{run.digest} {run.wall:.1f}s {run.cpu:.1f}cpu" for run in case.runs)
        print(f"{case.verdict():7} {case.name:40} {case.runs[0].status:28} load {load:4.1f}  {runs}",
              flush=True)
        if case.verdict() != "same":
            differ.append(case)
    print(f"\n{len(listed) - len(differ)} of {len(listed)} cases the same bytes in every run", flush=True)
    for case in differ:
        runs = "; ".join(f"{run.status} ({run.wall:.1f}s, {run.cpu:.1f} CPU s)" for run in case.runs)
        print(f"{case.verdict()}: {case.name}: {runs}", flush=True)


if __name__ == "__main__":
    main()
