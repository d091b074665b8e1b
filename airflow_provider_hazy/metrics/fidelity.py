"""Total variation distances between real and synthetic tables, on bins independent of the model.

Every column is discretised by `discretise` (quantile bins of the real column plus a bin per point mass,
categories by value, nulls a bin of their own), never by the model's own bins, so what the model's
discretisation lost shows up. TVD = half the L1 distance between the two histograms, in [0, 1].

- `one_way_tvd`: per column.
- `two_way_tvd`: per pair of columns (joint histogram of the two columns' bins), worst first.
- `degree_tvd`: per foreign key, the children-per-parent distribution on log2 bins (0, 1, 2-3, 4-7, ...),
  and the largest degree on each side.

Used by `bench/fidelity_bench.py` and the fidelity tests; plain NumPy/pandas, no model involved.
"""

from __future__ import annotations

import itertools
from typing import Dict, List, Tuple

import numpy as np
import pandas as pd

from ..config.schema import BaseTable
from .discretise import KEY_TYPES, metric_columns, schema_column_bins
from .similarity import child_counts

EXCLUDED_TYPES = KEY_TYPES


def tvd(codes_a: np.ndarray, codes_b: np.ndarray, n_codes: int) -> float:
    """Total variation distance between the histograms of two code arrays (0 when either is empty)."""
    if len(codes_a) == 0 or len(codes_b) == 0:
        return 0.0
    p = np.bincount(codes_a, minlength=n_codes) / len(codes_a)
    q = np.bincount(codes_b, minlength=n_codes) / len(codes_b)
    return float(0.5 * np.abs(p - q).sum())


def table_codes(table: BaseTable, real: pd.DataFrame, synthetic: pd.DataFrame) -> Dict[str, Tuple]:
    """{column: (bins, real codes, synthetic codes)} for every non-key column both frames have."""
    coded = {}
    for name in metric_columns(table, [real, synthetic], EXCLUDED_TYPES):
        bins = schema_column_bins(table, name, real[name])
        coded[name] = (bins, bins.codes(real[name]), bins.codes(synthetic[name]))
    return coded


def one_way_tvd(table: BaseTable, real: pd.DataFrame, synthetic: pd.DataFrame) -> Dict[str, float]:
    """{column: 1-way TVD} on the independent bins."""
    return {name: tvd(r, s, bins.n_codes) for name, (bins, r, s) in table_codes(table, real, synthetic).items()}


def two_way_tvd(table: BaseTable, real: pd.DataFrame, synthetic: pd.DataFrame) -> List[Tuple[str, str, float]]:
    """[(column a, column b, 2-way TVD)] for every pair of non-key columns, worst first."""
    coded = table_codes(table, real, synthetic)
    pairs = []
    for a, b in itertools.combinations(coded, 2):
        bins_a, real_a, synthetic_a = coded[a]
        bins_b, real_b, synthetic_b = coded[b]
        n = bins_b.n_codes
        pairs.append((a, b, tvd(real_a * n + real_b, synthetic_a * n + synthetic_b, bins_a.n_codes * n)))
    return sorted(pairs, key=lambda item: -item[2])


def log2_bins(degrees: np.ndarray) -> np.ndarray:
    """0 -> 0, 1 -> 1, 2-3 -> 2, 4-7 -> 3, ... (bin k >= 1 holds 2**(k-1) .. 2**k - 1)."""
    degrees = np.asarray(degrees, dtype=np.int64)
    return np.where(degrees > 0, np.floor(np.log2(np.maximum(degrees, 1))).astype(np.int64) + 1, 0)


def degree_tvd(
    real_parent_keys: pd.Series,
    real_child_keys: pd.Series,
    synthetic_parent_keys: pd.Series,
    synthetic_child_keys: pd.Series,
) -> Dict[str, float]:
    """The degree distribution of one foreign key: {"tvd" on log2 bins, "real_max", "synthetic_max"}."""
    real, _ = child_counts(real_parent_keys, real_child_keys)
    synthetic, _ = child_counts(synthetic_parent_keys, synthetic_child_keys)
    real_bins, synthetic_bins = log2_bins(real), log2_bins(synthetic)
    n_codes = int(max(real_bins.max(initial=0), synthetic_bins.max(initial=0))) + 1
    return {
        "tvd": tvd(real_bins, synthetic_bins, n_codes),
        "real_max": int(real.max(initial=0)),
        "synthetic_max": int(synthetic.max(initial=0)),
    }
