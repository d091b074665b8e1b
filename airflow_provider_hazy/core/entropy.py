"""Empirical entropies in bits from integer counts, as the structure search scores them (`privbayes`).

H = log2 n - sum(c log2 c) / n over the cells of a count table summing to n. `count_log_counts(n)` tabulates
c log2 c for every count up to n, so an entropy is one gather and a sum; a joint table with more cells than
rows is summed by row instead (`joint_entropy_bits`): sum over cells of c log2 c equals the sum over rows of
log2 of the count of the row's cell, which reads n values instead of scanning the whole table.
"""

from __future__ import annotations

import math

import numpy as np


def count_log_counts(n_rows: int) -> np.ndarray:
    """c * log2(c) for every count c in 0..n_rows (0 for c = 0): entropies become one gather and a sum."""
    counts = np.arange(n_rows + 1, dtype=np.float64)
    terms = np.zeros(n_rows + 1)
    terms[1:] = counts[1:] * np.log2(counts[1:])
    return terms


def log_counts(n_rows: int) -> np.ndarray:
    """log2(c) for every count c in 0..n_rows (0 for c = 0)."""
    terms = np.zeros(n_rows + 1)
    terms[1:] = np.log2(np.arange(1, n_rows + 1, dtype=np.float64))
    return terms


def entropy_bits(counts: np.ndarray, n_rows: int, count_log_count: np.ndarray) -> float:
    """Entropy in bits of the empirical distribution with these counts (summing to n_rows):
    log2 n - sum(c log2 c) / n, with `count_log_count` = `count_log_counts(n_rows)`."""
    if n_rows == 0:
        return 0.0
    return math.log2(n_rows) - float(count_log_count[counts].sum()) / n_rows


def joint_entropy_bits(
    child_codes: np.ndarray,
    parent_codes: np.ndarray,
    n_combinations: int,
    child_size: int,
    count_log_count: np.ndarray,
    log_count: np.ndarray,
) -> float:
    """H(X, Pi) in bits of the rows' (parent combination, child) cells; the tables of `count_log_counts` and
    `log_counts` for the number of rows. A table of more cells than rows is summed by row."""
    n_rows = child_codes.shape[0]
    cells = parent_codes * child_size
    cells += child_codes
    counts = np.bincount(cells, minlength=n_combinations * child_size)
    if counts.size <= n_rows:
        return entropy_bits(counts, n_rows, count_log_count)
    return math.log2(n_rows) - float(log_count[counts[cells]].sum()) / n_rows
