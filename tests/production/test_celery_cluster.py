"""Airflow as a team runs it in production: api-server, scheduler, dag-processor, a Celery worker.

The metadata database is a fresh PostgreSQL database, the broker the Redis at 127.0.0.1:6379, the
executor the CeleryExecutor; the DAG is triggered through the REST API with a `conf`, exactly as the
trigger form in the UI does. The target rows are compared with a `dag.test()` run of the same DAG file
and seed (run against the same metadata database before the scheduler starts).

`run_in_production` is parameterised by DAG file, dag_id, conf and a check, so the same harness runs
`dags/hazy_ui_trigger.py` once that DAG exists (see `docs/production.md`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

import pytest
import sqlalchemy as sa
from airflow_cluster import AirflowCluster

from airflow_provider_hazy.core.noise import REPRODUCIBLE_NOISE_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]
PROBE_DAG = Path(__file__).with_name("probe_dag.py")
HAZY_UI_TRIGGER = REPO_ROOT / "dags" / "hazy_ui_trigger.py"
REFERENCE_LOGICAL_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)
PRODUCTION_LOGICAL_DATE = datetime(2026, 1, 2, tzinfo=timezone.utc)

# dag.test() of one DAG from a file, with a conf: the in-process reference run (no scheduler, no worker).
DAG_TEST_SCRIPT = """
import json, sys
from datetime import datetime
from airflow.dag_processing.dagbag import DagBag
path, dag_id, conf, logical_date = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
bag = DagBag(dag_folder=path)
if bag.import_errors:
    sys.exit(f"import errors: {bag.import_errors}")
