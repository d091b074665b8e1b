"""The example DAG folder parses cleanly and each DAG has the shape its docstring promises."""

from __future__ import annotations

import pytest

EXAMPLE_DAGS = ["hazy_db_to_db", "hazy_ui_trigger", "hazy_s3_to_s3", "hazy_generate_from_registry"]


def test_dag_folder_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(EXAMPLE_DAGS) <= set(dagbag.dag_ids)


@pytest.mark.parametrize("dag_id", EXAMPLE_DAGS)
def test_every_example_dag_has_a_docstring(dagbag, dag_id):
    assert len(dagbag.get_dag(dag_id).doc_md or "") > 200


def test_db_to_db_runs_daily_without_catchup_and_maps_generation(dagbag):
    dag = dagbag.get_dag("hazy_db_to_db")
    assert dag.catchup is False
    assert dag.schedule == "@daily"
    generate = dag.get_task("generate")
    assert type(generate).__name__ == "MappedOperator"
    assert {"prepare_target", "list_batches"} <= generate.upstream_task_ids


def test_ui_trigger_params_are_typed_and_described(dagbag):
    params = dagbag.get_dag("hazy_ui_trigger").params
    for name in ("tables", "epsilon", "magnitude", "batch_magnitude", "target_conn_id"):
        param = params.get_param(name)
        assert param.schema.get("type"), name
        assert param.description, name
