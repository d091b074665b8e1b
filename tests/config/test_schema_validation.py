"""The data schema and the whole config are validated together: each inconsistency is a ValidationError
naming the table, column or field."""

import re

import pytest
from pydantic import ValidationError

from airflow_provider_hazy.config import DataSchema, GenerationConfig, TrainingConfig


def table(name: str, *columns: dict, **fields) -> dict:
    """A tabular table as a dict (`type` and other fields can be overridden)."""
    return {"name": name, "type": "tabular", "columns": list(columns), **fields}


def id_column(name: str, **fields) -> dict:
    return {"name": name, "type": "id", **fields}


def fk_column(name: str, ref: str) -> dict:
    """A foreign key to `ref`, written `table.column`."""
    ref_table, ref_column = ref.split(".")
    return {"name": name, "type": "foreign_key", "ref_table": ref_table, "ref_column": ref_column}


def column(name: str, type_: str, **fields) -> dict:
    return {"name": name, "type": type_, **fields}


def rejected_naming(message: str):
    """Expect a ValidationError whose message holds `message` verbatim."""
    return pytest.raises(ValidationError, match=re.escape(message))


def schema(*tables: dict) -> DataSchema:
    return DataSchema.model_validate({"tables": list(tables)})


def training(tables: list, inputs: list, **fields) -> TrainingConfig:
    """A training config over `tables`, reading table names `inputs` from CSV files."""
    return TrainingConfig.model_validate(
        {
            "data_schema": {"tables": tables},
            "data_input": [{"name": name, "location": f"{name}.csv"} for name in inputs],
            **fields,
        }
    )


CUSTOMERS = table("customers", id_column("customer_id"), column("segment", "category"))


# Foreign keys


def test_a_foreign_key_to_a_missing_table_names_table_column_and_target():
    orders = table("orders", id_column("order_id"), fk_column("customer_id", "customer.customer_id"))
    with rejected_naming("table 'orders', column 'customer_id': foreign key to unknown table 'customer'"):
        schema(CUSTOMERS, orders)


def test_a_foreign_key_to_a_missing_column_names_table_column_and_target():
    orders = table("orders", id_column("order_id"), fk_column("customer_id", "customers.id"))
    message = "table 'orders', column 'customer_id': foreign key to unknown column 'id' of table 'customers'"
    with rejected_naming(message):
        schema(CUSTOMERS, orders)


def test_a_foreign_key_to_a_non_key_column_is_rejected():
    orders = table("orders", id_column("order_id"), fk_column("segment", "customers.segment"))
    message = (
        "table 'orders', column 'segment': foreign key to 'customers.segment', "
        "which is not a primary key column of 'customers'"
    )
    with rejected_naming(message):
        schema(CUSTOMERS, orders)


def test_a_foreign_key_to_a_part_of_a_composite_key_is_accepted():
    lines = table(
        "order_lines",
        fk_column("order_id", "orders.order_id"),
        id_column("line_id"),
        primary_key=["order_id", "line_id"],
    )
    orders = table("orders", id_column("order_id"))
    refunds = table("refunds", id_column("refund_id"), fk_column("line_id", "order_lines.line_id"))
    assert schema(orders, lines, refunds).table("refunds").foreign_keys[0].ref_table == "order_lines"


def test_a_foreign_key_to_a_table_declared_later_is_accepted():
    orders = table("orders", id_column("order_id"), fk_column("customer_id", "customers.customer_id"))
    assert schema(orders, CUSTOMERS).table_names == ["orders", "customers"]


# Cycles


def test_a_two_table_cycle_of_foreign_keys_is_rejected_naming_both_tables():
    a = table("a", id_column("a_id"), fk_column("b_id", "b.b_id"))
    b = table("b", id_column("b_id"), fk_column("a_id", "a.a_id"))
    with pytest.raises(ValidationError, match=r"cycle of foreign keys: (a -> b -> a|b -> a -> b)"):
        schema(a, b)


def test_a_three_table_cycle_of_foreign_keys_is_rejected_naming_every_table():
    a = table("a", id_column("a_id"), fk_column("b_id", "b.b_id"))
    b = table("b", id_column("b_id"), fk_column("c_id", "c.c_id"))
    c = table("c", id_column("c_id"), fk_column("a_id", "a.a_id"))
    with pytest.raises(ValidationError) as caught:
        schema(a, b, c)
    message = str(caught.value)
    assert "cycle of foreign keys: a -> b -> c -> a" in message


