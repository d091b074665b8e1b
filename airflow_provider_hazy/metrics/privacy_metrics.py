"""Privacy metrics: does the synthetic data sit closer to the training rows than to unseen real rows.

All three compare the training rows T (the rows the model saw), held-out real rows H (`train_test_split`,
never seen) and synthetic rows S in one distance.

Distance: Euclidean on a mixed encoding fitted on the training rows. Integer, float, age, datetime and
date columns are standardised by the training mean and standard deviation (datetimes as seconds; a
constant column divided by 1); a null is encoded as 0 plus a 0/1 null-indicator dimension for that column.
Categorical and bool columns are the one-hot of their `discretise` bins (the PRIVACY_MAX_CATEGORIES most
frequent training categories, "(other)", "(null)") scaled by 1/sqrt(2), so differing categories add
exactly 1 to the squared distance (two rarer values both fall into "(other)" and count as equal). Each
column thus adds at most 22 dimensions, which bounds the cost of the nearest-neighbour search. Id,
foreign_key, person, location and constant columns are left out. Reference tables (copied as they are by
design) are not scored.

Samples (fixed by the generator passed in): from a random order of each set, the first
r = min(REFERENCE_ROWS, |T|, |H|) training rows T_r and held-out rows H_r (equal sizes, so either is as
likely to hold a random point's nearest neighbour), the first min(REFERENCE_ROWS, |S|) synthetic rows S_r,
and as query rows the first QUERY_ROWS of each: T_q, H_q, S_q. Nearest neighbours are exact (blocked
float64 matrix products, distance to the row found recomputed directly), rounded to 1e-9: equal distances tie and
copies are at 0.
With more than REFERENCE_ROWS training rows, a synthetic row copying a training row is only seen as a
copy when that row is sampled: the scores then understate leakage in proportion r / |T|.

A table's details hold the figures behind its score; the overall score of each metric is the minimum over
tables (a leak in one table is a leak).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd

from ..config.enums import MetricType
from ..config.schema import BaseTable, DataSchema
from .discretise import FAKED_TYPES, KEY_TYPES, metric_columns, schema_column_bins
from .results import clip01, frames_of, metric_result, tables_in_scope

Frames = Dict[str, pd.DataFrame]
QUERY_ROWS = 5_000
REFERENCE_ROWS = 20_000
BLOCK_ROWS = 1_024
DCR_QUANTILE = 0.05
PRIVACY_MAX_CATEGORIES = 20
PRIVACY_EXCLUDED_TYPES = KEY_TYPES + FAKED_TYPES + ("constant",)
_ROUND = 9  # distances are rounded to this many decimals
_DTYPE = np.float64


# --- encoding and nearest neighbours --------------------------------------------------------------------


def mixed_encoding(table: BaseTable, columns: List[str], frames: Dict[str, pd.DataFrame]) -> Dict[str, np.ndarray]:
    """Each frame as a dense matrix of the mixed encoding fitted on `frames['train']` (module docstring)."""
    train = frames["train"]
    blocks: Dict[str, List[np.ndarray]] = {side: [] for side in frames}
    for name in columns:
        bins = schema_column_bins(table, name, train[name], max_categories=PRIVACY_MAX_CATEGORIES)
        if bins.kind == "category":
            for side, frame in frames.items():
                one_hot = np.zeros((len(frame), bins.n_codes), dtype=_DTYPE)
                one_hot[np.arange(len(frame)), bins.codes(frame[name])] = np.sqrt(0.5)
                blocks[side].append(one_hot)
            continue
        values = {side: bins.values(frame[name]) for side, frame in frames.items()}
        present = values["train"][~np.isnan(values["train"])]
        centre = float(present.mean()) if len(present) else 0.0
        scale = float(present.std()) if len(present) else 0.0
        scale = scale if scale > 0 else 1.0
        any_null = any(np.isnan(v).any() for v in values.values())
        for side, column_values in values.items():
            nulls = np.isnan(column_values)
            standardised = np.where(nulls, 0.0, (column_values - centre) / scale)
            blocks[side].append(standardised[:, None].astype(_DTYPE))
            if any_null:
                blocks[side].append(nulls[:, None].astype(_DTYPE))
    return {
        side: np.hstack(parts) if parts else np.zeros((len(frames[side]), 0), _DTYPE) for side, parts in blocks.items()
    }


def _squared_norms(matrix: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", matrix, matrix)


def nearest_distances(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Euclidean distance from each query row to its nearest reference row (inf with no reference rows).

    The nearest row is found by float64 matrix products in blocks of BLOCK_ROWS query rows (float32 cannot
    tell apart neighbours whose distances differ by less than ~1e-7 of the squared norms); its distance is
    then recomputed directly and rounded to 1e-9 (so copies are at exactly 0 and equal distances tie)."""
    if len(reference) == 0:
        return np.full(len(query), np.inf)
    reference_norms = _squared_norms(reference)
    nearest = np.empty(len(query), dtype=np.int64)
    for start in range(0, len(query), BLOCK_ROWS):
        stop = start + BLOCK_ROWS
        squared = reference_norms[None, :] - 2.0 * (query[start:stop] @ reference.T)  # + |q|^2, same per row
        nearest[start:stop] = squared.argmin(axis=1)
    difference = query.astype(np.float64) - reference[nearest].astype(np.float64)
    return np.round(np.sqrt(np.einsum("ij,ij->i", difference, difference)), _ROUND)


