"""A fourth fleet shape, written apart from the others: an oversubscribed Slurm HPC cluster.

- nodes read from `scontrol -o show node` text: partitions `cpu` (32-128 cores), `gpu` (H100 x 8,
  A100 x 4 or 8) and `bigmem`; a third hyper-threaded (ThreadsPerCore=2, where Slurm gives
  each job whole cores); some DOWN or DRAINED; the hardware is free (cost ties everywhere);
- more jobs than room: priorities 1-5, GPU gangs of 2-16 nodes with GPU memory or NVLink
  rules, bigmem jobs, CPU arrays of 1-40 tasks, some one a node; `allow_unplaced = true`;
- the judge is the placement by priority (each level, highest first, as many as fit), compared
  with a priority-ordered first-fit written here, with Slurm's whole cores per job counted
  (`--greedy`; it ignores the GPU rules, so use it on instances made with `--no-rules`).

Session 47 (the lead): 500 nodes / 150 jobs at `--time-limit 30` ended E0509 (a repair moved a
replica onto its own job's node against `anti_affinity self on node`); 300 nodes / 400 jobs
ended `unknown`, exit 1, nothing written, with a placement every rule holds.

    python bench/hpc_queue.py OUT --nodes 300 --jobs 400 --seed 3 [--no-rules]
    python bench/hpc_queue.py OUT --greedy [ANSWER.json]
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter
from pathlib import Path

KINDS = [("cpu", 0.55), ("h100", 0.15), ("a100", 0.2), ("bigmem", 0.1)]
STATES = (["IDLE", "MIXED", "ALLOCATED", "DOWN+NOT_RESPONDING", "IDLE+DRAIN"], [50, 20, 20, 3, 3])


def node_line(rng: random.Random, index: int) -> str:
    """One `scontrol -o show node` line."""
    kind = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
    threads = rng.choice([1, 1, 2])
    gres, partition = "(null)", kind
    if kind == "cpu":
        cores = rng.choice([32, 48, 64, 128])
        memory, features = cores * rng.choice([3800, 7600]), "amd,avx512"
    elif kind == "bigmem":
        cores, memory, features = 64, 2000000, "bigmem"
    else:
        cores, memory = rng.choice([64, 96]), rng.choice([1000000, 2000000])
        gpus = rng.choice([4, 8]) if kind == "a100" else 8
        gres, partition = f"gpu:{kind}:{gpus}(S:0-1)", "gpu"
        features = f"{kind},nvlink" if gpus == 8 else kind
    cpus = cores * threads
    state = rng.choices(*STATES)[0]
    return (f"NodeName=n{index:05d} Arch=x86_64 CoresPerSocket={cores // 2} CPUAlloc=0 CPUEfctv={cpus} "
            f"CPUTot={cpus} AvailableFeatures={features} ActiveFeatures={features} Gres={gres} "
            f"NodeAddr=n{index:05d} RealMemory={memory} AllocMem=0 Sockets=2 Boards=1 State={state} "
            f"ThreadsPerCore={threads} Weight=1 Partitions={partition}")


def job(rng: random.Random, index: int, rules: bool) -> tuple[str, dict]:
    """One workload's text and what the first-fit reads of it."""
    name, priority, draw = f"j{index:04d}", rng.randint(1, 5), rng.random()
    spec = {"name": name, "priority": priority, "gang": False, "apart": False, "gpu": 0}
    lines = [f"workload {name} {{", "  kind = job", f"  priority = {priority}", '  image = "x"']
    if draw < 0.3:
        replicas = rng.choice([1, 2, 4, 8, 16])
        gpus = rng.choice([4, 8]) if replicas > 1 else rng.choice([1, 2, 4, 8])
        rule = rng.choice(["", "require memory >= 80GB", "require interconnect == nvlink"]) if rules else ""
        spec.update(replicas=replicas, cpu=gpus * 8, memory_gib=gpus * 64, gpu=gpus, partition="gpu",
                    gang=replicas > 1)
        lines += [f"  gpu {{\n    count = {gpus}\n    {rule}\n  }}"]
        lines += ["  gang = true"] if replicas > 1 else []
    elif draw < 0.4:
        spec.update(replicas=rng.randint(1, 4), cpu=rng.choice([8, 16, 32]),
                    memory_gib=rng.choice([500, 1000]), partition="bigmem")
    else:
        spec.update(replicas=rng.randint(1, 40), cpu=rng.choice([1, 2, 4, 8, 16, 32]),
                    memory_gib=rng.choice([2, 4, 8, 16, 64]), partition="cpu", apart=rng.random() < 0.2)
        lines += ["  anti_affinity self on node"] if spec["apart"] else []
    lines += [f"  replicas = {spec['replicas']}", f"  cpu = {spec['cpu']}",
              f"  memory = {spec['memory_gib']}GiB",
              f'  require labels["slurm.partition.{spec["partition"]}"] == "true"', "}", ""]
    return "\n".join(lines), spec


