"""Types and units of fit values.

Numbers carry a dimension: '' (plain numbers and CPU cores), 'bytes', 'rate'
(USD/h), 'money' (USD), 'energy_price' (USD/kWh), 'power' (W), 'time'
(seconds), 'carbon_intensity' (gCO2e/kWh) and 'carbon' (kgCO2e). Values are exact
`Fraction`s in the dimension's base unit, so `80GB` is 80_000_000_000 and `500m` is 1/2.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

UNITS: dict[str, tuple[str, Fraction]] = {
    "m": ("", Fraction(1, 1000)),
    **{u: ("bytes", Fraction(1024) ** (i + 1)) for i, u in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi"))},
    **{u: ("bytes", Fraction(1024) ** (i + 1)) for i, u in enumerate(("KiB", "MiB", "GiB", "TiB", "PiB"))},
    **{u: ("bytes", Fraction(1000) ** (i + 1)) for i, u in enumerate(("K", "M", "G", "T", "P"))},
    **{u: ("bytes", Fraction(1000) ** (i + 1)) for i, u in enumerate(("KB", "MB", "GB", "TB", "PB"))},
    "W": ("power", Fraction(1)),
    "kW": ("power", Fraction(1000)),
    "MW": ("power", Fraction(1_000_000)),
    "ms": ("time", Fraction(1, 1000)),
    "s": ("time", Fraction(1)),
    "min": ("time", Fraction(60)),
    "h": ("time", Fraction(3600)),
    "d": ("time", Fraction(86400)),
    "USD/h": ("rate", Fraction(1)),
    "USD/kWh": ("energy_price", Fraction(1)),
    "USD": ("money", Fraction(1)),
    # grid carbon intensity (issue 19), and carbon emitted in kg CO2-equivalent
    "gCO2e/kWh": ("carbon_intensity", Fraction(1)),
    "gCO2e": ("carbon", Fraction(1, 1000)),
    "kgCO2e": ("carbon", Fraction(1)),
    "tCO2e": ("carbon", Fraction(1000)),
    "%": ("share", Fraction(1, 100)),  # a share of something: `max_disrupted = 20%`
}

DIMENSION_NAMES = {
    "": "a plain number",
    "bytes": "a size in bytes",
    "rate": "a price in USD/h",
    "money": "an amount in USD",
    "energy_price": "a price in USD/kWh",
    "power": "a power in watts",
    "time": "a duration",
    "share": "a share in %",
    "carbon_intensity": "a carbon intensity in gCO2e/kWh",
    "carbon": "an amount of CO2e (kgCO2e)",
    "count_or_share": "a count or a share in %",
}

# how a value of each dimension is shown back to people
DIMENSION_EXAMPLES = {"": "4", "bytes": "80GiB", "rate": "3.5 USD/h", "money": "100 USD",
                      "energy_price": "0.12 USD/kWh", "power": "700W", "time": "24h", "share": "20%",
                      "carbon_intensity": "350 gCO2e/kWh", "carbon": "500 kgCO2e",
                      "count_or_share": "2"}


class Share(Fraction):
    """A `%` literal's value (20% is Share(1, 5)): an attribute that takes a count or a share
    (`max_disrupted`) tells them apart by type, not by reading the source back."""


def quantity_value(number_text: str, unit: str) -> tuple[str, Fraction]:
    dimension, factor = UNITS[unit]
    if dimension == "share":
        return dimension, Share(Fraction(number_text) * factor)
    return dimension, Fraction(number_text) * factor


@dataclass(frozen=True)
class Type:
    kind: str  # number, string, bool, choice, ref, list, map, record, any
    dim: str = ""
    choices: tuple[str, ...] = ()
    of: Type | None = None
    ref: str = ""  # a `ref`'s kind of entity; a map's: the kind its keys name ("" any string)
    label: str = ""  # what a choice is called: "interconnect", "architecture"

    def describe(self) -> str:
        if self.kind == "number":
            return DIMENSION_NAMES[self.dim]
        if self.kind == "choice":
            label = self.label or "choice"
            return f"a{'n' if label[0] in 'aeiou' else ''} {label} ({' | '.join(self.choices)})"
        if self.kind == "ref":
            return f"a{'n' if self.ref[0] in 'aeiou' else ''} {self.ref}"
        if self.kind == "list":
            return f"a list of {_plural(self.of.describe()) if self.of else 'values'}"
        if self.kind == "map":
            return f"a map of {_plural(self.of.describe())}" if self.of else "a map of strings"
        if self.kind == "record":
            return self.label or "a record"
        return {"string": "a string", "bool": "a boolean (true or false)"}.get(self.kind, "a value")

    def accepts(self, other: Type) -> bool:
        if self.kind == "any" or other.kind == "any":
            return True
        if self.kind != other.kind:
            return False
        if self.kind == "number":  # (a count or a share takes a plain number or a `%`)
            return self.dim == other.dim or (self.dim == "count_or_share" and other.dim in ("", "share"))
        if self.kind == "list":
            return other.of is None or self.of is None or self.of.accepts(other.of)
        if self.kind == "ref":
            return self.ref == other.ref
        if self.kind == "choice":
            return set(other.choices) <= set(self.choices)
        return True


def _plural(description: str) -> str:
    """`a jurisdiction (EU | US)` -> `jurisdictions (EU | US)`: the plural on the noun, before
    any list of the choices in brackets."""
    words = description.split(" ", 1)
    rest = words[1] if len(words) > 1 and words[0] in ("a", "an") else description
    noun, bracket, choices = rest.partition(" (")
    return (noun if noun.endswith("s") else noun + "s") + bracket + choices


ANY = Type("any")
NUMBER = Type("number")
BYTES = Type("number", "bytes")
RATE = Type("number", "rate")
ENERGY_PRICE = Type("number", "energy_price")
CARBON_INTENSITY = Type("number", "carbon_intensity")
CARBON = Type("number", "carbon")
POWER = Type("number", "power")
TIME = Type("number", "time")
STRING = Type("string")
BOOL = Type("bool")
MAP = Type("map")


def choice(label: str, *values: str) -> Type:
    return Type("choice", choices=values, label=label)


def list_of(element: Type) -> Type:
    return Type("list", of=element)


def ref(kind: str) -> Type:
    return Type("ref", ref=kind)


def number_type(dim: str) -> Type:
    return Type("number", dim)


VENDOR = choice("vendor", "nvidia", "amd", "google", "aws", "intel")
FAMILY = choice("accelerator family", "gpu", "tpu", "trainium", "inferentia")
INTERCONNECT = choice("interconnect", "nvlink", "pcie", "xgmi", "ici", "neuronlink")
FORM_FACTOR = choice("form factor", "sxm", "pcie", "oam", "module")
ARCH = choice("architecture", "amd64", "arm64")
PROVIDER = choice("provider", "aws", "gcp", "azure")
WORKLOAD_KIND = choice("workload kind", "service", "job")
INVENTORY_FORMAT = choice("inventory format", "kubectl", "slurm")
STATE_FORMAT = choice("state format", "placement", "kubectl", "squeue")
# where a region's data falls under, by the law that governs it (the EU counts as one)
JURISDICTION = choice("jurisdiction", "EU", "US", "UK", "CH", "CA", "JP", "SG", "AU", "IN",
                      "KR", "BR")
OBJECTIVE = choice("objective", "cost", "nodes", "preferences", "moves", "carbon", "makespan",
                   "lateness")
SHARE = Type("number", "share")
COUNT_OR_SHARE = Type("number", "count_or_share")