def test_a_cycle_away_from_the_first_table_is_found():
    root = table("root", id_column("root_id"))
    b = table("b", id_column("b_id"), fk_column("root_id", "root.root_id"), fk_column("c_id", "c.c_id"))
    c = table("c", id_column("c_id"), fk_column("b_id", "b.b_id"))
    with pytest.raises(ValidationError, match=r"cycle of foreign keys: (b -> c -> b|c -> b -> c)"):
        schema(root, b, c)


def test_a_table_referencing_itself_is_allowed():
    employees = table("employees", id_column("employee_id"), fk_column("manager_id", "employees.employee_id"))
    assert schema(employees).parents_by_table() == {"employees": []}


def test_a_diamond_of_foreign_keys_is_not_a_cycle():
    accounts = table("accounts", id_column("account_id"))
    left = table("cards", id_column("card_id"), fk_column("account_id", "accounts.account_id"))
    right = table("loans", id_column("loan_id"), fk_column("account_id", "accounts.account_id"))
    payments = table(
        "payments",
        id_column("payment_id"),
        fk_column("card_id", "cards.card_id"),
        fk_column("loan_id", "loans.loan_id"),
    )
    assert schema(accounts, left, right, payments).parents_by_table()["payments"] == ["cards", "loans"]


# Names


def test_a_duplicate_table_name_is_rejected_naming_it():
    with rejected_naming("duplicate table name(s) ['customers']"):
        schema(CUSTOMERS, CUSTOMERS)


def test_a_duplicate_column_name_is_rejected_naming_table_and_column():
    with rejected_naming("table 'customers': duplicate column name(s) ['segment']"):
        schema(table("customers", column("segment", "category"), column("segment", "integer")))


def test_a_table_needs_at_least_one_column():
    with pytest.raises(ValidationError) as caught:
        schema(table("empty"))
    assert caught.value.errors()[0]["loc"] == ("tables", 0, "tabular", "columns")


def test_a_schema_needs_at_least_one_table():
    with pytest.raises(ValidationError) as caught:
        schema()
    assert caught.value.errors()[0]["loc"] == ("tables",)


# Primary keys


def test_a_primary_key_naming_a_missing_column_is_rejected():
    with rejected_naming("table 'customers', primary_key: unknown column 'id'"):
        schema(table("customers", id_column("customer_id"), primary_key=["id"]))


def test_a_primary_key_column_must_be_an_id_or_foreign_key():
    with rejected_naming("table 'customers', primary_key column 'segment': must be an id or foreign_key column"):
        schema(table("customers", column("segment", "category"), primary_key=["segment"]))


def test_a_primary_key_column_listed_twice_is_rejected():
    with rejected_naming("table 'customers', primary_key: a column is listed twice"):
        schema(table("customers", id_column("customer_id"), primary_key=["customer_id", "customer_id"]))


def test_several_id_columns_need_a_primary_key():
    with rejected_naming("table 'customers': several id columns ['a', 'b']; name the key"):
        schema(table("customers", id_column("a"), id_column("b")))


def test_the_single_id_column_is_the_primary_key():
    assert schema(CUSTOMERS).table("customers").key_columns == ["customer_id"]


# Sequential tables


def test_a_sequential_table_without_sequence_id_is_rejected_naming_it():
    events = table("events", id_column("event_id"), column("at", "datetime"), type="sequential", sort_by=["at"])
    with rejected_naming("sequential table 'events': sequence_id is required"):
        schema(events)


def test_a_sequence_id_naming_a_missing_column_is_rejected():
    events = table("events", id_column("event_id"), type="sequential", sequence_id="account_id")
    with rejected_naming("table 'events', sequence_id: unknown column 'account_id'"):
        schema(events)


def test_sort_by_naming_a_missing_column_is_rejected():
    events = table(
        "events",
        id_column("event_id"),
        column("at", "datetime"),
        type="sequential",
        sequence_id="event_id",
        sort_by=["at", "booked_at"],
    )
    with rejected_naming("table 'events', sort_by: unknown column 'booked_at'"):
        schema(events)


def test_a_sequential_table_with_sequence_id_and_sort_by_is_accepted():
    accounts = table("accounts", id_column("account_id"))
    events = table(
        "events",
        id_column("event_id"),
        fk_column("account_id", "accounts.account_id"),
        column("at", "datetime"),
        type="sequential",
        sequence_id="account_id",
        sort_by=["at"],
    )
    assert schema(accounts, events).table("events").sort_by == ["at"]


ACCOUNTS = table("accounts", id_column("account_id"), column("segment", "category"))


