"""Hover text: what a name means, in Markdown."""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import Any

from fitlang.check import schema as s
from fitlang.check import types as t
from fitlang.check.evaluate import Symbol, Typed
from fitlang.check.loader import SourceModule
from fitlang.check.program import Accelerator, Inventory, Offer, Pool, Workload
from fitlang.lsp.analysis import Analysis
from fitlang.lsp.locate import block_schemas, chain_at, declared_name, use_at
from fitlang.model.problem import replicas_per_node
from fitlang.syntax import nodes as n
from fitlang.syntax.nodes import Span
from fitlang.syntax.printer import expression_text

log = logging.getLogger(__name__)  # what hover swallows, at debug level (see completion)


def hover(analysis: Analysis, module: SourceModule, line: int, column: int
          ) -> tuple[str, Span] | None:
    decls = module.decls
    use = use_at(decls, line, column)
    if use is not None:
        symbol = analysis.resolve(module, use)
        if symbol is not None:
            return describe_symbol(analysis, symbol), use.ident.span
        if use.subjects is not None and not use.qualifiers and use.ident.name in use.subjects:
            return _subject(use.ident.name, use.subjects), use.ident.span
        if use.qualifiers == ("gpu",) and use.subjects is s.NODE_SCOPE \
                and use.ident.name in s.ACCELERATOR_SCOPE:
            return _subject(use.ident.name, s.ACCELERATOR_SCOPE, "the node's accelerator: "), \
                use.ident.span
        if len(use.qualifiers) == 1:  # `H100.memory`: an accelerator's spec
            owner = analysis.scope(module).lookup(use.qualifiers[0])
            entity = analysis.entity(owner) if owner is not None else None
            if owner is not None and isinstance(entity, Accelerator) \
                    and use.ident.name in s.ACCELERATOR_SCOPE:
                value = entity.attribute(use.ident.name)
                if value is not None:
                    kind = s.ACCELERATOR_SCOPE[use.ident.name]
                    return (f"`{owner.name}.{use.ident.name}` = **{_show(kind, value)}**\n\n"
                            f"{kind.describe()}"), use.ident.span
        return None
    for decl, imported in module.imports:
        if imported is not None and decl.path.span.contains(line, column):
            names = [d for d in imported.decls if declared_name(d) is not None]
            return (f"**module** `{decl.path.value}` — {analysis.workspace.shown(imported.resolved)}: "
                    f"{len(names)} declaration{'s' if len(names) != 1 else ''}"), decl.path.span
    chain = chain_at(decls, line, column)
    if not chain:
        return None
    leaf = chain[-1]
    if not isinstance(leaf, n.Ident):
        return None
    parent = chain[-2] if len(chain) > 1 else None
    blocks = block_schemas(chain)
    if isinstance(parent, n.ConstDecl) or (isinstance(parent, n.Block) and parent.name is leaf
                                            and len(blocks) == 1):
        symbol = analysis.scope(module).own.get(leaf.name)
        if symbol is not None and symbol.decl is parent:
            return describe_symbol(analysis, symbol), leaf.span
        return None
    if isinstance(parent, n.Block) and parent.kind is leaf:
        schema = blocks[-1][1]
        return (_block_doc(schema), leaf.span) if schema is not None else None
    if isinstance(parent, n.Attribute) and parent.name is leaf:
        schema = blocks[-1][1] if blocks else None
        attr = schema.attrs.get(leaf.name) if schema is not None else None
        if schema is None or attr is None:
            return None
        required = ", required" if attr.required else ""
        doc = f": {attr.doc}" if attr.doc else ""
        return (f"`{schema.kind}.{leaf.name}`{doc}\n\n{attr.type.describe()}{required}",
                leaf.span)
    return None


# ---- symbols ------------------------------------------------------------------


def describe_symbol(analysis: Analysis, symbol: Symbol) -> str:
    header = f"**{symbol.kind}** `{symbol.name}`"
    where = analysis.workspace.shown(symbol.module.resolved)
    if symbol.module.resolved != analysis.path:
        header += f" — {where}"
    try:
        body = _body(analysis, symbol)
    except Exception:  # a half-typed declaration: say what it is, not more
        log.debug("the value of %s could not be described", symbol.name, exc_info=True)
        body = ""
    comment = _leading_comment(symbol)
    parts = [header] + ([comment] if comment else []) + ([body] if body else [])
    return "\n\n".join(parts)


