"""Write-audit-publish on real PostgreSQL and MariaDB (and SQLite, local files): a run writes into staging
of its own and publishes at the end, so a second run on the same target is refused naming the holder (or
waits for it) and the target holds exactly one run's rows; a run killed with SIGKILL mid-write leaves the
previous table as it was, and the next run drops the staging it left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import pandas as pd
import pytest
import sqlalchemy as sa

from airflow_provider_hazy import api
from airflow_provider_hazy.config import GenerationConfig, TrainingConfig
from airflow_provider_hazy.io.locks import TargetLockedError

pytestmark = pytest.mark.slow
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def customers_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    config = TrainingConfig.from_file(EXAMPLES / "training.yaml").model_dump(mode="json")
    config["data_input"][0]["location"] = str(EXAMPLES / "customers.csv")
    config["model_output"] = str(folder / "customers.hmf")
    config["evaluation"] = None
    return api.train(config)


@pytest.fixture(params=["postgres", "mariadb", "sqlite"])
def target(request, tmp_path) -> Iterator[Tuple[str, str, Any]]:
    """(url, schema name, engine) of a fresh schema (PostgreSQL), database (MariaDB) or SQLite file."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'target.sqlite'}"
        engine = sa.create_engine(url)
        yield url, None, engine
        engine.dispose()
        return
    engine = request.getfixturevalue(f"{request.param}_engine")
    name = f"hzpub_{uuid.uuid4().hex[:10]}"
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.schema.CreateSchema(name))
        else:
            connection.execute(sa.text(f"CREATE DATABASE `{name}`"))
    yield engine.url.render_as_string(hide_password=False), name, engine
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.schema.DropSchema(name, cascade=True))
        else:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))


def _config(
    model: Path,
    folder: Path,
    schema: Any,
    *,
    random_state: int,
    magnitude: float = 1.0,
    table: str = "customers",
    state: str = "state.json",
) -> Dict[str, Any]:
    config = GenerationConfig.from_file(EXAMPLES / "generation.yaml").model_dump(mode="json")
    config.update(model=str(model), random_state=random_state, generation_state_path=str(folder / state))
    config["generate_params"].update(magnitude=magnitude, batch_magnitude=0.25)
    config["data_sources"] = [{"id": "target"}]
    config["data_output"] = [
        {
            "name": "customers",
            "location": {"source_id": "target", "schema_name": schema, "table_name": table, "if_exists": "replace"},
        }
    ]
    return config


def _rows(engine: sa.Engine, schema: Any, table: str = "customers") -> pd.DataFrame:
    frame = pd.read_sql_table(table, engine, schema=schema)
    return frame.sort_values("customer_id").reset_index(drop=True)


def _tables(engine: sa.Engine, schema: Any) -> set:
    return set(sa.inspect(engine).get_table_names(schema=schema))


def _start(config: Dict[str, Any], folder: Path, url: str) -> subprocess.Popen:
    """`api.generate(config)` in a process of its own (killable), writing through HAZY_CONN_TARGET."""
    path = folder / f"run-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(config))
    env = {**os.environ, "HAZY_CONN_TARGET": url, "PYTHONPATH": str(REPO), "HAZY_LOCK_WAIT": "0"}
    code = f"from airflow_provider_hazy import api; api.generate({str(path)!r})"
    return subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True)