def write(out: Path, nodes: int, jobs: int, seed: int, rules: bool) -> Path:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "nodes.txt").write_text("".join(node_line(rng, i) + "\n" for i in range(nodes)))
    texts, specs = zip(*(job(rng, j, rules) for j in range(jobs)), strict=True)
    head = ['import "std/accelerators"', "", "inventory hpc {", "  format = slurm", '  file = "nodes.txt"',
            '  zone = "dc1"', "  price = 0 USD/h", "}", ""]
    (out / "p.fit").write_text("\n".join(head) + "\n" + "\n".join(texts)
                               + "\npolicy {\n  allow_unplaced = true\n}\n")
    (out / "jobs.json").write_text(json.dumps(list(specs)))
    return out / "p.fit"


def first_fit(out: Path) -> Counter:
    """Replicas placed per priority by a priority-ordered first-fit (gangs whole, Slurm's whole
    cores per job, one a node where asked)."""
    nodes = []
    for line in (out / "nodes.txt").read_text().splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        if "DOWN" in fields["State"] or "DRAIN" in fields["State"]:
            continue
        gpus = re.match(r"gpu:\w+:(\d+)", fields["Gres"])
        nodes.append({"cpus": int(fields["CPUEfctv"]), "threads": int(fields["ThreadsPerCore"]),
                      "memory": int(fields["RealMemory"]), "gpus": int(gpus.group(1)) if gpus else 0,
                      "partition": fields["Partitions"], "jobs": Counter(), "used_memory": 0, "used_gpus": 0})
    specs = {s["name"]: s for s in json.loads((out / "jobs.json").read_text())}

    def job_cpus(node: dict, spec: dict, count: int) -> int:
        return -(-count * spec["cpu"] // node["threads"]) * node["threads"]

    def fits(node: dict, spec: dict) -> bool:
        have = node["jobs"][spec["name"]]
        cpus = sum(job_cpus(node, specs[name], count) for name, count in node["jobs"].items())
        return not (spec["apart"] and have) and node["partition"] == spec["partition"] \
            and cpus - job_cpus(node, spec, have) + job_cpus(node, spec, have + 1) <= node["cpus"] \
            and node["used_memory"] + spec["memory_gib"] * 1024 <= node["memory"] \
            and node["used_gpus"] + spec["gpu"] <= node["gpus"]

    def put(node: dict, spec: dict, count: int) -> None:
        node["jobs"][spec["name"]] += count
        node["used_memory"] += count * spec["memory_gib"] * 1024
        node["used_gpus"] += count * spec["gpu"]

    placed: Counter = Counter()
    for spec in sorted(specs.values(), key=lambda s: (-s["priority"], s["name"])):
        taken = []
        for _ in range(spec["replicas"]):
            node = next((n for n in nodes if fits(n, spec)), None)
            if node is None:
                break
            put(node, spec, 1)
            taken.append(node)
        if spec["gang"] and len(taken) < spec["replicas"]:
            for node in taken:
                put(node, spec, -1)
            taken = []
        placed[spec["priority"]] += len(taken)
    return placed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--nodes", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-rules", action="store_true", help="no GPU rules (for --greedy)")
    parser.add_argument("--greedy", nargs="?", const="", metavar="ANSWER",
                        help="compare a fitc answer (JSON) with the first-fit by priority")
    arguments = parser.parse_args()
    if arguments.greedy is None:
        print(write(arguments.out, arguments.nodes, arguments.jobs, arguments.seed, not arguments.no_rules))
        return
    specs = {s["name"]: s for s in json.loads((arguments.out / "jobs.json").read_text())}
    levels = sorted({s["priority"] for s in specs.values()}, reverse=True)
    greedy = first_fit(arguments.out)
    print("first-fit", [greedy[level] for level in levels], "levels", levels)
    if arguments.greedy:
        answer = json.loads(Path(arguments.greedy).read_text())
        fitc = Counter(specs[a["workload"]]["priority"] for a in answer["assignments"])
        ours, theirs = [fitc[level] for level in levels], [greedy[level] for level in levels]
        print("fitc     ", ours, answer["status"], "worse than first-fit" if ours < theirs else "no worse")


if __name__ == "__main__":
    main()
