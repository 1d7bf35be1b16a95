"""A small integer linear model that both backends read: HiGHS (highspy) and Z3.

Constraints carry a `group` (a typed key of the rule of the policy that produced them, see
`groups.py`) so that Z3's unsat cores can be translated back into source terms.

At fleet scale the model has hundreds of thousands of columns and rows, one Python object
each was most of the time to build it (issue 15). So variables live in parallel lists and
the large families of rows (packing cuts, capacity rows) in blocks of arrays (`add_rows`);
`variables` and `constraints` still read as lists of `Variable` and `Constraint`, made when
read, for Z3 and `explain`; `matrix_form` gives HiGHS the arrays without them.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from fitlang.solve.groups import Group

Number = int | Fraction
Value = int | float  # of a variable in a solution


@dataclass
class Variable:
    index: int
    name: str
    lower: int
    upper: int
    integer: bool = True


@dataclass
class Constraint:
    terms: dict[int, Number]
    lower: Number | None
    upper: Number | None
    group: Group | None


# a block's groups: one for all rows (None: no group), or one per row
BlockGroups = Group | None | list[Group] | list[Group | None]


@dataclass
class RowBlock:
    """Rows in compressed form: row k has columns indices[indptr[k]:indptr[k+1]] with whole
    coefficients `data`; a bound of None is NaN in `lower`/`upper`; one group for all."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray  # int64
    lower: np.ndarray  # float64, NaN: none
    upper: np.ndarray
    group: BlockGroups

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def constraints(self) -> list[Constraint]:
        indptr, indices, data = self.indptr.tolist(), self.indices.tolist(), self.data.tolist()
        lower, upper = _bounds(self.lower), _bounds(self.upper)
        groups: list[Group] | list[Group | None]
        if isinstance(self.group, list):
            groups = self.group
        else:
            groups = [self.group] * len(self)
        return [Constraint(dict(zip(indices[indptr[k]:indptr[k + 1]], data[indptr[k]:indptr[k + 1]])),
                           lower[k], upper[k], groups[k]) for k in range(len(self))]


def _bounds(values: np.ndarray) -> list[int | None]:
    return [None if v != v else int(v) for v in values.tolist()]


class _Variables(Sequence):
    """`model.variables`: its length without making anything; items as `Variable`s, made on
    first read (from then on the model keeps them, and writes to them hold)."""

    def __init__(self, model: LinearModel) -> None:
        self._model = model

    def __len__(self) -> int:
        return self._model.variable_count

    def __getitem__(self, item):
        return self._model._materialised()[item]

    def __iter__(self):
        return iter(self._model._materialised())


