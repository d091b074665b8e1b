"""Table encoding: prepare_frame, round trips of every modelled type, serialisation, determinism, errors."""

import datetime as dt
import io
import json
import re

import numpy as np
import pandas as pd
import pytest

from airflow_provider_hazy.config.model_parameters import PrivBayesConfig
from airflow_provider_hazy.config.schema import TabularTable
from airflow_provider_hazy.core.domains import MIN_CATEGORY_COUNT
from airflow_provider_hazy.core.encoding import TableEncoding, fit_table_encoding, prepare_frame
from airflow_provider_hazy.core.noise import ReproducibleNoise
from airflow_provider_hazy.core.privacy import BudgetLedger


def make_table(*columns, name="orders"):
    return TabularTable.model_validate({"name": name, "columns": list(columns)})


def fit(df, table, seed=0, processing_epsilon=None, ledger=None, **params):
    return fit_table_encoding(
        df,
        table,
        PrivBayesConfig(**params),
        processing_epsilon=processing_epsilon,
        rng=np.random.default_rng(seed),
        ledger=ledger if ledger is not None else BudgetLedger(noise=ReproducibleNoise(seed)),
        table_name=table.name,
    )


def round_trip(df, table, seed=1, **params):
    """(encoding, codes of df, decoded frame, codes of the decoded frame)."""
    encoding = fit(df, table, **params)
    codes = encoding.encode(df)
    decoded = encoding.decode(codes, np.random.default_rng(seed))
    return encoding, codes, decoded, encoding.encode(decoded)


@pytest.fixture
def mixed():
    rng = np.random.default_rng(7)
    n = 400
    frame = pd.DataFrame(
        {
            "order_id": np.arange(n),
            "segment": rng.choice(["retail", "business", "premium"], n),
            "quantity": pd.array(rng.integers(1, 50, n), dtype="Int64"),
            "amount": rng.gamma(2.0, 50.0, n).round(2),
            "paid": pd.array(rng.random(n) < 0.6, dtype="boolean"),
            "ordered_on": pd.Series(rng.integers(18000, 19000, n).astype("datetime64[D]")).dt.strftime("%d/%m/%Y"),
            "shipped_at": pd.Series(rng.integers(1.6e9, 1.7e9, n).astype("datetime64[s]")),
        }
    )
    for column in ["segment", "quantity", "amount", "paid", "ordered_on", "shipped_at"]:
        frame.loc[rng.random(n) < 0.1, column] = None
    table = make_table(
        {"name": "order_id", "type": "id"},
        {"name": "segment", "type": "category"},
        {"name": "quantity", "type": "integer"},
        {"name": "amount", "type": "float"},
        {"name": "paid", "type": "bool"},
        {"name": "ordered_on", "type": "date"},
        {"name": "shipped_at", "type": "datetime"},
    )
    return frame, table


# prepare_frame -----------------------------------------------------------------------------------------------


def test_prepare_frame_keeps_schema_columns_in_schema_order():
    table = make_table({"name": "b", "type": "integer"}, {"name": "a", "type": "category"})
    frame = prepare_frame(pd.DataFrame({"a": ["x"], "extra": [1], "b": [2]}), table)
    assert list(frame.columns) == ["b", "a"]


def test_prepare_frame_names_table_and_column_of_a_missing_column():
    table = make_table({"name": "amount", "type": "float"})
    with pytest.raises(ValueError, match="table 'orders', column 'amount'"):
        prepare_frame(pd.DataFrame({"other": [1.0]}), table)


def test_prepare_frame_strips_strings_and_turns_empty_strings_into_nulls():
    table = make_table({"name": "city", "type": "category"})
    frame = prepare_frame(pd.DataFrame({"city": [" Leeds ", "", "  ", None]}), table, strip_strings=True)
    assert frame["city"].iloc[0] == "Leeds"
    assert frame["city"].iloc[1:].isna().all()


def test_prepare_frame_keeps_empty_strings_unless_asked():
    table = make_table({"name": "city", "type": "category"})
    frame = prepare_frame(pd.DataFrame({"city": [" Leeds", ""]}), table, empty_strings_as_null=False)
    assert frame["city"].tolist() == [" Leeds", ""]


def test_prepare_frame_leaves_non_strings_of_a_mixed_column_alone():
    table = make_table({"name": "code", "type": "category"})
    frame = prepare_frame(pd.DataFrame({"code": pd.Series([" a ", 7, ""], dtype=object)}), table, strip_strings=True)
    assert frame["code"].iloc[0] == "a" and frame["code"].iloc[1] == 7 and pd.isna(frame["code"].iloc[2])


