"""Validation as the rows are written, into PostgreSQL (write-audit-publish, `pipeline.batch_validation`).

Every statement the run sends to the server is recorded where it leaves: each psycopg2 connection the run's
pools open gets a cursor class that notes the SQL of `execute`, `executemany` and `copy_expert` before running
it (observing, not changing, what is sent). A default run reads from its staging only `count(*)`; reading the
output back (`api.validate`) shows up in the same record, so the record would see a read-back. A batch whose
values break the model's domain fails validation, exits 4 and publishes nothing; a mapped run merges the
checks its tasks left beside the state file (a retried batch's replacing the earlier attempt's)."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Iterator, List

import pandas as pd
import psycopg2.extensions
import pytest
import sqlalchemy as sa

from airflow_provider_hazy import api, sample_data
from airflow_provider_hazy.outcome import EXIT_VALIDATION, generation_outcome

pytestmark = pytest.mark.slow
SENT: List[str] = []


class RecordingCursor(psycopg2.extensions.cursor):
    """A psycopg2 cursor that notes the text of every statement it sends."""

    def _note(self, query) -> None:
        if isinstance(query, bytes):
            query = query.decode("utf-8", "replace")
        elif not isinstance(query, str):
            query = query.as_string(self.connection)
        SENT.append(query)

    def execute(self, query, vars=None):
        self._note(query)
        return super().execute(query, vars)

    def executemany(self, query, vars_list):
        self._note(query)
        return super().executemany(query, vars_list)

    def copy_expert(self, sql, file, size=8192):
        self._note(sql)
        return super().copy_expert(sql, file, size)


def _record_cursors(dbapi_connection, _record) -> None:
    if isinstance(dbapi_connection, psycopg2.extensions.connection):
        dbapi_connection.cursor_factory = RecordingCursor


@contextlib.contextmanager
def recorded() -> Iterator[List[str]]:
    """The statements sent by every PostgreSQL connection opened inside the block."""
    SENT.clear()
    sa.event.listen(sa.pool.Pool, "connect", _record_cursors)
    try:
        yield SENT
    finally:
        sa.event.remove(sa.pool.Pool, "connect", _record_cursors)


def row_reads(statements: List[str], tables: List[str]) -> List[str]:
    """The statements that read rows of `tables`: a SELECT naming one of them, or a COPY ... TO STDOUT."""
    names = "|".join(re.escape(name) for name in tables)
    reads = []
    for text in statements:
        flat = " ".join(text.split())
        copy_out = flat.upper().startswith("COPY") and "TO STDOUT" in flat.upper()
        select = flat.upper().startswith("SELECT") and re.search(rf'FROM\s+("?\w+"?\.)?"?({names})\b', flat, re.I)
        if copy_out or select:
            reads.append(flat)
    return reads


@pytest.fixture(scope="module")
def bank_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bank")
    config = sample_data.training_config(model_output=str(folder / "bank.hmf"))
    config["data_sources"] = [{"id": "source", "connection_url": f"sqlite:///{sample_data.sample_database(folder)}"}]
    return api.train(config)


def narrowed_model(model: Path, folder: Path, table: str, column: str, **bounds) -> Path:
    """A copy of `model` whose validation metadata of `table.column` is narrowed: it generates the same rows,
    so the rows outside the new bounds are what a broken batch would hold."""
    loaded = api.load_model(model)
    loaded.manifest["tables"][table]["validation_metadata"]["columns"][column].update(bounds)
    return api.save_model(loaded, folder / f"narrowed_{table}_{column}.hmf")


def _generation(model: Path, engine: sa.Engine, schema: str, state: Path) -> dict:
    config = sample_data.generation_config(model=str(model), batch_magnitude=0.25)
    config["data_sources"] = [{"id": "target", "connection_url": engine.url.render_as_string(hide_password=False)}]
    for item in config["data_output"]:
        item["location"]["schema_name"] = schema
    config["generation_state_path"] = str(state)
    return config


def _tables(engine: sa.Engine, schema: str) -> dict:
    return {name: pd.read_sql_table(name, engine, schema=schema) for name in sample_data.TABLES}


def test_a_default_run_into_postgres_validates_without_reading_the_staging_back(
    bank_model, postgres_engine, postgres_schema, tmp_path
):
    config = _generation(bank_model, postgres_engine, postgres_schema, tmp_path / "state.json")
    with recorded() as sent:
        state = api.generate(config)
    assert state["published"] == {name: "created" for name in sample_data.TABLES}
    assert state["validation"]["passed"] is True, state["validation"]["failures"]
    staging = [f"hzs_{state['run_id']}_{name}" for name in sample_data.TABLES]
    assert any("COPY" in text and "FROM STDIN" in text for text in sent)  # the writes were recorded
    reads = row_reads(sent, staging + list(sample_data.TABLES))
    assert len(reads) == 4 and all(text.upper().startswith("SELECT COUNT(*)") for text in reads), reads
    report = json.loads((tmp_path / "state.validation.json").read_text())
    assert report["checked"] == "in memory, batch by batch (4 batches); row counts read back"

    with recorded() as sent:  # the record sees a read-back: api.validate reads the published tables whole
        read_back = api.validate(config)
    assert len(row_reads(sent, list(sample_data.TABLES))) >= 4
    summary = [(c["check"], c["table"], c["column"], c["violations"]) for c in read_back["checks"]]
    assert summary == [(c["check"], c["table"], c["column"], c["violations"]) for c in report["checks"]]


def test_a_batch_outside_the_category_domain_fails_validation_and_publishes_nothing(
    bank_model, postgres_engine, postgres_schema, tmp_path
):
    published = api.generate(_generation(bank_model, postgres_engine, postgres_schema, tmp_path / "good.json"))
    before = _tables(postgres_engine, postgres_schema)
    segments = before["customers"]["segment"]
    dropped = segments.value_counts().index[-1]  # the rarest segment generated: not in some batches
    model = api.load_model(bank_model)
    categories = model.manifest["tables"]["customers"]["validation_metadata"]["columns"]["segment"]["categories"]
    narrowed = narrowed_model(
        bank_model, tmp_path, "customers", "segment", categories=[c for c in categories if c != dropped]
    )
    config = _generation(narrowed, postgres_engine, postgres_schema, tmp_path / "broken.json")
    with recorded() as sent:
        state = api.generate(config)  # the same rows as the published run (same random_state)
    assert published["validation"]["passed"] and state["validation"]["passed"] is False
    assert generation_outcome(state).exit_code == EXIT_VALIDATION == 4
    report = json.loads((tmp_path / "broken.validation.json").read_text())
    (domain,) = [c for c in report["checks"] if c["check"] == "category_domain" and c["column"] == "segment"]
    assert domain["violations"] == int((segments == dropped).sum()) > 0 and domain["examples"] == [dropped]
    assert [c["check"] for c in report["checks"] if not c["passed"]] == ["category_domain"]
    assert state["published"] is False
    after = _tables(postgres_engine, postgres_schema)
    for name in sample_data.TABLES:
        pd.testing.assert_frame_equal(after[name], before[name], obj=name)
    assert set(sa.inspect(postgres_engine).get_table_names(schema=postgres_schema)) == set(sample_data.TABLES)
    staging = [f"hzs_{state['run_id']}_{name}" for name in sample_data.TABLES]
    assert all(text.upper().startswith("SELECT COUNT(*)") for text in row_reads(sent, staging))


def test_a_mapped_run_merges_its_batches_checks_and_a_retry_replaces_its_result(
    bank_model, postgres_engine, postgres_schema, tmp_path
):
    model = api.load_model(bank_model)
    categories = model.manifest["tables"]["customers"]["validation_metadata"]["columns"]["segment"]["categories"]
    narrowed = narrowed_model(bank_model, tmp_path, "customers", "segment", categories=categories[1:])
    state_path = tmp_path / "mapped" / "state.json"
    good = _generation(bank_model, postgres_engine, postgres_schema, state_path)
    broken = _generation(narrowed, postgres_engine, postgres_schema, state_path)

    run_id = api.generate(good, batch_indices=[])["run_id"]
    for index in range(4):
        api.generate(broken, batch_indices=[index], run_id=run_id)
    with pytest.raises(api.GenerationError, match="failed validation, nothing published.*category_domain"):
        api.publish(broken, run_id)
    assert sorted(sa.inspect(postgres_engine).get_table_names(schema=postgres_schema)) == sorted(
        f"hzm_{run_id}_{name}" for name in sample_data.TABLES
    )  # nothing published; the staging kept for another attempt

    for index in range(4):  # every batch retried: its new checks replace the failed attempt's
        api.generate(good, batch_indices=[index], run_id=run_id)
    batch_file = json.loads((state_path.parent / "state.batch-00002.json").read_text())
    assert set(batch_file["batch_checks"]) == {"2"} and batch_file["run_id"] == run_id
    with recorded() as sent:
        result = api.publish(good, run_id)
    assert result["published"] == {name: "created" for name in sample_data.TABLES}
    assert result["validation"]["passed"] is True, result["validation"]["failures"]
    staging = [f"hzm_{run_id}_{name}" for name in sample_data.TABLES]
    reads = row_reads(sent, staging)
    assert len(reads) == 4 and all(text.upper().startswith("SELECT COUNT(*)") for text in reads), reads
    report = json.loads((state_path.parent / "state.validation.json").read_text())
    assert report["checked"] == "in memory, batch by batch (4 batches, each in its own task); row counts read back"
    read_back = api.validate(good)
    assert [(c["check"], c["table"], c["column"]) for c in read_back["checks"]] == [
        (c["check"], c["table"], c["column"]) for c in report["checks"]
    ]
    segments = pd.read_sql_table("customers", postgres_engine, schema=postgres_schema)["segment"]
    assert (segments == categories[0]).any()  # the broken model's checks would have failed these rows


def test_a_mapped_run_without_every_batch_checks_reads_the_staging_back(
    bank_model, postgres_engine, postgres_schema, tmp_path
):
    state_path = tmp_path / "state.json"
    config = _generation(bank_model, postgres_engine, postgres_schema, state_path)
    run_id = api.generate(config, batch_indices=[])["run_id"]
    for index in range(4):
        api.generate(config, batch_indices=[index], run_id=run_id)
    (tmp_path / "state.batch-00003.json").unlink()  # a task on a worker that does not share the state folder
    with recorded() as sent:
        result = api.publish(config, run_id)
    assert result["validation"]["passed"] is True and result["published"]
    assert json.loads((tmp_path / "state.validation.json").read_text())["checked"] == "read back whole"
    staging = [f"hzm_{run_id}_{name}" for name in sample_data.TABLES]
    assert any(not text.upper().startswith("SELECT COUNT(*)") for text in row_reads(sent, staging))
