"""Sequential tables through api.train and api.generate, on event histories drawn from a known process
(tests/sequential_data.py): transitions, lengths, order, keys, batches, the ledger, evaluation and report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict

import numpy as np
import pandas as pd
import pytest
from sequential_data import (
    TIERS,
    TRANSITIONS,
    event_histories,
    event_schema,
    length_distribution,
    type_transitions,
)

from airflow_provider_hazy import api
from airflow_provider_hazy.core import multitable, sequential
from airflow_provider_hazy.io.locations import read_output_table
from airflow_provider_hazy.pipeline.evaluation_file import read_detail

N_OWNERS = 3000


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Dict[str, object]:
    directory = tmp_path_factory.mktemp("events")
    owners, events = event_histories(N_OWNERS)
    paths = {"owners": str(directory / "owners.csv"), "events": str(directory / "events.csv")}
    owners.to_csv(paths["owners"], index=False)
    events.to_csv(paths["events"], index=False)
    return {"directory": directory, "owners": owners, "events": events, "paths": paths}


def training_config(source, model: Path, schema=None, **parameters) -> dict:
    return {
        "data_schema": schema or event_schema(),
        "data_input": [{"name": name, "location": path} for name, path in source["paths"].items()],
        "model_output": str(model),
        "random_state": 7,
        "model_parameters": {"generator": {"epsilon": 1000.0}, **parameters},
    }


def generate(model: Path, out: Path, validation: bool = True, **params) -> Dict[str, pd.DataFrame]:
    outputs = {name: str(out / f"{name}.csv") for name in ("owners", "events")}
    state = api.generate(
        {
            "model": str(model),
            "data_output": [{"name": name, "location": path} for name, path in outputs.items()],
            "random_state": 3,
            "generate_params": params,
            "validation": {"enable": validation},
        }
    )
    assert state["published"], state["validation"]  # a staging that fails validation is not published
    frames = {name: pd.read_csv(path) for name, path in outputs.items()}
    frames["events"]["at"] = pd.to_datetime(frames["events"]["at"])
    return frames


@pytest.fixture(scope="module")
def model_path(source) -> Path:
    return api.train(training_config(source, source["directory"] / "events.hmf"))


@pytest.fixture(scope="module")
def generated(model_path, tmp_path_factory) -> Dict[str, pd.DataFrame]:
    return generate(model_path, tmp_path_factory.mktemp("generated"), magnitude=2.0, batch_magnitude=0.5)


def mean_tvd(a: np.ndarray, b: np.ndarray) -> float:
    return float(0.5 * np.abs(a - b).sum(axis=1).mean())


def test_transitions_are_within_mean_tvd_005_of_the_markov_chain(generated):
    assert mean_tvd(type_transitions(generated["events"]), TRANSITIONS) < 0.05


def test_lengths_are_within_tvd_005_of_the_source(source, generated):
    real = length_distribution(source["events"], N_OWNERS)
    synthetic = length_distribution(generated["events"], len(generated["owners"]))
    assert 0.5 * np.abs(real - synthetic).sum() < 0.05


def test_lengths_follow_the_owner_tier(source, generated):
    def mean_length_by_tier(owners: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
        counts = events.groupby("owner_id").size().reindex(owners["owner_id"], fill_value=0)
        return counts.groupby(owners.set_index("owner_id")["tier"]).mean().reindex(TIERS)

    real = mean_length_by_tier(source["owners"], source["events"])
    synthetic = mean_length_by_tier(generated["owners"], generated["events"])
    assert (synthetic.diff().dropna() > 2).all()  # bronze < silver < gold
    assert np.abs(synthetic - real).max() < 1.0


def test_every_history_is_ordered_in_the_written_rows_and_keys_resolve(generated):
    events, owners = generated["events"], generated["owners"]
    assert events["owner_id"].isin(owners["owner_id"]).all()
    assert events["event_id"].is_unique
    ordered = events.groupby("owner_id", sort=False)["at"].apply(lambda at: at.is_monotonic_increasing)
    assert ordered.all()
    # the rows of one history are written together, in order, with increasing ids
    assert (events["owner_id"].ne(events["owner_id"].shift()).cumsum().groupby(events["owner_id"]).nunique() == 1).all()
    assert events.groupby("owner_id")["event_id"].apply(lambda ids: ids.is_monotonic_increasing).all()


def test_independent_rows_do_measurably_worse_on_transitions(source, generated, tmp_path):
    schema = event_schema()
    events = schema["tables"][1]
    for field in ("type", "sequence_id", "sort_by"):
        events.pop(field)
    path = api.train(training_config(source, tmp_path / "rows.hmf", schema=schema))
    rows = generate(path, tmp_path / "rows", magnitude=2.0)
    sequential_tvd = mean_tvd(type_transitions(generated["events"]), TRANSITIONS)
    independent_tvd = mean_tvd(type_transitions(rows["events"]), TRANSITIONS)
    assert independent_tvd > 0.2 and independent_tvd > 4 * sequential_tvd


def test_batches_made_apart_and_retried_are_the_full_run(model_path, tmp_path):
    """A batch makes owners and their whole histories: mapped batches (in any order, one retried) read back
    as the rows of the unmapped run."""
    params = {"magnitude": 1.0, "batch_magnitude": 0.3}
    full = generate(model_path, tmp_path / "full", **params)
    outputs = {name: str(tmp_path / "mapped" / f"{name}.csv") for name in ("owners", "events")}
    config = {
        "model": str(model_path),
        "data_output": [{"name": name, "location": path} for name, path in outputs.items()],
        "random_state": 3,
        "generate_params": params,
    }
    assert api.list_batches(config) == [0, 1, 2, 3]
    run_id = api.generate(config, batch_indices=[])["run_id"]
    for indices in ([3, 1], [0], [2], [1]):  # batch 1 runs twice: a retry replaces its part
        api.generate(config, batch_indices=indices, run_id=run_id)
    api.publish(config, run_id)  # the staged parts become the output
    for name in ("owners", "events"):
        union = read_output_table(name, outputs[name])
        if name == "events":
            union["at"] = pd.to_datetime(union["at"])
        pd.testing.assert_frame_equal(union, full[name], check_dtype=False, obj=name)


def test_the_ledger_charges_the_table_share_with_history_sensitivities(model_path, source):
    info = api.inspect_model(model_path)
    entries = info["privacy"]["ledger"]["entries"]
    assert info["privacy"]["total_epsilon"] == pytest.approx(1000.0)
    unit = 1000.0 / (2 + multitable.DEGREE_WEIGHT)  # two modelled tables, one length (degree) model
    events = [e for e in entries if e["table"] == "events"]
    networks = [e for e in events if e["detail"].get("network") in ("first_row", "step")]
    selection = [e for e in events if e["purpose"] == "cross_table_selection"]
    assert math.fsum(e["epsilon"] for e in networks + selection) == pytest.approx(unit)
    lengths = [e for e in events if e["purpose"] == "degree_preserving"]
    assert len(lengths) == 1 and lengths[0]["epsilon"] == pytest.approx(multitable.DEGREE_WEIGHT * unit)
    cap = multitable.degree_cap(len(source["events"]), N_OWNERS)
    assert lengths[0]["detail"]["cap"] == cap
    for entry in networks:
        group = 1 if entry["detail"]["network"] == "first_row" else cap - 1
        assert entry["detail"]["group_size"] == group
        if entry["purpose"] == "conditional":
            assert entry["sensitivity"] == pytest.approx(2.0 * group)
            assert entry["scale"] == pytest.approx(entry["sensitivity"] / entry["epsilon"])
    step = [e for e in networks if e["detail"]["network"] == "step"]
    assert math.fsum(e["epsilon"] for e in step) == pytest.approx((1 - sequential.FIRST_ROW_SHARE) * unit)


def test_inspect_names_the_networks_and_lag_features(model_path):
    table = api.inspect_model(model_path)["tables"]["events"]
    assert table["type"] == "sequential" and table["degree"]["cap"] > 0
    step = {edge["child"]: edge["parents"] for edge in table["network"] if edge["network"] == "step"}
    assert set(step) == {"type", "amount", "at:gap"}
    assert "remaining" in step["at:gap"]
    parents = {parent for edges in step.values() for parent in edges}
    assert parents & {"prev:type", "prev:amount", "prev:at:gap", "mean:amount", "repeat:type", "amount", "type"}


def test_evaluation_scores_the_histories_and_the_report_shows_them(model_path, tmp_path):
    from airflow_provider_hazy.report.html import write_report

    scores = api.inspect_model(model_path)["evaluation"]["sequence_similarity"]
    assert scores["tables"]["events"]["score"] > 0.9  # the model holds one score per table
    evaluation = read_detail(model_path)  # the detail, beside the model
    entry = evaluation["sequence_similarity"]["tables"]["events"]
    assert entry["length"]["score"] > 0.9 and entry["gap"]["score"] > 0.9
    assert entry["transitions"]["columns"]["type"]["score"] > 0.9
    assert set(entry["autocorrelation"]["columns"]) == {"amount"}
    page = write_report(model_path, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Sequences" in page and "rows per owner" in page and "P(next | value)" in page


@pytest.mark.parametrize(("window_size", "n_predict", "most_tvd"), [(3, 2, 0.2), (1, 1, 0.06)])
def test_window_size_and_n_predict_are_used(source, tmp_path, window_size, n_predict, most_tvd):
    """n_predict 2 draws two rows per step from the same window: the pair inside a step keeps only what
    the window says of it (docs/sequential.md), so the chain is looser, still far from independent rows."""
    path = api.train(
        training_config(source, tmp_path / "w.hmf", sequential={"window_size": window_size, "n_predict": n_predict})
        | {"evaluation": None}
    )
    info = api.load_model(path).tables["events"].sequence.model.layout
    assert (info.window_size, info.n_predict) == (window_size, n_predict)
    frames = generate(path, tmp_path / "w")
    assert frames["events"].groupby("owner_id")["at"].apply(lambda at: at.is_monotonic_increasing).all()
    assert mean_tvd(type_transitions(frames["events"]), TRANSITIONS) < most_tvd


def test_rows_without_an_owner_are_left_out(source, tmp_path):
    events = source["events"].copy()
    events.loc[:99, "owner_id"] = None
    path = tmp_path / "events.csv"
    events.to_csv(path, index=False)
    config = training_config(source, tmp_path / "orphans.hmf") | {"evaluation": None}
    config["data_input"][1]["location"] = str(path)
    frames = generate(api.train(config), tmp_path / "out")
    assert frames["events"]["owner_id"].notna().all()


def test_processing_epsilon_is_charged_as_a_group(source, tmp_path):
    config = training_config(source, tmp_path / "dp.hmf") | {"evaluation": None}
    config["model_parameters"]["generator"]["processing_epsilon"] = 10.0
    info = api.inspect_model(api.train(config))
    assert info["privacy"]["total_epsilon"] == pytest.approx(1010.0)
    processing = [
        e
        for e in info["privacy"]["ledger"]["entries"]
        if e["table"] == "events" and "group_size" in e["detail"] and e["detail"].get("unit")
    ]
    assert processing and math.fsum(e["epsilon"] for e in processing) == pytest.approx(5.0)


def test_hazy_inspect_shows_the_sequence_settings_and_both_networks(model_path, capsys):
    from airflow_provider_hazy.cli import main

    assert main(["inspect", str(model_path)]) == 0
    out = capsys.readouterr().out
    assert "sequential: window_size 20, n_predict 1, length cap" in out
    assert "[first_row] " in out and "[step] at:gap <- " in out


def _variant(kind: str):
    """(events frame, schema, generator settings) of a sort-by variant."""
    owners, events = event_histories(400, seed=2)
    schema, generator = event_schema(), {}
    table = schema["tables"][1]
    if kind == "date":
        events["at"] = pd.to_datetime(events["at"]).dt.date
        table["columns"][2]["type"] = "date"
    elif kind == "integer":
        ordered = events.sort_values(["owner_id", "at"], kind="mergesort")
        events["seq"] = ordered.groupby("owner_id").cumcount().reindex(events.index) * 3 + 1
        table["columns"].append({"name": "seq", "type": "integer"})
        table["sort_by"] = ["seq"]
    elif kind == "split_time":
        generator = {"split_time": True}
        table["sort_by"] = ["at", "event_id"]
    elif kind == "nulls":
        events.loc[events.sample(frac=0.05, random_state=0).index, "at"] = None
    return owners, events, schema, generator


@pytest.mark.parametrize("kind", ["date", "integer", "split_time", "nulls"])
def test_sort_by_variants_generate_ordered_histories(kind, tmp_path):
    owners, events, schema, generator = _variant(kind)
    paths = {"owners": tmp_path / "owners.csv", "events": tmp_path / "events.csv"}
    owners.to_csv(paths["owners"], index=False)
    events.to_csv(paths["events"], index=False)
    config = {
        "data_schema": schema,
        "data_input": [{"name": name, "location": str(path)} for name, path in paths.items()],
        "model_output": str(tmp_path / "m.hmf"),
        "random_state": 1,
        "evaluation": None,
        "model_parameters": {"generator": generator},
    }
    # an integer sort-by column runs past the source's largest value (validation: numeric_range), which would
    # keep the output from being published: this test is about the order within each history
    frames = generate(api.train(config), tmp_path / "out", validation=kind != "integer")
    events = frames["events"]
    column = "seq" if kind == "integer" else "at"
    present = events.dropna(subset=[column])
    assert present.groupby("owner_id")[column].apply(lambda values: values.is_monotonic_increasing).all()
    if kind == "integer":
        assert pd.api.types.is_integer_dtype(events["seq"]) and (events["seq"] >= 1).all()
    if kind == "nulls":
        assert 0.02 < events["at"].isna().mean() < 0.08
    else:
        assert events[column].notna().all()
