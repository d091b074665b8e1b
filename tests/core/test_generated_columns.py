"""Generated columns: ids unique across independent batches, Faker people and places, ages, constants."""

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest

from airflow_provider_hazy.config.model_parameters import PrivBayesConfig
from airflow_provider_hazy.config.schema import IdColumn, TabularTable
from airflow_provider_hazy.core.encoding import fit_table_encoding
from airflow_provider_hazy.core.generated_columns import ages, generate_ids, keyed_permutation, pattern_space
from airflow_provider_hazy.core.privacy import BudgetLedger


def fitted(df, *columns):
    table = TabularTable.model_validate({"name": "customers", "columns": list(columns)})
    rng = np.random.default_rng(0)
    return fit_table_encoding(
        df, table, PrivBayesConfig(), processing_epsilon=None, rng=rng, ledger=BudgetLedger(), table_name="customers"
    )


def generate(encoding, n_rows, start_index=0, seed=0):
    codes = np.zeros((n_rows, len(encoding.domain_sizes)), dtype=np.int64)
    return encoding.generate(codes, start_index, np.random.default_rng(seed))


ID_FORMATS = [
    {"name": "id", "type": "id"},
    {"name": "id", "type": "id", "format": "uuid"},
    {"name": "id", "type": "id", "format": "pattern", "pattern": "CUST-{digits:6}"},
    {"name": "id", "type": "id", "format": "pattern", "pattern": "{letters:3}-{hex:4}"},
]


@pytest.mark.parametrize("column", ID_FORMATS, ids=["numerical", "uuid", "digits", "letters-hex"])
def test_ids_are_unique_across_batches_generated_independently(column):
    encoding = fitted(pd.DataFrame({"id": [1, 2, 3]}), column)
    first = generate(encoding, 3000, start_index=0, seed=1)["id"]
    second = generate(encoding, 3000, start_index=3000, seed=2)["id"]
    together = pd.concat([first, second])
    assert together.is_unique and len(together) == 6000


@pytest.mark.parametrize("column", ID_FORMATS, ids=["numerical", "uuid", "digits", "letters-hex"])
def test_an_id_depends_only_on_its_global_row_index(column):
    encoding = fitted(pd.DataFrame({"id": [1, 2, 3]}), column)
    whole = generate(encoding, 100, seed=1)["id"]
    tail = generate(encoding, 40, start_index=60, seed=7)["id"]
    assert whole.iloc[60:].tolist() == tail.tolist()


def test_numerical_ids_count_from_start():
    column = IdColumn(name="id", start=1000)
    assert generate_ids(column, 3, 5, key=1, table="t").tolist() == [1005, 1006, 1007]


def test_uuids_have_the_version_4_layout():
    ids = generate_ids(IdColumn(name="id", format="uuid"), 200, 0, key=3, table="t")
    assert ids.str.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}").all()


def test_pattern_ids_fill_the_placeholders():
    ids = generate_ids(IdColumn(name="id", format="pattern", pattern="C{letters:2}-{digits:3}/{hex:2}"), 50, 0, 9, "t")
    assert ids.str.fullmatch(r"C[A-Z]{2}-\d{3}/[0-9a-f]{2}").all()


def test_pattern_ids_are_not_sequential():
    ids = generate_ids(IdColumn(name="id", format="pattern", pattern="{digits:6}"), 5, 0, key=5, table="t")
    assert ids.tolist() != ["000000", "000001", "000002", "000003", "000004"]


def test_a_pattern_space_can_be_used_up_exactly():
    ids = generate_ids(IdColumn(name="id", format="pattern", pattern="X{digits:2}"), 100, 0, key=5, table="t")
    assert sorted(ids) == [f"X{i:02d}" for i in range(100)]


def test_more_rows_than_a_pattern_holds_is_an_error_naming_table_and_column():
    column = IdColumn(name="code", format="pattern", pattern="A{digits:2}")
    with pytest.raises(ValueError, match=r"table 'orders', column 'code': pattern 'A\{digits:2\}' holds 100"):
        generate_ids(column, 20, 90, key=1, table="orders")


def test_keyed_permutation_is_a_bijection():
    for size in [10, 26**3, 1000]:
        values = keyed_permutation(np.arange(size), size, key=42)
        assert sorted(values.tolist()) == list(range(size))


def test_pattern_space_multiplies_the_placeholders():
    assert pattern_space("{digits:6}") == 10**6 and pattern_space("{letters:2}{hex:1}") == 26 * 26 * 16


UNUSUAL = ["Zyxwvut Qqqqqq", "Xavier Ozymandias-Quux", "zzz.qqq@example.invalid", "Qqqville", "ZZ99 9ZZ"]


