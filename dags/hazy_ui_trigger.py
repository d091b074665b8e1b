"""hazy_ui_trigger: synthesise on demand, with the knobs in Airflow's trigger form.

Trigger it from the UI ("Trigger DAG" shows a form: one field per param below, with its description),
from the CLI (`airflow dags trigger hazy_ui_trigger --conf '{"epsilon": 0.5, "tables": ["customers"]}'`)
or from the REST API (`POST /api/v2/dags/hazy_ui_trigger/dagRuns` with a `conf`). The run:

`configs` turns the params into a training and a generation config (the bundled sample bank's, narrowed
to `tables`) -> `train` (reading `source_conn_id`) -> `evaluate` and `prepare_target` / `list_batches`
-> `generate` (one mapped task per batch of `batch_magnitude`) -> `validate` (into `target_conn_id`).

Defaults run on the bundled SQLite sample into `$AIRFLOW_HOME/hazy_sample/synthetic_bank.sqlite`.
Files of a run go to `$HAZY_WORK_DIR/hazy_ui_trigger/<run id>/`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Dict

from airflow.sdk import Param, dag, get_current_context, task

from airflow_provider_hazy import sample_data
from airflow_provider_hazy.operators import (
    HazyEvaluateOperator,
    HazyGenerateOperator,
    HazyPublishOperator,
    HazyTrainOperator,
    HazyValidateOperator,
    list_generation_batches_task,
)
from airflow_provider_hazy.sample_data.defaults import (
    SOURCE_CONN_ID,
    TARGET_CONN_ID,
    ensure_sample_connections,
    sample_tables,
    work_directory,
)

ensure_sample_connections()

PARAMS = {
    "tables": Param(
        sample_tables(),
        type="array",
        items={"type": "string", "enum": list(sample_data.TABLES)},
        uniqueItems=True,
        minItems=1,
        examples=list(sample_data.TABLES),
        description="Tables of the sample bank to synthesise (a child needs its parents).",
    ),
    "epsilon": Param(1.0, type="number", exclusiveMinimum=0, description="Total privacy budget of the model."),
    "magnitude": Param(
        1.0, type="number", exclusiveMinimum=0, description="Synthetic rows as a multiple of the source rows."
    ),
    "batch_magnitude": Param(
        0.25,
        type="number",
        exclusiveMinimum=0,
        description="Rows per generation batch (a multiple of the source rows); one mapped task per batch.",
    ),
    "random_state": Param(42, type="integer", description="Seed: the same seed writes the same rows."),
    "source_conn_id": Param(SOURCE_CONN_ID, type="string", description="Airflow connection of the source database."),
    "target_conn_id": Param(
        TARGET_CONN_ID, type="string", description="Airflow connection the synthetic tables go to."
    ),
}
SOURCE = "{{ params.source_conn_id }}"
TARGET = "{{ params.target_conn_id }}"


@task(task_id="configs", multiple_outputs=True)
def build_configs() -> Dict[str, Any]:
    """The run's training and generation configs, from the trigger form (no secret: connection ids only)."""
    context = get_current_context()
    params = context["params"]
    run_dir = work_directory() / context["dag"].dag_id / re.sub(r"[^A-Za-z0-9_.-]", "_", context["run_id"])
    model = str(run_dir / "model.hmf")
    tables = params["tables"]
    return {
        "training": sample_data.training_config(
            tables, model_output=model, epsilon=params["epsilon"], random_state=params["random_state"]
        ),
        "generation": {
            **sample_data.generation_config(
                tables,
                model=model,
                magnitude=params["magnitude"],
                batch_magnitude=params["batch_magnitude"],
                random_state=params["random_state"],
            ),
            "generation_state_path": str(run_dir / "generation_state.json"),  # mapped batches' checks beside it
        },
    }


@dag(
    dag_id="hazy_ui_trigger",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params=PARAMS,
    tags=["hazy", "example"],
    doc_md=__doc__,
)
def hazy_ui_trigger():
    configs = build_configs()
    train = HazyTrainOperator(task_id="train", config=configs["training"], source_conn_id=SOURCE)
    evaluate = HazyEvaluateOperator(task_id="evaluate", config=configs["training"], source_conn_id=SOURCE)
    prepare = HazyGenerateOperator(
        task_id="prepare_target", config=configs["generation"], target_conn_id=TARGET, prepare=True
    )
    batches = list_generation_batches_task(configs["generation"])
    generate = HazyGenerateOperator.partial(
        task_id="generate", config=configs["generation"], target_conn_id=TARGET, retries=2
    ).expand(batch_index=batches)
    publish = HazyPublishOperator(task_id="publish", config=configs["generation"], target_conn_id=TARGET)
    validate = HazyValidateOperator(task_id="validate", config=configs["generation"], target_conn_id=TARGET)
    train >> [evaluate, prepare, batches]
    [prepare, batches] >> generate >> publish >> validate


hazy_ui_trigger()