# Round trips -------------------------------------------------------------------------------------------------


def test_categories_and_nulls_survive_a_round_trip():
    table = make_table({"name": "segment", "type": "category"})
    df = pd.DataFrame({"segment": ["a", "b", None, "c", "a", None] * MIN_CATEGORY_COUNT})
    encoding, codes, decoded, _ = round_trip(df, table)
    assert encoding.null_codes == [0]
    assert decoded["segment"].tolist()[:2] == ["a", "b"]
    assert decoded["segment"].isna().tolist() == df["segment"].isna().tolist()
    assert decoded["segment"].fillna("<null>").tolist() == df["segment"].fillna("<null>").tolist()


def test_integer_codes_are_null_then_bins_in_order():
    table = make_table({"name": "quantity", "type": "integer"})
    df = pd.DataFrame({"quantity": [None, 1, 5, 9, 3]})
    encoding = fit(df, table, n_bins=4)
    codes = encoding.encode(df)[:, 0]
    assert encoding.null_codes == [0] and encoding.ordinal == [True]
    assert codes[0] == 0
    assert 0 < codes[1] < codes[4] < codes[2] < codes[3]  # 1 < 3 < 5 < 9


def test_integers_decode_to_integers_in_their_bin_within_the_training_range():
    rng = np.random.default_rng(3)
    table = make_table({"name": "quantity", "type": "integer"})
    df = pd.DataFrame({"quantity": pd.array(np.where(rng.random(500) < 0.1, None, rng.integers(-40, 900, 500)))})
    df["quantity"] = df["quantity"].astype("Int64")
    _, codes, decoded, recoded = round_trip(df, table, n_bins=7)
    assert str(decoded["quantity"].dtype) == "Int64"
    assert (recoded == codes).all()
    present = decoded["quantity"].dropna()
    assert present.min() >= df["quantity"].min() and present.max() <= df["quantity"].max()


def test_integers_without_nulls_decode_to_int64():
    table = make_table({"name": "quantity", "type": "integer"})
    _, _, decoded, _ = round_trip(pd.DataFrame({"quantity": [1, 2, 3, 40]}), table)
    assert decoded["quantity"].dtype == np.int64


def test_floats_decode_inside_their_bin_and_nulls_stay_null(mixed):
    df, table = mixed
    _, codes, decoded, recoded = round_trip(df[["amount"]], make_table(table.column("amount").model_dump()))
    assert (recoded == codes).all()
    assert decoded["amount"].isna().tolist() == df["amount"].isna().tolist()
    assert decoded["amount"].min() >= df["amount"].min() and decoded["amount"].max() <= df["amount"].max()


def test_bools_and_nulls_survive_a_round_trip():
    table = make_table({"name": "paid", "type": "bool"})
    df = pd.DataFrame({"paid": pd.array([True, False, None, True], dtype="boolean")})
    _, _, decoded, _ = round_trip(df, table)
    assert str(decoded["paid"].dtype) == "boolean"
    assert decoded["paid"].tolist()[:2] == [True, False] and pd.isna(decoded["paid"].iloc[2])


def test_bools_stored_as_text_are_read():
    table = make_table({"name": "paid", "type": "bool"})
    encoding = fit(pd.DataFrame({"paid": ["yes", "No", "TRUE", "0"]}), table)
    assert encoding.encode(pd.DataFrame({"paid": ["yes", "No", "TRUE", "0"]}))[:, 0].tolist() == [1, 0, 1, 0]


def test_text_dates_keep_their_format_and_bins(mixed):
    df, table = mixed
    _, codes, decoded, recoded = round_trip(df, table)
    texts = decoded["ordered_on"].dropna()
    assert texts.str.fullmatch(r"\d{2}/\d{2}/\d{4}").all()
    assert decoded["ordered_on"].isna().tolist() == df["ordered_on"].isna().tolist()
    assert (recoded == codes).all()


def test_text_datetimes_use_the_columns_format_when_given():
    table = make_table({"name": "at", "type": "datetime", "format": "%Y%m%d %H%M"})
    df = pd.DataFrame({"at": ["20200101 1030", "20200315 2359", "20211231 0000"]})
    _, _, decoded, _ = round_trip(df, table)
    assert decoded["at"].str.fullmatch(r"\d{8} \d{4}").all()


def test_typed_datetimes_decode_to_datetimes_in_the_training_range(mixed):
    df, table = mixed
    _, codes, decoded, recoded = round_trip(df, table)
    assert pd.api.types.is_datetime64_dtype(decoded["shipped_at"].dtype)
    present = decoded["shipped_at"].dropna()
    assert present.min() >= df["shipped_at"].min() and present.max() <= df["shipped_at"].max()
    assert (recoded == codes).all()


