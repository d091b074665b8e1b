"""Similarity of synthetic to real data: marginals, pairwise dependence, cross-table dependence, degrees.

Every column is discretised by `discretise` (bins fitted on the real column, nulls a bin of their own).
Key columns (id, foreign_key) are never scored: their values are generated, not modelled. Person and
location columns (drawn from Faker, independent of every other column by design) are scored by the
histogram but left out of every mutual-information metric.

A table's score is the mean of its columns (pairs, foreign keys); the overall score is the mean of the
table scores. Results are JSON-safe dicts (see `results`).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from ..config.enums import MetricType
from ..config.schema import BaseTable, DataSchema, ForeignKeyColumn
from .discretise import (
    FAKED_TYPES,
    KEY_TYPES,
    ColumnBins,
    fit_column_bins,
    metric_columns,
    missing_columns,
    schema_column_bins,
)
from .results import clip01, frames_of, mean_score, metric_result, tables_in_scope

Frames = Dict[str, pd.DataFrame]
HISTOGRAM_EXCLUDED_TYPES = KEY_TYPES
MUTUAL_INFORMATION_EXCLUDED_TYPES = KEY_TYPES + FAKED_TYPES
_DIGITS = 6  # probabilities in the details are rounded to this many decimals


# --- building blocks ------------------------------------------------------------------------------------


def distribution(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """Share of rows in each bin (all zeros for no rows)."""
    counts = np.bincount(codes, minlength=n_codes).astype(np.float64)
    return counts / max(len(codes), 1)


def histogram_overlap(real_codes: np.ndarray, synthetic_codes: np.ndarray, n_codes: int) -> float:
    """Sum over bins of min(p_real, p_synthetic): 1 for identical histograms, 0 for disjoint ones."""
    overlap = np.minimum(distribution(real_codes, n_codes), distribution(synthetic_codes, n_codes)).sum()
    return clip01(overlap)


def entropy(codes: np.ndarray, n_codes: int) -> float:
    """Shannon entropy (nats) of the codes' empirical distribution."""
    p = distribution(codes, n_codes)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def normalised_mutual_information(
    codes_a: np.ndarray, n_a: int, codes_b: np.ndarray, n_b: int, entropy_a: float, entropy_b: float
) -> float:
    """NMI(A, B) = I(A; B) / sqrt(H(A) H(B)) in [0, 1], with I = H(A) + H(B) - H(A, B); 0 when either
    column is constant (H = 0)."""
    if entropy_a <= 0 or entropy_b <= 0 or len(codes_a) == 0:
        return 0.0
    joint = entropy(codes_a * n_b + codes_b, n_a * n_b)
    information = max(entropy_a + entropy_b - joint, 0.0)
    return clip01(information / np.sqrt(entropy_a * entropy_b))


def pair_similarity(real_nmi: float, synthetic_nmi: float) -> float:
    """1 - |NMI_real - NMI_synthetic|: 1 when the pair is as dependent in both, 0 at the extremes."""
    return clip01(1.0 - abs(real_nmi - synthetic_nmi))


def parent_positions(parent_keys: pd.Series, child_keys: pd.Series) -> Tuple[np.ndarray, int]:
    """(for each child row, the position of its parent among the distinct parent keys, -1 for a null or
    dangling key; the number of distinct parent keys). Keys compare as text when one side is numeric and
    the other is not."""
    distinct = pd.Index(parent_keys.dropna().drop_duplicates())
    numeric_parent = pd.api.types.is_numeric_dtype(parent_keys.dtype)
    numeric_child = pd.api.types.is_numeric_dtype(child_keys.dtype)
    if numeric_parent != numeric_child:
        positions = distinct.astype(str).get_indexer(child_keys.astype(str))
    else:
        positions = distinct.get_indexer(child_keys)
    positions = np.asarray(positions, dtype=np.int64)
    positions[child_keys.isna().to_numpy()] = -1
    return positions, len(distinct)