def _body(analysis: Analysis, symbol: Symbol) -> str:
    if symbol.kind == "const":
        typed = analysis.checker.const_value(symbol)
        source = expression_text(symbol.decl.value)
        if typed is None:
            return f"```fit\nconst {symbol.name} = {source}\n```"
        value = show(typed)
        same = value.replace(" ", "") == source.replace(" ", "")
        return (f"```fit\nconst {symbol.name} = {source}\n```\n{typed.type.describe()}"
                + ("" if same else f": **{value}**"))
    entity = analysis.entity(symbol)
    if isinstance(entity, Accelerator):
        return _accelerator(entity)
    if isinstance(entity, Offer):
        return _offer(entity)
    if isinstance(entity, Pool):
        return _pool(entity)
    if isinstance(entity, Inventory):
        return _lines([("format", entity.format), ("file", display_path_str(entity.file, analysis)),
                       ("price", _rate(entity.price)), ("zone", entity.zone),
                       ("region", entity.region), ("dedicated", entity.dedicated)])
    if isinstance(entity, Workload):
        return _workload(analysis, entity)
    if symbol.kind == "profile":
        entries = [e for e in symbol.decl.entries if isinstance(e, n.Attribute)]
        return _lines([(e.name.name, expression_text(e.value)) for e in entries])
    return ""


def display_path_str(path: str, analysis: Analysis) -> str:
    """An inventory's file as diagnostics name files (relative to the project root)."""
    from pathlib import Path

    return analysis.workspace.shown(Path(path)) if Path(path).is_absolute() else path


def _accelerator(a: Accelerator) -> str:
    return _lines([
        ("vendor", a.vendor), ("family", a.family), ("memory", _bytes(a.memory)),
        ("bf16_tflops", _number(a.bf16_tflops) if a.bf16_tflops is not None else None),
        ("interconnect", a.interconnect), ("form_factor", a.form_factor),
        ("tdp", _quantity(a.tdp_watts, "power") if a.tdp_watts is not None else None),
        ("resource", a.resource)])


def _gpu(shape) -> str | None:
    if shape.gpu is None:
        return None
    return f"{shape.gpu.count} x {shape.gpu.model.name} ({_bytes(shape.gpu.model.memory)} each)"


def _offer(o: Offer) -> str:
    shape = o.shape
    return _lines([
        ("provider", o.provider), ("instance_type", o.instance_type),
        ("regions", ", ".join(o.regions)), ("cpu", _number(Fraction(shape.cpu_milli, 1000))),
        ("memory", _bytes(shape.memory)), ("gpu", _gpu(shape)),
        ("disk", _bytes(shape.disk) if shape.disk else None), ("arch", shape.arch),
        ("price", _rate(o.price)),
        ("spot_price", _rate(o.spot_price) if o.spot_price is not None else None),
        ("region_prices", ", ".join(f"{code} {_rate(price)}" for code, price in o.region_prices.items())
         or None)])


def _pool(p: Pool) -> str:
    shape = p.shape
    return _lines([
        ("count", str(p.count)), ("cpu", _number(Fraction(shape.cpu_milli, 1000))),
        ("memory", _bytes(shape.memory)), ("gpu", _gpu(shape)),
        ("disk", _bytes(shape.disk) if shape.disk else None), ("zone", p.zone),
        ("region", p.region), ("provider", p.provider), ("dedicated", p.dedicated),
        ("price", _rate(p.price))])


def _workload(analysis: Analysis, w: Workload) -> str:
    flags = [w.kind] + (["gang"] if w.gang else []) + ([f"priority {w.priority}"] if w.priority else [])
    need = [f"{_number(Fraction(w.cpu_milli, 1000))} CPU", f"{_bytes(w.memory)} memory"]
    if w.gpu_count:
        rules = [r.text for r in w.gpu_requirements]
        need.append(f"{w.gpu_count} GPU{'s' if w.gpu_count != 1 else ''}"
                    + (f" ({' and '.join(rules)})" if rules else ""))
    if w.disk:
        need.append(f"{_bytes(w.disk)} disk")
    if w.options:
        return f"{', '.join(flags)}; any of its accelerator options:\n" + "\n".join(
            f"- {w.option_replicas(o)} x {o.model.name} replicas of {o.count} device"
            f"{'s' if o.count != 1 else ''}" for o in w.options)
    text = (f"{w.replicas} replica{'s' if w.replicas != 1 else ''} ({', '.join(flags)}); "
            f"each replica needs {', '.join(need)}")
    built = analysis.built
    if built is None:
        return text
    demand = next((d for d in built.problem.demands if d.name == w.name), None)
    if demand is None:
        return text
    problem = built.problem
    fits = []
    for class_id in demand.eligible:
        node_class = problem.node_class(class_id)
        per_node = replicas_per_node(demand, node_class)
        what = "may be bought" if node_class.provisioned else ""
        label = f"`{node_class.pool}`" + (f" in {node_class.region}" if node_class.provisioned else "")
        fits.append((node_class, f"{label} ({per_node} per node{', ' + what if what else ''})"))
    if not fits:
        reasons = sorted({e.rule for e in demand.excluded.values()})
        shown = "; ".join(f"`{r}`" for r in reasons[:4])
        return text + "\n\nno node can take one replica" + (f": {shown}" if shown else "")
    owned = [label for c, label in fits if not c.provisioned]
    nodes = sum(c.count for c, _ in fits if not c.provisioned)
    bought = [label for c, label in fits if c.provisioned]
    line = ""
    if owned:
        line = (f"one replica fits on {nodes} node{'s' if nodes != 1 else ''} of "
                f"pool{'s' if len(owned) != 1 else ''} {', '.join(owned)}")
    if bought:
        line += ("; " if line else "one replica fits on ") + "bought nodes of " + ", ".join(bought)
    return text + "\n\n" + line


