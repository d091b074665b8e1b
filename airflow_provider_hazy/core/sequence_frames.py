"""A sequential table's frame <-> the code matrices of `core.sequential`: histories sorted by their sort-by
columns, sort-by values as numbers (epochs in the column's unit), gaps between consecutive rows and their
encoding, and the generated frame with sort-by values rebuilt from the first value and the gaps.

Sort-by columns that are modelled (datetime, date, integer, float) are generated as gaps; a numerical id in
`sort_by` is generated in row order, so it increases within a history by itself. Rows whose sequence id is
null or names no owner are left out of training (they belong to no history) and none are generated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..config.enums import BinningStrategyType
from ..config.model_parameters import ProcessingParams
from ..config.schema import FloatColumn, SequentialTable, TabularTable
from . import sequential
from .column_encoders import NumericEncoder, numeric_values, where
from .datetime_encoders import DatetimeEncoder, SplitDatetimeEncoder, from_epochs, to_datetime64, to_epochs
from .encoding import TableEncoding, fit_table_encoding
from .privacy import BudgetLedger

GAP_SUFFIX = ":gap"


@dataclass(frozen=True)
class SortColumn:
    """A modelled sort-by column: its encoder's index in the table encoding and its code parts."""

    name: str
    encoder_index: int
    parts: Tuple[int, ...]


def sort_columns(encoding: TableEncoding) -> List[SortColumn]:
    """The table's modelled sort-by columns, in `sort_by` order."""
    table = encoding.table
    assert isinstance(table, SequentialTable)
    found: Dict[str, SortColumn] = {}
    position = 0
    for index, encoder in enumerate(encoding.encoders):
        width = len(encoder.code_parts())
        if encoder.column in table.sort_by:
            found[encoder.column] = SortColumn(encoder.column, index, tuple(range(position, position + width)))
        position += width
    return [found[name] for name in table.sort_by if name in found]


def _unit_integer(encoder: Any) -> bool:
    """Whether values of the column are whole numbers in their unit (epochs, days, integers)."""
    return not (isinstance(encoder, NumericEncoder) and encoder.kind == "float")


def sort_values(encoding: TableEncoding, column: SortColumn, series: pd.Series) -> np.ndarray:
    """The column's values as float64 numbers: epochs in the column's unit for dates and datetimes (NaN for
    null)."""
    encoder = encoding.encoders[column.encoder_index]
    if isinstance(encoder, (DatetimeEncoder, SplitDatetimeEncoder)):
        return to_epochs(to_datetime64(series, encoder.source.format, encoder.where), encoder.source.unit)
    return numeric_values(series, where(encoding.table_name, column.name), False)


def history_order(history: np.ndarray, keys: Sequence[np.ndarray]) -> np.ndarray:
    """Row order storing histories one after another (by owner row), each sorted by `keys` (nulls last; ties
    keep source order); rows with no owner (-1) are left out."""
    frame = pd.DataFrame({f"k{i}": key for i, key in enumerate([history, *keys])})
    frame = frame[frame["k0"] >= 0]
    return frame.sort_values(list(frame.columns), kind="mergesort", na_position="last").index.to_numpy()


def gap_table(
    table: SequentialTable, encoding: TableEncoding, columns: Sequence[SortColumn], n_bins: int
) -> TabularTable:
    """The derived table of gaps: `<column>:gap` per modelled sort-by column, holding log(1 + gap) (gap in the
    column's unit) in `n_bins` quantile bins: gaps are usually skewed, many short and a few long, and a value
    decoded uniformly within its bin on the log scale keeps that shape inside wide bins. `columns` must not
    be empty."""
    gap_columns = [
        FloatColumn(name=column.name + GAP_SUFFIX, n_bins=n_bins, bin_strategy=BinningStrategyType.QUANTILE)
        for column in columns
    ]
    return TabularTable(name=table.name, columns=gap_columns)