def _probabilities(codes: np.ndarray, n_codes: int) -> List[float]:
    return [round(float(p), _DIGITS) for p in distribution(codes, n_codes)]


def _bins_and_codes(table: BaseTable, name: str, real: pd.Series, synthetic: pd.Series):
    bins = schema_column_bins(table, name, real)
    return bins, bins.codes(real), bins.codes(synthetic)


def _skipped(table: BaseTable, frames: Dict[str, pd.DataFrame], excluded) -> Dict[str, Any]:
    missing = missing_columns(table, frames, excluded)
    return {"skipped": missing} if missing else {}


# --- histogram similarity -------------------------------------------------------------------------------


def histogram_similarity(
    schema: DataSchema, real: Frames, synthetic: Frames, table: Optional[str] = None
) -> Dict[str, Any]:
    """Histogram similarity: how much of each column's real histogram the synthetic histogram covers.

    Per column (every column but id and foreign_key): sum over the bins of `discretise` of
    min(p_real(bin), p_synthetic(bin)), in [0, 1] (1 for identical histograms, 0 for disjoint ones).
    Table: mean over its columns; overall: mean over tables. Each column's details hold the bin labels
    and both histograms (for plots).
    """
    tables: Dict[str, Dict[str, Any]] = {}
    for schema_table in tables_in_scope(schema, table, MetricType.HISTOGRAM_SIMILARITY):
        name = schema_table.name
        reason = frames_of(name, real=real, synthetic=synthetic)
        if reason:
            tables[name] = {"score": None, "skipped": reason}
            continue
        real_frame, synthetic_frame = real[name], synthetic[name]
        columns: Dict[str, Any] = {}
        for column in metric_columns(schema_table, [real_frame, synthetic_frame], HISTOGRAM_EXCLUDED_TYPES):
            bins, real_codes, synthetic_codes = _bins_and_codes(
                schema_table, column, real_frame[column], synthetic_frame[column]
            )
            columns[column] = {
                "score": histogram_overlap(real_codes, synthetic_codes, bins.n_codes),
                "bins": list(bins.labels),
                "real": _probabilities(real_codes, bins.n_codes),
                "synthetic": _probabilities(synthetic_codes, bins.n_codes),
            }
        tables[name] = {
            "score": mean_score(entry["score"] for entry in columns.values()),
            "columns": columns,
            **_skipped(schema_table, {"real": real_frame, "synthetic": synthetic_frame}, HISTOGRAM_EXCLUDED_TYPES),
        }
    return metric_result(MetricType.HISTOGRAM_SIMILARITY, tables)


# --- mutual information similarity ----------------------------------------------------------------------


def _nmi_matrix(codes: List[np.ndarray], sizes: List[int]) -> np.ndarray:
    entropies = [entropy(c, k) for c, k in zip(codes, sizes)]
    matrix = np.eye(len(codes))
    for i in range(len(codes)):
        for j in range(i + 1, len(codes)):
            value = normalised_mutual_information(codes[i], sizes[i], codes[j], sizes[j], entropies[i], entropies[j])
            matrix[i, j] = matrix[j, i] = value
    return matrix