# ---- schema -------------------------------------------------------------------


def _block_doc(schema: s.BlockSchema) -> str:
    required = [f"`{name}`" for name, a in schema.attrs.items() if a.required]
    text = f"**{schema.kind}**" + (f": {schema.doc}" if schema.doc else "")
    if required:
        text += "\n\nrequired: " + ", ".join(required)
    return text


def _subject(name: str, subjects: dict[str, t.Type], prefix: str = "") -> str:
    whose = "the accelerator's" if subjects is s.ACCELERATOR_SCOPE else "the candidate node's"
    if prefix:
        whose = prefix.rstrip(": ")
    return f"`{name}`: {whose} {name} — {subjects[name].describe()}"


def _leading_comment(symbol: Symbol) -> str:
    """The comment lines right above a declaration (the stdlib says where specs come from)."""
    ending = {token.end_line: token for token in symbol.module.parsed.module.comments}
    line = symbol.decl.span.line
    taken: list[str] = []
    while (token := ending.get(line - 1)) is not None and token.line < line and token.column == 1:
        text = str(token)
        taken.append(text[2:-2].strip() if text.startswith("/*") else text.lstrip("#/ ").rstrip())
        line = token.line
    return "\n".join(reversed([text for text in taken if text]))


# ---- values -------------------------------------------------------------------


def _lines(rows: list[tuple[str, str | None]]) -> str:
    return "\n".join(f"- {key}: {value}" for key, value in rows if value not in (None, ""))


def show(typed: Typed) -> str:
    return _show(typed.type, typed.value)


def _show(type_: t.Type, value: Any) -> str:
    if type_.kind == "number":
        return _quantity(value, type_.dim)
    if type_.kind == "string":
        return n.quote(value)
    if type_.kind == "bool":
        return "true" if value else "false"
    if type_.kind == "list":
        element = type_.of or t.ANY
        return "[" + ", ".join(_show(element, v) if element.kind != "any" else _guess(v)
                               for v in value) + "]"
    if type_.kind == "map":
        return "{ " + ", ".join(f"{n.quote(k)}: {n.quote(v)}" for k, v in value.items()) + " }"
    return _guess(value)


def _guess(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Fraction):
        return _number(value)
    return str(value)


def _number(value: Fraction | int | float) -> str:
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.6g}"


_BINARY = [("PiB", 1024 ** 5), ("TiB", 1024 ** 4), ("GiB", 1024 ** 3), ("MiB", 1024 ** 2),
           ("KiB", 1024)]
_DECIMAL = [("PB", 1000 ** 5), ("TB", 1000 ** 4), ("GB", 1000 ** 3), ("MB", 1000 ** 2),
            ("KB", 1000)]


def _bytes(value: Fraction | int) -> str:
    """In the largest unit, binary or decimal, that shows it as a whole number (80 GB, 2 TiB)."""
    value = Fraction(value)
    whole = [(size, unit) for unit, size in _BINARY + _DECIMAL
             if value >= size and (value / size).denominator == 1]
    if whole:
        size, unit = max(whole)
        return f"{_number(value / size)} {unit}"
    for unit, size in _BINARY:
        if value >= size:
            return f"{float(value / size):.3g} {unit}"
    return f"{_number(value)} bytes"


def _rate(value: Fraction | None) -> str:
    return f"{_number(value or 0)} USD/h"


def _quantity(value: Fraction, dim: str) -> str:
    if dim == "bytes":
        return _bytes(value)
    if dim == "power":
        for unit, size in (("MW", 10 ** 6), ("kW", 1000)):
            if value >= size:
                return f"{_number(value / size)} {unit}"
        return f"{_number(value)} W"
    if dim == "time":
        for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
            if value >= size and (value / size).denominator == 1:
                return f"{_number(value / size)}{unit}"
        return f"{_number(value)}s"
    suffix = {"rate": " USD/h", "money": " USD", "energy_price": " USD/kWh",
              "carbon_intensity": " gCO2e/kWh", "carbon": " kgCO2e"}.get(dim, "")
    return f"{_number(value)}{suffix}"