def events_table(**fields) -> dict:
    columns = fields.pop(
        "columns",
        [
            id_column("event_id"),
            fk_column("account_id", "accounts.account_id"),
            column("at", "datetime"),
            column("kind", "category"),
        ],
    )
    return table("events", *columns, **{"type": "sequential", "sequence_id": "account_id", "sort_by": ["at"], **fields})


def test_a_sequence_id_that_is_not_a_foreign_key_is_rejected_naming_table_and_column():
    with rejected_naming("sequential table 'events', sequence_id 'kind': must be a foreign_key column"):
        schema(ACCOUNTS, events_table(sequence_id="kind"))


def test_a_sequential_table_without_sort_by_is_rejected():
    with rejected_naming("sequential table 'events', sort_by: name at least one column"):
        schema(ACCOUNTS, events_table(sort_by=[]))


@pytest.mark.parametrize("name", ["kind", "account_id"])
def test_a_sort_by_column_that_cannot_order_rows_is_rejected_naming_it(name):
    with rejected_naming(f"sequential table 'events', sort_by column '{name}': must be a datetime, date, integer"):
        schema(ACCOUNTS, events_table(sort_by=["at", name]))


def test_a_sort_by_column_listed_twice_is_rejected():
    with rejected_naming("sequential table 'events', sort_by: a column is listed twice"):
        schema(ACCOUNTS, events_table(sort_by=["at", "at"]))


def test_a_numerical_id_may_break_ties_in_sort_by():
    assert schema(ACCOUNTS, events_table(sort_by=["at", "event_id"])).table("events").sort_by == ["at", "event_id"]


def test_a_pattern_id_may_not_order_rows():
    columns = [
        id_column("event_id", format="uuid"),
        fk_column("account_id", "accounts.account_id"),
        column("at", "date"),
    ]
    with rejected_naming("sort_by column 'event_id': must be a datetime, date, integer or float column"):
        schema(ACCOUNTS, events_table(columns=columns, sort_by=["at", "event_id"]))


def test_a_sequence_owned_by_a_reference_table_is_rejected():
    reference = {**ACCOUNTS, "type": "reference"}
    with rejected_naming("sequential table 'events', sequence_id 'account_id': its owner table 'accounts' must be"):
        schema(reference, events_table())


# Derived and generated columns


def test_an_age_column_with_a_missing_dob_column_is_rejected_naming_both():
    people = table("people", column("age", "age", dob_column="birth_date", reference_date="2024-01-01"))
    message = (
        "table 'people', column 'age': dob_column 'birth_date' must be a date or datetime column of the same table"
    )
    with rejected_naming(message):
        schema(people)


def test_an_age_column_whose_dob_column_is_not_a_date_is_rejected():
    people = table(
        "people",
        column("birth_date", "category"),
        column("age", "age", dob_column="birth_date", reference_date="2024-01-01"),
    )
    with rejected_naming("dob_column 'birth_date' must be a date or datetime column"):
        schema(people)


@pytest.mark.parametrize("dob_type", ["date", "datetime"])
def test_an_age_column_derived_from_a_date_or_datetime_is_accepted(dob_type):
    people = table(
        "people",
        column("birth_date", dob_type),
        column("age", "age", dob_column="birth_date", reference_date="2024-01-01"),
    )
    assert schema(people).table("people").column("age").dob_column == "birth_date"


@pytest.mark.parametrize("pattern", [None, "CUST-", "CUST-{digits}", "CUST-{digits:0}", "CUST-{words:3}"])
def test_a_pattern_id_without_a_placeholder_is_rejected_naming_the_column(pattern):
    customers = table("customers", id_column("customer_id", format="pattern", pattern=pattern))
    with rejected_naming("column 'customer_id': format 'pattern' needs a pattern with a placeholder") as caught:
        schema(customers)
    assert caught.value.errors()[0]["loc"][:6] == ("tables", 0, "tabular", "columns", 0, "id")


@pytest.mark.parametrize("pattern", ["CUST-{digits:6}", "{letters:3}-{digits:4}", "K{hex:8}"])
def test_a_pattern_id_with_a_placeholder_is_accepted(pattern):
    customers = table("customers", id_column("customer_id", format="pattern", pattern=pattern))
    assert schema(customers).table("customers").column("customer_id").pattern == pattern


# The training config as a whole


def test_data_input_naming_a_table_not_in_the_schema_is_rejected_naming_it():
    with rejected_naming("data_input: table(s) ['orders'] are not in data_schema"):
        training([CUSTOMERS], ["customers", "orders"])


