"""Schema inference: each rule on a frame built in the test, table files, the YAML round trip, Northwind."""

import datetime
import sqlite3

import numpy as np
import pandas as pd
import pytest
import yaml
from service_checks import northwind_path

from airflow_provider_hazy import schema_infer
from airflow_provider_hazy.config import DataLocationInput, TrainingConfig
from airflow_provider_hazy.config.enums import IdFormat
from airflow_provider_hazy.config.schema import (
    BoolColumn,
    CategoryColumn,
    ConstantColumn,
    DataSchema,
    DateColumn,
    DatetimeColumn,
    FloatColumn,
    IdColumn,
    IntegerColumn,
    LocationColumn,
    PersonColumn,
)
from airflow_provider_hazy.schema_infer import (
    infer_id_pattern,
    infer_schema,
    infer_schema_from_files,
    infer_schema_with_notes,
    infer_table,
    infer_table_with_notes,
    is_id_name,
    schema_to_yaml,
)


def column_of(values, name="value"):
    """The inferred column of a one-column frame."""
    return infer_table("t", pd.DataFrame({name: values})).columns[0]


# Booleans ---------------------------------------------------------------------------------------------------


def test_bool_dtype_is_bool():
    assert isinstance(column_of([True, False, True]), BoolColumn)


def test_yes_no_text_in_any_case_is_bool():
    assert isinstance(column_of(["Yes", "no", "Y", "n", "TRUE", "f", None]), BoolColumn)


def test_text_with_a_value_outside_the_boolean_words_is_category():
    assert isinstance(column_of(["yes", "no", "maybe"] * 4), CategoryColumn)


# Ids --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["id", "ID", "customer_id", "CustomerID", "customerId", "Customer Id", "uuid"])
def test_names_ending_in_the_word_id_are_id_names(name):
    assert is_id_name(name)


@pytest.mark.parametrize("name", ["paid", "valid", "VOID", "identity", "idea"])
def test_words_merely_ending_in_id_letters_are_not_id_names(name):
    assert not is_id_name(name)


def test_unique_integers_named_id_are_a_numerical_id_starting_at_1():
    column = column_of([10, 11, 12], name="customer_id")
    assert column == IdColumn(name="customer_id", format="numerical", start=1)


def test_whole_floats_named_id_are_a_numerical_id():
    assert column_of([1.0, 2.0, 3.0], name="CustomerID").format == "numerical"


def test_patterned_text_ids_get_their_pattern():
    column = column_of(["ORD-000123", "ORD-004567", "ORD-120001"], name="order_id")
    assert (column.format, column.pattern) == ("pattern", "ORD-{digits:6}")


def test_fixed_shape_of_uppercase_letters_is_a_letters_pattern():
    assert infer_id_pattern(pd.Series(["ALFKI", "ANATR", "BERGS"])) == "{letters:5}"


def test_fixed_shape_of_lowercase_hex_is_a_hex_pattern():
    assert infer_id_pattern(pd.Series(["a3f9-01", "0b1c-02", "77e2-03"])) == "{hex:4}-{digits:2}"


def test_constant_letters_before_varying_digits_stay_literal():
    assert infer_id_pattern(pd.Series(["AB0001", "AB0002", "AB0153"])) == "AB{digits:4}"


def test_text_ids_of_different_lengths_have_no_pattern():
    assert infer_id_pattern(pd.Series(["A1", "B22", "C333"])) is None


def test_text_ids_of_no_fixed_shape_are_uuid():
    assert column_of(["alpha", "Beta", "gamma-2"], name="id").format == "uuid"


def test_canonical_uuid_text_ids_are_uuid():
    values = ["3fa85f64-5717-4562-b3fc-2c963f66afa6", "9b2d6c1e-0a7f-4d3b-8e5a-1f2c3d4e5f60"]
    assert column_of(values, name="id") == IdColumn(name="id", format="uuid")


def test_an_id_named_column_with_a_null_is_not_an_id():
    assert isinstance(column_of([1.0, 2.0, None], name="id"), IntegerColumn)


def test_an_id_named_column_with_repeated_values_is_not_an_id():
    assert isinstance(column_of([1, 2, 2], name="customer_id"), IntegerColumn)


def test_unique_integers_not_named_id_stay_integer():
    assert isinstance(column_of([5, 6, 7], name="quantity"), IntegerColumn)


