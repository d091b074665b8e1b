"""Sequence similarity: do synthetic histories look like the real ones, as histories?

For each sequential table (rows grouped by `sequence_id`, ordered by `sort_by`), four parts, each scored in
[0, 1], 1 best; the table's score is their mean, the overall score the mean over tables:

- `length`: the number of rows per owner (owners without rows count, with length 0, when the owner table
  is there), one bin per length up to the real 99th percentile and one bin above; 1 - TVD.
- `gap`: the difference of the first sort-by column between consecutive rows of a history (seconds for
  datetimes, days for dates), on 10 quantile bins of the real gaps (values outside clipped into the end
  bins); 1 - TVD.
- `autocorrelation`: per numeric column, the lag-1 autocorrelation within histories (Pearson correlation of
  each row's value with the previous row's); 1 - |real - synthetic| / 2 per column, their mean.
- `transitions`: per category column, the matrix P(next value | value) between consecutive rows of a
  history over the real data's categories (at most `MAX_STATES`, the rest pooled as "(other)"); 1 - the mean
  over the real matrix's rows of the TVD between real and synthetic rows.

TVD is the total variation distance, 0.5 * sum |p_real - p_synthetic|.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd

from ..config.schema import DataSchema, SequentialTable
from .results import clip01, frames_of, json_value, mean_score

METRIC = "sequence_similarity"
MAX_STATES = 12
GAP_BINS = 10
OTHER = "(other)"


def _tvd(p: np.ndarray, q: np.ndarray) -> float:
    return float(0.5 * np.abs(p - q).sum())


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts.astype(np.float64)


def ordered_histories(frame: pd.DataFrame, table: SequentialTable) -> pd.DataFrame:
    """The rows with a sequence id, sorted by it and then by `sort_by` (stable)."""
    present = frame[frame[table.sequence_id].notna()]
    keys = [table.sequence_id] + [c for c in table.sort_by if c in present.columns]
    return present.sort_values(keys, kind="mergesort").reset_index(drop=True)


def _same_history(ordered: pd.DataFrame, sequence_id: str) -> np.ndarray:
    ids = ordered[sequence_id].astype(str).to_numpy()
    return ids[1:] == ids[:-1]


def lengths(frame: pd.DataFrame, table: SequentialTable, owners: Optional[pd.DataFrame]) -> np.ndarray:
    """Rows per owner; with the owner table, owners without rows count with length 0."""
    counts = frame[table.sequence_id].dropna().astype(str).value_counts()
    if owners is None:
        return counts.to_numpy()
    fk = table.column(table.sequence_id)
    keys = owners[fk.ref_column].dropna().astype(str)
    return counts.reindex(keys.to_numpy(), fill_value=0).to_numpy()


def length_entry(real: np.ndarray, synthetic: np.ndarray) -> Dict[str, Any]:
    top = int(np.percentile(real, 99)) if len(real) else 0
    bins = [str(k) for k in range(top + 1)] + [f">{top}"]
    real_shares = _shares(np.bincount(np.minimum(real, top + 1), minlength=top + 2))
    synthetic_shares = _shares(np.bincount(np.minimum(synthetic, top + 1), minlength=top + 2))
    tvd = _tvd(real_shares, synthetic_shares)
    return {"score": clip01(1 - tvd), "tvd": tvd, "bins": bins, "real": real_shares, "synthetic": synthetic_shares}


def _gap_values(ordered: pd.DataFrame, table: SequentialTable, column: str) -> np.ndarray:
    values = ordered[column]
    kind = table.column(column).type
    if kind in ("datetime", "date"):
        parsed = pd.to_datetime(values, errors="coerce")
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        numbers = parsed.astype("datetime64[ns]").astype(np.int64).astype(np.float64) / 1e9
        numbers[parsed.isna().to_numpy()] = np.nan
        if kind == "date":
            numbers = numbers / 86_400.0
    else:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    gaps = np.diff(numbers)[_same_history(ordered, table.sequence_id)] if len(numbers) else np.zeros(0)
    return gaps[~np.isnan(gaps)]


def gap_entry(real: np.ndarray, synthetic: np.ndarray, unit: str) -> Dict[str, Any]:
    """1 - TVD of the gaps on GAP_BINS quantile bins of the real gaps."""
    if not len(real) or not len(synthetic):
        return {"score": None, "skipped": "no consecutive rows"}
    edges = np.unique(np.quantile(real, np.linspace(0, 1, GAP_BINS + 1)))
    if len(edges) < 2:
        edges = np.array([edges[0], edges[0] + 1.0])
    inner = edges[1:-1]
    real_shares = _shares(np.bincount(np.searchsorted(inner, real, side="right"), minlength=len(edges) - 1))
    synthetic_shares = _shares(np.bincount(np.searchsorted(inner, synthetic, side="right"), minlength=len(edges) - 1))
    tvd = _tvd(real_shares, synthetic_shares)
    labels = [f"{edges[i]:.4g}-{edges[i + 1]:.4g}" for i in range(len(edges) - 1)]
    return {
        "score": clip01(1 - tvd),
        "tvd": tvd,
        "unit": unit,
        "bins": labels,
        "real": real_shares,
        "synthetic": synthetic_shares,
        "real_median": float(np.median(real)),
        "synthetic_median": float(np.median(synthetic)),
    }


def lag1_autocorrelation(ordered: pd.DataFrame, sequence_id: str, column: str) -> Optional[float]:
    values = pd.to_numeric(ordered[column], errors="coerce").to_numpy(dtype=np.float64)
    same = _same_history(ordered, sequence_id)
    previous, current = values[:-1][same], values[1:][same]
    keep = ~(np.isnan(previous) | np.isnan(current))
    previous, current = previous[keep], current[keep]
    if len(current) < 3 or previous.std() == 0 or current.std() == 0:
        return None
    return float(np.corrcoef(previous, current)[0, 1])


def transition_matrix(ordered: pd.DataFrame, sequence_id: str, column: str, states: List[str]) -> np.ndarray:
    """Counts of (value, next value) between consecutive rows of a history, over `states` (others pooled)."""
    values = ordered[column].astype(object).where(ordered[column].notna(), None).astype(str).to_numpy()
    index = {state: i for i, state in enumerate(states)}
    codes = np.array([index.get(value, len(states) - 1) for value in values], dtype=np.int64)
    same = _same_history(ordered, sequence_id)
    counts = np.zeros((len(states), len(states)))
    np.add.at(counts, (codes[:-1][same], codes[1:][same]), 1)
    return counts


def transition_entry(real: pd.DataFrame, synthetic: pd.DataFrame, sequence_id: str, column: str) -> Dict[str, Any]:
    frequent = real[column].astype(object).where(real[column].notna(), None).astype(str).value_counts()
    states = list(frequent.index[:MAX_STATES])
    if len(frequent) > MAX_STATES:
        states.append(OTHER)
    real_counts = transition_matrix(real, sequence_id, column, states)
    synthetic_counts = transition_matrix(synthetic, sequence_id, column, states)
    rows = real_counts.sum(axis=1) > 0
    if not rows.any():
        return {"score": None, "skipped": "no consecutive rows"}
    real_p = real_counts / np.maximum(real_counts.sum(axis=1, keepdims=True), 1)
    synthetic_p = synthetic_counts / np.maximum(synthetic_counts.sum(axis=1, keepdims=True), 1)
    tvds = 0.5 * np.abs(real_p - synthetic_p).sum(axis=1)
    mean_tvd = float(tvds[rows].mean())
    return {
        "score": clip01(1 - mean_tvd),
        "mean_tvd": mean_tvd,
        "states": states,
        "real": real_p,
        "synthetic": synthetic_p,
    }


def table_entry(
    table: SequentialTable, real: Dict[str, pd.DataFrame], synthetic: Dict[str, pd.DataFrame]
) -> Dict[str, Any]:
    owner = table.column(table.sequence_id).ref_table
    real_ordered = ordered_histories(real[table.name], table)
    synthetic_ordered = ordered_histories(synthetic[table.name], table)
    entry: Dict[str, Any] = {
        "length": length_entry(
            lengths(real[table.name], table, real.get(owner)),
            lengths(synthetic[table.name], table, synthetic.get(owner)),
        )
    }
    sort_column = next((c for c in table.sort_by if table.column(c).type != "id"), None)
    if sort_column is not None:
        unit = {"datetime": "seconds", "date": "days"}.get(table.column(sort_column).type, "units")
        entry["gap"] = {
            "column": sort_column,
            **gap_entry(
                _gap_values(real_ordered, table, sort_column), _gap_values(synthetic_ordered, table, sort_column), unit
            ),
        }
    autocorrelations: Dict[str, Any] = {}
    for column in table.columns:
        if column.type in ("integer", "float") and column.name not in table.sort_by:
            r = lag1_autocorrelation(real_ordered, table.sequence_id, column.name)
            s = lag1_autocorrelation(synthetic_ordered, table.sequence_id, column.name)
            score = None if r is None or s is None else clip01(1 - abs(r - s) / 2)
            autocorrelations[column.name] = {"real": r, "synthetic": s, "score": score}
    if autocorrelations:
        entry["autocorrelation"] = {
            "score": mean_score(item["score"] for item in autocorrelations.values()),
            "columns": autocorrelations,
        }
    transitions = {
        column.name: transition_entry(real_ordered, synthetic_ordered, table.sequence_id, column.name)
        for column in table.columns
        if column.type in ("category", "bool")
    }
    if transitions:
        entry["transitions"] = {
            "score": mean_score(item["score"] for item in transitions.values()),
            "columns": transitions,
        }
    entry["score"] = mean_score(part["score"] for part in entry.values() if isinstance(part, dict))
    return json_value(entry)


def sequence_similarity(
    schema: DataSchema, real: Dict[str, pd.DataFrame], synthetic: Dict[str, pd.DataFrame], table: Optional[str] = None
) -> Dict[str, Any]:
    """Sequence similarity of every sequential table (or of `table`): see the module docstring."""
    tables: Dict[str, Dict[str, Any]] = {}
    for candidate in schema.tables if table is None else [schema.table(table)]:
        if not isinstance(candidate, SequentialTable):
            continue
        reason = frames_of(candidate.name, real=real, synthetic=synthetic)
        tables[candidate.name] = (
            {"score": None, "skipped": reason} if reason else table_entry(candidate, real, synthetic)
        )
    result = {"metric_type": METRIC, "score": mean_score(e.get("score") for e in tables.values()), "tables": tables}
    if not tables:
        result["skipped"] = "no sequential tables"
    return result