@dataclass
class PrivacyDistances:
    """The samples of one table, encoded, with the nearest-neighbour distances each metric needs (computed
    once, on first use)."""

    table: str
    train: np.ndarray  # T_r
    holdout: np.ndarray  # H_r
    synthetic: np.ndarray  # S_r
    query_rows: Dict[str, int]
    columns: List[str]
    _cache: Dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def _query(self, side: str) -> np.ndarray:
        return getattr(self, side)[: self.query_rows[side]]

    def distances(self, query: str, reference: str) -> np.ndarray:
        """Distance of each query row of `query` ('train', 'holdout', 'synthetic') to its nearest row of
        the reference sample of `reference`."""
        key = f"{query}->{reference}"
        if key not in self._cache:
            self._cache[key] = nearest_distances(self._query(query), getattr(self, reference))
        return self._cache[key]

    @property
    def sizes(self) -> Dict[str, Any]:
        return {
            "reference_rows": {
                "train": len(self.train),
                "holdout": len(self.holdout),
                "synthetic": len(self.synthetic),
            },
            "query_rows": dict(self.query_rows),
            "dimensions": int(self.train.shape[1]),
        }


def _random_rows(frame: pd.DataFrame, size: int, rng: np.random.Generator) -> pd.DataFrame:
    rows = rng.permutation(len(frame))[:size]
    return frame.iloc[rows].reset_index(drop=True)


def privacy_distances(
    table: BaseTable, train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, rng: np.random.Generator
) -> Optional[PrivacyDistances]:
    """The samples of the module docstring, encoded; None when the table has no column to compare."""
    columns = metric_columns(table, [train, holdout, synthetic], PRIVACY_EXCLUDED_TYPES)
    if not columns:
        return None
    reference_rows = min(REFERENCE_ROWS, len(train), len(holdout))
    frames = {
        "train": _random_rows(train, reference_rows, rng),
        "holdout": _random_rows(holdout, reference_rows, rng),
        "synthetic": _random_rows(synthetic, min(REFERENCE_ROWS, len(synthetic)), rng),
    }
    encoded = mixed_encoding(table, columns, frames)
    query_rows = {side: min(QUERY_ROWS, len(frame)) for side, frame in frames.items()}
    return PrivacyDistances(table.name, encoded["train"], encoded["holdout"], encoded["synthetic"], query_rows, columns)