def test_only_the_first_id_candidate_becomes_the_id():
    frame = pd.DataFrame({"order_id": [1, 2, 3], "customer_id": [7, 8, 9], "product_id": ["A", "B", "C"]})
    table, notes = infer_table_with_notes("orders", frame)
    # an integer key of another table is binned as a number; a text one would copy real keys: left out
    assert [column.type for column in table.columns] == ["id", "integer"]
    assert notes == [
        "table 'orders', column 'product_id': left out (an identifier that is not this table's key: its real "
        "values would be copied into the model)"
    ]


# Numbers ----------------------------------------------------------------------------------------------------


def test_integer_dtype_is_integer():
    assert isinstance(column_of(np.array([3, 1, 4, 1], dtype=np.int32)), IntegerColumn)


def test_floats_holding_whole_numbers_and_nan_are_integer():
    assert isinstance(column_of([1.0, np.nan, 3.0, 3.0]), IntegerColumn)


def test_floats_with_fractions_are_float():
    assert isinstance(column_of([1.5, 2.0, np.nan]), FloatColumn)


def test_a_fraction_outside_the_type_detection_sample_still_makes_a_float(monkeypatch):
    monkeypatch.setattr(schema_infer, "SAMPLE_ROWS", 10)
    values = np.arange(1_000, dtype=np.float64)
    values[-1] = 0.5
    assert isinstance(column_of(values), FloatColumn)


# Dates ------------------------------------------------------------------------------------------------------


def test_date_text_keeps_its_format():
    column = column_of(["25/12/2020", "01/02/2021", None, "31/01/2019"], name="start")
    assert column == DateColumn(name="start", format="%d/%m/%Y")


def test_text_with_times_is_datetime_with_its_format():
    column = column_of(["2021-03-04 10:15:00", "2021-03-05 23:59:59"], name="seen")
    assert column == DatetimeColumn(name="seen", format="%Y-%m-%d %H:%M:%S")


def test_text_with_a_midnight_time_part_is_still_datetime():
    column = column_of(["1996-07-04 00:00:00.000", "1996-07-05 00:00:00.000"], name="ordered")
    assert column == DatetimeColumn(name="ordered", format="%Y-%m-%d %H:%M:%S.%f")


def test_text_numbers_that_look_like_years_are_not_dates():
    assert isinstance(column_of(["5467", "3355", "2021"] * 4), CategoryColumn)


def test_datetime_dtype_at_midnight_is_date():
    assert column_of(pd.to_datetime(["2020-01-01", "2020-06-30"])) == DateColumn(name="value")


def test_datetime_dtype_with_times_is_datetime():
    assert column_of(pd.to_datetime(["2020-01-01 08:00", "2020-06-30 00:00"])) == DatetimeColumn(name="value")


def test_python_date_objects_are_date():
    assert isinstance(column_of([datetime.date(2020, 1, 1), datetime.date(2021, 5, 6)]), DateColumn)


# People and places ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "part"),
    [
        ("email", "email"),
        ("First_Name", "first_name"),
        ("forename", "first_name"),
        ("LastName", "last_name"),
        ("surname", "last_name"),
        ("name", "full_name"),
        ("full_name", "full_name"),
        ("ContactName", "full_name"),
        ("customer_name", "full_name"),
    ],
)
def test_person_columns_are_recognised_by_name(name, part):
    assert column_of(["Ann Lee", "Bo Chan"], name=name) == PersonColumn(name=name, part=part)


@pytest.mark.parametrize(
    ("name", "part"),
    [
        ("City", "city"),
        ("town", "city"),
        ("PostalCode", "postcode"),
        ("post_code", "postcode"),
        ("zip", "postcode"),
        ("address", "street"),
        ("Street", "street"),
        ("country", "country"),
    ],
)
def test_location_columns_are_recognised_by_name(name, part):
    assert column_of(["Leeds 1", "York 2"], name=name) == LocationColumn(name=name, part=part)


def test_a_name_column_of_numbers_is_not_a_person():
    assert isinstance(column_of([1.5, 2.5], name="name"), FloatColumn)


# Constants, categories, left-out columns --------------------------------------------------------------------


def test_one_value_without_nulls_is_a_constant():
    assert column_of(["GBP", "GBP", "GBP"], name="currency") == ConstantColumn(name="currency", value="GBP")


def test_one_value_with_nulls_is_not_a_constant():
    assert isinstance(column_of(["GBP", None, "GBP"], name="currency"), CategoryColumn)


def test_remaining_text_is_category():
    assert isinstance(column_of(["red", "green", "red", None]), CategoryColumn)


