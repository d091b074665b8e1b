"""hazy_generate_from_registry: generate the synthetic bank from the registry generator `sample_bank`.

No model path anywhere: each task asks the generator registry (connection `hazy_registry`; default a SQLite
file under AIRFLOW_HOME, docs/registry.md) for the generator's active version and generates from its most
private model. Promoting or withdrawing a model ("Activate" / "Make draft" on the "Synthetic generators"
page, or `hazy registry activate|draft`) changes what the next run generates without touching this DAG.

Steps: `prepare_target` (creates this run's staging tables beside the targets) and `list_batches` ->
`generate`, one mapped task per batch into the staging -> `publish` (validates the staging and swaps it into
the target tables in one step, docs/publish.md) -> `validate` what landed in `hazy_sample_target`.
`hazy_db_to_db` registers and activates the model first; without an active version every task fails with
"no active version".

A version activated while a run is under way is picked up by the batches that start after it: pin
`generator: {name: sample_bank, version: N}` in the config for a run that must not move.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from airflow_provider_hazy import sample_data
from airflow_provider_hazy.operators import (
    HazyGenerateOperator,
    HazyPublishOperator,
    HazyValidateOperator,
    list_generation_batches_task,
)
from airflow_provider_hazy.sample_data.defaults import (
    SAMPLE_GENERATOR,
    TARGET_CONN_ID,
    ensure_sample_connections,
    sample_tables,
    work_directory,
)

ensure_sample_connections()
RUN_DIR = f"{work_directory()}/{{{{ dag.dag_id }}}}/{{{{ ds }}}}"
TABLES = sample_tables()
# A generation config that names a generator instead of a model file.
GENERATION = {
    **sample_data.generation_config(TABLES, magnitude=1.0, batch_magnitude=0.25, random_state=42),
    "model": None,
    "generator": SAMPLE_GENERATOR,
    "generation_state_path": f"{RUN_DIR}/generation_state.json",  # mapped batches' checks go beside it
}


@dag(
    dag_id="hazy_generate_from_registry",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["hazy", "example", "registry"],
    doc_md=__doc__,
)
def hazy_generate_from_registry():
    prepare = HazyGenerateOperator(
        task_id="prepare_target",
        config=GENERATION,
        generator=SAMPLE_GENERATOR,
        target_conn_id=TARGET_CONN_ID,
        prepare=True,
    )
    batches = list_generation_batches_task(GENERATION, SAMPLE_GENERATOR)
    generate = HazyGenerateOperator.partial(
        task_id="generate", config=GENERATION, generator=SAMPLE_GENERATOR, target_conn_id=TARGET_CONN_ID, retries=2
    ).expand(batch_index=batches)
    publish = HazyPublishOperator(
        task_id="publish", config=GENERATION, generator=SAMPLE_GENERATOR, target_conn_id=TARGET_CONN_ID
    )
    validate = HazyValidateOperator(
        task_id="validate", config=GENERATION, target_conn_id=TARGET_CONN_ID, report_path=f"{RUN_DIR}/validation.json"
    )
    [prepare, batches] >> generate >> publish >> validate


hazy_generate_from_registry()
