"""A fitted PrivBayes model: its conditionals, its storage and the per-node draw of ancestral sampling.

- `parent_combination_codes`: the mixed-radix code of a row's coarsened parent values, the one place it is
  computed (scoring, counting and sampling all call it);
- `Conditional`: P(child | coarsened parents) of one attribute;
- `PrivBayesModel`: the domains and one conditional per attribute in network order, stored as JSON
  (`to_json`) plus plain float64/int64 arrays (`to_arrays`), rebuilt and checked by `from_parts`; it keeps
  each conditional's offset cumulative table (`cumulative`, from `flat_cumulative`) for sampling;
- `draw_children`: one child code per row by inverse CDF, most rows in one lookup of the conditional's
  `bucket_table`, the others by a few forward steps or a `searchsorted`.

`core/privbayes.py` fits the model (and re-exports these names: `privbayes.PrivBayesModel`, ...) and
samples it (`privbayes.sample`); `core/multitable.py` samples it conditioned on parent columns.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

MODEL_FORMAT = "privbayes/1"


def parent_combination_codes(
    codes: np.ndarray,
    parents: Sequence[int],
    coarsenings: Sequence[np.ndarray | None],
    parent_sizes: Sequence[int],
) -> np.ndarray:
    """The mixed-radix (row-major, like `np.ravel_multi_index`) code of each row's coarsened parent values,
    in 0..prod(parent_sizes)-1; all zeros for no parents. The one place this code is computed: scoring,
    counting and sampling all call it."""
    combined = np.zeros(codes.shape[0], dtype=np.int64)
    for parent, coarsening, size in zip(parents, coarsenings, parent_sizes):
        column = codes[:, parent]
        combined *= size
        combined += column if coarsening is None else coarsening[column]
    return combined


@dataclass(frozen=True, eq=False)
class Conditional:
    """P(child | coarsened parents): `probabilities[parent_combination, child_code]`, rows summing to 1.

    The parent combination is `parent_combination_codes` of the parents at `parent_levels`;
    `parent_coarsenings[i]` maps parent i's codes to that level (None at level 0, the identity).
    """

    child: int
    parents: tuple[int, ...]
    parent_levels: tuple[int, ...]
    parent_sizes: tuple[int, ...]
    parent_coarsenings: tuple[np.ndarray | None, ...]
    probabilities: np.ndarray

    @property
    def n_cells(self) -> int:
        return int(self.probabilities.size)


def flat_cumulative(probabilities: np.ndarray) -> np.ndarray:
    """The cumulative rows of a conditional, row r offset by r and flattened: increasing, so one
    searchsorted finds the child of every row (`draw_children`)."""
    n_combinations = probabilities.shape[0]
    cumulative = np.minimum(np.cumsum(probabilities, axis=1), 1.0)
    cumulative[:, -1] = 1.0
    cumulative += np.arange(n_combinations, dtype=np.float64)[:, None]
    return cumulative.ravel()


@dataclass(frozen=True, eq=False)
class PrivBayesModel:
    """A fitted PrivBayes network: the domains and one conditional per attribute, in network order.

    Stored as JSON (`to_json`) plus plain float64/int64 arrays (`to_arrays`); `from_parts` rebuilds it.
    """

    domain_sizes: tuple[int, ...]
    conditionals: tuple[Conditional, ...]
    cumulative: tuple[np.ndarray, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for conditional in self.conditionals:
            conditional.probabilities.setflags(write=False)
        object.__setattr__(self, "cumulative", tuple(flat_cumulative(c.probabilities) for c in self.conditionals))

    @functools.cached_property
    def buckets(self) -> tuple[BucketTable, ...]:
        """Each conditional's `bucket_table` (built on first use: sampling only)."""
        return tuple(
            bucket_table(cumulative, conditional.probabilities.shape[1])
            for conditional, cumulative in zip(self.conditionals, self.cumulative)
        )

    @property
    def order(self) -> tuple[int, ...]:
        """The attributes in network (sampling) order."""
        return tuple(conditional.child for conditional in self.conditionals)

    def network_edges(self) -> list[tuple[int, list[int]]]:
        """(child, [parents]) for every attribute, in network order."""
        return [(conditional.child, list(conditional.parents)) for conditional in self.conditionals]

    def to_json(self) -> dict[str, Any]:
        """The network as plain JSON: the domains and, per attribute, its parents, levels and coarse sizes."""
        return {
            "format": MODEL_FORMAT,
            "domain_sizes": list(self.domain_sizes),
            "network": [
                {
                    "child": c.child,
                    "parents": list(c.parents),
                    "parent_levels": list(c.parent_levels),
                    "parent_sizes": list(c.parent_sizes),
                }
                for c in self.conditionals
            ],
        }

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The conditional probability tables ("probabilities.<child>", float64) and the parent
        coarsenings they use ("coarsening.<column>.<level>", int64)."""
        arrays: dict[str, np.ndarray] = {}
        for c in self.conditionals:
            arrays[f"probabilities.{c.child}"] = np.asarray(c.probabilities, dtype=np.float64)
            for parent, level, coarsening in zip(c.parents, c.parent_levels, c.parent_coarsenings):
                if coarsening is not None:
                    arrays[f"coarsening.{parent}.{level}"] = np.asarray(coarsening, dtype=np.int64)
        return arrays

    @classmethod
    def from_parts(cls, json_dict: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> PrivBayesModel:
        """The model written by `to_json` and `to_arrays`, checked so that a damaged or foreign file fails
        here with a clear error rather than while sampling."""
        if json_dict.get("format") != MODEL_FORMAT:
            raise ValueError(f"PrivBayes model: format {json_dict.get('format')!r} is not {MODEL_FORMAT!r}")
        domain_sizes = tuple(int(size) for size in json_dict["domain_sizes"])
        placed: set[int] = set()
        conditionals = []
        for entry in json_dict["network"]:
            child = int(entry["child"])
            parents = tuple(int(p) for p in entry["parents"])
            levels = tuple(int(level) for level in entry["parent_levels"])
            sizes = tuple(int(size) for size in entry["parent_sizes"])
            where = f"PrivBayes model, attribute {child}"
            if not 0 <= child < len(domain_sizes) or child in placed or not set(parents) <= placed:
                raise ValueError(f"{where}: not a network order (each attribute once, after its parents)")
            if not len(parents) == len(levels) == len(sizes):
                raise ValueError(f"{where}: parents, parent_levels and parent_sizes differ in length")
            coarsenings = tuple(
                _stored_coarsening(arrays, parent, level, domain_sizes[parent], size, where)
                for parent, level, size in zip(parents, levels, sizes)
            )
            probabilities = np.asarray(arrays.get(f"probabilities.{child}"))
            shape = (math.prod(sizes), domain_sizes[child])
            if probabilities.dtype != np.float64 or probabilities.shape != shape:
                raise ValueError(f"{where}: probabilities must be float64 of shape {shape}")
            if not (np.all(np.isfinite(probabilities)) and np.all(probabilities >= 0)):
                raise ValueError(f"{where}: probabilities must be finite and >= 0")
            conditionals.append(Conditional(child, parents, levels, sizes, coarsenings, probabilities.copy()))
            placed.add(child)
        if len(placed) != len(domain_sizes):
            raise ValueError("PrivBayes model: the network does not cover every attribute")
        return cls(domain_sizes, tuple(conditionals))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PrivBayesModel):
            return NotImplemented
        mine, theirs = self.to_arrays(), other.to_arrays()
        return (
            self.to_json() == other.to_json()
            and mine.keys() == theirs.keys()
            and all(np.array_equal(mine[name], theirs[name]) for name in mine)
        )

    __hash__ = None  # type: ignore[assignment]


def _stored_coarsening(
    arrays: Mapping[str, np.ndarray], parent: int, level: int, domain_size: int, size: int, where: str
) -> np.ndarray | None:
    if level == 0:
        if size != domain_size:
            raise ValueError(f"{where}: parent {parent} at level 0 must have its full domain {domain_size}")
        return None
    coarsening = np.asarray(arrays.get(f"coarsening.{parent}.{level}"))
    if (
        coarsening.shape != (domain_size,)
        or not np.issubdtype(coarsening.dtype, np.integer)
        or (domain_size and (coarsening.min() < 0 or coarsening.max() >= size))
    ):
        raise ValueError(f"{where}: coarsening of parent {parent} at level {level} is missing or malformed")
    return coarsening.astype(np.int64)


BUCKET_TABLE_ENTRIES = 1 << 20
"""The most entries of one conditional's bucket table (`bucket_table`): 1 MB at one byte an entry."""