def test_binary_column_is_left_out_with_a_note():
    frame = pd.DataFrame({"CategoryID": [1, 2], "Picture": [b"\x89PNG", b"\xff\xd8"]})
    table, notes = infer_table_with_notes("Categories", frame)
    assert [column.name for column in table.columns] == ["CategoryID"]
    assert notes == ["table 'Categories', column 'Picture': left out (binary data)"]


def test_column_of_only_nulls_and_empty_text_is_left_out_with_a_note():
    frame = pd.DataFrame({"amount": [1.5, 2.5], "comment": [None, ""]})
    table, notes = infer_table_with_notes("orders", frame)
    assert [column.name for column in table.columns] == ["amount"]
    assert notes == ["table 'orders', column 'comment': left out (only nulls)"]


def test_table_left_with_no_columns_is_left_out_with_a_note():
    schema, notes = infer_schema_with_notes(
        {"blobs": pd.DataFrame({"data": [b"a", b"b"]}), "kept": pd.DataFrame({"x": [1.5, 2.5]})}
    )
    assert schema.table_names == ["kept"]
    assert notes[-1] == "table 'blobs': left out (no column can be modelled)"


def test_table_with_no_rows_is_left_out_with_a_note():
    schema, notes = infer_schema_with_notes({"empty": pd.DataFrame({"x": []}), "kept": pd.DataFrame({"x": [1, 2]})})
    assert schema.table_names == ["kept"]
    assert notes == ["table 'empty': left out (no rows to learn from)"]


def test_infer_table_names_the_reason_when_nothing_can_be_modelled():
    with pytest.raises(ValueError, match=r"table 'blobs', column 'data': left out \(binary data\)"):
        infer_table("blobs", pd.DataFrame({"data": [b"a", b"b"]}))


def test_no_table_to_model_is_an_error():
    with pytest.raises(ValueError, match="no table can be modelled"):
        infer_schema({"empty": pd.DataFrame({"x": []})})


# Files ------------------------------------------------------------------------------------------------------


def test_csv_gzipped_csv_and_parquet_files_become_tables_named_after_their_stems(tmp_path):
    frame = pd.DataFrame({"id": [1, 2, 3], "price": [1.5, 2.0, 2.5]})
    frame.to_csv(tmp_path / "orders.csv", index=False)
    frame.to_csv(tmp_path / "items.csv.gz", index=False, compression="gzip")
    frame.to_parquet(tmp_path / "prices.parquet", index=False)
    frame.to_parquet(tmp_path / "stock.pq", index=False)
    paths = [tmp_path / name for name in ("orders.csv", "items.csv.gz", "prices.parquet", "stock.pq")]
    schema = infer_schema_from_files([str(path) for path in paths])
    assert schema.table_names == ["orders", "items", "prices", "stock"]
    assert all([c.type for c in table.columns] == ["id", "float"] for table in schema.tables)


def test_two_files_with_the_same_stem_are_an_error(tmp_path):
    frame = pd.DataFrame({"x": [1.5, 2.5]})
    frame.to_csv(tmp_path / "orders.csv", index=False)
    frame.to_parquet(tmp_path / "orders.parquet", index=False)
    with pytest.raises(ValueError, match="table name 'orders'"):
        infer_schema_from_files([tmp_path / "orders.csv", tmp_path / "orders.parquet"])


# YAML -------------------------------------------------------------------------------------------------------


@pytest.fixture
def inferred_schema():
    customers = pd.DataFrame(
        {
            "CustomerID": ["ALFKI", "ANATR", "BERGS"],
            "ContactName": ["Maria Anders", "Ana Trujillo", "Christina Berglund"],
            "joined": ["2020-01-31", "2021-02-01", "2019-12-24"],
            "vip": ["yes", "no", "no"],
            "currency": ["EUR", "EUR", "EUR"],
        }
    )
    orders = pd.DataFrame({"order_id": [1, 2, 3, 4], "amount": [9.5, 3.25, 4.0, 1.0], "items": [1, 2, 2, 5]})
    return infer_schema({"customers": customers, "orders": orders})


def test_yaml_round_trip_gives_an_equal_schema_that_training_accepts(inferred_schema):
    loaded = DataSchema.model_validate(yaml.safe_load(schema_to_yaml(inferred_schema)))
    assert loaded == inferred_schema
    inputs = [DataLocationInput(name=name, location=f"{name}.csv") for name in loaded.table_names]
    assert TrainingConfig(data_schema=loaded, data_input=inputs).data_schema == inferred_schema


