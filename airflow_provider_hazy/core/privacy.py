"""Differential privacy mechanisms, the mutual-information sensitivity of PrivBayes, and the budget ledger.

Neighbouring datasets differ in one row being replaced (bounded DP); the row count n is public
(DESIGN.md, "Privacy accounting"). Every mechanism that reads source data is charged to one
`BudgetLedger` per model; the total is the sum of the charges (sequential composition).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .noise import FRESH_DESCRIPTION, FreshNoise, NoiseSource, noisy_max_scale

STRUCTURE_BUDGET_FRACTION = 0.25
"""beta in DESIGN.md: the share of a table's epsilon spent on learning the network structure (the
exponential-mechanism steps of the greedy search); the rest, 1 - beta, measures the conditionals.

0.25 rather than the paper's 0.3: measured on the 15-column, 50,000-row test network of
tests/core/test_privbayes.py at epsilon 1 (ten fits each), the mean 2-way TVD was 0.049 with beta 0.3, 0.039
with 0.25 and 0.040 with 0.2; lower still (0.1, 0.15) the structure search gets noisy and the spread
between fits grows. On networks of 100-value columns the three are within 0.003 of each other. Any value in
(0, 1) is equally private: beta only moves budget between two mechanisms that are both charged."""

USEFULNESS_THETA = 4.0
"""theta of PrivBayes' theta-usefulness (Zhang et al., TODS 2017; the paper's recommended value): a noisy
count table is used only if its average count per cell is at least theta times the Laplace noise scale."""


COUNT_MECHANISM = "discrete_laplace"
"""The ledger's name of the mechanism on count tables (`core.noise`)."""
SELECTION_MECHANISM = "report_noisy_max"
"""The ledger's name of the selection mechanism (report noisy max with exponential noise, `core.noise`)."""


def noisy_counts(counts: np.ndarray, scale: float, noise: NoiseSource) -> np.ndarray:
    """The discrete Laplace mechanism on a table of integer counts: independent noise of `scale` on every
    cell (variance about 2 * scale**2), drawn by `noise`; returned as float64 for the post-processing."""
    if not (math.isfinite(scale) and scale >= 0):
        raise ValueError(f"Laplace noise scale must be a finite number >= 0, got {scale}")
    return noise.discrete_laplace(counts, scale).astype(np.float64)


def exponential_mechanism(
    scores: Sequence[float] | np.ndarray, sensitivity: float, epsilon: float, noise: NoiseSource
) -> int:
    """Index of one candidate chosen epsilon-DP when every score changes by at most `sensitivity` between
    neighbouring datasets.

    Drawn by report noisy max with exponential noise of scale 2 * sensitivity / epsilon (`core.noise`):
    epsilon-DP like the exponential mechanism of McSherry and Talwar (2007), whose selection probabilities
    are proportional to exp(epsilon * score / (2 * sensitivity)), and never less accurate (McKenna and
    Sheldon's permute-and-flip). A score of sensitivity 0 does not depend on the data: the best candidate is
    returned (ties broken uniformly at random), which costs nothing.
    """
    score_array = np.asarray(scores, dtype=np.float64)
    if score_array.ndim != 1 or score_array.size == 0:
        raise ValueError("the exponential mechanism needs a non-empty 1-d array of scores")
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a finite number > 0, got {epsilon}")
    if not (math.isfinite(sensitivity) and sensitivity >= 0):
        raise ValueError(f"sensitivity must be a finite number >= 0, got {sensitivity}")
    if not np.all(np.isfinite(score_array)):
        raise ValueError("the exponential mechanism needs finite scores")
    if sensitivity == 0:
        best = np.flatnonzero(score_array == score_array.max())
        return int(best[noise.uniform_index(best.size)])
    return noise.noisy_max(score_array, noisy_max_scale(sensitivity, epsilon))


def mutual_information_sensitivity(n_rows: int, binary_child: bool) -> float:
    """Sensitivity (in bits) of the empirical mutual information I(X; Pi) over `n_rows` rows when one row is
    replaced.

    Zhang, Cormode, Procopiuc, Srivastava and Xiao, "PrivBayes: Private Data Release via Bayesian
    Networks", ACM TODS 42(4), 2017, Lemma 4.1 (Lemma 1 of the SIGMOD 2014 version), with log base 2:

    - X or Pi binary (`binary_child=True`): S = (1/n) log2 n + ((n-1)/n) log2(n/(n-1))
    - otherwise:                            S = (2/n) log2((n+1)/2) + ((n-1)/n) log2((n+1)/(n-1))

    The paper's binary case holds when either the child X or the (joint) parent variable Pi takes two values;
    the caller passes True in either case. For n <= 1 every dataset has zero mutual information, so the
    sensitivity is 0.
    """
    n = int(n_rows)
    if n <= 1:
        return 0.0
    if binary_child:
        return math.log2(n) / n + (n - 1) / n * math.log2(n / (n - 1))
    return 2.0 / n * math.log2((n + 1) / 2) + (n - 1) / n * math.log2((n + 1) / (n - 1))