@dataclass(frozen=True, eq=False)
class BucketTable:
    """Per row r of a conditional, [0, 1) cut in `per_row` equal buckets: `children[r * per_row + k]` is the
    child of every draw u in bucket k when that bucket holds no boundary of the row's cumulative (then
    inverse-CDF sampling is one lookup), else -(c + 1) for a child c at or before the answer."""

    children: np.ndarray
    per_row: int


def bucket_table(flat_cumulative: np.ndarray, child_size: int) -> BucketTable:
    """The `BucketTable` of a conditional's offset cumulative (`flat_cumulative`), with as many buckets per row
    as fit `BUCKET_TABLE_ENTRIES` (at least one per child, at most 256), so that at most about 1 / (buckets
    per child) of the draws land in a bucket with a boundary.

    A boundary v of row r (a value of the cumulative, r + x with x in (0, 1] exactly) is placed in the buckets
    of x - eps and x + eps, eps = 4 ulp(r + 1) + 1e-12: more than the rounding of a draw's target fl(r + u) and
    of its bucket int(u * per_row), so a bucket free of boundaries answers every draw in it as the binary
    search would, and a bucket's child counts only boundaries certainly below every draw in it."""
    n_combinations = flat_cumulative.size // child_size
    per_row = max(1, min(256, BUCKET_TABLE_ENTRIES // max(flat_cumulative.size, 1))) * child_size
    rows = np.repeat(np.arange(n_combinations, dtype=np.int64), child_size)
    offset = rows.astype(np.float64)
    position = flat_cumulative - offset
    eps = 4 * np.spacing(offset + 1.0) + 1e-12
    below = np.clip(np.floor((position - eps) * per_row), 0, per_row).astype(np.int64)
    above = np.clip(np.floor((position + eps) * per_row), 0, per_row).astype(np.int64)
    width = per_row + 1
    below += rows * width
    above += rows * width
    # children[r, k]: the boundaries certainly below bucket k (placed in a bucket before k)
    counts = np.bincount(above, minlength=n_combinations * width).reshape(n_combinations, width)
    children = np.zeros((n_combinations, per_row), dtype=np.int64)
    np.cumsum(counts[:, : per_row - 1], axis=1, out=children[:, 1:])
    np.minimum(children, child_size - 1, out=children)
    mixed = np.zeros(n_combinations * width, dtype=bool)
    mixed[below] = True
    mixed[above] = True
    mixed = mixed.reshape(n_combinations, width)[:, :per_row]
    mixed &= children < child_size - 1  # past every boundary but the last: the last child, whatever the draw
    dtype = np.int8 if child_size <= 127 else np.int16 if child_size <= 32767 else np.int32
    return BucketTable(np.where(mixed, -children - 1, children).astype(dtype).ravel(), per_row)


def draw_children(
    flat_cumulative: np.ndarray,
    parent_codes: np.ndarray,
    child_size: int,
    rng: np.random.Generator,
    buckets: BucketTable | None = None,
) -> np.ndarray:
    """One child code per row from its parent combination's row of the conditional, by inverse CDF: the
    first child whose offset cumulative (row r's values lie in (r, r + 1]) exceeds r + u (clipped to the last
    child). With `buckets` (`bucket_table`) a row whose draw falls in a bucket free of boundaries takes the
    bucket's child in one lookup, the others step forward from their bucket's child (twice at most, then a
    binary search); without, one searchsorted over the table. Both give the same children."""
    draws = rng.random(parent_codes.shape[0])
    last = child_size - 1
    if buckets is None:
        draws += parent_codes
        children = np.searchsorted(flat_cumulative, draws, side="right")
        children -= parent_codes * child_size
        return np.clip(children, 0, last, out=children)
    index = (draws * buckets.per_row).astype(np.int64)
    np.minimum(index, buckets.per_row - 1, out=index)
    index += parent_codes * buckets.per_row
    children = buckets.children[index].astype(np.int64)
    rows = np.flatnonzero(children < 0)
    if rows.size:
        found = -1 - children[rows]
        base = parent_codes[rows] * child_size
        targets = draws[rows] + parent_codes[rows]
        for _ in range(2):
            step = (found < last) & (flat_cumulative[base + found] <= targets)
            found += step
        further = step & (found < last) & (flat_cumulative[base + found] <= targets)
        if further.any():
            searched = np.searchsorted(flat_cumulative, targets[further], side="right") - base[further]
            found[further] = np.clip(searched, 0, last)
        children[rows] = found
    return children
