"""api.train and api.generate on a whole database: keys, degrees, cross-table dependence, budget, batches."""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from multitable_data import (
    bank_schema,
    bank_tables,
    dangling_keys,
    generation_config,
    normalise_keys,
    training_config,
    write_csvs,
)

from airflow_provider_hazy import api
from airflow_provider_hazy.core import degrees, multitable
from airflow_provider_hazy.core.privacy import STRUCTURE_BUDGET_FRACTION

TABLES = ["regions", "customers", "accounts", "products", "employees", "transactions", "refunds"]
PRIMARY_KEYS = {
    "customers": ["customer_id"],
    "accounts": ["account_id"],
    "products": ["product_id"],
    "employees": ["employee_id"],
    "transactions": ["account_id", "product_id"],
    "refunds": ["refund_id"],
}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bank")
    tables = bank_tables()
    return directory, tables, write_csvs(tables, directory / "source")


@pytest.fixture(scope="module")
def model_path(source):
    directory, _, paths = source
    return api.train(training_config(paths, directory / "bank.hmf"))


def _generate(model_path: Path, out: Path, **params) -> dict:
    outputs = {name: str(out / f"{name}.csv") for name in TABLES}
    api.generate(generation_config(model_path, outputs, **params))
    return {name: normalise_keys(pd.read_csv(path)) for name, path in outputs.items()}


def _degrees(children: pd.Series, parents: pd.Series) -> np.ndarray:
    counts = children.value_counts().reindex(parents, fill_value=0)
    return np.bincount(counts.to_numpy())


def _tvd(first: np.ndarray, second: np.ndarray) -> float:
    size = max(len(first), len(second))
    p = np.pad(first, (0, size - len(first))) / first.sum()
    q = np.pad(second, (0, size - len(second))) / second.sum()
    return 0.5 * float(np.abs(p - q).sum())


def _mutual_information(x: pd.Series, y: pd.Series) -> float:
    joint = pd.crosstab(x, y).to_numpy() / len(x)
    px, py = joint.sum(axis=1, keepdims=True), joint.sum(axis=0, keepdims=True)
    nonzero = joint > 0
    return float((joint[nonzero] * np.log2(joint[nonzero] / (px @ py)[nonzero])).sum())


@pytest.mark.slow
def test_batched_output_has_every_key_resolving_and_unique(model_path, tmp_path):
    frames = _generate(model_path, tmp_path, batch_magnitude=0.25)
    assert set(dangling_keys(frames, bank_schema()).values()) == {0}
    for name, key in PRIMARY_KEYS.items():
        assert len(frames[name]) > 0, name
        assert not frames[name].duplicated(subset=key).any(), name
        assert frames[name][key].notna().all().all(), name
    assert frames["employees"]["manager_id"].isna().any() and frames["employees"]["manager_id"].notna().any()


def test_reference_table_is_copied_as_it_is(model_path, source, tmp_path):
    frames = _generate(model_path, tmp_path, batch_magnitude=0.5)
    pd.testing.assert_frame_equal(frames["regions"], source[1]["regions"], check_dtype=False)
    info = api.inspect_model(model_path)
    assert info["tables"]["regions"]["copied"] is True
    assert info["tables"]["regions"]["epsilon"] == 0.0
    assert all(entry["table"] != "regions" for entry in info["privacy"]["ledger"]["entries"])


def test_children_per_parent_follow_the_source_within_tvd_005(model_path, source, tmp_path):
    frames = _generate(model_path, tmp_path)
    tables = source[1]
    for child, parent, fk, key in [
        ("accounts", "customers", "customer_id", "customer_id"),
        ("transactions", "accounts", "account_id", "account_id"),
    ]:
        real = _degrees(tables[child][fk], tables[parent][key])
        synthetic = _degrees(frames[child][fk], frames[parent][key])
        assert _tvd(real, synthetic) <= 0.05, (child, _tvd(real, synthetic))


def test_child_column_keeps_its_dependence_on_a_parent_column(model_path, source, tmp_path):
    frames = _generate(model_path, tmp_path)
    tables = source[1]

    def information(data):
        joined = data["accounts"].merge(data["customers"], on="customer_id")
        return _mutual_information(joined["balance_band"], joined["age_band"])

    assert information(tables) > 0.3
    assert information(frames) >= 0.5 * information(tables)