run = bag.get_dag(dag_id).test(run_conf=conf, logical_date=datetime.fromisoformat(logical_date))
print("dag.test() state:", run.state)
sys.exit(0 if str(run.state) in ("success", "DagRunState.SUCCESS") else 1)
"""


@dataclass
class ProductionRun:
    """What a check gets: the finished DAG run, its task instances and the cluster (logs, queue)."""

    dag_run: Dict[str, Any]
    task_instances: List[Dict[str, Any]]
    reference_task_instances: List[Dict[str, Any]]  # of the dag.test() run, when there was one
    cluster: AirflowCluster
    seconds: Dict[str, float]

    def mapped(self, task_id: str, reference: bool = False) -> List[Dict[str, Any]]:
        """The instances of `task_id` (of the production run, or of the dag.test() run), by map_index."""
        instances = self.reference_task_instances if reference else self.task_instances
        return sorted((ti for ti in instances if ti["task_id"] == task_id), key=lambda ti: ti["map_index"])


def run_in_production(
    tmp_path: Path,
    dag_file: Path,
    dag_id: str,
    conf: Mapping[str, Any],
    reference_conf: Optional[Mapping[str, Any]],
    check: Callable[[ProductionRun], None],
    extra_env: Optional[Mapping[str, str]] = None,
    run_timeout: float = 300.0,
) -> ProductionRun:
    """Run `dag_id` from `dag_file` on a real Celery cluster, triggered through the REST API with `conf`.

    When `reference_conf` is given, `dag.test()` runs the same DAG with it first (same metadata database,
    before the scheduler starts). `check` runs inside the cluster's context, so when it fails the tail of
    every Airflow log is printed.
    """
    dags_folder = tmp_path / "dags"
    dags_folder.mkdir()
    shutil.copy(dag_file, dags_folder / dag_file.name)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    env.update(extra_env or {})
    seconds: Dict[str, float] = {}
    start = time.monotonic()
    with AirflowCluster(dags_folder=dags_folder, extra_env=env) as cluster:
        seconds["db_migrate"] = time.monotonic() - start
        if reference_conf is not None:
            cluster.run(
                [sys.executable, "-c", DAG_TEST_SCRIPT, str(dags_folder / dag_file.name), dag_id,
                 json.dumps(dict(reference_conf)), REFERENCE_LOGICAL_DATE.isoformat()],
                log_name="dag-test", timeout=180,
            )
            seconds["dag_test"] = time.monotonic() - start - sum(seconds.values())
        cluster.start()
        cluster.wait_for_dag(dag_id)
        seconds["cluster_up"] = time.monotonic() - start - sum(seconds.values())
        run_id = cluster.trigger(dag_id, conf, logical_date=PRODUCTION_LOGICAL_DATE)
        dag_run = cluster.wait_for_run(dag_id, run_id, timeout=run_timeout)
        seconds["run"] = time.monotonic() - start - sum(seconds.values())
        reference_tis: List[Dict[str, Any]] = []
        if reference_conf is not None:
            runs = cluster.request("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]
            (reference,) = [r for r in runs if r["dag_run_id"] != run_id]
            reference_tis = cluster.task_instances(dag_id, reference["dag_run_id"])
        result = ProductionRun(dag_run, cluster.task_instances(dag_id, run_id), reference_tis, cluster, seconds)
        check(result)
    seconds["total"] = time.monotonic() - start
    print(f"production run timings (s): {json.dumps({k: round(v, 1) for k, v in seconds.items()})}")
    return result


def assert_ran_on_celery(result: ProductionRun, task_id: str, batches: int) -> None:
    """The mapped task ran as `batches` separate task instances, each executed by the Celery worker."""
    states = [(ti["task_id"], ti["map_index"], ti["state"]) for ti in result.task_instances]
    assert result.dag_run["state"] == "success", states
    mapped = result.mapped(task_id)
    assert [ti["map_index"] for ti in mapped] == list(range(batches))
    assert {ti["state"] for ti in mapped} == {"success"}
    # The queue is unique to this cluster and only its Celery worker consumes it.
    assert {ti["queue"] for ti in result.task_instances} == {result.cluster.queue}
    assert all(ti["hostname"] for ti in mapped)
    assert len({ti["id"] for ti in mapped}) == len({ti["pid"] for ti in mapped}) == batches  # separate processes
    # Each task instance (by its id) was received and executed by the Celery worker process.
    executed = set(re.findall(r"Executing workload in Celery: .*?ti=TaskInstanceDTO\(id=UUID\('([0-9a-f-]+)'\)",
                              result.cluster.log_text("celery-worker")))
    missing = [(ti["task_id"], ti["map_index"]) for ti in result.task_instances if ti["id"] not in executed]
    assert not missing, f"not executed by the Celery worker: {missing}"


def read_rows(engine: sa.Engine, table: str) -> List[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(f'SELECT * FROM "{table}" ORDER BY 1, 2'))]


def create_probe_table(engine: sa.Engine, table: str) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text(
            f'CREATE TABLE "{table}" (batch_index integer NOT NULL, row_id integer PRIMARY KEY, '
            "value bigint NOT NULL, label text NOT NULL)"
        ))


@pytest.mark.slow
@pytest.mark.skipif(HAZY_UI_TRIGGER.exists(), reason="the hazy_ui_trigger test runs the same checks on the real DAG")
def test_mapped_dag_runs_on_celery_cluster_like_dag_test(tmp_path, cluster_services, target_engine, fresh_table):
    production_table, reference_table = fresh_table("hz_prod"), fresh_table("hz_ref")
    for table in (production_table, reference_table):
        create_probe_table(target_engine, table)
    batches, rows_per_batch, seed = 3, 40, 20261201
    conf = {"seed": seed, "batches": batches, "rows_per_batch": rows_per_batch, "target_table": production_table}
    target_url = target_engine.url.set(drivername="postgresql")

    def check(result: ProductionRun) -> None:
        assert_ran_on_celery(result, "write_batch", batches)
        rows = read_rows(target_engine, production_table)
        assert len(rows) == batches * rows_per_batch
        assert [r[1] for r in rows] == list(range(batches * rows_per_batch))
        assert rows == read_rows(target_engine, reference_table)  # same seed: same rows as dag.test()

    run_in_production(
        tmp_path, PROBE_DAG, "hazy_cluster_probe", conf,
        reference_conf={**conf, "target_table": reference_table},
        check=check,
        extra_env={"AIRFLOW_CONN_HAZY_PROBE_TARGET": target_url.render_as_string(hide_password=False)},
    )


def read_database(url: sa.URL) -> Dict[str, List[tuple]]:
    """Every table of a database, its rows sorted by all columns."""
    engine = sa.create_engine(url)
    try:
        tables = sa.inspect(engine).get_table_names()
        with engine.connect() as connection:
            return {
                name: sorted(tuple(row) for row in connection.execute(sa.text(f'SELECT * FROM "{name}"')))
                for name in tables
            }
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.skipif(not HAZY_UI_TRIGGER.exists(), reason="dags/hazy_ui_trigger.py is not in this checkout")
def test_hazy_ui_trigger_on_celery_cluster_like_dag_test(tmp_path, cluster_services, fresh_database):
    """The example DAG, triggered through the REST API, writes the rows `dag.test()` writes: the whole
    sample bank (a reference table and three generated tables linked by foreign keys)."""
    production_target, reference_target = fresh_database("hz_prod"), fresh_database("hz_ref")
    tables = ["branches", "customers", "accounts", "transactions"]
    conf = {
        "tables": tables, "epsilon": 1.0, "magnitude": 0.5, "batch_magnitude": 0.25, "random_state": 20261201,
        "target_conn_id": "hazy_prod_target",
    }

    def check(result: ProductionRun) -> None:
        batches = len(result.mapped("generate", reference=True))
        assert batches >= 2, "the dag.test() run should have generated in several mapped batches"
        assert_ran_on_celery(result, "generate", batches)
        produced, expected = read_database(production_target), read_database(reference_target)
        assert set(tables) <= set(produced)
        assert all(produced[name] for name in tables), {name: len(rows) for name, rows in produced.items()}
        assert produced == expected  # same random_state: the same rows as dag.test()
        (validate,) = result.mapped("validate")
        assert validate["state"] == "success"  # keys, types and foreign keys checked in the target

    def conn(url: sa.URL) -> str:
        return url.set(drivername="postgresql").render_as_string(hide_password=False)

    run_in_production(
        tmp_path, HAZY_UI_TRIGGER, "hazy_ui_trigger", conf,
        reference_conf={**conf, "target_conn_id": "hazy_ref_target"},
        check=check,
        extra_env={
            "AIRFLOW_CONN_HAZY_PROD_TARGET": conn(production_target),
            "AIRFLOW_CONN_HAZY_REF_TARGET": conn(reference_target),
            "HAZY_WORK_DIR": str(tmp_path / "hazy-work"),
            # both runs train: the same rows only with the test-only reproducible noise (docs/privacy.md)
            REPRODUCIBLE_NOISE_ENV: "1",
        },
    )
