"""hazy_db_to_db: every night, refresh a differentially private synthetic copy of a database.

Steps: `subset` the source tables (through the Airflow connection `hazy_sample_source`) -> `train` a
PrivBayes model (epsilon from the `epsilon` param), registered as a new version of the registry generator
`sample_bank` and activated when its histogram similarity reaches 0.5 (docs/registry.md) -> `evaluate` it
against the source -> `prepare_target` (creates this run's staging tables `hzm_<run id>_<table>` beside the
targets) and `list_batches` -> `generate`, one mapped task per batch into the staging (retried batches
replace their own rows) -> `publish` (validates the staging, then swaps it into the target tables in one
step: until then the targets hold the previous run's rows, docs/publish.md) -> `validate` what landed in
`hazy_sample_target`.

By default it runs on the bundled sample bank (SQLite, built on first parse) into
`$AIRFLOW_HOME/hazy_sample/synthetic_bank.sqlite`: no server needed. To run it on your own databases:

1. Define the connections `hazy_sample_source` and `hazy_sample_target` (UI, CLI or
   `AIRFLOW_CONN_HAZY_SAMPLE_SOURCE=postgresql://...`), or change SOURCE_CONN_ID / TARGET_CONN_ID below.
2. Point `sample_data/training.yaml` style configs at your tables (copy and edit them; pass the path or a
   dict as `config`).
3. `airflow dags test hazy_db_to_db`, or unpause it: it runs `@daily`, without catchup.

Files of a run (model, subset, reports) go to `$HAZY_WORK_DIR/<dag_id>/<ds>/` (default under the sample's
folder); `$HAZY_SAMPLE_TABLES` (comma-separated) narrows the sample tables.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag

from airflow_provider_hazy import sample_data
from airflow_provider_hazy.config import GenerationConfig
from airflow_provider_hazy.operators import (
    HazyEvaluateOperator,
    HazyGenerateOperator,
    HazyPublishOperator,
    HazySubsetOperator,
    HazyTrainOperator,
    HazyValidateOperator,
    list_generation_batches_task,
)
from airflow_provider_hazy.operators.configs import config_outlets
from airflow_provider_hazy.sample_data.defaults import (
    SAMPLE_ACTIVATE_WHEN,
    SAMPLE_GENERATOR,
    SOURCE_CONN_ID,
    TARGET_CONN_ID,
    ensure_sample_connections,
    sample_tables,
    work_directory,
)

ensure_sample_connections()
RUN_DIR = f"{work_directory()}/{{{{ dag.dag_id }}}}/{{{{ ds }}}}"
TABLES = sample_tables()
TRAINING = sample_data.training_config(
    TABLES, model_output=f"{RUN_DIR}/model.hmf", epsilon="{{ params.epsilon }}", random_state=42
)
GENERATION = {
    **sample_data.generation_config(
        TABLES, model=f"{RUN_DIR}/model.hmf", magnitude=1.0, batch_magnitude=0.25, random_state=42
    ),
    # Each mapped batch leaves its validation checks beside this state; `publish` merges them (docs/scale.md).
    "generation_state_path": f"{RUN_DIR}/generation_state.json",
}


@dag(
    dag_id="hazy_db_to_db",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={"epsilon": Param(1.0, type="number", exclusiveMinimum=0, description="Total privacy budget.")},
    tags=["hazy", "example"],
    doc_md=__doc__,
)
def hazy_db_to_db():
    subset = HazySubsetOperator(
        task_id="subset", config=TRAINING, source_conn_id=SOURCE_CONN_ID, output_dir=f"{RUN_DIR}/subset"
    )
    train = HazyTrainOperator(
        task_id="train",
        config=subset.output["training_config"],
        register_as=SAMPLE_GENERATOR,
        activate_when=SAMPLE_ACTIVATE_WHEN,
    )
    evaluate = HazyEvaluateOperator(
        task_id="evaluate", config=subset.output["training_config"], report_path=f"{RUN_DIR}/evaluation.json"
    )
    prepare = HazyGenerateOperator(
        task_id="prepare_target", config=GENERATION, target_conn_id=TARGET_CONN_ID, prepare=True
    )
    batches = list_generation_batches_task(GENERATION)
    generate = HazyGenerateOperator.partial(
        task_id="generate", config=GENERATION, target_conn_id=TARGET_CONN_ID, retries=2, outlets=[]
    ).expand(batch_index=batches)
    publish = HazyPublishOperator(
        task_id="publish",
        config=GENERATION,
        target_conn_id=TARGET_CONN_ID,
        outlets=config_outlets(GENERATION, GenerationConfig, TARGET_CONN_ID),
    )
    validate = HazyValidateOperator(
        task_id="validate", config=GENERATION, target_conn_id=TARGET_CONN_ID, report_path=f"{RUN_DIR}/validation.json"
    )
    train >> [evaluate, prepare, batches]
    [prepare, batches] >> generate >> publish >> validate


hazy_db_to_db()
