"""Generate a large, realistic policy (seeded, deterministic) for the `fitc check` benchmark.

    python bench/gen_policy.py --lines 10000 > /tmp/big.fit
"""

from __future__ import annotations

import argparse
import random

ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]


def accelerators() -> list[str]:
    return ["accelerator H100 {", "  vendor = nvidia", "  memory = 80GB", "  bf16_tflops = 989",
            "  interconnect = nvlink", "  form_factor = sxm", "  tdp = 700W", "}", "",
            "accelerator L40S {", "  vendor = nvidia", "  memory = 48GB", "  bf16_tflops = 362",
            "  interconnect = pcie", "  form_factor = pcie", "}", ""]


def pool(rng: random.Random, index: int) -> list[str]:
    gpu = rng.random() < 0.3
    lines = [f"# pool {index}: {'GPU' if gpu else 'CPU'} nodes",
             f"pool pool_{index} {{", f"  count = {rng.randint(1, 200)}",
             f"  cpu = {rng.choice([16, 32, 64, 96, 192])}",
             f"  memory = {rng.choice([64, 128, 256, 512, 1024])}GiB",
             f"  disk = {rng.choice([1, 2, 4])}TB"]
    if gpu:
        lines += ["  gpu {", f"    model = {rng.choice(['H100', 'L40S'])}",
                  f"    count = {rng.choice([1, 4, 8])}", "  }"]
    lines += [f'  labels = {{ tier: "{rng.choice(["gold", "silver"])}", team: "t{index % 7}" }}',
              f'  zone = "{rng.choice(ZONES)}"', '  region = "us-east-1"',
              f"  price = {rng.randint(1, 9999) / 100} USD/h", "}", ""]
    return lines


def workload(rng: random.Random, index: int) -> list[str]:
    lines = [f"workload svc_{index} {{", f"  kind = {rng.choice(['service', 'job'])}",
             f"  replicas = {rng.randint(1, 40)}", "  use base" if rng.random() < 0.5 else
             f"  cpu = {rng.choice(['250m', '500m', '1', '2', '4 + 500m'])}",
             f"  memory = {rng.choice(['512Mi', '1Gi', '4Gi', '16GiB'])}",
             f"  priority = {rng.randint(0, 100)}",
             f'  zones = ["{rng.choice(ZONES)}", "{rng.choice(ZONES)}"]',
             f'  require labels["tier"] == "{rng.choice(["gold", "silver"])}" and arch == amd64',
             f'  prefer zone == "{rng.choice(ZONES)}" weight {rng.randint(1, 10)}',
             "  anti_affinity self on node" if rng.random() < 0.3 else "  spread zone max_skew 1",
             f'  image = "registry.example.com/team/svc-{index}:1.{index % 10}"',
             f'  command = ["/bin/server", "--port", "{8000 + index % 1000}"]', "}", ""]
    if rng.random() < 0.2:
        lines[-2:-2] = ["  gpu {", "    count = 1", "    require memory >= 40GB", "  }"]
    return lines


def generate(target_lines: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    lines = ["# generated benchmark policy", "const BUDGET = 5000 USD/h", ""] + accelerators()
    lines += ["profile base {", "  cpu = 1", "  memory = 2Gi", "}", ""]
    index = 0
    while len(lines) < target_lines - 10:
        lines += pool(rng, index) if index % 4 == 0 else workload(rng, index)
        index += 1
    lines += ["policy {", "  objective = [cost, nodes]", "  budget = BUDGET", "}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()
    print(generate(arguments.lines, arguments.seed), end="")