class LinearModel:
    def __init__(self) -> None:
        self._names: dict[int, str] = {}
        # blocks of variables added in bulk: (first, stop, name_of); names made when read
        self._lazy_names: list[tuple[int, int, Callable[[int], str]]] = []
        self._starts: list[int] = []  # of the blocks in `_lazy_names`, for `name_of`
        self._lower: list[int] = []
        self._upper: list[int] = []
        self._integer: list[bool] = []
        self._variables: list[Variable] | None = None  # once read as objects
        self._segments: list[list[Constraint] | RowBlock] = []

    # ---- variables
    @property
    def variables(self) -> Sequence[Variable]:
        return _Variables(self)

    @property
    def variable_count(self) -> int:
        return len(self._variables) if self._variables is not None else len(self._lower)

    def _materialised(self) -> list[Variable]:
        if self._variables is None:
            self._variables = [Variable(i, self.name_of(i), lower, upper, integer)
                               for i, (lower, upper, integer)
                               in enumerate(zip(self._lower, self._upper, self._integer))]
            self._lower, self._upper, self._integer = [], [], []
        return self._variables

    def var(self, name: str, lower: int, upper: int) -> int:
        index = self.variable_count
        if self._variables is not None:
            self._variables.append(Variable(index, name, lower, max(lower, upper)))
        else:
            self._lower.append(lower)
            self._upper.append(max(lower, upper))
            self._integer.append(True)
        self._names[index] = name
        return index

    def vars(self, name_of: Callable[[int], str], lower: np.ndarray, upper: np.ndarray) -> int:
        """Variables in bulk (whole, bounds as arrays); returns the index of the first. Their
        names, `name_of(k)` for the k-th, are made only when read (for messages and dumps)."""
        first = self.variable_count
        if len(lower):
            self._lazy_names.append((first, first + len(lower), name_of))
            self._starts.append(first)
        if self._variables is not None:
            self._variables.extend(Variable(first + k, name_of(k), lo, hi) for k, (lo, hi) in
                                   enumerate(zip(lower.tolist(), np.maximum(lower, upper).tolist())))
            return first
        self._lower.extend(lower.tolist())
        self._upper.extend(np.maximum(lower, upper).tolist())
        self._integer.extend([True] * len(lower))
        return first

    def set_continuous(self, indices: Iterable[int]) -> None:
        """Let these variables take fractional values."""
        self._set_integrality(indices, False)

    def set_integer(self, indices: Iterable[int]) -> None:
        """Hold these variables to whole values again (after `set_continuous`)."""
        self._set_integrality(indices, True)

    def _set_integrality(self, indices: Iterable[int], whole: bool) -> None:
        if self._variables is not None:
            for index in indices:
                self._variables[index].integer = whole
        else:
            for index in indices:
                self._integer[index] = whole

    def set_bounds(self, index: int, lower: int, upper: int) -> None:
        if self._variables is not None:
            self._variables[index].lower, self._variables[index].upper = lower, upper
        else:
            self._lower[index], self._upper[index] = lower, upper

    @contextmanager
    def trial(self) -> Iterator[None]:
        """Bounds and integrality changed inside the block are as they were after it, and the
        rows added inside it are gone."""
        bounds = self.bounds()
        lower, upper, integer = list(bounds[0]), list(bounds[1]), list(bounds[2])
        rows = self.row_count
        try:
            yield
        finally:
            self._drop_rows_from(rows)
            if self._variables is not None:
                for variable, low, high, whole in zip(self._variables, lower, upper, integer):
                    variable.lower, variable.upper, variable.integer = low, high, whole
            else:
                self._lower, self._upper, self._integer = lower, upper, integer

    def _drop_rows_from(self, count: int) -> None:
        """Every row from the `count`th on removed (the last ones added)."""
        excess = self.row_count - count
        while excess > 0:
            last = self._segments[-1]
            if len(last) <= excess:
                self._segments.pop()
                excess -= len(last)
                continue
            if not isinstance(last, list):
                last = self._segments[-1] = last.constraints()
            del last[len(last) - excess:]
            excess = 0

    def bounds(self) -> tuple[list[int], list[int], list[bool]]:
        if self._variables is not None:
            return ([v.lower for v in self._variables], [v.upper for v in self._variables],
                    [v.integer for v in self._variables])
        return self._lower, self._upper, self._integer

    def name_of(self, index: int) -> str:
        name = self._names.get(index)
        if name is not None:
            return name
        block = bisect.bisect_right(self._starts, index) - 1
        if block >= 0:
            start, stop, name_of = self._lazy_names[block]
            if start <= index < stop:
                return name_of(index - start)
        raise IndexError(index)

    # ---- constraints
    @property
    def constraints(self) -> list[Constraint]:
        """Every row as a `Constraint`, in order (made from the blocks when read)."""
        if len(self._segments) != 1 or not isinstance(self._segments[0], list):
            rows: list[Constraint] = []
            for segment in self._segments:
                rows.extend(segment if isinstance(segment, list) else segment.constraints())
            self._segments = [rows]
            return rows
        return self._segments[0]

    @constraints.setter
    def constraints(self, rows: list[Constraint]) -> None:
        self._segments = [list(rows)]

    def _tail(self) -> list[Constraint]:
        last = self._segments[-1] if self._segments else None
        if isinstance(last, list):
            return last
        rows: list[Constraint] = []
        self._segments.append(rows)
        return rows

    def add(self, terms: Mapping[int, Number] | Iterable[tuple[int, Number]], lower: Number | None = None,
            upper: Number | None = None, group: Group | None = None) -> None:
        # (a dict is tested first: the type test against the ABC is the slow one)
        if type(terms) is dict or isinstance(terms, Mapping):  # no index twice: only the zeros to drop
            merged = {i: c for i, c in terms.items() if c != 0}
        else:
            merged = {}
            for index, coefficient in terms:
                merged[index] = merged.get(index, 0) + coefficient
            merged = {i: c for i, c in merged.items() if c != 0}
        self._tail().append(Constraint(merged, lower, upper, group))

    def add_rows(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                 lower: np.ndarray, upper: np.ndarray, group: BlockGroups) -> None:
        """Rows in bulk, in compressed form (see `RowBlock`): no column twice in a row, no
        zero coefficient, whole coefficients and bounds (NaN: no bound)."""
        if len(indptr) > 1:
            self._segments.append(RowBlock(np.asarray(indptr, dtype=np.int64),
                                           np.asarray(indices, dtype=np.int64),
                                           np.asarray(data, dtype=np.int64),
                                           np.asarray(lower, dtype=float),
                                           np.asarray(upper, dtype=float), group))

    @property
    def row_count(self) -> int:
        return sum(len(segment) for segment in self._segments)

    def value(self, terms: Mapping[int, Number], solution: Sequence[Value]) -> Fraction:
        return sum((Fraction(c) * Fraction(solution[i]) for i, c in terms.items()), Fraction(0))