def test_time_zones_are_kept():
    table = make_table({"name": "at", "type": "datetime"})
    df = pd.DataFrame({"at": pd.date_range("2024-01-01", periods=50, freq="7h", tz="Europe/London")})
    _, _, decoded, _ = round_trip(df, table)
    assert str(decoded["at"].dt.tz) == "Europe/London"


def test_date_objects_decode_to_date_objects():
    table = make_table({"name": "born", "type": "date"})
    df = pd.DataFrame({"born": [dt.date(1980, 1, 2), None, dt.date(1999, 12, 31)]})
    _, _, decoded, _ = round_trip(df, table)
    assert isinstance(decoded["born"].iloc[0], dt.date) and decoded["born"].iloc[1] is None


def test_split_time_models_date_and_time_of_day_as_two_code_columns():
    table = make_table({"name": "at", "type": "datetime"})
    rng = np.random.default_rng(2)
    seconds = rng.integers(18500, 18600, 300) * 86400 + rng.integers(0, 86400, 300)
    seconds[0], seconds[1] = 18500 * 86400, 18600 * 86400 - 1  # whole first and last days: nothing to clip
    stamps = pd.Series(seconds.astype("datetime64[s]"))
    df = pd.DataFrame({"at": stamps.dt.strftime("%Y-%m-%d %H:%M:%S")})
    encoding, codes, decoded, recoded = round_trip(df, table, split_time=True)
    assert encoding.modelled_columns == ["at:date", "at:time"]
    assert codes.shape == (300, 2)
    assert decoded["at"].str.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}").all()
    assert (recoded == codes).all()


def test_values_outside_the_learned_domain_map_to_the_nearest_bin_or_the_other_bucket():
    table = make_table({"name": "n", "type": "float"}, {"name": "c", "type": "category"})
    encoding = fit(pd.DataFrame({"n": np.linspace(0, 10, 50), "c": ["a", "b"] * 24 + ["c", "d"]}), table, max_cat=2)
    codes = encoding.encode(pd.DataFrame({"n": [-100.0, 1000.0], "c": ["zzz", "a"]}))
    assert codes[:, 0].tolist() == [0, encoding.domain_sizes[0] - 1]
    assert codes[0, 1] == encoding.domain_sizes[1] - 1


def test_generate_returns_every_schema_column_in_schema_order(mixed):
    df, table = mixed
    encoding = fit(df, table)
    frame = encoding.generate(encoding.encode(df), 0, np.random.default_rng(0))
    assert list(frame.columns) == [column.name for column in table.columns]
    assert len(frame) == len(df)


# Serialisation and determinism -------------------------------------------------------------------------------


def save_and_load(encoding):
    text = json.dumps(encoding.to_json())
    arrays = {}
    for name, array in encoding.arrays().items():
        assert array.dtype != object
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        buffer.seek(0)
        arrays[name] = np.load(buffer, allow_pickle=False)
    return TableEncoding.from_parts(json.loads(text), arrays)


@pytest.mark.parametrize("split_time", [False, True])
def test_json_and_arrays_round_trip_decodes_identically(mixed, split_time):
    df, table = mixed
    encoding = fit(df, table, split_time=split_time, single_threshold=0.05, max_cat=2)
    loaded = save_and_load(encoding)
    codes = encoding.encode(df)
    assert (loaded.encode(df) == codes).all()
    expected = encoding.generate(codes, 0, np.random.default_rng(5))
    pd.testing.assert_frame_equal(loaded.generate(codes, 0, np.random.default_rng(5)), expected)
    assert loaded.to_json() == encoding.to_json()


def test_the_model_holds_bin_edges_but_no_other_source_value():
    values = np.random.default_rng(8).normal(size=500)
    table = make_table({"name": "x", "type": "float"}, {"name": "who", "type": "person"})
    encoding = fit(pd.DataFrame({"x": values, "who": "Zyxwvut Qqqqqq"}), table, n_bins=10)
    stored = np.concatenate([array.astype(float) for array in encoding.arrays().values()])
    assert set(values) & set(stored) == {values.min(), values.max()}
    assert "Zyxwvut" not in json.dumps(encoding.to_json())


def declared_formats(table):
    """The table with the text date column's format declared, as private preprocessing needs it."""
    columns = [
        column.model_copy(update={"format": "%d/%m/%Y"}) if column.name == "ordered_on" else column
        for column in table.columns
    ]
    return table.model_copy(update={"columns": columns})