def _wait_for_batches(process: subprocess.Popen, state: Path, count: int, timeout: float = 120) -> Dict[str, Any]:
    """The generation state once `count` batches are written (the state is rewritten after every batch)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else process.returncode
        try:
            found = json.loads(state.read_text())
        except (OSError, ValueError):
            found = None
        if found and sum(len(t["batches"]) for t in found["tables"].values()) >= count:
            return found
        time.sleep(0.02)
    raise AssertionError(f"no {count} batches written within {timeout} s")


def test_a_second_replace_run_is_refused_naming_the_first_and_the_target_holds_one_run(
    customers_model, target, tmp_path, monkeypatch
):
    url, schema, engine = target
    monkeypatch.setenv("HAZY_CONN_TARGET", url)
    first = _config(customers_model, tmp_path, schema, random_state=1, magnitude=3.0, state="first.json")
    second = _config(customers_model, tmp_path, schema, random_state=2, state="second.json")
    reference = _config(customers_model, tmp_path, schema, random_state=1, magnitude=3.0, table="reference")
    running = _start(first, tmp_path, url)
    try:
        holder = _wait_for_batches(running, tmp_path / "first.json", 1)
        with pytest.raises(TargetLockedError, match=f"run {holder['run_id']} is writing this target") as refused:
            api.generate(second, lock_wait=0)
        assert refused.value.holder == holder["run_id"]
        assert running.wait(120) == 0, running.stderr.read()
    finally:
        running.kill()
    api.generate(reference)
    got, want = _rows(engine, schema), _rows(engine, schema, "reference")
    assert len(got) == 3 * 5000
    pd.testing.assert_frame_equal(got, want)
    assert {name for name in _tables(engine, schema) if name.startswith("hz")} == set()


def test_a_second_replace_run_that_may_wait_publishes_after_the_first(customers_model, target, tmp_path, monkeypatch):
    url, schema, engine = target
    monkeypatch.setenv("HAZY_CONN_TARGET", url)
    first = _config(customers_model, tmp_path, schema, random_state=1, magnitude=2.0, state="first.json")
    second = _config(customers_model, tmp_path, schema, random_state=2, state="second.json")
    reference = _config(customers_model, tmp_path, schema, random_state=2, table="reference")
    running = _start(first, tmp_path, url)
    try:
        _wait_for_batches(running, tmp_path / "first.json", 1)
        state = api.generate(second, lock_wait=120)
        assert running.poll() == 0  # it had finished (and published) before the second run took the lock
    finally:
        running.kill()
    assert state["published"] == {"customers": "replaced"}
    api.generate(reference)
    pd.testing.assert_frame_equal(_rows(engine, schema), _rows(engine, schema, "reference"))


def test_sigkill_during_the_write_leaves_the_previous_table_and_the_next_run_drops_the_staging(
    customers_model, target, tmp_path, monkeypatch
):
    url, schema, engine = target
    monkeypatch.setenv("HAZY_CONN_TARGET", url)
    api.generate(_config(customers_model, tmp_path, schema, random_state=1))
    before = _rows(engine, schema)
    doomed = _config(customers_model, tmp_path, schema, random_state=2, magnitude=8.0, state="killed.json")
    killed = _start(doomed, tmp_path, url)
    state = _wait_for_batches(killed, tmp_path / "killed.json", 2)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait(30) == -signal.SIGKILL
    staging = f"hzs_{state['run_id']}_customers"
    assert staging in _tables(engine, schema)  # what the killed run wrote stays in its staging
    assert len(pd.read_sql_table(staging, engine, schema=schema)) >= 2 * 1250
    pd.testing.assert_frame_equal(_rows(engine, schema), before)  # the target is as it was
    assert state["published"] is None  # the state file says the run had not published

    after = api.generate(_config(customers_model, tmp_path, schema, random_state=3))  # the lock was released
    assert after["published"] == {"customers": "replaced"}
    assert {name for name in _tables(engine, schema) if name.startswith("hz")} == set()
    assert len(_rows(engine, schema)) == 5000


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_sigkill_during_a_file_write_leaves_the_previous_file(customers_model, tmp_path, suffix):
    output = tmp_path / "out" / f"customers.{suffix}"

    def config(random_state: int, magnitude: float = 1.0, state: str = "state.json") -> Dict[str, Any]:
        found = _config(customers_model, tmp_path, None, random_state=random_state, magnitude=magnitude, state=state)
        found["data_sources"] = []
        found["data_output"][0]["location"] = {"path": str(output), "if_exists": "replace"}
        return found

    api.generate(config(1))
    before = output.read_bytes()
    killed = _start(config(2, magnitude=8.0, state="killed.json"), tmp_path, "unused")
    state = _wait_for_batches(killed, tmp_path / "killed.json", 2)
    killed.send_signal(signal.SIGKILL)
    killed.wait(30)
    staging = output.parent / f".hzs_{state['run_id']}_{output.name}"
    assert staging.is_dir() and output.read_bytes() == before
    after = api.generate(config(3))
    assert after["published"] == {"customers": "replaced"} and not staging.exists()
    assert output.read_bytes() != before
    assert sorted(p.name for p in output.parent.iterdir()) == [f".{output.name}.hazy-lock", output.name]


def test_a_second_file_run_is_refused_naming_the_first(customers_model, tmp_path):
    output = tmp_path / "out" / "customers.csv"
    first = _config(customers_model, tmp_path, None, random_state=1, magnitude=3.0, state="first.json")
    first["data_sources"] = []
    first["data_output"][0]["location"] = {"path": str(output), "if_exists": "replace"}
    second = {**first, "random_state": 2, "generation_state_path": str(tmp_path / "second.json")}
    running = _start(first, tmp_path, "unused")
    try:
        holder = _wait_for_batches(running, tmp_path / "first.json", 1)
        with pytest.raises(TargetLockedError, match=f"run {holder['run_id']} is writing this target"):
            api.generate(second)
        assert running.wait(120) == 0, running.stderr.read()
    finally:
        running.kill()
    assert len(pd.read_csv(output)) == 3 * 5000


@pytest.fixture(scope="module")
def bank_model(tmp_path_factory) -> Path:
    from airflow_provider_hazy import sample_data

    folder = tmp_path_factory.mktemp("bank")
    config = sample_data.training_config(model_output=str(folder / "bank.hmf"))
    config["data_sources"] = [{"id": "source", "connection_url": f"sqlite:///{sample_data.sample_database(folder)}"}]
    config["evaluation"] = None
    return api.train(config)


@pytest.mark.parametrize("database", ["postgres", "mariadb"])
def test_replacing_tables_with_foreign_keys_swaps_every_table_and_keeps_the_keys_enforced(
    bank_model, database, request, monkeypatch
):
    from airflow_provider_hazy import sample_data

    engine = request.getfixturevalue(f"{database}_engine")
    schema = f"hzpub_{uuid.uuid4().hex[:10]}"
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.schema.CreateSchema(schema))
        else:
            connection.execute(sa.text(f"CREATE DATABASE `{schema}`"))
    monkeypatch.setenv("HAZY_CONN_TARGET", engine.url.render_as_string(hide_password=False))
    try:

        def config(random_state: int) -> Dict[str, Any]:
            found = sample_data.generation_config(model=str(bank_model), batch_magnitude=0.5, random_state=random_state)
            found["data_sources"] = [{"id": "target"}]
            for item in found["data_output"]:
                item["location"]["schema_name"] = schema
            return found

        first = api.generate(config(1))
        assert first["published"] == {name: "created" for name in sample_data.TABLES}
        second = api.generate(config(2))
        assert second["published"] == {name: "replaced" for name in sample_data.TABLES}
        assert set(_tables(engine, schema)) == set(sample_data.TABLES)  # no staging or old table is left
        inspector = sa.inspect(engine)
        referred = {fk["referred_table"] for fk in inspector.get_foreign_keys("accounts", schema=schema)}
        assert referred == {"customers", "branches"}  # the published children reference the published parents
        accounts = pd.read_sql_table("accounts", engine, schema=schema)
        customers = pd.read_sql_table("customers", engine, schema=schema)
        assert accounts["customer_id"].dropna().isin(customers["customer_id"]).all()
        assert len(customers) == second["tables"]["customers"]["rows"]
        with engine.begin() as connection, pytest.raises(sa.exc.IntegrityError):
            table = sa.Table("accounts", sa.MetaData(), autoload_with=connection, schema=schema)
            row = {column.name: None for column in table.columns}
            row.update({"account_id": 10**9, "customer_id": 10**9})
            connection.execute(table.insert().values(**{k: v for k, v in row.items() if v is not None}))
    finally:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(sa.schema.DropSchema(schema, cascade=True))
            else:
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{schema}`"))


def test_append_inserts_the_staging_in_one_transaction_and_fail_refuses_before_generating(
    customers_model, target, tmp_path, monkeypatch
):
    from airflow_provider_hazy.io.sql import TableExistsError

    url, schema, engine = target
    monkeypatch.setenv("HAZY_CONN_TARGET", url)
    config = _config(customers_model, tmp_path, schema, random_state=1)
    config["data_output"][0]["location"]["if_exists"] = "append"
    assert api.generate(config)["published"] == {"customers": "created"}
    offset = {"action": "sql_expression", "column": "customer_id", "expression": "customer_id + 100000"}
    later = {**config, "random_state": 2}
    later["generate_params"] = {
        **config["generate_params"],
        "post_generation": {"tables": [{"table": "customers", "steps": [offset]}]},
    }
    appended = api.generate(later)
    assert appended["published"] == {"customers": "appended"} and appended["validation"]["passed"] is True
    assert len(_rows(engine, schema)) == 2 * 5000
    before = _rows(engine, schema)
    with pytest.raises(api.GenerationError, match="publishing the staging failed, the targets are as they were"):
        api.generate(config)  # the same keys again: the primary key refuses the INSERT ... SELECT
    pd.testing.assert_frame_equal(_rows(engine, schema), before)
    assert json.loads((tmp_path / "state.json").read_text())["published"] is False
    config["data_output"][0]["location"]["if_exists"] = "fail"
    with pytest.raises(TableExistsError, match="already exists and if_exists is 'fail'"):
        api.generate(config)
    assert {name for name in _tables(engine, schema) if name.startswith("hz")} == set()


def test_a_mapped_runs_staging_is_kept_until_it_is_older_than_the_lease(customers_model, tmp_path, monkeypatch):
    from airflow_provider_hazy.io.staging import mapped_run_id

    url = f"sqlite:///{tmp_path / 'target.sqlite'}"
    monkeypatch.setenv("HAZY_CONN_TARGET", url)
    engine = sa.create_engine(url)
    live = f"hzm_{mapped_run_id('dag/live', time.time() - 3600)}_customers"
    expired = f"hzm_{mapped_run_id('dag/expired', time.time() - 25 * 3600)}_customers"
    killed = f"hzs_{mapped_run_id('killed', time.time() - 60)}_customers"
    with engine.begin() as connection:
        for name in (live, expired, killed):
            connection.execute(sa.text(f"CREATE TABLE {name} (customer_id INTEGER)"))
    api.generate(_config(customers_model, tmp_path, None, random_state=1))
    assert _tables(engine, None) == {"customers", live}
    engine.dispose()


@pytest.mark.parametrize("database", ["postgres", "mariadb"])
def test_a_table_named_with_or_without_its_default_schema_takes_one_lock(database, request, monkeypatch):
    from airflow_provider_hazy.config import DatabaseWriteTableConfig
    from airflow_provider_hazy.io.locks import target_locks
    from airflow_provider_hazy.io.sources import DataSources
    from airflow_provider_hazy.io.staging import new_run_id

    engine = request.getfixturevalue(f"{database}_engine")
    monkeypatch.setenv("HAZY_CONN_TARGET", engine.url.render_as_string(hide_password=False))
    default = "public" if engine.dialect.name == "postgresql" else engine.url.database
    table = f"hzlock_{uuid.uuid4().hex[:8]}"
    bare = {"t": DatabaseWriteTableConfig(source_id="target", table_name=table)}
    named = {"t": DatabaseWriteTableConfig(source_id="target", schema_name=default, table_name=table)}
    first, second = new_run_id(), new_run_id()
    with DataSources() as one, DataSources() as other:
        with target_locks(bare, first, one):
            with pytest.raises(TargetLockedError) as refused, target_locks(named, second, other, wait=0.3):
                pass
            if engine.dialect.name == "postgresql":  # MariaDB names the holder by its staging (none here)
                assert refused.value.holder == first
        with target_locks(named, second, other):  # released: free again
            pass
