"""hazy_s3_to_s3: source tables in an S3 bucket -> model -> synthetic Parquet parts in the same bucket.

Needs an S3 endpoint (AWS, MinIO, moto, ...) in the Airflow connection `hazy_s3` (type `aws`: login and
password are the access key id and secret; extra `{"endpoint_url": "http://127.0.0.1:9000",
"region_name": "eu-west-1"}` for a non-AWS endpoint), e.g.

    export AIRFLOW_CONN_HAZY_S3='{"conn_type": "aws", "login": "KEY", "password": "SECRET",
                                  "extra": {"endpoint_url": "http://127.0.0.1:9000", "region_name": "eu-west-1"}}'
    export HAZY_S3_BUCKET=my-bucket     # default: hazy-sample (created if missing)

Steps: `stage_sample` uploads the bundled sample bank to `s3://<bucket>/source/<table>.parquet` (skip it
for your own data) -> `train` -> `evaluate` and `prepare_target` / `list_batches` -> `generate`, one
mapped task per batch, each writing `s3://<bucket>/synthetic/<ds>/<table>/part-<batch>.parquet` (a retry
replaces its own part) -> `publish` (S3 parts are written in place: S3 has no rename, so this step only
validates them) -> `validate`. Every S3 path resolves through `aws_conn_id`; no key is in a config.
"""

from __future__ import annotations

import io
import os
from datetime import datetime

from airflow.sdk import dag, task

from airflow_provider_hazy import sample_data
from airflow_provider_hazy.hooks import HazyS3Hook
from airflow_provider_hazy.operators import (
    HazyEvaluateOperator,
    HazyGenerateOperator,
    HazyPublishOperator,
    HazyTrainOperator,
    HazyValidateOperator,
    list_generation_batches_task,
)
from airflow_provider_hazy.sample_data.defaults import sample_tables, work_directory

AWS_CONN_ID = os.environ.get("HAZY_S3_CONN_ID", "hazy_s3")
BUCKET = os.environ.get("HAZY_S3_BUCKET", "hazy-sample")
TABLES = sample_tables()
RUN_DIR = f"{work_directory()}/{{{{ dag.dag_id }}}}/{{{{ ds }}}}"
TRAINING = {
    **sample_data.training_config(TABLES, model_output=f"{RUN_DIR}/model.hmf", random_state=42),
    "data_sources": [],
    "data_input": [{"name": name, "location": f"s3://{BUCKET}/source/{name}.parquet"} for name in TABLES],
}
GENERATION = {
    **sample_data.generation_config(TABLES, model=f"{RUN_DIR}/model.hmf", batch_magnitude=0.5, random_state=42),
    "generation_state_path": f"{RUN_DIR}/generation_state.json",  # mapped batches' checks go beside it
    "data_sources": [],
    "data_output": [
        {
            "name": name,
            "location": {"path": f"s3://{BUCKET}/synthetic/{{{{ ds }}}}/{name}.parquet", "if_exists": "replace"},
        }
        for name in TABLES
    ],
}


@task
def stage_sample() -> dict:
    """Upload the bundled sample tables as Parquet (creating the bucket if needed); returns row counts."""
    client = HazyS3Hook(AWS_CONN_ID).get_client()
    if BUCKET not in {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}:
        region = client.meta.region_name
        options = {} if region in (None, "us-east-1") else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        client.create_bucket(Bucket=BUCKET, **options)
    frames = sample_data.sample_frames()
    for name in TABLES:
        buffer = io.BytesIO()
        frames[name].to_parquet(buffer, index=False)
        client.put_object(Bucket=BUCKET, Key=f"source/{name}.parquet", Body=buffer.getvalue())
    return {name: len(frames[name]) for name in TABLES}


@dag(
    dag_id="hazy_s3_to_s3",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["hazy", "example"],
    doc_md=__doc__,
)
def hazy_s3_to_s3():
    train = HazyTrainOperator(task_id="train", config=TRAINING, aws_conn_id=AWS_CONN_ID)
    evaluate = HazyEvaluateOperator(task_id="evaluate", config=TRAINING, aws_conn_id=AWS_CONN_ID)
    prepare = HazyGenerateOperator(task_id="prepare_target", config=GENERATION, aws_conn_id=AWS_CONN_ID, prepare=True)
    batches = list_generation_batches_task(GENERATION)
    generate = HazyGenerateOperator.partial(
        task_id="generate", config=GENERATION, aws_conn_id=AWS_CONN_ID, retries=2
    ).expand(batch_index=batches)
    publish = HazyPublishOperator(task_id="publish", config=GENERATION, aws_conn_id=AWS_CONN_ID)
    validate = HazyValidateOperator(task_id="validate", config=GENERATION, aws_conn_id=AWS_CONN_ID)
    stage_sample() >> train >> [evaluate, prepare, batches]
    [prepare, batches] >> generate >> publish >> validate


hazy_s3_to_s3()
