"""Evaluation stored in the model at training, validation metadata from the encoders, validation after
generation: on the example table, end to end through api.train / api.generate."""

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from airflow_provider_hazy import api
from airflow_provider_hazy.config import EvaluationConfig, GenerationConfig, TrainingConfig, ValidationConfig
from airflow_provider_hazy.core.subsetting import DEFAULT_TEST_FRACTION
from airflow_provider_hazy.metrics.results import metric_results
from airflow_provider_hazy.pipeline.evaluation import validation_metadata
from airflow_provider_hazy.pipeline.evaluation_file import read_detail

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ROWS = 800


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "examples").mkdir()
    shutil.copy(EXAMPLES / "customers.csv", tmp_path / "examples" / "customers.csv")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def training_config(**changes) -> TrainingConfig:
    config = TrainingConfig.from_file(EXAMPLES / "training.yaml")
    return config.model_copy(update={"nrows": ROWS, **changes})


def generation_config(**changes) -> GenerationConfig:
    config = GenerationConfig.from_file(EXAMPLES / "generation.yaml")
    return config.model_copy(update=changes)


def manifest(path="out/customers.hmf") -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("manifest.json"))


def test_training_stores_the_default_metrics_flagged_outside_the_budget(workdir):
    api.train(training_config())
    evaluation = api.inspect_model("out/customers.hmf")["evaluation"]
    assert evaluation["outside_privacy_budget"] is True
    assert "outside the privacy budget" in evaluation["privacy_note"]
    results = metric_results(evaluation)
    assert set(results) == {m.metric_type.value for m in EvaluationConfig().metrics}
    for key in ("histogram_similarity", "mutual_information_similarity"):
        assert results[key]["metric_type"] == key
        assert 0.0 <= results[key]["score"] <= 1.0
        assert 0.0 <= results[key]["tables"]["customers"]["score"] <= 1.0
    assert results["degree_distribution_similarity"]["skipped"] == "no foreign keys"
    assert evaluation["sample_rows"] == {"customers": ROWS}  # eval_sample_params.magnitude 1.0
    assert evaluation["computed_on_source_rows"] is True
    # The model keeps one score per metric and table; the histograms the report draws are in the detail file
    # beside it, and not even there for the person column: its bins would be source names.
    assert results["histogram_similarity"]["tables"] == {"customers": {"score": pytest.approx(
        results["histogram_similarity"]["tables"]["customers"]["score"])}}
    assert evaluation["detail_file"] == "customers.evaluation.json"
    detail = read_detail("out/customers.hmf")
    columns = detail["histogram_similarity"]["tables"]["customers"]["columns"]
    assert sum(columns["segment"]["real"]) == pytest.approx(1.0)
    assert "bins" not in columns["name"] and 0.0 <= columns["name"]["score"] <= 1.0
    assert "Customer 17" not in json.dumps(manifest())
    stored = json.dumps(manifest()["evaluation"])
    assert '"real"' not in stored and '"bins"' not in stored and '"matrix"' not in stored


