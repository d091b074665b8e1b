"""Predictive utility: does a model trained on synthetic data predict real data as well as one trained on real.

For a target column, two models of the same kind are trained - one on the synthetic rows, one on the
real training rows - and both are tested on the held-out real rows (`train_test_split`). The score is
clip(synthetic_score / real_score, 0, 1).

Features are every other column but id, foreign_key, person, location and constant columns, each turned
into the one-hot of its `discretise` bins (fitted on the real training rows, nulls a bin of their own),
so both models see the same encoding. The models are small, exact and vectorised (no scikit-learn):

- categorical and bool targets: a categorical naive Bayes classifier (Laplace smoothing alpha = 1) whose
  classes are the target's bins (the real categories, "(other)"); measure: macro-F1 over the classes that
  occur in the held-out truth or in the predictions.
- integer, float, age, datetime and date targets: ridge least squares (alpha = 1) on the one-hot features
  (an additive, piecewise-constant regressor); datetimes as seconds; measure: R^2 on the held-out rows,
  clipped at 0.

Rows whose target is null are left out of training and testing. Each side is subsampled (without
replacement, by the generator passed in) to at most `MAX_ROWS` rows. With `target` None, the first
`MAX_TARGETS` eligible columns in schema order (at least two distinct real values) are each the target in
turn. A target that even the real-trained model cannot predict (real score 0) is reported with score
None. Table: mean over its targets; overall: mean over tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from ..config.enums import MetricType
from ..config.schema import BaseTable, DataSchema
from .discretise import FAKED_TYPES, KEY_TYPES, ColumnBins, column_kind, metric_columns, schema_column_bins
from .results import clip01, frames_of, mean_score, metric_result, tables_in_scope

Frames = Dict[str, pd.DataFrame]
MAX_ROWS = 20_000
MAX_TARGETS = 5
ALPHA = 1.0
UTILITY_EXCLUDED_TYPES = KEY_TYPES + FAKED_TYPES + ("constant",)


# --- models on one-hot bins -----------------------------------------------------------------------------


@dataclass(frozen=True)
class NaiveBayes:
    """Categorical naive Bayes: log P(class) and, per feature, log P(bin | class) of shape (classes, bins)."""

    log_prior: np.ndarray
    log_likelihoods: List[np.ndarray]


def fit_naive_bayes(codes: np.ndarray, sizes: List[int], classes: np.ndarray, n_classes: int) -> NaiveBayes:
    """Counts of each (class, bin) per feature, smoothed by ALPHA."""
    class_counts = np.bincount(classes, minlength=n_classes).astype(np.float64)
    log_prior = np.log((class_counts + ALPHA) / (class_counts.sum() + ALPHA * n_classes))
    log_likelihoods = []
    for feature, size in enumerate(sizes):
        joint = np.bincount(classes * size + codes[:, feature], minlength=n_classes * size).reshape(n_classes, size)
        log_likelihoods.append(np.log((joint + ALPHA) / (class_counts[:, None] + ALPHA * size)))
    return NaiveBayes(log_prior, log_likelihoods)


def predict_naive_bayes(model: NaiveBayes, codes: np.ndarray) -> np.ndarray:
    """The most probable class of every row."""
    scores = np.tile(model.log_prior, (len(codes), 1))
    for feature, log_likelihood in enumerate(model.log_likelihoods):
        scores += log_likelihood[:, codes[:, feature]].T
    return scores.argmax(axis=1)


@dataclass(frozen=True)
class Ridge:
    """Ridge regression on one-hot bins: prediction = intercept + sum over features of the weight of the bin."""

    intercept: float
    weights: np.ndarray
    offsets: np.ndarray


def _offsets(sizes: List[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


def one_hot_gram(codes: np.ndarray, sizes: List[int]) -> np.ndarray:
    """X^T X of the one-hot encoding of `codes` (co-occurrence counts of every pair of bins), built from
    one bincount per pair of features instead of a dense (rows x bins) matrix."""
    offsets = _offsets(sizes)
    total = int(sum(sizes))
    gram = np.zeros((total, total))
    for f, size_f in enumerate(sizes):
        for g in range(f, len(sizes)):
            size_g = sizes[g]
            block = np.bincount(codes[:, f] * size_g + codes[:, g], minlength=size_f * size_g).reshape(size_f, size_g)
            gram[offsets[f] : offsets[f] + size_f, offsets[g] : offsets[g] + size_g] = block
            gram[offsets[g] : offsets[g] + size_g, offsets[f] : offsets[f] + size_f] = block.T
    return gram


def fit_ridge(codes: np.ndarray, sizes: List[int], target: np.ndarray) -> Ridge:
    """Minimise |y - mean(y) - X w|^2 + ALPHA |w|^2 over the one-hot X of `codes`."""
    offsets = _offsets(sizes)
    intercept = float(target.mean())
    centred = target - intercept
    moment = np.concatenate([np.bincount(codes[:, f], weights=centred, minlength=size) for f, size in enumerate(sizes)])
    gram = one_hot_gram(codes, sizes)
    weights = np.linalg.solve(gram + ALPHA * np.eye(len(gram)), moment)
    return Ridge(intercept, weights, offsets)


def predict_ridge(model: Ridge, codes: np.ndarray) -> np.ndarray:
    return model.intercept + model.weights[codes + model.offsets[None, :]].sum(axis=1)


# --- measures -------------------------------------------------------------------------------------------


def macro_f1(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> float:
    """Mean F1 over the classes that occur in `truth` or `predicted`."""
    true_counts = np.bincount(truth, minlength=n_classes)
    predicted_counts = np.bincount(predicted, minlength=n_classes)
    hits = np.bincount(truth[truth == predicted], minlength=n_classes)
    present = (true_counts + predicted_counts) > 0
    if not present.any():
        return 0.0
    f1 = 2.0 * hits[present] / (true_counts[present] + predicted_counts[present])
    return float(f1.mean())


def r_squared(truth: np.ndarray, predicted: np.ndarray) -> float:
    """1 - SS_residual / SS_total on the test rows, clipped at 0 (0 when the truth is constant)."""
    total = float(((truth - truth.mean()) ** 2).sum())
    if total <= 0:
        return 0.0
    return max(0.0, 1.0 - float(((truth - predicted) ** 2).sum()) / total)


# --- the metric -----------------------------------------------------------------------------------------


def _subsample(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= MAX_ROWS:
        return frame.reset_index(drop=True)
    rows = np.sort(rng.choice(len(frame), size=MAX_ROWS, replace=False))
    return frame.iloc[rows].reset_index(drop=True)


def _eligible_targets(schema_table: BaseTable, columns: List[str], real: pd.DataFrame) -> List[str]:
    eligible = [name for name in columns if real[name].nunique(dropna=True) >= 2]
    return eligible[:MAX_TARGETS]


def _task(schema_table: BaseTable, name: str, series: pd.Series) -> str:
    kind = column_kind(schema_table.column(name).type, series)
    return "classification" if kind == "category" else "regression"


def _score_target(
    task: str,
    bins: ColumnBins,
    target: Dict[str, pd.Series],
    features: Dict[str, np.ndarray],
    sizes: List[int],
) -> Tuple[float, float, Dict[str, int]]:
    """(real-trained score, synthetic-trained score, rows used per side) on the held-out rows."""
    if task == "classification":
        labels = {side: bins.codes(series) for side, series in target.items()}
        keep = {side: codes != bins.null_code for side, codes in labels.items()}
    else:
        labels = {side: bins.values(series) for side, series in target.items()}
        keep = {side: ~np.isnan(values) for side, values in labels.items()}
    x = {side: features[side][keep[side]] for side in labels}
    y = {side: labels[side][keep[side]] for side in labels}
    rows = {side: int(mask.sum()) for side, mask in keep.items()}
    scores = []
    for side in ("real", "synthetic"):
        if rows[side] == 0 or rows["holdout"] == 0:
            scores.append(0.0)
        elif task == "classification":
            model = fit_naive_bayes(x[side], sizes, y[side], bins.n_codes)
            scores.append(macro_f1(y["holdout"], predict_naive_bayes(model, x["holdout"]), bins.n_codes))
        else:
            model = fit_ridge(x[side], sizes, y[side])
            scores.append(r_squared(y["holdout"], predict_ridge(model, x["holdout"])))
    return scores[0], scores[1], rows


def _table_utility(
    schema_table: BaseTable,
    frames: Dict[str, pd.DataFrame],
    target: Optional[str],
    rng: np.random.Generator,
) -> Dict[str, Any]:
    frames = {side: _subsample(frame, rng) for side, frame in frames.items()}
    columns = metric_columns(schema_table, frames.values(), UTILITY_EXCLUDED_TYPES)
    if target is not None:
        if target not in columns:
            return {"score": None, "skipped": f"target '{target}' is not a usable column of every frame"}
        targets = [target]
    else:
        targets = _eligible_targets(schema_table, columns, frames["real"])
    bins = {name: schema_column_bins(schema_table, name, frames["real"][name]) for name in columns}
    codes = {
        side: np.column_stack([bins[name].codes(frame[name]) for name in columns]).astype(np.int64)
        if columns
        else np.zeros((len(frame), 0), dtype=np.int64)
        for side, frame in frames.items()
    }
    entries: Dict[str, Any] = {}
    for name in targets:
        feature_positions = [i for i, column in enumerate(columns) if column != name]
        if not feature_positions:
            entries[name] = {"score": None, "skipped": "no other column to predict it from"}
            continue
        task = _task(schema_table, name, frames["real"][name])
        features = {side: matrix[:, feature_positions] for side, matrix in codes.items()}
        sizes = [bins[columns[i]].n_codes for i in feature_positions]
        target_series = {side: frame[name] for side, frame in frames.items()}
        real_score, synthetic_score, rows = _score_target(task, bins[name], target_series, features, sizes)
        entry = {
            "task": task,
            "measure": "macro_f1" if task == "classification" else "r2",
            "real_score": real_score,
            "synthetic_score": synthetic_score,
            "rows": {"real_train": rows["real"], "synthetic_train": rows["synthetic"], "test": rows["holdout"]},
            "features": [columns[i] for i in feature_positions],
        }
        if real_score <= 1e-12:
            entry.update(score=None, skipped="not predictable from the other columns even on real data")
        else:
            entry["score"] = clip01(synthetic_score / real_score)
        entries[name] = entry
    return {"score": mean_score(entry.get("score") for entry in entries.values()), "targets": entries}


def predictive_utility(
    schema: DataSchema,
    real: Frames,
    synthetic: Frames,
    holdout: Frames,
    rng: np.random.Generator,
    table: Optional[str] = None,
    target: Optional[str] = None,
) -> Dict[str, Any]:
    """Predictive utility (see the module docstring for the models and measures).

    Per target: clip(score of the synthetic-trained model / score of the real-trained model, 0, 1), both
    tested on `holdout`. With `target` set, only the tables that have that column are scored (error when
    none has it).
    """
    scope = tables_in_scope(schema, table, MetricType.PREDICTIVE_UTILITY)
    if target is not None:
        scope = [t for t in scope if target in {c.name for c in t.columns}]
        if not scope:
            raise ValueError(f"metric 'predictive_utility': target '{target}' is not a column of any table in scope")
        for schema_table in scope:
            column_type = schema_table.column(target).type
            if column_type in UTILITY_EXCLUDED_TYPES:
                raise ValueError(
                    f"metric 'predictive_utility', table '{schema_table.name}': target '{target}' is a "
                    f"{column_type} column, which cannot be a target"
                )
    tables: Dict[str, Dict[str, Any]] = {}
    for schema_table in scope:
        name = schema_table.name
        if schema_table.type == "reference":
            continue  # copied as is, not modelled
        reason = frames_of(name, real=real, synthetic=synthetic, holdout=holdout)
        if reason:
            tables[name] = {"score": None, "skipped": reason}
            continue
        frames = {"real": real[name], "synthetic": synthetic[name], "holdout": holdout[name]}
        tables[name] = _table_utility(schema_table, frames, target, rng)
    return metric_result(MetricType.PREDICTIVE_UTILITY, tables)
