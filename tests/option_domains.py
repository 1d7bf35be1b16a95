"""Policies for rules counted over the replicas of every accelerator option of a workload
together (`anti_affinity self on zone|region`), with answers worked out by hand; shared by
the check, solve, verify, explain and target tests."""

from __future__ import annotations

import json

from fitlang.solve.report import as_json


def _pool(name: str, model: str, zone: str, price: int, count: int) -> str:
    return (f"pool {name} {{\n  count = {count}\n  cpu = 32\n  memory = 256GiB\n"
            f"  gpu {{\n    model = {model}\n    count = 8\n  }}\n  zone = \"{zone}\"\n"
            f"  price = {price} USD/h\n}}\n")


def apart_policy(count: int = 2, zones: str = "abc") -> str:
    """`chat` needs 3 replicas of H100 or L40S (1 each), one per zone, whatever the option.
    Zone a: L40S nodes at 1 USD/h, H100 at 10; zone b: H100 at 10; zone c: L40S at 30.
    Counted over the options together, the three zones take one replica each: 1 (L40S, a)
    + 10 (H100, b) + 30 (L40S, c) = 41. Counted per option (L40S once in a and once in c,
    H100 once in a and once in b), 21 would do: L40S in a, H100 in a and in b.
    Without zone c (`zones="ab"`) two replicas are the most: no placement."""
    pools = [("h100a", "H100", "a", 10), ("h100b", "H100", "b", 10), ("l40c", "L40S", "c", 30),
             ("l40a", "L40S", "a", 1)]
    return ('import "std/accelerators"\n\n'
            + "".join(_pool(name, model, zone, price, count)
                      for name, model, zone, price in pools if zone in zones)
            + '''
workload chat {
  cpu = 8
  memory = 64GiB
  throughput = 3
  image = "chat"
  command = ["serve"]
  gpu {
    option H100 { count = 1  throughput = 1 }
    option L40S { count = 1  throughput = 1 }
  }
  anti_affinity self on zone
}
''')


APART_COST = 41
APART_ZONES = {"a": "L40S", "b": "H100", "c": "L40S"}


def zones_of(problem, placement) -> dict[str, list[str]]:
    """Zone -> the options of the replicas placed there."""
    zone_of = {name: c.zone for c in problem.classes for name in c.node_names}
    found: dict[str, list[str]] = {}
    for item in placement.assignments:
        found.setdefault(zone_of[item.node], []).append(problem.demand(item.workload).option)
    return found


def placed_json(problem, placement) -> dict:
    return json.loads(as_json(problem, placement, []))


def spread_policy(count: int = 2) -> str:
    """`apart_policy` with `spread zone max_skew 1` instead: the replicas of both options
    summed per zone (a, b and c: every zone where an option may run) differ by at most 1.
    Three replicas: one per zone (41), or two L40S on one node of a with one in b and one in
    c (41 too); fewer zones cannot hold 3 within skew 1. Counted per option (L40S over a and c,
    H100 over a and b), an L40S in a and an H100 in a and in b would do: 21, zone c empty
    while a has 2."""
    return apart_policy(count).replace("anti_affinity self on zone", "spread zone max_skew 1")


def per_zone(problem, placement) -> dict[str, int]:
    return {zone: len(options) for zone, options in zones_of(problem, placement).items()}


def train_policy(rule: str = "", before: str = "") -> str:
    """`train` needs 1600 of throughput from H100 (8 per replica, 1000 each) or Trainium2 (16 per
    replica, 800 each), bought as p5.48xlarge (55.04 USD/h, in us-east-1, us-east-2 and
    us-west-2) or trn2.48xlarge (46.98, in us-east-2 only); `rule` is added to it, `before` (pools)
    comes first, and the `buy` block offers both, or only trn2 where `before` brings H100 nodes."""
    offers = "aws_trn2_48xlarge" if before else "aws_p5_48xlarge, aws_trn2_48xlarge"
    return f'''import "std/accelerators"
import "std/aws"
{before}
buy {{
  offers = [{offers}]
}}

workload train {{
  cpu = 96
  memory = 1TiB
  throughput = 1600
  image = "trainer"
  gpu {{
    option H100 {{
      count = 8
      throughput = 1000
    }}
    option TRAINIUM2 {{
      count = 16
      throughput = 800
    }}
  }}
  {rule}
}}
'''


