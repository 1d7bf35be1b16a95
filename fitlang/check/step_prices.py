"""Prices per step of nodes in the checker (issue 19: offer prices per step, spot).

A pool, an inventory or a `buy` block may state what a node costs per hour at each step of the
horizon: `price_hourly = [...]` (repeated when shorter) or `price_file = "..."` (rows
`timestamp,price` in USD/h, the price from each timestamp on), instead of one `price`. The
builders (`entities.py`) read them and report a price stated twice (E0927); what needs the
whole program is here: a horizon (E0928), one offer per priced `buy` (E0929), capacity priced
per step but bought on demand (W0927), a file that starts after the horizon (W0928).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from fitlang import messages as msg
from fitlang.check.program import Buy, Horizon, Program, StepPrices
from fitlang.diagnostics import Diagnostic


def check_step_prices(program: Program) -> Iterator[Diagnostic]:
    """Every price per step against the horizon, and every priced `buy` against its offers."""
    horizon = program.policy.horizon
    horizon_wrong = horizon is None and any(k in program.policy.spans
                                            for k in ("horizon", "step", "start"))
    for block, prices in stated_prices(program):
        where = prices.origin
        if horizon is not None:
            yield from _starts_late(block, prices, horizon)
        elif not horizon_wrong:  # a wrong horizon is reported: this would only echo it
            yield msg.StepPricesWithoutHorizon(block=block, attribute=prices.attribute).diagnostic(
                where.path, where.span)
    for buy in program.buys:
        if buy.step_prices is not None:
            yield from _priced_buy(buy, buy.step_prices)


def stated_prices(program: Program) -> Iterator[tuple[str, StepPrices]]:
    """(the block as a message names it, its prices per step), in the policy's order."""
    for pool in program.pools.values():
        if pool.step_prices is not None:
            yield f"pool `{pool.name}`", pool.step_prices
    for inventory in program.inventories.values():
        if inventory.step_prices is not None:
            yield f"inventory `{inventory.name}`", inventory.step_prices
    for buy in program.buys:
        if buy.step_prices is not None:
            yield buy_named(buy.name), buy.step_prices


def buy_named(name: str | None) -> str:
    """A `buy` block as a message names it (its name is optional)."""
    return "the `buy` block" if name is None else f"buy `{name}`"


def _priced_buy(buy: Buy, prices: StepPrices) -> Iterator[Diagnostic]:
    """The prices are one offer's market: a `buy` that may buy several is E0929; prices per
    step of on-demand capacity, which providers bill at one list price, W0927."""
    where = prices.origin
    offers = [o.name for o in buy.offers if buy.providers is None or o.provider in buy.providers]
    if len(offers) > 1:
        first = ", ".join(f"`{name}`" for name in offers[:3]) + (", ..." if len(offers) > 3 else "")
        yield msg.StepPricesOfSeveralOffers(block=buy_named(buy.name), attribute=prices.attribute,
                                            count=len(offers), first=first).diagnostic(
            where.path, where.span)
    if not buy.spot:
        yield msg.StepPricesOnDemand(block=buy_named(buy.name)).diagnostic(where.path, where.span)


def _starts_late(block: str, prices: StepPrices, horizon: Horizon) -> Iterator[Diagnostic]:
    """W0928: a file whose first row comes a step or more after the horizon's start prices
    those steps at its first row's price (as an electricity file does), which is likely a
    file of the wrong days."""
    if not prices.timed:
        return
    first = prices.timed[0][0]
    late = horizon.seconds_after_start(first) / horizon.step_seconds
    if late >= 1:
        steps = min(math.ceil(late), horizon.steps)
        yield msg.StepPricesStartLate(block=block, file=prices.file, first=first.isoformat(),
                                      steps=steps).diagnostic(prices.origin.path, prices.origin.span)


__all__ = ["buy_named", "check_step_prices", "stated_prices"]