def mutual_information_similarity(
    schema: DataSchema, real: Frames, synthetic: Frames, table: Optional[str] = None
) -> Dict[str, Any]:
    """Mutual information similarity: is each pair of columns as dependent in the synthetic data as in the real.

    Per pair of columns (every column but id, foreign_key, person and location): with NMI the normalised
    mutual information of their `discretise` codes, NMI = I(A; B) / sqrt(H(A) H(B)) in [0, 1] (0 when a
    column is constant), the pair scores 1 - |NMI_real - NMI_synthetic|. The normalised variant is used
    rather than 1 - |I_r - I_s| / max(I_r, I_s): a pair that is independent in both has tiny, noisy
    mutual informations whose ratio would swing anywhere in [0, 1]; on the NMI scale it scores ~1.
    Table: mean over its pairs (None with fewer than two columns); overall: mean over tables. Details
    hold both NMI matrices (for heat maps).
    """
    tables: Dict[str, Dict[str, Any]] = {}
    for schema_table in tables_in_scope(schema, table, MetricType.MUTUAL_INFORMATION_SIMILARITY):
        name = schema_table.name
        reason = frames_of(name, real=real, synthetic=synthetic)
        if reason:
            tables[name] = {"score": None, "skipped": reason}
            continue
        real_frame, synthetic_frame = real[name], synthetic[name]
        columns = metric_columns(schema_table, [real_frame, synthetic_frame], MUTUAL_INFORMATION_EXCLUDED_TYPES)
        binned = [_bins_and_codes(schema_table, c, real_frame[c], synthetic_frame[c]) for c in columns]
        sizes = [bins.n_codes for bins, _, _ in binned]
        real_matrix = _nmi_matrix([codes for _, codes, _ in binned], sizes)
        synthetic_matrix = _nmi_matrix([codes for _, _, codes in binned], sizes)
        pairs: Dict[str, Any] = {}
        for i in range(len(columns)):
            for j in range(i + 1, len(columns)):
                pairs[f"{columns[i]}|{columns[j]}"] = {
                    "columns": [columns[i], columns[j]],
                    "score": pair_similarity(real_matrix[i, j], synthetic_matrix[i, j]),
                    "real_nmi": float(real_matrix[i, j]),
                    "synthetic_nmi": float(synthetic_matrix[i, j]),
                }
        tables[name] = {
            "score": mean_score(entry["score"] for entry in pairs.values()),
            "pairs": pairs,
            "matrix": {
                "columns": columns,
                "real": np.round(real_matrix, _DIGITS).tolist(),
                "synthetic": np.round(synthetic_matrix, _DIGITS).tolist(),
            },
            **_skipped(
                schema_table, {"real": real_frame, "synthetic": synthetic_frame}, MUTUAL_INFORMATION_EXCLUDED_TYPES
            ),
        }
    return metric_result(MetricType.MUTUAL_INFORMATION_SIMILARITY, tables)


# --- cross-table mutual information similarity ----------------------------------------------------------


def _joined_columns(
    schema: DataSchema, child: BaseTable, fk: ForeignKeyColumn, frames: Frames
) -> Tuple[Dict[str, pd.Series], Dict[str, pd.Series], int]:
    """(parent columns, child columns, number of rows) over the child rows whose key finds a parent row
    (the first parent row of each key)."""
    parent_table = schema.table(fk.ref_table)
    parent_frame, child_frame = frames[fk.ref_table], frames[child.name]
    parent_keys = parent_frame[fk.ref_column]
    positions, _ = parent_positions(parent_keys, child_frame[fk.name])
    first_rows = parent_frame.loc[(parent_keys.notna() & ~parent_keys.duplicated()).to_numpy()]
    found = positions >= 0
    parent_rows = first_rows.iloc[positions[found]].reset_index(drop=True)
    child_rows = child_frame.loc[found].reset_index(drop=True)
    parent_columns = metric_columns(parent_table, [parent_frame], MUTUAL_INFORMATION_EXCLUDED_TYPES)
    child_columns = metric_columns(child, [child_frame], MUTUAL_INFORMATION_EXCLUDED_TYPES)
    parents = {c: parent_rows[c] for c in parent_columns}
    return parents, {c: child_rows[c] for c in child_columns}, int(found.sum())


