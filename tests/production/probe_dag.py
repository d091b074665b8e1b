"""A small DAG shaped like `hazy_ui_trigger`, for the production-cluster test while that DAG is elsewhere.

Typed `params` (the trigger form), a task that lists the batches, and a mapped task
`.expand(batch_index=...)` that writes each batch's rows into a PostgreSQL table, derived only from the
seed in `conf` and the batch index, so the same seed gives the same rows however the batches are spread
over workers. A retried batch deletes its own rows first, so a retry never duplicates rows. The target
is the Airflow connection `hazy_probe_target` (AIRFLOW_CONN_HAZY_PROBE_TARGET on the worker).

The test copies this file into the cluster's dags folder; it is not a test module itself.
"""

from __future__ import annotations

import numpy as np
from airflow.sdk import DAG, Connection, Param, task

DAG_ID = "hazy_cluster_probe"
TARGET_CONN_ID = "hazy_probe_target"
LABELS = np.array(["bronze", "silver", "gold"])


def batch_rows(seed: int, batch_index: int, rows_per_batch: int) -> list[tuple[int, int, int, str]]:
    """The rows of one batch: (batch_index, row_id, value, label), from the seed and the batch index only."""
    rng = np.random.default_rng([seed, batch_index])
    values = rng.integers(0, 1_000_000, size=rows_per_batch)
    labels = LABELS[rng.integers(0, len(LABELS), size=rows_per_batch)]
    first = batch_index * rows_per_batch
    return [(batch_index, first + i, int(v), str(lab)) for i, (v, lab) in enumerate(zip(values, labels))]


with DAG(
    dag_id=DAG_ID,
    schedule=None,
    catchup=False,
    params={
        "seed": Param(0, type="integer", description="random_state: the same seed writes the same rows"),
        "batches": Param(3, type="integer", minimum=1, description="number of mapped batches"),
        "rows_per_batch": Param(50, type="integer", minimum=1, description="rows each batch writes"),
        "target_table": Param("hazy_probe", type="string", description="table in the target connection"),
    },
    tags=["hazy", "test"],
) as dag:

    @task
    def list_batches(params=None) -> list[int]:
        return list(range(int(params["batches"])))

    @task
    def write_batch(batch_index: int, params=None) -> dict:
        import psycopg2
        from psycopg2 import sql

        conn = Connection.get(TARGET_CONN_ID)
        rows = batch_rows(int(params["seed"]), batch_index, int(params["rows_per_batch"]))
        table = sql.Identifier(params["target_table"])
        db = psycopg2.connect(host=conn.host, port=conn.port or 5432, user=conn.login, password=conn.password,
                              dbname=conn.schema)
        try:
            with db, db.cursor() as cursor:  # one transaction: the batch's old rows go, its new rows come
                cursor.execute(sql.SQL("DELETE FROM {} WHERE batch_index = %s").format(table), (batch_index,))
                cursor.executemany(
                    sql.SQL("INSERT INTO {} (batch_index, row_id, value, label) VALUES (%s, %s, %s, %s)").format(table),
                    rows,
                )
        finally:
            db.close()
        return {"batch_index": batch_index, "rows": len(rows)}

    write_batch.expand(batch_index=list_batches())