def test_yaml_keeps_names_and_types_and_leaves_out_other_defaults(inferred_schema):
    document = yaml.safe_load(schema_to_yaml(inferred_schema))
    orders = document["tables"][1]
    assert list(orders) == ["name", "type", "columns"]
    assert orders["columns"][0] == {"name": "order_id", "type": "id"}
    assert document["tables"][0]["columns"][0] == {
        "name": "CustomerID",
        "type": "id",
        "format": "pattern",
        "pattern": "{letters:5}",
    }


# Northwind --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def northwind_frames():
    with sqlite3.connect(northwind_path()) as connection:
        names = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            )
        ]
        quoted = {name: '"' + name.replace('"', '""') + '"' for name in names}
        return {name: pd.read_sql_query(f"SELECT * FROM {quoted[name]}", connection) for name in names}


def test_northwind_infers_every_table_with_rows_and_notes_blobs_and_empty_tables(northwind_frames):
    schema, notes = infer_schema_with_notes(northwind_frames)
    empty = {"CustomerCustomerDemo", "CustomerDemographics"}
    assert set(schema.table_names) == set(northwind_frames) - empty
    assert "table 'Categories', column 'Picture': left out (binary data)" in notes
    assert "table 'Employees', column 'Photo': left out (binary data)" in notes
    assert {f"table '{name}': left out (no rows to learn from)" for name in empty} <= set(notes)
    assert schema.table("Orders").column("OrderID") == IdColumn(name="OrderID")
    assert schema.table("Employees").column("BirthDate") == DateColumn(name="BirthDate", format="%Y-%m-%d")
    assert DataSchema.model_validate(yaml.safe_load(schema_to_yaml(schema))) == schema


# Identifying columns (issue 13) -----------------------------------------------------------------------------


def left_out_reason(values, name="value"):
    """The note of a one-column frame's column when it is left out, else None."""
    table, notes = infer_table_with_notes("t", pd.DataFrame({"key": range(len(values)), name: values}))
    return next((note for note in notes if f"column '{name}'" in note), None)


def test_text_whose_values_are_nearly_all_distinct_is_the_id_when_it_can_be():
    frame = pd.DataFrame({"case": [f"CR-{i:05d}" for i in range(200)], "court": ["north", "south"] * 100})
    table = infer_table("cases", frame)
    assert table.columns[0] == IdColumn(name="case", format=IdFormat.PATTERN, pattern="CR-{digits:5}")


def test_text_whose_values_are_nearly_all_distinct_is_left_out_when_the_table_has_its_id():
    reason = left_out_reason([f"case {i}" for i in range(95)] + ["case 1"] * 5, name="case_text")
    assert reason is not None and "identifier-like: 95 distinct values in 100 rows" in reason


@pytest.mark.parametrize(
    ("name", "values", "expected"),
    [
        ("contact", [f"user{i}@example.org" for i in range(50)], PersonColumn(name="contact", part="email")),
        ("ShipName", ["Ana Trujillo", "Thomas Hardy"] * 25, PersonColumn(name="ShipName", part="full_name")),
        ("HomeAddress", ["12 Oak Street", "3 Elm Road"] * 25, LocationColumn(name="HomeAddress", part="street")),
        ("ShipPostalCode", ["05021", "12209"] * 25, LocationColumn(name="ShipPostalCode", part="postcode")),
        ("where", ["Obere Str. 57", "120 Hanover Sq."] * 25, LocationColumn(name="where", part="street")),
    ],
)
def test_names_emails_and_addresses_are_person_or_location(name, values, expected):
    assert column_of(values, name=name) == expected


@pytest.mark.parametrize(
    ("name", "values", "reason"),
    [
        ("Phone", ["(171) 555-7788", "030-0074321"] * 25, "phone number"),
        ("contact_no", ["+44 20 7946 0958", "(5) 555-4729"] * 25, "phone number"),
        ("CompanyName", ["Alfreds Futterkiste", "Around the Horn"] * 25, "organisation's name"),
        ("customer_ref", ["ALFKI", "ANATR"] * 25, "identifier that is not this table's key"),
        ("PhotoPath", ["http://accweb/employees/davolio.bmp", "http://accweb/employees/king.bmp"] * 25, "links"),
        ("Notes", [f"Education includes a BA in psychology from Colorado State University in {y}." for y in
                   range(1950, 2000)], "free text"),
    ],
)
def test_phones_organisations_foreign_ids_links_and_free_text_are_left_out_with_the_reason(name, values, reason):
    note = left_out_reason(values, name=name)
    assert note is not None and f"column '{name}': left out (" in note and reason in note


