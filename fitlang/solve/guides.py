"""The LP-guided passes' guides, in their order (`placement._guided_floor`), from the pair
LP's suggestion (`bound_stages.suggested`) and counts (`gang_quotas.lp_counts`). Moved out of
placement.py as it was (session 35), which it kept under 1,500 lines."""

from __future__ import annotations

from dataclasses import replace

from fitlang.solve.gang_quotas import NO_COUNTS, LPCounts
from fitlang.solve.greedy import Guide


def guides(suggested: tuple[dict[str, list[str]], dict[str, frozenset[str]]],
            counts: LPCounts = NO_COUNTS) -> list[Guide]:
    """The guided passes' guides, in their order (`_guided_floor`): the first with the LP's
    classes and `counts` (the gangs' quotas, the spreads' domains), and new nodes with GPUs
    last for the workloads that ask none; where every workload with GPUs has other quotas
    than the gangs alone, the same with those (inventory 10,000 at 5 s, in process: seed 7
    579.78 -> 578.63, its 1-GPU inference replicas beside services on the LP's 4-GPU nodes;
    seed 8 dearer, 2475.51 against 2476.69, so the cheaper consolidated pass is kept); then the
    first again with classes by the share of a node a replica takes (`Guide.fractional`; seed
    11: 468.25 -> 465.85 consolidated, 464.21 -> 462.10 ruined; seeds 7 and 9 dearer, not kept);
    then, where the LP places services, every workload by its counts (`LPCounts.every`), new
    nodes up to the LP's (seed 17: services that may run anywhere took the free room of nodes
    open in us-east-1 zones, not the LP's us-west-2b CPU nodes, and zone-bound ones opened
    4-CPU nodes in us-east-1b; consolidated 429.55 -> 427.53, ruined 426.96 -> 424.21).
    The first passes place the option groups the LP splits as its split (`LPCounts.mixes`,
    option_mix.py; the best of them consolidated, seed 20 611.81 -> 604.01, seed 8 2484.61 ->
    2474.39, seed 9 1609.07 -> 1602.32, seed 7 580.80 -> 579.89)."""
    options, classes = suggested
    # where the LP mixes options, the fractional pass again with every option group whole (as
    # before option_mix.py): the mixed passes won consolidated and lost after the ruin on seeds
    # 12 / 14 (1458.25 -> 1455.61 against 1454.52 -> 1452.29; 592.25 -> 590.41 against 592.30
    # -> 589.57), and the kept pass is chosen after the ruin (`_ruined_first`)
    first = [Guide(options, classes, quotas=counts.quotas, gpu_nodes_last=True, domains=counts.domains,
                   mixes=counts.mixes, mixed_if_whole=counts.mixed_if_whole,
                   nodes=counts.mixed_nodes)] if classes else []
    if first and counts.gpu_quotas != counts.quotas:
        first.append(replace(first[0], quotas=counts.gpu_quotas))
    if first:
        first.append(replace(first[0], fractional=True))
    fractional = first[-1] if first else None
    if first and counts.every and counts.every != counts.gpu_quotas and counts.mixed_nodes:
        first.append(replace(first[0], quotas=counts.every, quota_nodes=counts.nodes))
    elif first and counts.every and counts.every != counts.gpu_quotas:
        # first of all (not where the LP's mixes are dealt, lp_mixes.py, measured apart): under
        # `fitc solve`'s 5 s (1.2 of them the check and the build) the child beside the placement
        # reaches one or two first passes, and this one is the
        # cheapest after the ruin and the merge on inventory 10,000 seeds 10 / 11 / 22 / 24 / 28
        # (in process: 512.94 / 461.74 / 671.58 / 537.19 / 452.35 against the first guide's
        # 513.97 / 464.32 / 672.70 / 542.31 / 459.94; docs/performance.md, session 36)
        first.insert(0, replace(first[0], quotas=counts.every, quota_nodes=counts.nodes))
    if fractional is not None and counts.mixes:
        first.append(replace(fractional, mixes={}))
    if counts.mixed_nodes and len(first) > 1 and first[1].quotas is counts.gpu_quotas:
        # with the LP's mixes filled first (lp_mixes.py), the GPU workloads' counts first: at 5 s
        # one pass fits (ai_fleet 10,000 seeds 2 / 4 at 5 s, consolidated: 97,798.62 / 105,300.84
        # by the gangs' counts against 97,591.54 / 104,289.08)
        first[0], first[1] = first[1], first[0]
    return first + ([Guide(options)] if options else [])