class GroupCharges:
    """A view of `ledger` for mechanisms run at epsilon / `group` on rows of which one history may hold
    `group`: each charge is recorded as group privacy (epsilon and sensitivity times the group, a delta
    times group e^epsilon). Everything else (the noise source, say) is the ledger's own."""

    def __init__(self, ledger: BudgetLedger, group: int) -> None:
        self._ledger = ledger
        self._group = int(group)

    def charge(self, *, epsilon: float, sensitivity: float, detail: Any = None, delta: float = 0.0, **fields: Any):
        group = self._group
        if isinstance(detail, str):
            detail = {"description": detail}
        detail = dict(detail or {}, group_size=group, unit="one owner's history (group privacy)")
        extra = {"delta": float(delta) * group * math.exp(float(epsilon) * group)} if delta else {}
        return self._ledger.charge(
            epsilon=float(epsilon) * group, sensitivity=float(sensitivity) * group, detail=detail, **fields, **extra
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)


def fit_grouped_encoding(
    frame: pd.DataFrame,
    table: Any,
    params: ProcessingParams,
    *,
    processing_epsilon: Optional[float],
    group: int,
    rng: np.random.Generator,
    ledger: BudgetLedger,
    table_name: str,
) -> TableEncoding:
    """`fit_table_encoding` whose DP preprocessing protects a group of `group` rows (one history): each
    mechanism runs at processing_epsilon / group for one row, which is processing_epsilon for the group
    (group privacy), and is charged as such through `GroupCharges`. Without processing_epsilon nothing is
    charged."""
    if processing_epsilon is None:
        return fit_table_encoding(
            frame, table, params, processing_epsilon=None, rng=rng, ledger=ledger, table_name=table_name
        )
    return fit_table_encoding(
        frame,
        table,
        params,
        processing_epsilon=processing_epsilon / group,
        rng=rng,
        ledger=GroupCharges(ledger, group),  # type: ignore[arg-type]
        table_name=table_name,
    )


@dataclass
class SequentialFit:
    """A sequential table's fitted parts (the length model is the degree model, fitted by the caller)."""

    encoding: TableEncoding
    gaps: TableEncoding
    model: sequential.SequenceModel
    n_rows: int


def fit_sequential_table(
    frame: pd.DataFrame,
    table: SequentialTable,
    params: ProcessingParams,
    owner_index: np.ndarray,
    owner_codes: np.ndarray,
    owner_sizes: Sequence[int],
    owner_hierarchies: Sequence[Sequence[np.ndarray]],
    *,
    epsilon: float,
    processing_epsilon: Optional[float],
    cap: int,
    window_size: int,
    n_predict: int,
    max_owner_columns: int,
    settings: Dict[str, Any],
    rng: np.random.Generator,
    ledger: BudgetLedger,
    owner_table: str,
) -> SequentialFit:
    """Encode the table (and its gaps) and fit its first-row and step networks (`sequential.fit_sequences`);
    `owner_index` is each row's owner row (-1: none), `owner_codes` the owner table's codes."""
    group = max(int(cap), 1)
    n_modelled = sum(
        1 for column in table.columns if column.type in ("category", "integer", "float", "bool", "datetime", "date")
    )
    n_sort = sum(1 for name in table.sort_by if table.column(name).type != "id")
    shares = (None, None)
    if processing_epsilon is not None:
        total = max(n_modelled + n_sort, 1)
        shares = (processing_epsilon * n_modelled / total, processing_epsilon * n_sort / total)
    encoding = fit_grouped_encoding(
        frame, table, params, processing_epsilon=shares[0], group=group, rng=rng, ledger=ledger, table_name=table.name
    )
    columns = sort_columns(encoding)
    keys = [sort_values(encoding, column, frame[column.name]) for column in columns]
    order = history_order(np.asarray(owner_index), keys)
    history = np.asarray(owner_index)[order]
    position = sequential.history_positions(history)
    later = position > 0
    values = np.column_stack([key[order] for key in keys]) if keys else np.zeros((len(order), 0))
    gap_values = np.full(values.shape, np.nan)
    gap_values[1:] = values[1:] - values[:-1]
    n_step_columns = len(encoding.domain_sizes) - sum(len(column.parts) for column in columns) + len(columns)
    n_bins = sequential.gap_bins(params.n_bins, int(later.sum()), cap, epsilon, n_step_columns)
    derived = gap_table(table, encoding, columns, n_bins) if columns else None
    gap_frame = pd.DataFrame(
        {c.name + GAP_SUFFIX: np.log1p(np.maximum(gap_values[later, i], 0.0)) for i, c in enumerate(columns)}
    )
    gaps = (
        fit_grouped_encoding(
            gap_frame,
            derived,
            params,
            processing_epsilon=shares[1],
            group=group,
            rng=rng,
            ledger=ledger,
            table_name=table.name,
        )
        if columns
        else TableEncoding(TabularTable(name=table.name, columns=[FloatColumn(name=GAP_SUFFIX)]), [], False, 0)
    )
    gap_codes = np.zeros((len(order), len(columns)), dtype=np.int64)
    if columns:
        gap_codes[later] = gaps.encode(gap_frame)
    sorted_frame = frame.iloc[order].reset_index(drop=True)
    table_codes = encoding.encode(sorted_frame)
    model = sequential.fit_sequences(
        table_codes,
        gap_codes,
        history,
        np.asarray(owner_codes, dtype=np.int64)[history],
        table_sizes=encoding.domain_sizes,
        table_hierarchies=encoding.hierarchies(),
        table_ordinal=encoding.ordinal,
        table_names=encoding.modelled_columns,
        sort_parts=[part for column in columns for part in column.parts],
        gap_sizes=gaps.domain_sizes,
        gap_hierarchies=gaps.hierarchies(),
        gap_names=gaps.modelled_columns,
        owner_sizes=owner_sizes,
        owner_hierarchies=owner_hierarchies,
        max_owner_columns=max_owner_columns,
        cap=cap,
        window_size=window_size,
        n_predict=n_predict,
        epsilon=epsilon,
        rng=rng,
        ledger=ledger,
        table=table.name,
        owner_table=owner_table,
        **settings,
    )
    return SequentialFit(encoding, gaps, model, len(frame))