def test_a_schema_table_without_data_input_is_rejected_naming_it():
    orders = table("orders", id_column("order_id"))
    with rejected_naming("data_input: no location for table(s) ['orders'] of data_schema"):
        training([CUSTOMERS, orders], ["customers"])


def test_a_table_with_two_data_inputs_is_rejected_naming_it():
    with rejected_naming("data_input: table(s) ['customers'] listed more than once"):
        training([CUSTOMERS], ["customers", "customers"])


def test_a_data_input_source_id_not_in_data_sources_is_rejected_naming_it():
    config = {
        "data_schema": {"tables": [CUSTOMERS]},
        "data_input": [{"name": "customers", "location": {"source_id": "prod", "table_name": "customers"}}],
        "data_sources": [{"id": "staging"}],
    }
    with rejected_naming("data_input 'customers': source_id 'prod' is not in data_sources ['staging']"):
        TrainingConfig.model_validate(config)


def test_a_model_output_source_id_not_in_data_sources_is_rejected_naming_it():
    with rejected_naming("model_output: source_id 'models' is not in data_sources []"):
        training([CUSTOMERS], ["customers"], model_output={"path": "s3://m/x.hmf", "source_id": "models"})


def test_a_declared_source_id_is_accepted():
    config = {
        "data_schema": {"tables": [CUSTOMERS]},
        "data_input": [{"name": "customers", "location": {"source_id": "prod", "table_name": "customers"}}],
        "data_sources": [{"id": "prod", "conn_id": "postgres_prod"}],
    }
    assert TrainingConfig.model_validate(config).data_sources[0].connection_id == "postgres_prod"


def test_a_duplicate_data_source_id_is_rejected_naming_it():
    with rejected_naming("data_sources: duplicate id(s) ['prod']"):
        training([CUSTOMERS], ["customers"], data_sources=[{"id": "prod"}, {"id": "prod"}])


def test_a_subsetting_target_table_not_in_the_schema_is_rejected_naming_it():
    with rejected_naming("database_subsetting_params.target_table: unknown table 'orders'"):
        training([CUSTOMERS], ["customers"], database_subsetting_params={"target_table": "orders", "fraction": 0.1})


def test_an_evaluation_metric_for_a_table_not_in_the_schema_is_rejected_naming_it():
    evaluation = {"metrics": [{"metric_type": "histogram_similarity", "table": "orders"}]}
    with rejected_naming("evaluation metric 'histogram_similarity': unknown table 'orders'"):
        training([CUSTOMERS], ["customers"], evaluation=evaluation)


def test_schema_errors_are_reported_under_data_schema():
    with pytest.raises(ValidationError) as caught:
        training([CUSTOMERS, CUSTOMERS], ["customers"])
    assert caught.value.errors()[0]["loc"] == ("data_schema",)


# The generation config as a whole


def test_a_data_output_source_id_not_in_data_sources_is_rejected_naming_it():
    output = {"name": "customers", "location": {"source_id": "target", "table_name": "customers"}}
    with rejected_naming("data_output 'customers': source_id 'target' is not in data_sources []"):
        GenerationConfig.model_validate({"data_output": [output]})


def test_a_model_source_id_not_in_data_sources_is_rejected_naming_it():
    config = {"model": {"path": "s3://models/m.hmf", "source_id": "lake"}, "data_output": []}
    with rejected_naming("model: source_id 'lake' is not in data_sources []"):
        GenerationConfig.model_validate(config)


def test_a_generation_state_path_source_id_not_in_data_sources_is_rejected_naming_it():
    config = {"data_output": [], "generation_state_path": {"path": "s3://runs/state.json", "source_id": "lake"}}
    with rejected_naming("generation_state_path: source_id 'lake' is not in data_sources []"):
        GenerationConfig.model_validate(config)


def test_a_table_with_two_data_outputs_is_rejected_naming_it():
    outputs = [{"name": "customers", "location": "a.csv"}, {"name": "customers", "location": "b.csv"}]
    with rejected_naming("data_output: table(s) ['customers'] listed more than once"):
        GenerationConfig.model_validate({"data_output": outputs})


def test_post_generation_for_a_table_not_in_data_output_is_rejected_naming_it():
    post = {"tables": [{"table": "orders", "steps": [{"action": "drop_columns", "columns": ["a"]}]}]}
    config = {
        "data_output": [{"name": "customers", "location": "c.csv"}],
        "generate_params": {"post_generation": post},
    }
    with rejected_naming("post_generation: table 'orders' is not in data_output ['customers']"):
        GenerationConfig.model_validate(config)