def test_same_random_state_gives_the_same_bytes(model_path, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    _generate(model_path, first, batch_magnitude=0.5)
    _generate(model_path, second, batch_magnitude=0.5)
    for name in TABLES:
        assert (first / f"{name}.csv").read_bytes() == (second / f"{name}.csv").read_bytes(), name


def test_batches_made_apart_are_the_full_run(model_path, tmp_path):
    """A mapped run (prepare, then batches in any order and grouping) writes one part per batch, and the
    parts read back (`read_output_table`) are the rows of the unmapped run."""
    from airflow_provider_hazy.io.locations import read_output_table

    params = {"batch_magnitude": 0.25}
    outputs = {name: str(tmp_path / "mapped" / f"{name}.csv") for name in TABLES}
    config = generation_config(model_path, outputs, **params)
    assert api.list_batches(config) == [0, 1, 2, 3]
    full = _generate(model_path, tmp_path / "full", **params)
    prepared = api.generate(config, batch_indices=[])
    assert prepared["mapped"] == "prepare" and prepared["batch_indices"] == []
    assert {name: entry["rows"] for name, entry in prepared["tables"].items() if entry["rows"]} == {
        "regions": len(full["regions"])
    }
    run_id = prepared["run_id"]
    for indices in ([2, 0], [3], [1]):
        state = api.generate(config, batch_indices=indices, run_id=run_id)
        assert state["batch_indices"] == indices
        assert state["tables"]["regions"]["rows"] == 0  # reference tables are written by the prepare step
    assert not (tmp_path / "mapped").exists() or not any(p.name in TABLES for p in (tmp_path / "mapped").iterdir())
    published = api.publish(config, run_id)  # the batches wrote the run's staging: now it becomes the output
    assert published["published"] == {name: "created" for name in TABLES}
    written = sorted(p.name for p in (tmp_path / "mapped").iterdir() if not p.name.endswith(".hazy-lock"))
    assert written == sorted(TABLES)
    for name in TABLES:
        parts = sorted(p.name for p in (tmp_path / "mapped" / name).iterdir())
        assert parts == (["part-00000.csv"] if name == "regions" else [f"part-{i:05d}.csv" for i in range(4)])
        union = normalise_keys(read_output_table(name, outputs[name]))
        pd.testing.assert_frame_equal(union, full[name], check_dtype=False, obj=name)


def test_budget_is_split_by_the_documented_rule(model_path):
    info = api.inspect_model(model_path)
    privacy = info["privacy"]
    assert privacy["total_epsilon"] == pytest.approx(1000.0)
    entries = privacy["ledger"]["entries"]
    # six modelled tables, three driving foreign keys (accounts, transactions, refunds)
    unit = 1000.0 / (6 + multitable.DEGREE_WEIGHT * 3)
    expected = {
        "customers": unit,
        "products": unit,
        "employees": unit,
        "accounts": unit * (1 + multitable.DEGREE_WEIGHT),
        "transactions": unit * (1 + multitable.DEGREE_WEIGHT),
        "refunds": unit * (1 + multitable.DEGREE_WEIGHT),
        "regions": 0.0,
    }
    for name, share in expected.items():
        assert info["tables"][name]["epsilon"] == pytest.approx(share), name
        assert math.fsum(e["epsilon"] for e in entries if e["table"] == name) == pytest.approx(share), name
    degree = [e for e in entries if e["purpose"] == "degree_preserving"]
    assert sorted(e["table"] for e in degree) == ["accounts", "refunds", "transactions"]
    # each degree model: its cap by the exponential mechanism (degrees.CAP_BUDGET_FRACTION of its share,
    # sensitivity 1), the histogram by Laplace (the rest)
    caps = {e["detail"]["relation"]: e for e in entries if e["purpose"] == "degree_cap"}
    for entry in degree:
        cap = caps[entry["detail"]["relation"]]
        assert cap["epsilon"] == pytest.approx(degrees.CAP_BUDGET_FRACTION * multitable.DEGREE_WEIGHT * unit)
        assert (cap["mechanism"], cap["sensitivity"]) == ("report_noisy_max", 1.0)
        assert cap["detail"]["cap"] == entry["detail"]["cap"]
        assert entry["epsilon"] + cap["epsilon"] == pytest.approx(multitable.DEGREE_WEIGHT * unit)
        assert entry["sensitivity"] == multitable.DEGREE_SENSITIVITY
        assert entry["scale"] == pytest.approx(multitable.DEGREE_SENSITIVITY / entry["epsilon"])
    # a null rate (2% of the table's share) per foreign key outside the primary key: customers.region_id,
    # employees.manager_id, transactions.handled_by, accounts.customer_id and refunds' composite key
    nulls = {e["table"]: e for e in entries if e["purpose"] == "foreign_key_null_rate"}
    assert sorted(nulls) == ["accounts", "customers", "employees", "refunds", "transactions"]
    assert all(e["sensitivity"] == 1.0 for e in nulls.values())
    assert nulls["employees"]["epsilon"] == pytest.approx(multitable.NULL_RATE_FRACTION * unit)
    assert nulls["employees"]["scale"] == pytest.approx(1 / nulls["employees"]["epsilon"])


def test_cross_table_tables_carry_the_group_sensitivity(model_path):
    info = api.inspect_model(model_path)
    entries = [e for e in info["privacy"]["ledger"]["entries"] if e["table"] == "accounts"]
    # the rows a parent reaches through the join are capped by the public default cap, whatever the degree
    # model's (private) cap
    tables = info["tables"]
    group = multitable.group_size(multitable.degree_cap(tables["accounts"]["n_rows"], tables["customers"]["n_rows"]))
    conditionals = [e for e in entries if e["purpose"] == "conditional"]
    crossed = [e for e in conditionals if e["detail"]["parent_table"] == "customers"]
    assert crossed, "balance_band should take the customer's age band as a parent"
    network_epsilon = math.fsum(e["epsilon"] for e in entries if e["purpose"] in ("structure", "conditional"))
    table_epsilon = network_epsilon * (1 - STRUCTURE_BUDGET_FRACTION) / len(conditionals)
    for entry in conditionals:
        sensitivity = 2.0 * (group if entry in crossed else 1)
        assert entry["sensitivity"] == pytest.approx(sensitivity)
        assert entry["scale"] == pytest.approx(sensitivity / table_epsilon)
    assert any(
        "balance_band" == edge["child"] and "customers.age_band" in edge["parents"]
        for edge in info["tables"]["accounts"]["network"]
    )


@pytest.mark.slow
def test_random_adjacency_spends_nothing_on_degrees(source, tmp_path):
    directory, tables, paths = source
    path = api.train(training_config(paths, tmp_path / "random.hmf", epsilon=10.0, adjacency_type="random"))
    info = api.inspect_model(path)
    assert info["privacy"]["total_epsilon"] == pytest.approx(10.0)
    assert all(e["purpose"] != "degree_preserving" for e in info["privacy"]["ledger"]["entries"])
    frames = _generate(path, tmp_path / "out")
    assert set(dangling_keys(frames, bank_schema()).values()) == {0}
    assert len(frames["accounts"]) == pytest.approx(len(tables["accounts"]), rel=0.1)


def test_a_sequential_table_without_an_owner_key_is_refused_with_its_name(source, tmp_path):
    directory, _, paths = source
    config = training_config(paths, tmp_path / "x.hmf")
    config["data_schema"]["tables"][4].update(type="sequential", sequence_id="grade", sort_by=["employee_id"])
    with pytest.raises(ValueError, match="sequential table 'employees', sequence_id 'grade': must be a foreign_key"):
        api.fit(config)


def test_empty_tables_stay_empty_and_keys_to_them_are_null(tmp_path):
    tables = bank_tables(n_customers=150)
    tables["refunds"] = tables["refunds"].iloc[:0]
    tables["employees"] = tables["employees"].iloc[:0]
    paths = write_csvs(tables, tmp_path / "source")
    path = api.train(training_config(paths, tmp_path / "empty.hmf", epsilon=1.0))
    frames = _generate(path, tmp_path / "out", batch_magnitude=0.5)
    assert len(frames["refunds"]) == 0 and len(frames["employees"]) == 0
    assert len(frames["transactions"]) > 0 and frames["transactions"]["handled_by"].isna().all()
    assert set(dangling_keys(frames, bank_schema()).values()) == {0}


def test_hazy_inspect_shows_each_tables_share_and_degree_model(model_path, capsys):
    from airflow_provider_hazy import cli

    assert cli.main(["inspect", str(model_path)]) == 0
    out = capsys.readouterr().out
    info = api.inspect_model(model_path)
    assert f"table 'accounts': {info['tables']['accounts']['n_rows']} training rows, epsilon 200" in out
    assert "table 'regions': 5 training rows, epsilon 0 (reference: copied as it is, public)" in out
    cap = info["tables"]["accounts"]["degree"]["cap"]
    assert f"degree model (degree_preserving): children per customers row, cap {cap}" in out
    assert "degree histogram (secondary): transactions(handled_by) -> employees(employee_id)" in out


def test_same_random_state_gives_the_same_model_bytes(source, tmp_path, reproducible_noise):
    _, _, paths = source
    first = api.train(training_config(paths, tmp_path / "bank.hmf", epsilon=5.0)).read_bytes()
    second = api.train(training_config(paths, tmp_path / "bank.hmf", epsilon=5.0)).read_bytes()
    assert first == second


def test_unknown_or_repeated_batch_indices_are_refused(model_path, tmp_path):
    config = generation_config(model_path, {"customers": str(tmp_path / "c.csv")}, batch_magnitude=0.5)
    with pytest.raises(ValueError, match="batch_indices: 2 is not a batch of this run"):
        api.generate(config, batch_indices=[2])
    with pytest.raises(ValueError, match="more than once"):
        api.generate(config, batch_indices=[1, 1])


def test_children_per_parent_are_conditioned_on_the_parent(model_path, source, tmp_path):
    frames = _generate(model_path, tmp_path)

    def mean_accounts_by_age(data):
        counts = data["accounts"]["customer_id"].value_counts()
        per_customer = data["customers"].set_index("customer_id").assign(n=counts).fillna({"n": 0})
        return per_customer.groupby("age_band")["n"].mean()

    real, synthetic = mean_accounts_by_age(source[1]), mean_accounts_by_age(frames)
    assert real["senior"] - real["young"] > 2.0
    for band in real.index:
        assert synthetic[band] == pytest.approx(real[band], abs=0.35), band


def test_only_reference_tables_are_stored_as_rows(model_path):
    with zipfile.ZipFile(model_path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert [name for name, entry in manifest["tables"].items() if "rows" in entry] == ["regions"]
    assert manifest["multi_table"]["reference_tables"] == ["regions"]


def test_rows_without_a_driving_parent_keep_their_share(tmp_path):
    tables = bank_tables(n_customers=600)
    accounts = tables["accounts"].astype({"customer_id": object})
    orphan = np.random.default_rng(0).random(len(accounts)) < 0.2
    accounts.loc[orphan, "customer_id"] = None
    tables["accounts"] = accounts
    paths = write_csvs(tables, tmp_path / "source")
    path = api.train(training_config(paths, tmp_path / "orphans.hmf"))
    frames = _generate(path, tmp_path / "out", batch_magnitude=0.5)
    assert frames["accounts"]["customer_id"].isna().mean() == pytest.approx(0.2, abs=0.04)
    assert len(frames["accounts"]) == pytest.approx(len(accounts), rel=0.1)
    assert frames["accounts"]["account_id"].is_unique
    assert set(dangling_keys(frames, bank_schema()).values()) == {0}


def test_generation_validation_passes_on_child_and_reference_tables(model_path, tmp_path):
    """Child tables' row counts come from their degree models (checked against the run's capacity), a
    reference table's from its copied rows."""
    outputs = {name: str(tmp_path / f"{name}.csv") for name in TABLES}
    config = generation_config(model_path, outputs)
    state = api.generate(config)
    assert state["validation"]["passed"], state["validation"]
    report = api.validate(config)
    counts = {c["table"]: c for c in report["checks"] if c["check"] == "row_count"}
    assert counts["regions"]["expected"] == 5
    assert counts["accounts"]["expected"][0] == 0 and counts["accounts"]["expected"][1] >= counts["accounts"]["actual"]
    assert isinstance(counts["customers"]["expected"], int)