def _cross_pairs(
    schema: DataSchema, child: BaseTable, fk: ForeignKeyColumn, real: Frames, synthetic: Frames
) -> Dict[str, Any]:
    parent_table = schema.table(fk.ref_table)
    real_parent, real_child, real_rows = _joined_columns(schema, child, fk, real)
    synthetic_parent, synthetic_child, synthetic_rows = _joined_columns(schema, child, fk, synthetic)

    def binned(table: BaseTable, real_columns, synthetic_columns):
        out = {}
        for name in real_columns:
            if name in synthetic_columns:
                bins: ColumnBins = schema_column_bins(table, name, real_columns[name])
                real_codes, synthetic_codes = bins.codes(real_columns[name]), bins.codes(synthetic_columns[name])
                out[name] = (
                    bins.n_codes,
                    real_codes,
                    synthetic_codes,
                    entropy(real_codes, bins.n_codes),
                    entropy(synthetic_codes, bins.n_codes),
                )
        return out

    parents = binned(parent_table, real_parent, synthetic_parent)
    children = binned(child, real_child, synthetic_child)
    pairs: Dict[str, Any] = {}
    for parent_name, (n_p, real_p, synth_p, h_real_p, h_synth_p) in parents.items():
        for child_name, (n_c, real_c, synth_c, h_real_c, h_synth_c) in children.items():
            real_nmi = normalised_mutual_information(real_p, n_p, real_c, n_c, h_real_p, h_real_c)
            synthetic_nmi = normalised_mutual_information(synth_p, n_p, synth_c, n_c, h_synth_p, h_synth_c)
            pairs[f"{parent_name}|{child_name}"] = {
                "columns": [f"{fk.ref_table}.{parent_name}", f"{child.name}.{child_name}"],
                "score": pair_similarity(real_nmi, synthetic_nmi),
                "real_nmi": real_nmi,
                "synthetic_nmi": synthetic_nmi,
            }
    return {
        "parent": f"{fk.ref_table}.{fk.ref_column}",
        "score": mean_score(entry["score"] for entry in pairs.values()),
        "rows_joined": {"real": real_rows, "synthetic": synthetic_rows},
        "pairs": pairs,
    }


def cross_table_mutual_information_similarity(
    schema: DataSchema, real: Frames, synthetic: Frames, table: Optional[str] = None
) -> Dict[str, Any]:
    """Cross-table mutual information similarity: is each child column as dependent on each parent column
    across a foreign-key join in the synthetic data as in the real.

    Per foreign key (child.fk -> parent.key) the child rows are joined to their parent row (rows with a
    null or dangling key are left out), in the real and in the synthetic data separately; per (parent
    column, child column) pair, leaving out id, foreign_key, person and location columns, the score is
    1 - |NMI_real - NMI_synthetic| exactly as in `mutual_information_similarity` (bins fitted on the
    real joined column). Foreign key: mean over its pairs; table (the child, which `table` names): mean
    over its foreign keys; overall: mean over tables that have foreign keys.
    """
    tables: Dict[str, Dict[str, Any]] = {}
    for child in tables_in_scope(schema, table, MetricType.CROSS_TABLE_MUTUAL_INFORMATION_SIMILARITY):
        if not child.foreign_keys:
            continue
        foreign_keys: Dict[str, Any] = {}
        for fk in child.foreign_keys:
            reason = frames_of(child.name, real=real, synthetic=synthetic) or frames_of(
                fk.ref_table, real=real, synthetic=synthetic
            )
            if reason:
                foreign_keys[fk.name] = {"parent": f"{fk.ref_table}.{fk.ref_column}", "score": None, "skipped": reason}
                continue
            foreign_keys[fk.name] = _cross_pairs(schema, child, fk, real, synthetic)
        tables[child.name] = {
            "score": mean_score(entry["score"] for entry in foreign_keys.values()),
            "foreign_keys": foreign_keys,
        }
    result = metric_result(MetricType.CROSS_TABLE_MUTUAL_INFORMATION_SIMILARITY, tables)
    if not tables:
        result["skipped"] = "no foreign keys"
    return result


# --- degree distribution similarity ---------------------------------------------------------------------