def _plain(value: Any) -> Any:
    """`value` as plain JSON types: NumPy scalars and arrays become Python numbers and lists."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"ledger detail values must be JSON-like, got {type(value).__name__}")


@dataclass(frozen=True)
class LedgerEntry:
    """One mechanism run on source data: where, why, how, and what it cost.

    `scale` is the Laplace noise scale (None for mechanisms without one, such as the exponential mechanism);
    `delta` the mechanism's delta (0 for pure epsilon-DP mechanisms); `detail` holds plain JSON values (a
    text detail is stored as {"description": text}).
    """

    table: str
    purpose: str
    mechanism: str
    epsilon: float
    sensitivity: float
    scale: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    delta: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The entry as plain JSON values."""
        return {
            "table": self.table,
            "purpose": self.purpose,
            "mechanism": self.mechanism,
            "epsilon": float(self.epsilon),
            "sensitivity": float(self.sensitivity),
            "scale": None if self.scale is None else float(self.scale),
            "delta": float(self.delta),
            "detail": _plain(self.detail),
        }

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> LedgerEntry:
        """The entry written by `to_dict`."""
        scale = entry.get("scale")
        return cls(
            table=str(entry["table"]),
            purpose=str(entry["purpose"]),
            mechanism=str(entry["mechanism"]),
            epsilon=float(entry["epsilon"]),
            sensitivity=float(entry["sensitivity"]),
            scale=None if scale is None else float(scale),
            detail=dict(entry.get("detail") or {}),
            delta=float(entry.get("delta") or 0.0),
        )


class BudgetLedger:
    """Every privacy charge of one model, in order. The model's (epsilon, delta) is their sum (sequential
    composition); neighbouring datasets differ in one replaced row and n is public (bounded DP).

    `noise` is where every mechanism charged to this ledger draws its noise: fresh OS entropy unless a test
    passes `ReproducibleNoise` (`core.noise`); the ledger records which (`noise_description`, `private_noise`).
    A ledger read back from a model has no sampler (`noise` None), only the record.
    """

    def __init__(
        self,
        entries: Sequence[LedgerEntry] = (),
        *,
        noise: NoiseSource | None = None,
        noise_description: str | None = None,
    ) -> None:
        self._entries: list[LedgerEntry] = list(entries)
        self._noise = FreshNoise() if noise is None and noise_description is None else noise
        self.noise_description = noise_description or (self._noise.description if self._noise else "")

    @property
    def noise(self) -> NoiseSource:
        """The sampler every mechanism of this model draws from."""
        if self._noise is None:
            raise RuntimeError("a ledger read from a model file has no noise source: it records, it does not draw")
        return self._noise

    @property
    def private_noise(self) -> bool:
        """True only for fresh noise: False for the test-only reproducible switch and for models written
        before the noise was recorded (they drew it from `random_state`)."""
        return self.noise_description == FRESH_DESCRIPTION

    @property
    def entries(self) -> tuple[LedgerEntry, ...]:
        """The charges in the order they were made."""
        return tuple(self._entries)

    def charge(
        self,
        *,
        table: str,
        purpose: str,
        mechanism: str,
        epsilon: float,
        sensitivity: float,
        scale: float | None = None,
        detail: Mapping[str, Any] | str | None = None,
        delta: float = 0.0,
    ) -> LedgerEntry:
        """Record one mechanism's cost (epsilon, and delta when it has one) and return the entry."""
        epsilon = float(epsilon)
        if not (math.isfinite(epsilon) and epsilon >= 0):
            raise ValueError(
                f"table '{table}', {purpose}: epsilon must be a finite number >= 0, got {epsilon}"
            )
        delta = float(delta)
        if not (math.isfinite(delta) and 0 <= delta < 1):
            raise ValueError(f"table '{table}', {purpose}: delta must be in [0, 1), got {delta}")
        if isinstance(detail, str):
            detail = {"description": detail}
        entry = LedgerEntry(
            table=str(table),
            purpose=str(purpose),
            mechanism=str(mechanism),
            epsilon=epsilon,
            sensitivity=float(sensitivity),
            scale=None if scale is None else float(scale),
            detail=_plain(dict(detail or {})),
            delta=delta,
        )
        self._entries.append(entry)
        return entry

    @property
    def total_epsilon(self) -> float:
        """The sum of all charges (sequential composition), summed exactly before rounding."""
        return math.fsum(entry.epsilon for entry in self._entries)

    @property
    def total_delta(self) -> float:
        """The sum of the mechanisms' deltas (basic composition)."""
        return math.fsum(entry.delta for entry in self._entries)

    def for_table(self, name: str) -> list[LedgerEntry]:
        """The charges made for table `name`, in order."""
        return [entry for entry in self._entries if entry.table == name]

    def total_for_table(self, name: str) -> float:
        """The epsilon spent on table `name`."""
        return math.fsum(entry.epsilon for entry in self.for_table(name))

    def to_dict(self) -> dict[str, Any]:
        """The ledger as plain JSON values: {"total_epsilon", "total_delta", "noise", "entries": [...]}."""
        return {
            "total_epsilon": self.total_epsilon,
            "total_delta": self.total_delta,
            "noise": self.noise_description,
            "entries": [entry.to_dict() for entry in self._entries],
        }

    @classmethod
    def from_dict(cls, ledger: Mapping[str, Any]) -> BudgetLedger:
        """The ledger written by `to_dict` (the stored totals are recomputed from the entries). A ledger
        written before the noise was recorded says "unrecorded"."""
        entries = [LedgerEntry.from_dict(entry) for entry in ledger.get("entries", [])]
        return cls(entries, noise_description=str(ledger.get("noise") or "unrecorded"))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return (
            f"BudgetLedger({len(self._entries)} entries, total_epsilon={self.total_epsilon:g}, "
            f"total_delta={self.total_delta:g}, noise={self.noise_description!r})"
        )
