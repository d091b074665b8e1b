"""The grid a numeric column's values lie on, so that decoding inside a bin puts values where the data can
be: integers that are all multiples of g apart (prices in steps of 5) stay on that lattice; floats with at
most d decimals (money with 2) are rounded to d decimals.

Read from the data only without `processing_epsilon` (a value format, like the other non-private
preprocessing: the model then says `processing_private: false`); with it no grid is used. The tracker
merges exactly across chunks (a gcd and a maximum), so a streamed column gets the same grid as one held in
memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

MAX_DECIMALS = 6
"""Floats with more decimals than this are taken as continuous (no rounding)."""
_EXACT = 2.0**53  # integers above this are not exact in float64: no lattice


@dataclass
class GridTracker:
    """Mergeable summary of the grid of a column's non-null values: for integers the gcd of the differences
    from the first value seen; for floats the most decimals any value needs (None: more than MAX_DECIMALS)."""

    integer: bool
    reference: Optional[float] = None
    gcd: int = 0
    decimals: Optional[int] = 0
    exact: bool = True

    def update(self, uniques: np.ndarray) -> None:
        """Add a chunk's distinct non-null values (float64)."""
        if len(uniques) == 0 or not self.exact:
            return
        if np.abs(uniques).max() >= _EXACT:
            self.exact = False
            return
        if self.integer:
            if self.reference is None:
                self.reference = float(uniques[0])
            differences = np.abs(uniques - self.reference).astype(np.int64)
            self.gcd = int(np.gcd.reduce(np.append(differences, self.gcd)))
            return
        if self.decimals is None:
            return
        needed = decimals_needed(uniques)
        self.decimals = None if needed is None else max(self.decimals, needed)

    def grid(self, low: float) -> Optional[Tuple[float, float]]:
        """(step, anchor) of the values' grid, or None when there is nothing to snap to."""
        if not self.exact:
            return None
        if self.integer:
            return (float(self.gcd), float(low)) if self.gcd > 1 else None
        if self.decimals is None:
            return None
        return 10.0**-self.decimals, 0.0


def decimals_needed(values: np.ndarray) -> Optional[int]:
    """The fewest decimals (0..MAX_DECIMALS) that write every value exactly, or None."""
    for decimals in range(MAX_DECIMALS + 1):
        scaled = values * 10.0**decimals
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-9 * np.maximum(1.0, np.abs(scaled))):
            return decimals
    return None


def grid_of(values: np.ndarray, integer: bool) -> Optional[Tuple[float, float]]:
    """(step, anchor) of the grid of non-null values held in memory (see `GridTracker`)."""
    tracker = GridTracker(integer)
    uniques = np.unique(values)
    tracker.update(uniques)
    return tracker.grid(float(uniques[0]) if len(uniques) else 0.0) if len(uniques) else None


def snap(values: np.ndarray, lower: np.ndarray, highest: np.ndarray, step: float, anchor: float) -> np.ndarray:
    """Values moved to the nearest grid point anchor + k step inside [lower, highest] (their bin); a value
    whose bin holds no grid point stays as it is. (A new array; computed in place on it.)"""
    if step <= 0 or not math.isfinite(step):
        return values
    snapped = values - anchor
    snapped /= step
    np.round(snapped, out=snapped)
    snapped *= step
    snapped += anchor
    np.add(snapped, step, out=snapped, where=snapped < lower)
    np.subtract(snapped, step, out=snapped, where=snapped > highest)
    if step < 1.0:  # decimal grid: write the value as its decimals say (no 0.30000000000000004)
        np.round(snapped, int(round(-math.log10(step))), out=snapped)
    inside = snapped >= lower
    inside &= snapped <= highest
    np.copyto(snapped, values, where=~inside)
    return snapped