def test_private_preprocessing_reads_no_format_or_resolution_off_the_values(mixed):
    df, table = mixed
    with pytest.raises(ValueError, match="declare the column's format"):
        fit(df, table, processing_epsilon=5.0)
    encoding = fit(df, declared_formats(table), processing_epsilon=5.0)
    sources = {e.column: e.source for e in encoding.encoders if hasattr(e, "source")}
    assert sources["ordered_on"].format == "%d/%m/%Y"
    assert all(source.unit in ("D", "s") for source in sources.values())


def test_private_preprocessing_charges_the_category_value_type_and_one_row_cannot_flip_it():
    table = make_table({"name": "grade", "type": "category"})
    whole = pd.DataFrame({"grade": pd.Series([1, 2, 3] * 400, dtype=object)})
    flipped = whole.copy()
    flipped.loc[0, "grade"] = "x"  # one replaced row: pandas now calls the column text
    for frame in (whole, flipped):
        ledger = BudgetLedger()
        encoding = fit(frame, table, processing_epsilon=2.0, ledger=ledger)
        assert encoding.encoders[0].value_type == "int"
        assert any("value type" in entry.detail["description"] for entry in ledger.entries)
    assert fit(flipped, table).encoders[0].value_type == "str"  # without processing_epsilon: read off the values


def test_same_seed_gives_identical_encoders_and_decoded_frames(mixed):
    df, table = mixed
    table = declared_formats(table)  # private preprocessing reads no format off the values
    first = fit(df, table, seed=3, processing_epsilon=5.0)
    second = fit(df, table, seed=3, processing_epsilon=5.0)
    assert first.to_json() == second.to_json()
    for name, array in first.arrays().items():
        assert np.array_equal(array, second.arrays()[name])
    codes = first.encode(df)
    pd.testing.assert_frame_equal(
        first.generate(codes, 0, np.random.default_rng(9)), second.generate(codes, 0, np.random.default_rng(9))
    )


# Metadata and inspection -------------------------------------------------------------------------------------


def test_describe_summarises_each_column(mixed):
    df, table = mixed
    rows = {row["name"]: row for row in fit(df, table, n_bins=8).describe()}
    assert rows["order_id"]["modelled"] is False
    assert rows["segment"]["categories"] == 3
    assert rows["quantity"]["n_bins"] <= 8 and rows["quantity"]["strategy"] == "uniform"
    assert rows["ordered_on"]["format"] == "%d/%m/%Y"


def test_non_private_metadata_records_string_lengths_and_unique_columns():
    table = make_table(
        {"name": "id", "type": "id"}, {"name": "code", "type": "category"}, {"name": "kind", "type": "category"}
    )
    df = pd.DataFrame({"id": [1, 2, 3], "code": ["A1", "B22", "C333"], "kind": ["x", "x", "yy"]})
    encoding = fit(df, table)
    assert encoding.max_string_lengths == {"code": 4, "kind": 2}
    assert encoding.unique_columns == ["id", "code"]


def test_hierarchies_merge_adjacent_bins_and_keep_the_null_code_apart():
    table = make_table({"name": "n", "type": "integer"})
    encoding = fit(pd.DataFrame({"n": [None, 1, 2, 3, 4, 5, 6, 7, 8]}), table, n_bins=8)
    maps = encoding.hierarchies()[0]
    assert maps[0].tolist() == list(range(9))
    assert maps[1].tolist() == [0, 1, 1, 2, 2, 3, 3, 4, 4]


# Errors ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ({"name": "amount", "type": "integer"}, ["1", "2", "lots"], "not numbers"),
        ({"name": "amount", "type": "integer"}, [1.0, 2.5], "non-integer"),
        ({"name": "amount", "type": "float"}, [1.0, np.inf], "infinite"),
        ({"name": "amount", "type": "bool"}, ["yes", "maybe"], "not booleans"),
        ({"name": "amount", "type": "date", "format": "%Y-%m-%d"}, ["2020-01-01", "01/02/2020"], "format"),
        ({"name": "amount", "type": "datetime"}, ["not a date", "nor this"], "date format"),
    ],
)
def test_bad_values_are_errors_naming_table_and_column(column, values, message):
    with pytest.raises(ValueError, match=re.escape("table 'orders', column 'amount': ") + ".*" + message):
        fit(pd.DataFrame({"amount": values}), make_table(column))


def test_codes_outside_a_columns_domain_are_an_error_naming_it():
    table = make_table({"name": "paid", "type": "bool"})
    encoding = fit(pd.DataFrame({"paid": [True, False]}), table)
    with pytest.raises(ValueError, match="column 'paid': codes outside 0..1"):
        encoding.decode(np.array([[0], [2]]), np.random.default_rng(0))