class RowBuffer:
    """Rows gathered one by one as plain lists, then handed to the model as one block."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.indptr: list[int] = [0]
        self.indices: list[int] = []
        self.data: list[int] = []
        self.lower: list[int | None] = []  # None: no bound (NaN in the block)
        self.upper: list[int | None] = []
        self.groups: list[Group | None] = []

    def add(self, columns: tuple[int, ...], coefficients: tuple[int, ...], lower: int | None,
            upper: int | None, group: Group | None) -> None:
        """A row; a column twice or a zero coefficient is fine (merged and dropped at `flush`,
        as `LinearModel.add` does)."""
        self.indices += columns
        self.data += coefficients
        self.indptr.append(len(self.indices))
        self.lower.append(lower)
        self.upper.append(upper)
        self.groups.append(group)

    def flush(self, model: LinearModel) -> None:
        if not self.groups:
            return
        indptr = np.array(self.indptr, dtype=np.int64)
        indices = np.array(self.indices, dtype=np.int64)
        data = np.array(self.data, dtype=np.int64)
        row = np.repeat(np.arange(len(self.groups)), np.diff(indptr))
        order = np.lexsort((indices, row))
        twice = (np.diff(row[order]) == 0) & (np.diff(indices[order]) == 0)
        if twice.any() or not data.all():
            indptr, indices, data = _merged(indptr, indices, data)
        # (`count` compares by identity first, at C speed: a key is one object for all its rows)
        same = self.groups.count(self.groups[0]) == len(self.groups)
        groups: BlockGroups = self.groups[0] if same else self.groups
        model.add_rows(indptr, indices, data, np.array(self.lower, dtype=float),
                       np.array(self.upper, dtype=float), groups)
        self._reset()


def _merged(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray):
    """Each row with its columns summed once and zeros dropped (first occurrence order)."""
    pointers, columns, values = [0], [], []
    for start, stop in zip(indptr[:-1].tolist(), indptr[1:].tolist()):
        merged: dict[int, int] = {}
        for column, value in zip(indices[start:stop].tolist(), data[start:stop].tolist()):
            merged[column] = merged.get(column, 0) + value
        kept = [(c, v) for c, v in merged.items() if v]
        columns += [c for c, _ in kept]
        values += [v for _, v in kept]
        pointers.append(len(columns))
    return (np.array(pointers, dtype=np.int64), np.array(columns, dtype=np.int64),
            np.array(values, dtype=np.int64))


@dataclass(frozen=True)
class RowMatrix:
    """Rows x variables as compressed sparse rows, the column indices sorted within each row
    (scipy's canonical form, and what HiGHS is handed). Not a scipy matrix: importing
    scipy.sparse takes 0.1 s, and a solve that only hands the rows to HiGHS needs none of it."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: tuple[int, int]

    def scipy(self) -> Any:
        """The same matrix as a scipy.sparse.csr_array (for arithmetic on it)."""
        from scipy.sparse import csr_array

        return csr_array((self.data, self.indices, self.indptr), shape=self.shape)


@dataclass
class MatrixForm:
    """The model as arrays, for HiGHS: minimise c x subject to row_lower <= A x <= row_upper,
    lower <= x <= upper, x whole where `integrality` is 1. Coefficients as floats."""

    c: np.ndarray
    matrix: RowMatrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    integrality: np.ndarray
    offset: float = 0.0  # a constant added to c x (the fixed columns `FixedOut` took out)


# a row left with no columns is dropped where its bounds hold 0 within this (relative to
# what the fixed columns gave it: float sums of byte-sized terms)
EMPTY_ROW_TOLERANCE = 1e-9


@dataclass(frozen=True)
class FixedOut:
    """A form with the columns its bounds fix taken out, and the rows they leave empty:
    HiGHS's presolve does that (and more), but it is off for MIPs (`backends.MIP_PRESOLVE`), and
    without it HiGHS carries every fixed column through each LP. The per-node model with all
    but the counted nodes closed (counted_exact.py): 5,841 columns, 1,420 free; HiGHS 2.1 CPU s
    on the whole form, 0.6 s on this one (inventory 300 seed 25)."""

    form: MatrixForm  # what HiGHS is handed
    kept: np.ndarray  # the original column of each of its columns
    whole: MatrixForm  # the form it was cut from

    @classmethod
    def of(cls, form: MatrixForm) -> FixedOut:
        fixed = form.lower == form.upper
        kept = np.flatnonzero(~fixed)
        matrix = form.matrix.scipy()
        fixed_values = form.lower[fixed]
        given = matrix[:, np.flatnonzero(fixed)]
        return cls.shifted(form, kept, matrix[:, kept], given @ fixed_values,
                           abs(given) @ np.abs(fixed_values), float(form.c[fixed] @ fixed_values))

    @classmethod
    def shifted(cls, form: MatrixForm, kept: np.ndarray, rest: Any, shift: np.ndarray, size: np.ndarray,
                fixed_cost: float) -> FixedOut:
        """`form` on its `kept` columns (`rest`: their matrix), each row's bounds moved by what the
        fixed columns take of it (`shift`, of magnitude `size`), the rows that leaves empty within
        the tolerance dropped, the fixed columns' cost (`fixed_cost`) in the offset."""
        lower, upper = form.row_lower - shift, form.row_upper - shift
        rest = rest.tocsr()
        tolerance = EMPTY_ROW_TOLERANCE * np.maximum(1.0, size)
        empty = np.diff(rest.indptr) == 0
        rows = np.flatnonzero(~empty | (lower > tolerance) | (upper < -tolerance))
        rest = rest[rows, :].tocsr()
        rest.sort_indices()
        cut = MatrixForm(form.c[kept], RowMatrix(rest.data, rest.indices.astype(np.int64),
                                                  rest.indptr.astype(np.int64), rest.shape),
                         lower[rows], upper[rows], form.lower[kept], form.upper[kept],
                         form.integrality[kept], form.offset + fixed_cost)
        return cls(cut, kept, form)

    def full(self, values: Sequence[float]) -> np.ndarray:
        """A solution of the cut form as one of the whole form."""
        every = self.whole.lower.astype(float)
        every[self.kept] = values
        return every

    def start(self, indices: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A start's (original indices, values) as the cut form's (its fixed columns left out)."""
        position = np.full(len(self.whole.lower), -1)
        position[self.kept] = np.arange(len(self.kept))
        given = position[indices] >= 0
        return position[indices][given].astype(np.int32), values[given]


def matrix_form(model: LinearModel, objective: dict[int, Number],
                left_out: tuple[int, int] = (0, 0)) -> MatrixForm:
    """What `HighsBackend` builds from `model.constraints`, straight from the blocks: no
    `Constraint` is made for the rows added in bulk. The rows [first, last) of `left_out` are
    not in it (the time model's capacity rows, which its LP bound states in another form)."""
    lower, upper, integer = model.bounds()
    size = len(lower)
    c = np.zeros(size)
    for index, coefficient in objective.items():
        c[index] = float(coefficient)
    pointers, columns, values, lowers, uppers = [np.zeros(1, dtype=np.int64)], [], [], [], []
    offset = 0
    for segment in _segments_without(model, *left_out):
        if isinstance(segment, RowBlock):
            pointers.append(segment.indptr[1:] + offset)
            columns.append(segment.indices)
            values.append(segment.data.astype(float))
            lowers.append(np.where(np.isnan(segment.lower), -np.inf, segment.lower))
            uppers.append(np.where(np.isnan(segment.upper), np.inf, segment.upper))
            offset += int(segment.indptr[-1])
            continue
        lengths = np.fromiter((len(row.terms) for row in segment), dtype=np.int64, count=len(segment))
        pointers.append(np.cumsum(lengths) + offset)
        offset += int(lengths.sum())
        columns.append(np.fromiter((i for row in segment for i in row.terms), dtype=np.int64,
                                   count=int(lengths.sum())))
        values.append(np.fromiter((float(v) for row in segment for v in row.terms.values()),
                                  dtype=float, count=int(lengths.sum())))
        lowers.append(np.array([-np.inf if row.lower is None else float(row.lower) for row in segment]))
        uppers.append(np.array([np.inf if row.upper is None else float(row.upper) for row in segment]))
    indptr = np.concatenate(pointers)
    rows = len(indptr) - 1
    indices = np.concatenate(columns) if columns else np.zeros(0, dtype=np.int64)
    data = np.concatenate(values) if values else np.zeros(0)
    # sorted by column within each row, as the rows-and-columns form `HighsBackend` builds them
    order = np.lexsort((indices, np.repeat(np.arange(rows), np.diff(indptr))))
    matrix = RowMatrix(data[order], indices[order], indptr, (rows, size))
    return MatrixForm(c, matrix,
                      np.concatenate(lowers) if lowers else np.zeros(0),
                      np.concatenate(uppers) if uppers else np.zeros(0),
                      np.array(lower, dtype=float), np.array(upper, dtype=float),
                      np.array(integer, dtype=np.int64))


def _segments_without(model: LinearModel, first: int, last: int) -> list[list[Constraint] | RowBlock]:
    """The model's row segments with the rows [first, last) cut out (a block added in bulk is
    left out whole or kept whole: the range may not cut one)."""
    kept: list[list[Constraint] | RowBlock] = []
    start = 0
    for segment in model._segments:
        end = start + len(segment)
        if end <= first or start >= last:
            kept.append(segment)
        elif isinstance(segment, RowBlock):
            assert first <= start and end <= last, "a bulk block cut by the rows left out"
        else:
            kept += [part for part in (segment[:max(0, first - start)], segment[max(0, last - start):])
                     if part]
        start = end
    return kept


class Status(enum.StrEnum):
    """What a solve showed: of a solver's `Outcome`, and of a `Placement`. The values are what
    the text and JSON reports print (a `StrEnum`, so they render as those strings)."""

    OPTIMAL = "optimal"  # within the optimality tolerance of a proven bound
    FEASIBLE = "feasible"  # a solution, not shown optimal
    INFEASIBLE = "infeasible"  # proven: none exists
    UNKNOWN = "unknown"  # neither, in the time allowed


@dataclass
class Outcome:
    status: Status
    # integer variables as int; continuous ones as float (see `Variable.integer`)
    solution: list[Value] | None = None
    objective: Fraction | None = None
    bound: Fraction | None = None
    core: list[Group] = field(default_factory=list)


# a bound above a solution's value by more than this share is not rounding (bounds are rounded
# down to 1e-9, `backends._bound_fraction`): see `stated_bound`
BOUND_ROUNDING = Fraction(1, 10 ** 6)


def stated_bound(bound: Fraction | None, value: Fraction | None, complete: bool = True) -> Fraction | None:
    """The lower bound to state beside a solution (a placement) of `value`: never above it.
    Above a complete solution's value by more than rounding, the bound is contradicted by that
    solution: the solver that proved it erred (HiGHS 1.16's presolve answers some MIPs
    "optimal" above their optimum: inventory 300 seed 9's model, 68.22 against 67.32, session
    23), and clamping it to the value would state a false `optimal`, so none is stated. A
    partial placement's value is no upper bound of the problem's: clamped, as its status
    claims nothing."""
    if bound is None or value is None:
        return bound
    if complete and bound > value + BOUND_ROUNDING * max(Fraction(1), abs(value)):
        return None
    return min(bound, value)
