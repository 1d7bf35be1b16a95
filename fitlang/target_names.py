"""How the targets name what runs a workload (a DNS-1123 label, a Slurm job), here and not in
`fitlang.targets`: reading what runs now (`fitc plan`) maps those names back to workloads,
and importing the targets package for two functions imported and compiled every target
(~0.1-0.3 s of each plan's CPU at this machine's settings, no byte-code kept)."""

from __future__ import annotations

import hashlib
import re


def dns_name(text: str, limit: int = 63) -> str:
    """A DNS-1123 label from any name: lowercase, [a-z0-9-], at most `limit` characters; names
    that had to change get a short hash so that two different names never collide."""
    clean = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "x"
    if clean == text and len(clean) <= limit:
        return clean
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return f"{clean[: limit - 7].rstrip('-')}-{digest}"


def job_name(workload) -> str:
    """One job per workload, or per option of it that runs (`chat-h100-...`)."""
    if workload.option is None:
        return dns_name(workload.name)
    return dns_name(f"{workload.name}-{workload.option}")
