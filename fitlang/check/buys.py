"""W0104: a `buy` block's `regions` that none of the offers it allows is sold in; W0105: a
`buy` block that allows no offer at all.

A `buy` buys an offer only where the offer is sold (`regions`, and the regions its
`region_prices` price) and the block's `regions` allow. A region of the block's list that no
allowed offer (its `offers`, or every offer in scope, less those of other `providers`) is sold
in buys nothing there, silently: a `buy` kept to `westeurope` over `std/azure`, whose sizes are
priced in US regions only, bought nothing and the placement just left the EU workloads out.
"""

from __future__ import annotations

from fitlang import messages as msg
from fitlang.check.program import Buy, Offer, Program
from fitlang.check.step_prices import buy_named
from fitlang.diagnostics import Diagnostic

STANDARD_PROVIDERS = ("aws", "gcp", "azure")  # each sells through `std/<provider>`
MAX_LISTED = 8  # regions named where the offers are sold; more become "..."


def unsold_buy_regions(program: Program) -> list[Diagnostic]:
    diagnostics = []
    for buy in program.buys:
        if not _allowed(buy):
            diagnostics.append(_allows_none(buy))
            continue
        where = buy.spans.get("regions")
        if buy.regions is None or where is None:
            continue
        sold = _sold_in(buy)
        unsold = [region for region in buy.regions if region not in sold]
        if not unsold:
            continue
        diagnostics.append(msg.BuyRegionUnsold(
            buy=buy_named(buy.name), regions=", ".join(f"`{r}`" for r in unsold),
            detail=_detail(_nearest_first(program, sold, unsold), everywhere=len(unsold) == len(buy.regions)),
        ).diagnostic(where.path, where.span))
    return diagnostics


def _allowed(buy: Buy) -> list[Offer]:
    """The offers the block may buy: its `offers` (default every offer in scope) of its
    `providers`."""
    return [o for o in buy.offers if buy.providers is None or o.provider in buy.providers]


def _sold_in(buy: Buy) -> list[str]:
    """Every region an offer the block allows is sold in, in the order first met."""
    sold: dict[str, None] = {}
    for offer in _allowed(buy):
        sold.update(dict.fromkeys(offer.sold_in))
    return list(sold)


def _allows_none(buy: Buy) -> Diagnostic:
    """W0105 at what narrows the block's offers to none: its `providers` (else its
    `offers`, else the block, where no offer is in scope)."""
    named = [p for p in buy.providers or [] if p in STANDARD_PROVIDERS]
    imports = " or ".join(f'`import "std/{p}"`' for p in named or STANDARD_PROVIDERS)
    if buy.offers and buy.providers is not None:
        theirs = ", ".join(sorted({o.provider for o in buy.offers}))
        providers = ", ".join(buy.providers)
        if "offers" in buy.spans:
            detail = f": none of its `offers` is of its `providers` ({providers}): they are {theirs}'s"
        else:
            detail = (f": no offer in scope is of its `providers` ({providers}): they are {theirs}'s"
                      + (f" ({imports} brings {', '.join(named)}'s)" if named else ""))
        where = buy.spans.get("providers") or buy.spans.get("offers") or buy.origin
    else:
        detail = f": no offer is in scope ({imports}, or declare an `offer`)"
        where = buy.spans.get("providers") or buy.origin
    assert where is not None  # the checker gives every block it makes its origin
    return msg.BuyAllowsNoOffer(buy=buy_named(buy.name), detail=detail).diagnostic(where.path, where.span)


def _nearest_first(program: Program, sold: list[str], unsold: list[str]) -> list[str]:
    """The regions the offers are sold in, those under the law of a region asked for first
    (a buy kept to `westeurope` is told of `eu-central-1` before `asia-southeast1`), each
    part by name."""
    def law(code: str) -> str | None:
        site = program.region_at(code)
        return site.jurisdiction if site is not None else None

    wanted = {law(r) for r in unsold} - {None}
    return sorted(sold, key=lambda r: (law(r) not in wanted, r))


def _detail(sold: list[str], everywhere: bool) -> str:
    lead = "so it buys nothing; " if everywhere else ""
    shown = sold[:MAX_LISTED] + (["..."] if len(sold) > MAX_LISTED else [])
    return f" ({lead}they are sold in {', '.join(shown)})"