def test_a_category_of_repeated_values_stays_a_category():
    assert isinstance(column_of(["north", "south", "east"] * 20, name="region"), CategoryColumn)


# Countries and cities that many rows share ------------------------------------------------------------------


def located(n_rows: int = 2_000) -> pd.DataFrame:
    """Orders of a made-up shop: a few countries and cities that many rows share, a near-unique address and
    postcode, a near-unique city of delivery, and an address each customer repeats 10 times."""
    rng = np.random.default_rng(7)
    countries = rng.choice(
        ["Germany", "France", "USA", "Brazil", "UK", "Spain", "Italy", "Japan"],
        size=n_rows,
        p=[0.3, 0.2, 0.15, 0.1, 0.1, 0.07, 0.05, 0.03],
    )
    return pd.DataFrame(
        {
            "order_id": np.arange(1, n_rows + 1),
            "ShipCountry": countries,
            "ShipCity": [f"{c} city {k}" for c, k in zip(countries, rng.integers(0, 4, size=n_rows))],
            "ShipAddress": [f"{i} Oak Street" for i in range(n_rows)],
            "PostalCode": [f"{10_000 + i}" for i in range(n_rows)],
            "DeliveryCity": [f"Town {i}" for i in rng.integers(0, 5 * n_rows, size=n_rows)],
            "BillingAddress": [f"{i // 10} Elm Road" for i in range(n_rows)],
        }
    )


def test_countries_and_cities_that_many_rows_share_are_categories_and_addresses_stay_locations():
    table = infer_table("orders", located())
    assert table.column("ShipCountry") == CategoryColumn(name="ShipCountry")
    assert table.column("ShipCity") == CategoryColumn(name="ShipCity")
    assert table.column("ShipAddress") == LocationColumn(name="ShipAddress", part="street")
    assert table.column("PostalCode") == LocationColumn(name="PostalCode", part="postcode")
    assert table.column("DeliveryCity") == LocationColumn(name="DeliveryCity", part="city")  # near-unique
    # every address held by 10 rows: still an address, which names a household however often it repeats
    assert table.column("BillingAddress") == LocationColumn(name="BillingAddress", part="street")


@pytest.mark.parametrize(("rare_rows", "expected"), [(8, "category"), (12, "location")])
def test_a_country_is_a_category_when_values_held_by_five_rows_cover_ninety_percent(rare_rows, expected):
    # 100 rows: 92 (or 88) in 10 countries of 8+ rows each, then 8 (or 12) countries of one row each
    values = [f"country {k % 10}" for k in range(100 - rare_rows)] + [f"rare {k}" for k in range(rare_rows)]
    assert column_of(values, name="Country").type == expected


def test_a_country_held_by_fewer_than_five_rows_each_stays_a_location():
    assert column_of([f"country {k % 30}" for k in range(120)], name="Country").type == "location"


def test_a_frequent_country_of_a_database_is_a_category_and_its_domain_is_private_with_processing_epsilon(tmp_path):
    """With `processing_epsilon` set the category domain of the country is the noisy-threshold one, charged
    in the ledger; the frequent countries survive it and the synthetic mix is the source's."""
    from airflow_provider_hazy import api

    frame = located(4_000)[["order_id", "ShipCountry", "ShipAddress"]]
    frame.to_csv(tmp_path / "orders.csv", index=False)
    schema = infer_schema_from_files([tmp_path / "orders.csv"])
    assert schema.table("orders").column("ShipCountry").type == "category"
    api.train(
        {
            "data_schema": schema.model_dump(mode="json"),
            "data_input": [{"name": "orders", "location": str(tmp_path / "orders.csv")}],
            "model_output": str(tmp_path / "m.hmf"),
            "model_parameters": {"generator": {"epsilon": 1000, "processing_epsilon": 1.0}},
            "evaluation": None,
        }
    )
    ledger = api.inspect_model(tmp_path / "m.hmf")["privacy"]
    assert any("'ShipCountry': category counts (domain discovery" in str(e) for e in ledger["ledger"]["entries"])
    out = tmp_path / "synthetic.csv"
    api.generate({"model": str(tmp_path / "m.hmf"), "data_output": [{"name": "orders", "location": str(out)}]})
    real = frame["ShipCountry"].value_counts(normalize=True)
    synthetic = pd.read_csv(out)["ShipCountry"].value_counts(normalize=True).reindex(real.index, fill_value=0)
    assert float((real - synthetic).abs().sum() / 2) < 0.1