# --- scores ---------------------------------------------------------------------------------------------


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a positive scores above a negative) + P(tie) / 2 (Mann-Whitney, ties at average ranks)."""
    if len(positive) == 0 or len(negative) == 0:
        return 0.5
    values = np.concatenate([positive, negative])
    uniques, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based average rank of each distinct value
    ranks = average_rank[inverse]
    n_pos, n_neg = len(positive), len(negative)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def presence_disclosure_score(distances: PrivacyDistances) -> Dict[str, Any]:
    """Presence disclosure (membership inference).

    The attacker holds real records and the synthetic sample S_r and calls a record a member of the
    training data the closer it lies to its closest synthetic record (score = -distance). AUC is the
    area under the ROC curve of that attack on the training records T_q (members) against the held-out
    records H_q (non-members), ties counted half. score = 1 - 2|AUC - 0.5|: 1 when the attack does no
    better than chance, 0 when it separates members perfectly.
    """
    members = distances.distances("train", "synthetic")
    non_members = distances.distances("holdout", "synthetic")
    area = auc(-members, -non_members)
    return {
        "score": clip01(1.0 - 2.0 * abs(area - 0.5)),
        "auc": area,
        "median_distance": {"train": float(np.median(members)), "holdout": float(np.median(non_members))},
        **distances.sizes,
    }


def density_disclosure_score(distances: PrivacyDistances) -> Dict[str, Any]:
    """Density disclosure: how much more synthetic mass lies near training rows than near held-out rows.

    For each synthetic row of S_q, its nearest neighbour among T_r and H_r together (the two samples are
    of equal size): share_train = mean over synthetic rows of [d(s, T_r) < d(s, H_r)] + 0.5 [equal]. A
    generator that has not memorised its training rows puts its mass as near unseen rows as near seen
    ones, share_train ~ 0.5; one that copies training rows gives share_train ~ 1.
    score = clip(2 (1 - share_train), 0, 1): 1 for no excess mass near training rows, 0 when every
    synthetic row is nearer a training row.
    """
    to_train = distances.distances("synthetic", "train")
    to_holdout = distances.distances("synthetic", "holdout")
    share = float(np.mean((to_train < to_holdout) + 0.5 * (to_train == to_holdout))) if len(to_train) else 0.5
    return {
        "score": clip01(2.0 * (1.0 - share)),
        "share_nearer_train": share,
        **distances.sizes,
    }


def distance_to_closest_record_score(distances: PrivacyDistances) -> Dict[str, Any]:
    """Distance to closest record (DCR) of synthetic rows, against that of unseen real rows.

    d_S: distance of each synthetic row of S_q to its closest training row in T_r; d_H: the same for
    each held-out row of H_q (how close a new real record naturally comes to the training data).
    q = the 5th percentile of d_H; p_H = share of d_H <= q (0.05, more with ties); p_S = share of
    d_S <= q. score = clip(1 - (p_S - p_H) / (1 - p_H), 0, 1), and 1 when p_H = 1: 1 when synthetic rows
    come no closer to training rows than unseen real rows do, 0 when every synthetic row is at least as
    close as the closest 5% of real ones (copies included).
    """
    synthetic = distances.distances("synthetic", "train")
    holdout = distances.distances("holdout", "train")
    threshold = float(np.quantile(holdout, DCR_QUANTILE, method="inverted_cdf"))
    holdout_close = float(np.mean(holdout <= threshold))
    synthetic_close = float(np.mean(synthetic <= threshold))
    if holdout_close >= 1.0:
        score = 1.0
    else:
        score = clip01(1.0 - (synthetic_close - holdout_close) / (1.0 - holdout_close))
    return {
        "score": score,
        "threshold": threshold,
        "share_within_threshold": {"synthetic": synthetic_close, "holdout": holdout_close},
        "share_exact_copies": {"synthetic": float(np.mean(synthetic == 0)), "holdout": float(np.mean(holdout == 0))},
        "median_distance": {"synthetic": float(np.median(synthetic)), "holdout": float(np.median(holdout))},
        **distances.sizes,
    }


# --- the metrics ----------------------------------------------------------------------------------------

DistanceCache = Dict[str, Optional[PrivacyDistances]]


def _privacy_metric(
    metric_type: MetricType,
    score_table,
    schema: DataSchema,
    real: Frames,
    synthetic: Frames,
    holdout: Frames,
    rng: np.random.Generator,
    table: Optional[str],
    cache: Optional[DistanceCache],
) -> Dict[str, Any]:
    cache = {} if cache is None else cache
    tables: Dict[str, Dict[str, Any]] = {}
    for schema_table in tables_in_scope(schema, table, metric_type):
        name = schema_table.name
        if schema_table.type == "reference":
            continue
        reason = frames_of(name, real=real, synthetic=synthetic, holdout=holdout)
        if reason:
            tables[name] = {"score": None, "skipped": reason}
            continue
        if min(len(real[name]), len(holdout[name]), len(synthetic[name])) == 0:
            tables[name] = {"score": None, "skipped": "no rows in the real, held-out or synthetic data"}
            continue
        if name not in cache:
            cache[name] = privacy_distances(schema_table, real[name], holdout[name], synthetic[name], rng)
        distances = cache[name]
        if distances is None:
            tables[name] = {"score": None, "skipped": "no column to compare"}
            continue
        tables[name] = score_table(distances)
    return metric_result(metric_type, tables, worst=True)


def presence_disclosure(
    schema: DataSchema,
    real: Frames,
    synthetic: Frames,
    holdout: Frames,
    rng: np.random.Generator,
    table: Optional[str] = None,
    cache: Optional[DistanceCache] = None,
) -> Dict[str, Any]:
    """Presence disclosure per table (`presence_disclosure_score`); overall: the worst table. `cache`
    (table -> PrivacyDistances) shares samples and distances between the privacy metrics of one run."""
    return _privacy_metric(
        MetricType.PRESENCE_DISCLOSURE, presence_disclosure_score, schema, real, synthetic, holdout, rng, table, cache
    )


def density_disclosure(
    schema: DataSchema,
    real: Frames,
    synthetic: Frames,
    holdout: Frames,
    rng: np.random.Generator,
    table: Optional[str] = None,
    cache: Optional[DistanceCache] = None,
) -> Dict[str, Any]:
    """Density disclosure per table (`density_disclosure_score`); overall: the worst table."""
    return _privacy_metric(
        MetricType.DENSITY_DISCLOSURE, density_disclosure_score, schema, real, synthetic, holdout, rng, table, cache
    )


def distance_to_closest_record(
    schema: DataSchema,
    real: Frames,
    synthetic: Frames,
    holdout: Frames,
    rng: np.random.Generator,
    table: Optional[str] = None,
    cache: Optional[DistanceCache] = None,
) -> Dict[str, Any]:
    """Distance to closest record per table (`distance_to_closest_record_score`); overall: the worst table."""
    return _privacy_metric(
        MetricType.DISTANCE_TO_CLOSEST_RECORD,
        distance_to_closest_record_score,
        schema,
        real,
        synthetic,
        holdout,
        rng,
        table,
        cache,
    )