def _decode_first(encoder: Any, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if isinstance(encoder, SplitDatetimeEncoder):
        return to_epochs(encoder.decode_datetimes(codes, rng), encoder.source.unit)
    if isinstance(encoder, DatetimeEncoder):
        return to_epochs(encoder.decode_datetimes(codes[:, 0], rng), encoder.source.unit)
    return encoder.domain.decode(codes[:, 0], rng)


def within_range(values: np.ndarray, position: np.ndarray, low: float, high: float) -> np.ndarray:
    """Datetimes kept inside the training range [low, high], in order: a history whose last value passes
    `high` moves earlier as a whole (its gaps unchanged), as far as its first value may go (to `low`); a
    history still passing `high` (longer than the range) has its gaps scaled down to end at `high`. Histories
    of a table that covers a fixed period behave so: the long ones start early and have short gaps."""
    values = np.asarray(values, dtype=np.float64).copy()
    if not len(values):
        return values
    starts = np.flatnonzero(position == 0)
    lengths = np.diff(np.r_[starts, len(values)])
    first, last = values[starts], values[starts + lengths - 1]
    overflow = np.nan_to_num(np.maximum(last - high, 0.0))
    room = np.nan_to_num(np.maximum(first - low, 0.0))
    shift = np.minimum(overflow, room)
    first, last = first - shift, last - shift
    span = last - first
    factor = np.where((last > high) & (span > 0), (high - first) / np.where(span > 0, span, 1.0), 1.0)
    start_values = np.repeat(first, lengths)
    values = start_values + (values - np.repeat(shift, lengths) - start_values) * np.repeat(factor, lengths)
    return np.minimum(values, high)


def _low(encoder: Any) -> float:
    if isinstance(encoder, SplitDatetimeEncoder):
        return float(encoder.value_range[0])
    return float(encoder.domain.value_range[0])


def _high(encoder: Any) -> float:
    if isinstance(encoder, SplitDatetimeEncoder):
        return float(encoder.value_range[1])
    return float(encoder.domain.value_range[1])


def history_frame(
    fitted: SequentialFit, histories: sequential.Histories, start_index: int, rng: np.random.Generator
) -> Tuple[pd.DataFrame, np.ndarray]:
    """The generated rows of `histories` as a frame (every schema column; foreign keys left null) and their
    table codes (sort-by parts re-encoded from the rebuilt values). Sort-by values: the first row's value
    decoded from its codes, then plus each gap (>= 0) in turn; datetimes stay inside the training range
    (`within_range`)."""
    encoding, codes = fitted.encoding, histories.table_codes.copy()
    columns = sort_columns(encoding)
    values: Dict[str, np.ndarray] = {}
    later = histories.position > 0
    for index, column in enumerate(columns):
        encoder = encoding.encoders[column.encoder_index]
        first = np.full(len(codes), np.nan)
        first_rows = ~later
        first[first_rows] = _decode_first(encoder, codes[first_rows][:, list(column.parts)], rng)
        gaps = np.full(len(codes), np.nan)
        gap_encoder = fitted.gaps.encoders[index]
        gaps[later] = np.expm1(gap_encoder.domain.decode(histories.gap_codes[later, index], rng))
        if _unit_integer(encoder):
            gaps = np.round(gaps)
        column_values = sequential.cumulative_values(first, gaps, histories.position)
        column_values[later & np.isnan(gaps)] = np.nan  # a null gap is a null value (the next rows go on)
        if isinstance(encoder, (DatetimeEncoder, SplitDatetimeEncoder)):
            column_values = within_range(column_values, histories.position, _low(encoder), _high(encoder))
            datetimes = from_epochs(column_values, encoder.source.unit)
            codes[:, list(column.parts)] = encoder.encode_columns(pd.Series(datetimes))
            values[column.name] = encoder.present(datetimes)
        else:
            if _unit_integer(encoder):
                column_values = np.round(column_values)
            codes[:, list(column.parts)] = encoder.domain.encode(column_values)[:, None]
            series = pd.Series(column_values, name=column.name)
            values[column.name] = series.astype("Int64") if encoder.kind == "integer" else series
    frame = encoding.generate(codes, start_index, rng)
    for name, series in values.items():
        frame[name] = series.reset_index(drop=True)
    return frame, codes


def generate_for_owners(
    fitted: SequentialFit, lengths: np.ndarray, owner_codes: np.ndarray, start_index: int, rng: np.random.Generator
) -> Tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(frame, table codes, owner row of each generated row): the histories of owners with `lengths` (the length
    model's draw, clipped to the cap) and codes `owner_codes` (the owner table's code columns), rows stored
    owner after owner, each history in order."""
    model = fitted.model
    lengths = np.minimum(np.asarray(lengths, dtype=np.int64), model.cap)
    owner = np.asarray(owner_codes, dtype=np.int64)[:, list(model.owner_columns)]
    histories = sequential.sample_histories(model, lengths, owner, rng)
    frame, codes = history_frame(fitted, histories, start_index, rng)
    return frame, codes, histories.sequence


def named_edges(fitted: SequentialFit, owner_table: str, owner_names: Sequence[str]) -> List[Dict[str, Any]]:
    """The two networks' edges with column names (owner columns as `<owner>.<column>`, lag features by name),
    for `hazy inspect`."""
    model = fitted.model
    owners = [f"{owner_table}.{owner_names[j]}" for j in model.owner_columns]
    edges = []
    for network, names in (
        ("first_row", list(fitted.encoding.modelled_columns) + owners + ["length"]),
        ("step", list(model.layout.step_names) + owners + model.layout.feature_names + ["remaining"]),
    ):
        n_child = model.n_table_columns if network == "first_row" else model.layout.n_step
        for child, parents in (model.first if network == "first_row" else model.step).network_edges():
            if child < n_child:
                edges.append({"network": network, "child": names[child], "parents": [names[p] for p in parents]})
    return edges


def summary(data: Dict[str, Any]) -> Dict[str, Any]:
    """What `hazy inspect` shows of a sequential table's model (from its manifest entry)."""
    model = data["model"]
    return {
        "window_size": model["window_size"],
        "n_predict": model["n_predict"],
        "length_cap": model["cap"],
        "step_columns": list(model["step_names"]),
        "lag_features": list(model["lag_features"]),
    }


def fitted_to_json(fitted: SequentialFit) -> Dict[str, Any]:
    return {"model": fitted.model.to_json(), "gaps": fitted.gaps.to_json()}


def fitted_arrays(fitted: SequentialFit) -> Dict[str, np.ndarray]:
    arrays = {f"model.{k}": v for k, v in fitted.model.arrays().items()}
    arrays.update({f"gaps.{k}": v for k, v in fitted.gaps.arrays().items()})
    return arrays


def fitted_from_parts(
    data: Dict[str, Any], arrays: Dict[str, np.ndarray], encoding: TableEncoding, n_rows: int
) -> SequentialFit:
    def part(prefix: str) -> Dict[str, np.ndarray]:
        return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

    return SequentialFit(
        encoding,
        TableEncoding.from_parts(data["gaps"], part("gaps.")),
        sequential.SequenceModel.from_parts(data["model"], part("model.")),
        n_rows,
    )