def beside_policy(topology: str = "zone", count: int = 2, h100: bool = True, l40b: bool = False) -> str:
    """`cache` (2 replicas) has `affinity chat on TOPOLOGY`; `chat` needs 1 replica of H100
    (zone b, 10 USD/h) or L40S (zone a, 1 USD/h), on GPU nodes `cache` may use only `on node`.
    Alone, chat takes the L40S (1). Over zones: cache runs only on the CPU nodes of zone b
    (1 USD/h, both replicas on one), so chat must run in b: H100, 10 + 1 = 11 (L40S in a and
    H100 in b: 12). On nodes: cache (12 CPU) fits beside chat (8) on an H100 node (32 CPU)
    and not on an L40S one (16): both on one H100 node, 10. Without the H100 pool
    (`h100=False`) no placement holds the rule. With `l40b`, twice `count` L40S nodes in zone
    b at 5 USD/h: over zones, 5 + 1 = 6."""
    pools = [("l40a", "L40S", "a", 1, 16 if topology == "node" else 32)] + (
        [("h100b", "H100", "b", 10, 32)] if h100 else []) + (
        [("l40b", "L40S", "b", 5, 32)] if l40b else [])
    text = 'import "std/accelerators"\n\n'
    for name, model, zone, price, cpu in pools:
        nodes = 2 * count if name == "l40b" else count
        text += (f"pool {name} {{\n  count = {nodes}\n  cpu = {cpu}\n  memory = 256GiB\n"
                 f"  gpu {{\n    model = {model}\n    count = 8\n  }}\n  zone = \"{zone}\"\n"
                 f"  price = {price} USD/h\n  dedicated = \"gpu\"\n}}\n\n")
    tolerate = '  tolerate = ["gpu"]\n' if topology == "node" else ""
    return text + f'''pool cpub {{
  count = {count}
  cpu = 16
  memory = 64GiB
  zone = "b"
  price = 1 USD/h
}}

workload chat {{
  cpu = 8
  memory = 64GiB
  throughput = 1
  tolerate = ["gpu"]
  image = "chat"
  command = ["serve"]
  gpu {{
    option H100 {{ count = 1  throughput = 1 }}
    option L40S {{ count = 1  throughput = 1 }}
  }}
}}

workload cache {{
  replicas = 2
  cpu = {12 if topology == "node" else 4}
  memory = 8GiB
  image = "cache"
  command = ["serve"]
{tolerate}  affinity chat on {topology}
}}
'''


BESIDE_COST = {"zone": 11, "node": 10}


def fleet_spread_policy(count: int = 15, rule: str = "spread zone max_skew 1", pools: str = "",
                        chat: str = "") -> str:
    """A fleet of `count` nodes per pool (105 by default): H100 in zones a (12 USD/h) and b
    (10), L40S in a (3) and c (4), 16-CPU nodes in every zone (2); `chat` needs 12 of
    throughput from H100 (2 per replica) or L40S (1), under `rule`, 4 replicas a node; `web`
    30 replicas spread over the zones. No option runs in every zone, so a spread over both
    mixes them. `pools` is added, `chat` into chat's block."""
    gpus = [("h100a", "H100", "a", 12), ("h100b", "H100", "b", 10), ("l40a", "L40S", "a", 3),
            ("l40c", "L40S", "c", 4)]
    cpus = "".join(f"pool cpu{zone} {{\n  count = {count}\n  cpu = 16\n  memory = 64GiB\n"
                   f"  zone = \"{zone}\"\n  price = 2 USD/h\n}}\n" for zone in "abc")
    return ('import "std/accelerators"\n\n'
            + "".join(_pool(name, model, zone, price, count) for name, model, zone, price in gpus)
            + cpus + pools + f'''
workload chat {{
  cpu = 8
  memory = 64GiB
  throughput = 12
  image = "chat"
  command = ["serve"]
  gpu {{
    option H100 {{ count = 1  throughput = 2 }}
    option L40S {{ count = 1  throughput = 1 }}
  }}
  {rule}
{chat}}}

workload web {{
  replicas = 30
  cpu = 2
  memory = 4GiB
  image = "web"
  spread zone max_skew 1
}}
''')


def regioned(text: str) -> str:
    """`fleet_spread_policy`'s zones in regions: a and b in r1, c in r2."""
    for zone, region in (("a", "r1"), ("b", "r1"), ("c", "r2")):
        text = text.replace(f'zone = "{zone}"\n', f'zone = "{zone}"\n  region = "{region}"\n')
    return text
