"""An independent reference for the room work of no workload takes (no fitlang import): from
the pods JSON (`kubectl get pods -A -o json`), the inventories' node JSON (`kubectl get nodes
-o json`), each workload's requests and a placement JSON, the nodes whose pods request more
than their allocatable, every pod counted as the scheduler counts it (containers summed, or
the largest init container where that is more; Succeeded and Failed pods take nothing).
Kept small and plain on purpose: sidecars and `overhead` are left out (tests use neither)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

_UNITS = {"m": Decimal("0.001"), "": Decimal(1), "k": Decimal(10 ** 3), "M": Decimal(10 ** 6),
          "G": Decimal(10 ** 9), "T": Decimal(10 ** 12), "Ki": Decimal(2 ** 10), "Mi": Decimal(2 ** 20),
          "Gi": Decimal(2 ** 30), "Ti": Decimal(2 ** 40)}


def quantity(text: object) -> Decimal:
    number, unit = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(text)).groups()
    return Decimal(number) * _UNITS[unit]


def _requests(containers: list) -> dict[str, Decimal]:
    total = {"cpu": Decimal(0), "memory": Decimal(0)}
    for container in containers or []:
        for resource, text in ((container.get("resources") or {}).get("requests") or {}).items():
            if resource in total:
                total[resource] += quantity(text)
    return total


def pod_requests(pod: dict) -> dict[str, Decimal]:
    spec = pod.get("spec") or {}
    running = _requests(spec.get("containers"))
    for init in spec.get("initContainers") or []:
        alone = _requests([init])
        running = {r: max(running[r], alone[r]) for r in running}
    return running


def overfilled_nodes(pods_file: Path, node_files: list[Path], workloads: dict[str, dict[str, int]],
                     placement_file: Path) -> list[str]:
    """`workloads`: name -> {"cpu": millicores, "memory": bytes}."""
    allocatable = {}
    for path in node_files:
        for node in json.loads(Path(path).read_text())["items"]:
            has = node["status"]["allocatable"]
            allocatable[node["metadata"]["name"]] = {"cpu": quantity(has["cpu"]),
                                                     "memory": quantity(has["memory"])}
    used = {name: {"cpu": Decimal(0), "memory": Decimal(0)} for name in allocatable}
    for pod in json.loads(Path(pods_file).read_text())["items"]:
        node = (pod.get("spec") or {}).get("nodeName")
        if node in used and (pod.get("status") or {}).get("phase") in ("Running", "Pending"):
            for resource, amount in pod_requests(pod).items():
                used[node][resource] += amount
    for assignment in json.loads(Path(placement_file).read_text())["assignments"]:
        asks = workloads[assignment["workload"]]
        used[assignment["node"]]["cpu"] += Decimal(asks["cpu"]) / 1000
        used[assignment["node"]]["memory"] += asks["memory"]
    return sorted(name for name, sums in used.items()
                  if any(sums[r] > allocatable[name][r] for r in sums))