@pytest.mark.parametrize("part", ["first_name", "last_name", "full_name", "email"])
def test_person_values_never_come_from_the_source(part):
    encoding = fitted(pd.DataFrame({"who": UNUSUAL * 20}), {"name": "who", "type": "person", "part": part})
    values = generate(encoding, 5000)["who"]
    assert not values.isin(UNUSUAL).any()
    assert values.str.len().min() > 1


@pytest.mark.parametrize("part", ["city", "postcode", "street", "country"])
def test_location_values_never_come_from_the_source(part):
    encoding = fitted(pd.DataFrame({"where": UNUSUAL * 20}), {"name": "where", "type": "location", "part": part})
    values = generate(encoding, 5000)["where"]
    assert not values.isin(UNUSUAL).any()
    assert not values.str.contains("\n").any()


def test_the_person_columns_of_a_row_describe_one_person():
    encoding = fitted(
        pd.DataFrame({"first": ["a"], "full": ["b"], "mail": ["c"]}),
        {"name": "first", "type": "person", "part": "first_name"},
        {"name": "full", "type": "person", "part": "full_name"},
        {"name": "mail", "type": "person", "part": "email"},
    )
    frame = generate(encoding, 200)
    assert all(full.startswith(first + " ") for first, full in zip(frame["first"], frame["full"]))
    assert frame["mail"].str.fullmatch(r"[a-z0-9]+\.[a-z0-9]+@[\w.-]+").all()


def test_people_are_the_same_for_the_same_seed_and_differ_for_another():
    encoding = fitted(pd.DataFrame({"who": ["x"]}), {"name": "who", "type": "person"})
    assert generate(encoding, 50, seed=4)["who"].tolist() == generate(encoding, 50, seed=4)["who"].tolist()
    assert generate(encoding, 50, seed=4)["who"].tolist() != generate(encoding, 50, seed=5)["who"].tolist()


def test_age_is_whole_years_from_the_generated_date_of_birth():
    rng = np.random.default_rng(0)
    dob = pd.Series(rng.integers(-10000, 15000, 300).astype("datetime64[D]")).dt.strftime("%Y-%m-%d")
    encoding = fitted(
        pd.DataFrame({"dob": dob, "age": 0}),
        {"name": "dob", "type": "date"},
        {"name": "age", "type": "age", "dob_column": "dob", "reference_date": "2024-06-15"},
    )
    frame = encoding.generate(encoding.encode(pd.DataFrame({"dob": dob})), 0, np.random.default_rng(1))
    for born, age in zip(pd.to_datetime(frame["dob"]), frame["age"]):
        had_birthday = (born.month, born.day) <= (6, 15)
        assert age == 2024 - born.year - (0 if had_birthday else 1)


def test_age_counts_a_birthday_on_the_reference_date():
    dob = np.array(["2000-06-15", "2000-06-16", "NaT"], dtype="datetime64[D]")
    assert ages(dob, dt.date(2024, 6, 15), "age").tolist() == [24, 23, pd.NA]


def test_a_constant_column_holds_its_value_in_every_row():
    encoding = fitted(pd.DataFrame({"country": ["x"]}), {"name": "country", "type": "constant", "value": "UK"})
    assert generate(encoding, 5)["country"].tolist() == ["UK"] * 5


def test_generated_columns_are_described_without_source_values():
    encoding = fitted(
        pd.DataFrame({"id": [1], "who": ["Zyxwvut Qqqqqq"]}),
        {"name": "id", "type": "id", "format": "pattern", "pattern": "C-{digits:4}"},
        {"name": "who", "type": "person"},
    )
    summary = {row["name"]: row["generated"] for row in encoding.describe()}
    assert summary == {"id": "id pattern 'C-{digits:4}'", "who": "person full_name (Faker, en_GB)"}
    assert not re.search("Zyxwvut", str(encoding.to_json()))


def test_no_rows_build_no_faker_pool_and_draw_the_same_from_rng():
    from airflow_provider_hazy.config.schema import LocationColumn, PersonColumn
    from airflow_provider_hazy.core.generated_columns import POOL_SIZE, FakerPicks

    columns = [
        PersonColumn.model_validate({"name": "who", "type": "person", "part": "full_name"}),
        LocationColumn.model_validate({"name": "town", "type": "location", "part": "city"}),
    ]
    used = np.random.default_rng(3)
    picks = FakerPicks(0, used)
    for column in columns:
        got = picks.column(column)
        assert len(got) == 0 and got.name == column.name
    expected = np.random.default_rng(3)
    for _ in columns:  # a pool seed and the (empty) row picks, as with rows
        expected.integers(2**63)
        expected.integers(0, POOL_SIZE, 0)
    assert used.bit_generator.state == expected.bit_generator.state
    assert len(FakerPicks(4, np.random.default_rng(3)).column(columns[0])) == 4