def test_eval_sample_magnitude_sets_the_sample_size(workdir):
    evaluation = EvaluationConfig.model_validate({"eval_sample_params": {"magnitude": 0.25}})
    api.train(training_config(evaluation=evaluation))
    assert api.inspect_model("out/customers.hmf")["evaluation"]["sample_rows"] == {"customers": ROWS // 4}


@pytest.mark.parametrize("evaluation", [None, EvaluationConfig(metrics=[])], ids=["null", "no-metrics"])
def test_evaluation_can_be_left_out_of_the_model(workdir, evaluation):
    api.train(training_config())
    assert read_detail("out/customers.hmf") is not None
    api.train(training_config(evaluation=evaluation))
    assert read_detail("out/customers.hmf") is None  # no stale detail of an earlier training
    assert manifest()["evaluation"] is None
    assert api.inspect_model("out/customers.hmf")["evaluation"] is None


def test_evaluation_spends_no_privacy_budget(workdir, reproducible_noise):
    api.train(training_config())
    with_evaluation = manifest()["privacy"]
    api.train(training_config(evaluation=None))
    assert manifest()["privacy"] == with_evaluation
    assert with_evaluation["total_epsilon"] == pytest.approx(1.0)


def test_train_test_split_holds_rows_out_for_utility_and_privacy(workdir):
    metrics = [
        {"metric_type": "predictive_utility", "target": "segment"},
        {"metric_type": "presence_disclosure"},
        {"metric_type": "distance_to_closest_record"},
        {"metric_type": "density_disclosure"},
    ]
    config = training_config(train_test_split=True, evaluation=EvaluationConfig.model_validate({"metrics": metrics}))
    api.train(config)
    info = api.inspect_model("out/customers.hmf")
    held = int(round(ROWS * DEFAULT_TEST_FRACTION))
    assert info["tables"]["customers"]["n_rows"] == ROWS - held  # the model never saw the held-out rows
    evaluation = info["evaluation"]
    assert evaluation["holdout_rows"] == {"customers": held}
    for key, result in metric_results(evaluation).items():
        assert "skipped" not in result, key
        assert 0.0 <= result["score"] <= 1.0, key
    target = read_detail("out/customers.hmf")["predictive_utility"]["tables"]["customers"]["targets"]["segment"]
    assert target["rows"]["test"] == held


def test_privacy_metrics_without_holdout_say_why(workdir):
    evaluation = EvaluationConfig.model_validate({"metrics": [{"metric_type": "presence_disclosure"}]})
    config = training_config(evaluation=evaluation)
    api.train(config)
    result = api.inspect_model("out/customers.hmf")["evaluation"]["presence_disclosure"]
    assert result["score"] is None and result["skipped"] == "needs train_test_split"


def test_validation_metadata_comes_from_the_encoders(workdir):
    api.train(training_config())
    stored = manifest()["tables"]["customers"]["validation_metadata"]["columns"]
    model = api.load_model("out/customers.hmf")
    encoders = {e.column: e for e in model.tables["customers"].encoding.encoders}
    assert stored["segment"]["categories"] == list(encoders["segment"].categories)
    assert [stored["age"]["min"], stored["age"]["max"]] == list(encoders["age"].domain.value_range)
    assert stored == validation_metadata(model.tables["customers"].encoding)["columns"]
    # Every generated row lies inside it: the metadata describes what the model can produce.
    frame = model.tables["customers"].sample(5000, 0, np.random.default_rng(3))
    assert frame["age"].between(stored["age"]["min"], stored["age"]["max"]).all()
    assert frame["region"].isin(stored["region"]["categories"]).all()
    signup = pd.to_datetime(frame["signup_date"])
    assert (signup >= pd.Timestamp(stored["signup_date"]["min"])).all()
    assert (signup <= pd.Timestamp(stored["signup_date"]["max"])).all()


def test_generation_validates_its_output_and_writes_the_report_beside_the_state(workdir):
    api.train(training_config())
    state = api.generate(generation_config())
    summary = state["validation"]
    assert summary["passed"] is True and summary["n_failed"] == 0
    assert summary["report"] == "out/generation_state.validation.json"
    report = json.loads(Path(summary["report"]).read_text())
    assert report["passed"] is True and report["n_checks"] == summary["n_checks"] > 20
    checks = {(c["check"], c["column"]) for c in report["checks"]}
    assert ("row_count", None) in checks and ("category_domain", "segment") in checks
    assert ("numeric_range", "income") in checks and ("primary_key_unique", "customer_id") in checks
    row_count = next(c for c in report["checks"] if c["check"] == "row_count")
    assert row_count["expected"] == row_count["actual"] == 2 * ROWS
    assert json.loads(Path("out/generation_state.json").read_text())["validation"] == summary


def test_validation_can_be_turned_off(workdir):
    api.train(training_config())
    state = api.generate(generation_config(validation=ValidationConfig(enable=False)))
    assert state["validation"] is None
    assert not Path("out/generation_state.validation.json").exists()


def test_post_generation_columns_are_not_checked_against_the_model(workdir):
    api.train(training_config())
    post = {"tables": [{"table": "customers", "steps": [{"action": "drop_columns", "columns": ["income"]}]}]}
    config = GenerationConfig.model_validate(
        {**generation_config().model_dump(mode="json"), "generate_params": {"magnitude": 1.0, "post_generation": post}}
    )
    state = api.generate(config)
    assert state["validation"]["passed"] is True, state["validation"]["failures"]


def test_private_preprocessing_metadata_validates_generated_data_and_costs_nothing(workdir):
    config = training_config()
    generator = config.model_parameters.generator.model_copy(update={"processing_epsilon": 0.5})
    config.model_parameters = config.model_parameters.model_copy(update={"generator": generator})
    api.train(config)
    stored = manifest()
    assert stored["privacy"]["total_epsilon"] == pytest.approx(1.5)  # epsilon + processing_epsilon, no more
    columns = stored["tables"]["customers"]["validation_metadata"]["columns"]
    assert not any("max_length" in entry for entry in columns.values())  # the private model holds no lengths
    state = api.generate(generation_config())
    assert state["validation"]["passed"] is True, state["validation"]["failures"]


def test_a_failed_check_after_generation_is_in_the_state_and_printed(workdir, capsys, monkeypatch):
    """A staging that fails validation is not published: the target keeps the previous run's rows."""
    from airflow_provider_hazy.cli import main
    from airflow_provider_hazy.pipeline import evaluation

    api.train(training_config())
    Path("gen.json").write_text(json.dumps(generation_config().model_dump(mode="json")))
    assert main(["generate", "gen.json"]) == 0
    published = Path("out/synthetic_customers.csv").read_bytes()
    metadata = evaluation.generation_metadata

    def expecting_twice_the_rows(config, model, table):
        return {**metadata(config, model, table), "rows": 4 * ROWS}

    monkeypatch.setattr(evaluation, "generation_metadata", expecting_twice_the_rows)
    assert main(["generate", "gen.json"]) == 4  # validation failed (docs/cli.md): nothing published
    out = capsys.readouterr().out
    assert f"FAILED table 'customers': row_count failed ({2 * ROWS} violation(s), e.g. [{2 * ROWS}])" in out
    state = json.loads(Path("out/generation_state.json").read_text())
    assert state["validation"]["passed"] is False and state["validation"]["n_failed"] >= 1
    assert state["published"] is False
    assert Path("out/synthetic_customers.csv").read_bytes() == published


def test_an_append_is_validated_on_its_own_rows_and_appended(workdir):
    api.train(training_config())
    config = generation_config().model_dump(mode="json")
    config["data_output"][0]["location"]["if_exists"] = "append"
    first = api.generate(config)
    second = api.generate(config)
    assert first["published"] == {"customers": "created"} and second["published"] == {"customers": "appended"}
    assert second["validation"]["passed"] is True, second["validation"]["failures"]
    assert len(pd.read_csv("out/synthetic_customers.csv")) == 4 * ROWS


def test_split_datetimes_and_other_buckets_validate(workdir):
    config = training_config()
    generator = config.model_parameters.generator.model_copy(update={"split_time": True, "max_cat": 2})
    config.model_parameters = config.model_parameters.model_copy(update={"generator": generator})
    api.train(config)
    columns = manifest()["tables"]["customers"]["validation_metadata"]["columns"]
    model = api.load_model("out/customers.hmf")
    region = next(e for e in model.tables["customers"].encoding.encoders if e.column == "region")
    assert region.other_bucket and columns["region"]["categories"] == [*region.categories, region.other_label]
    assert columns["last_login"]["min"] < columns["last_login"]["max"]
    state = api.generate(generation_config())
    assert state["validation"]["passed"] is True, state["validation"]["failures"]