def child_counts(parent_keys: pd.Series, child_keys: pd.Series) -> Tuple[np.ndarray, int]:
    """(number of child rows of each distinct parent key, parents with none included; number of child rows
    whose non-null key finds no parent)."""
    positions, n_parents = parent_positions(parent_keys, child_keys)
    dangling = int(((positions < 0) & child_keys.notna().to_numpy()).sum())
    return np.bincount(positions[positions >= 0], minlength=n_parents), dangling


def _degree_entry(fk: ForeignKeyColumn, real: Frames, synthetic: Frames, child: str) -> Dict[str, Any]:
    real_degrees, real_dangling = child_counts(real[fk.ref_table][fk.ref_column], real[child][fk.name])
    synthetic_degrees, synthetic_dangling = child_counts(
        synthetic[fk.ref_table][fk.ref_column], synthetic[child][fk.name]
    )
    bins = fit_column_bins(pd.Series(real_degrees, name=fk.name), "integer")
    real_codes, synthetic_codes = bins.codes(pd.Series(real_degrees)), bins.codes(pd.Series(synthetic_degrees))
    p_real, p_synthetic = distribution(real_codes, bins.n_codes), distribution(synthetic_codes, bins.n_codes)
    tvd = 0.5 * np.abs(p_real - p_synthetic).sum()

    def summary(degrees: np.ndarray, dangling: int) -> Dict[str, Any]:
        return {
            "parents": len(degrees),
            "mean": float(degrees.mean()) if len(degrees) else None,
            "max": int(degrees.max()) if len(degrees) else None,
            "zero_share": float((degrees == 0).mean()) if len(degrees) else None,
            "dangling_children": dangling,
        }

    return {
        "parent": f"{fk.ref_table}.{fk.ref_column}",
        "score": clip01(1.0 - tvd),
        "total_variation_distance": float(tvd),
        "bins": list(bins.labels[:-1]),
        "real": [round(float(p), _DIGITS) for p in p_real[:-1]],
        "synthetic": [round(float(p), _DIGITS) for p in p_synthetic[:-1]],
        "real_summary": summary(real_degrees, real_dangling),
        "synthetic_summary": summary(synthetic_degrees, synthetic_dangling),
    }


def degree_distribution_similarity(
    schema: DataSchema, real: Frames, synthetic: Frames, table: Optional[str] = None
) -> Dict[str, Any]:
    """Degree distribution similarity: does each parent row have as many children as in the real data.

    Per foreign key (child.fk -> parent.key): the degree of a parent row is the number of child rows whose
    key equals its key (parents with no children count, with degree 0; each distinct parent key counts
    once). The real and synthetic degrees are binned like an integer column of `discretise` (one bin per
    degree when the real degrees take at most 20 values, else 20 quantile bins of the real degrees) and
    the score is 1 - TVD, TVD = 0.5 * sum over bins |p_real - p_synthetic| the total variation distance.
    Table (the child, which `table` names): mean over its foreign keys; overall: mean over tables.
    """
    tables: Dict[str, Dict[str, Any]] = {}
    for child in tables_in_scope(schema, table, MetricType.DEGREE_DISTRIBUTION_SIMILARITY):
        if not child.foreign_keys:
            continue
        foreign_keys: Dict[str, Any] = {}
        for fk in child.foreign_keys:
            reason = frames_of(child.name, real=real, synthetic=synthetic) or frames_of(
                fk.ref_table, real=real, synthetic=synthetic
            )
            if reason:
                foreign_keys[fk.name] = {"parent": f"{fk.ref_table}.{fk.ref_column}", "score": None, "skipped": reason}
                continue
            foreign_keys[fk.name] = _degree_entry(fk, real, synthetic, child.name)
        tables[child.name] = {
            "score": mean_score(entry["score"] for entry in foreign_keys.values()),
            "foreign_keys": foreign_keys,
        }
    result = metric_result(MetricType.DEGREE_DISTRIBUTION_SIMILARITY, tables)
    if not tables:
        result["skipped"] = "no foreign keys"
    return result
