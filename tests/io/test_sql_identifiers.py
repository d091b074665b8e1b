"""Table and column names are quoted identifiers, never SQL text; names a database cannot quote are refused."""

import pandas as pd
import pytest
import sqlalchemy as sa

from airflow_provider_hazy.io.sql import (
    InvalidIdentifierError,
    SqlTableWriter,
    check_identifier,
    qualified_name,
    read_sql_table,
)

HOSTILE = [
    'x"; DROP TABLE {victim}; --',
    "x`; DROP TABLE {victim}; --",
    "x'); DROP TABLE {victim}; --",
    "p%s %(name)s %%",
    "Mixed Case Ünïcödé",
    "select",
]


@pytest.fixture
def victim(engine, fresh_table):
    name = fresh_table(engine, prefix="victim")
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE TABLE {name} (a INTEGER)"))
    return name


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_table_and_column_names_are_quoted_safely(engine, victim, template):
    name = template.format(victim=victim)
    frame = pd.DataFrame({name: [1, 2], f"{name} 2": ["a", "b"]})
    if engine.dialect.name == "mysql" and "`" in name:
        with pytest.raises(InvalidIdentifierError, match="backtick"):
            SqlTableWriter(engine, name)
        return
    try:
        with SqlTableWriter(engine, name) as writer:
            writer.write_batch(frame)
            writer.write_batch(frame)
        back = pd.concat(list(read_sql_table(engine, name)), ignore_index=True)
        assert back[name].tolist() == [1, 2, 1, 2]
        assert list(back.columns) == [name, f"{name} 2"]
        assert sa.inspect(engine).has_table(name)
    finally:
        sa.Table(name, sa.MetaData()).drop(engine, checkfirst=True)
    assert sa.inspect(engine).has_table(victim), "the victim table was dropped"


def test_a_nul_byte_is_refused_with_the_name(engine):
    with pytest.raises(InvalidIdentifierError, match=r"table name 'bad\\x00name': contains a NUL byte"):
        SqlTableWriter(engine, "bad\x00name")
    with pytest.raises(InvalidIdentifierError, match="column name"):
        SqlTableWriter(engine, "fine").write_batch(pd.DataFrame({"a\x00b": [1]}))


def test_a_column_name_with_a_nul_byte_leaves_no_table(engine, fresh_table):
    name = fresh_table(engine)
    with pytest.raises(InvalidIdentifierError):
        SqlTableWriter(engine, name).write_batch(pd.DataFrame({"a\x00b": [1]}))
    assert not sa.inspect(engine).has_table(name)


@pytest.mark.parametrize(
    ("database", "too_long"), [("postgres", "é" * 32), ("postgres", "x" * 64), ("mariadb", "x" * 65)]
)
def test_a_name_longer_than_the_database_allows_is_refused(request, database, too_long):
    engine = request.getfixturevalue(f"{database}_engine")
    with pytest.raises(InvalidIdentifierError, match="longer than the"):
        SqlTableWriter(engine, too_long)


def test_the_longest_allowed_name_works(postgres_engine, fresh_table):
    name = fresh_table(postgres_engine)
    longest = name + "x" * (63 - len(name))
    try:
        with SqlTableWriter(postgres_engine, longest) as writer:
            writer.write_batch(pd.DataFrame({"id": [1]}))
        assert sa.inspect(postgres_engine).has_table(longest)
    finally:
        sa.Table(longest, sa.MetaData()).drop(postgres_engine, checkfirst=True)


def test_mariadb_refuses_a_trailing_space(mariadb_engine):
    with pytest.raises(InvalidIdentifierError, match="cannot end with a space"):
        check_identifier(mariadb_engine.dialect, "name ", "table")


def test_copy_identifiers_are_quoted_by_the_dialect(postgres_engine):
    dialect = postgres_engine.dialect
    assert qualified_name(dialect, 'a"b', "my schema") == '"my schema"."a""b"'
    assert qualified_name(dialect, "p%s") == '"p%s"'
    assert qualified_name(dialect, "plain") == "plain"


def test_an_empty_name_is_refused(engine):
    with pytest.raises(InvalidIdentifierError, match="non-empty"):
        SqlTableWriter(engine, "")
