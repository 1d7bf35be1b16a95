"""W0104: a `buy` block's `regions` that none of the offers it allows is sold in.

A `buy` buys an offer only where the offer is sold (`regions`, and the regions its
`region_prices` price) and the block's `regions` allow. A region of the block's list that no
allowed offer (its `offers`, or every offer in scope, less those of other `providers`) is sold
in buys nothing there, silently: a `buy` kept to `westeurope` over `std/azure`, whose sizes are
priced in US regions only, bought nothing and the placement just left the EU workloads out.
"""

from __future__ import annotations

from fitlang import messages as msg
from fitlang.check.program import Buy, Program
from fitlang.check.step_prices import buy_named
from fitlang.diagnostics import Diagnostic

MAX_LISTED = 8  # regions named where the offers are sold; more become "..."


def unsold_buy_regions(program: Program) -> list[Diagnostic]:
    diagnostics = []
    for buy in program.buys:
        where = buy.spans.get("regions")
        if buy.regions is None or where is None:
            continue
        sold = _sold_in(buy)
        unsold = [region for region in buy.regions if region not in sold]
        if not unsold:
            continue
        diagnostics.append(msg.BuyRegionUnsold(
            buy=buy_named(buy.name), regions=", ".join(f"`{r}`" for r in unsold),
            detail=_detail(sold, everywhere=len(unsold) == len(buy.regions)),
        ).diagnostic(where.path, where.span))
    return diagnostics


def _sold_in(buy: Buy) -> list[str]:
    """Every region an offer the block allows is sold in, in the order first met."""
    sold: dict[str, None] = {}
    for offer in buy.offers:
        if buy.providers is None or offer.provider in buy.providers:
            sold.update(dict.fromkeys(offer.sold_in))
    return list(sold)


def _detail(sold: list[str], everywhere: bool) -> str:
    lead = "so it buys nothing; " if everywhere else ""
    if not sold:
        return f" ({lead}it allows no offer: none in scope, or none of its `providers`)"
    shown = sorted(sold)[:MAX_LISTED] + (["..."] if len(sold) > MAX_LISTED else [])
    return f" ({lead}they are sold in {', '.join(shown)})"
