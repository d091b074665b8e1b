"""The registry against PostgreSQL: introspection of real models, the draft/active rules, refusals that change
nothing, exact-bytes downloads (folder and S3), the default model, and two processes racing to activate."""

from __future__ import annotations

import io
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from airflow_provider_hazy.model_file import read_manifest
from airflow_provider_hazy.registry import AccessDenied, Caller, ModelRejected, NotFound, Registry, RegistryError
from airflow_provider_hazy.registry.store import sha256_hex

HERE = Path(__file__).parent


def _state(registry: Registry) -> dict:
    """Everything a refused request must leave as it was: rows of every table and the stored files."""
    with registry.engine.connect() as connection:
        rows = {
            table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("hazy_generators", "hazy_generator_teams", "hazy_versions", "hazy_models", "hazy_blobs")
        }
        active = connection.execute(sa.text("SELECT id FROM hazy_versions WHERE status = 'active'")).all()
    return {"rows": rows, "active": active, "files": registry.store.addresses()}


def test_upload_introspects_two_real_models_at_two_epsilons(registry, sample_models):
    registry.create_generator("bank", "Sample bank", ["analytics"])
    first = registry.upload("bank", sample_models[0.5])
    second = registry.upload("bank", sample_models[2.0], version=first.version)
    assert (first.version, second.version) == (1, 1)
    for model, epsilon in ((first, 0.5), (second, 2.0)):
        manifest = read_manifest(sample_models[epsilon])
        assert model.synthesiser == manifest["synthesiser"] == "priv_bayes"
        assert model.epsilon == pytest.approx(manifest["privacy"]["ledger"]["total_epsilon"])
        assert model.epsilon == pytest.approx(epsilon)  # the ledger spends the whole budget
        assert model.delta == 0.0
        assert model.processing_private is False
        summary = model.summary
        assert set(summary["tables"]) == {"branches", "customers", "accounts"}
        assert {c["name"] for c in summary["tables"]["customers"]["columns"]} >= {"customer_id", "age", "income"}
        assert summary["training_parameters"]["generator"]["epsilon"] == epsilon
        assert 0 < summary["evaluation"]["histogram_similarity"] <= 1
        assert summary["sample"]["customers"] and "age" in summary["sample"]["customers"][0]
        assert summary["ledger"] and all(entry["epsilon"] > 0 for entry in summary["ledger"])
    assert registry.version("bank", 1).status == "draft"


def test_generation_sees_only_the_active_version_and_make_draft_withdraws_it(registry, sample_models):
    registry.create_generator("bank")
    v1 = registry.upload("bank", sample_models[0.5]).version
    with pytest.raises(NotFound, match="no active version"):
        registry.resolve("bank")
    registry.activate("bank", v1)
    assert registry.resolve("bank").version == v1
    v2 = registry.upload("bank", sample_models[2.0]).version
    assert registry.resolve("bank").version == v1  # a new draft does not change what is served
    registry.activate("bank", v2)
    assert [(v.number, v.status) for v in registry.versions("bank")] == [(v2, "active"), (v1, "draft")]
    assert registry.generator("bank").active_version == v2
    registry.draft("bank", v2)
    assert registry.generator("bank").active_version is None
    with pytest.raises(NotFound, match="no active version"):
        registry.download("bank")


def test_an_empty_version_cannot_be_activated(registry):
    registry.create_generator("bank")
    version = registry.create_version("bank").number
    with pytest.raises(RegistryError, match="holds no model"):
        registry.activate("bank", version)


def test_an_active_version_is_frozen_and_an_address_is_unique(registry, sample_models):
    registry.create_generator("bank")
    version = registry.upload("bank", sample_models[0.5]).version
    with pytest.raises(RegistryError, match="already holds a priv_bayes model at epsilon 0.5"):
        registry.upload("bank", sample_models[0.5], version=version)
    registry.activate("bank", version)
    before = _state(registry)
    with pytest.raises(RegistryError, match="is active: make it draft"):
        registry.upload("bank", sample_models[2.0], version=version)
    assert _state(registry) == before


def test_the_database_itself_allows_one_active_version(registry, sample_models):
    registry.create_generator("bank")
    v1 = registry.upload("bank", sample_models[0.5]).version
    v2 = registry.upload("bank", sample_models[2.0]).version
    registry.activate("bank", v1)
    with pytest.raises(sa.exc.IntegrityError, match="uq_hazy_versions_one_active"):
        with registry.engine.begin() as connection:
            connection.execute(sa.text("UPDATE hazy_versions SET status = 'active' WHERE number = :n"), {"n": v2})


def test_the_default_model_is_the_most_private_meeting_the_minimum_scores(registry, sample_models):
    registry.create_generator("bank")
    version = registry.upload("bank", sample_models[0.5]).version
    registry.upload("bank", sample_models[2.0], version=version)
    registry.activate("bank", version)
    assert registry.resolve("bank").epsilon == 0.5
    assert registry.resolve("bank", epsilon=2.0).epsilon == 2.0
    models = registry.version("bank", version).models
    best = max(models, key=lambda m: m.scores["histogram_similarity"])
    chosen = registry.resolve("bank", min_scores={"histogram_similarity": best.scores["histogram_similarity"]})
    assert chosen.sha256 == best.sha256
    with pytest.raises(NotFound, match="scores at least"):
        registry.resolve("bank", min_scores={"histogram_similarity": 1.01})
    with pytest.raises(NotFound, match="synthesiser mst"):
        registry.resolve("bank", synthesiser="mst")


def test_a_non_model_and_a_tampered_model_are_refused_and_change_nothing(registry, sample_models, tmp_path):
    registry.create_generator("bank")
    before = _state(registry)
    with pytest.raises(ModelRejected, match=r"notes.txt: not a model file \(not a zip archive"):
        registry.upload("bank", b"these are not the rows you are looking for", filename="notes.txt")
    original = sample_models[0.5].read_bytes()
    tampered = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as source, zipfile.ZipFile(tampered, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.startswith("arrays/") and item.filename.endswith(".npy"):
                data = data[:-1] + bytes([data[-1] ^ 1])  # one bit of one array
            target.writestr(item, data)
    path = tmp_path / "tampered.hmf"
    path.write_bytes(tampered.getvalue())
    with pytest.raises(ModelRejected, match=r"tampered.hmf: tampered or damaged model file \(array '.*' checksum"):
        registry.upload("bank", path)
    assert _state(registry) == before


def test_download_returns_the_exact_bytes_uploaded(registry, sample_models, tmp_path):
    registry.create_generator("bank")
    model = registry.upload("bank", sample_models[2.0])
    registry.activate("bank", model.version)
    original = sample_models[2.0].read_bytes()
    assert registry.download("bank") == original
    assert model.sha256 == sha256_hex(original) and model.size == len(original)
    fetched = registry.fetch("bank", tmp_path / "cache")
    assert fetched.name == f"{model.sha256}.hmf" and fetched.read_bytes() == original


def test_s3_store_round_trip_and_no_orphan(registry_url, sample_models, s3_store_client):
    client, bucket = s3_store_client
    with Registry(registry_url, f"s3://{bucket}/hub/models", s3_client=client) as registry:
        registry.create_generator("bank")
        model = registry.upload("bank", sample_models[0.5])
        registry.upload("bank", sample_models[0.5])  # same bytes, second version: stored once
        registry.activate("bank", model.version)
        assert registry.download("bank") == sample_models[0.5].read_bytes()
        keys = [item["Key"] for item in client.list_objects_v2(Bucket=bucket)["Contents"]]
        assert keys == [f"hub/models/{model.sha256[:2]}/{model.sha256}.hmf"]
        assert registry.check() == {"orphan_files": [], "missing_files": [], "unused_blobs": []}


def test_a_failed_upload_leaves_no_file(registry, sample_models):
    registry.create_generator("bank")
    before = _state(registry)
    with pytest.raises(sa.exc.DataError):  # the model row fails after the bytes were stored: they are removed
        registry.upload("bank", sample_models[0.5], filename="x" * 600 + ".hmf")
    assert _state(registry) == before
    assert registry.check() == {"orphan_files": [], "missing_files": [], "unused_blobs": []}


def test_a_caller_outside_the_teams_is_refused_and_changes_nothing(registry, sample_models):
    alice = Caller("alice", frozenset({"analytics"}))
    mallory = Caller("mallory", frozenset({"marketing"}))
    registry.create_generator("bank", teams=["analytics"], caller=alice)
    version = registry.upload("bank", sample_models[0.5], caller=alice).version
    before = _state(registry)
    for attempt in (
        lambda: registry.upload("bank", sample_models[2.0], caller=mallory),
        lambda: registry.activate("bank", version, caller=mallory),
        lambda: registry.download("bank", caller=mallory),
        lambda: registry.versions("bank", caller=mallory),
        lambda: registry.set_teams("bank", ["marketing"], caller=mallory),
    ):
        with pytest.raises(AccessDenied, match="mallory"):
            attempt()
    assert _state(registry) == before
    assert [g.name for g in registry.generators(caller=mallory)] == []
    assert [g.name for g in registry.generators(caller=alice)] == ["bank"]
    with pytest.raises(AccessDenied):
        registry.create_generator("other", teams=["analytics"], caller=mallory)


@pytest.mark.slow
def test_two_processes_racing_to_upload_and_activate_leave_one_active_version(registry, sample_models, tmp_path):
    registry.create_generator("race")
    rounds = 6
    start_at = time.time() + 4.0  # both processes are up and connected by then
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(HERE / "race_worker.py"),
                str(registry.engine.url.render_as_string(False)),
                str(registry.store.location),
                str(model),
                str(rounds),
                str(start_at),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for model in (sample_models[0.5], sample_models[2.0])
    ]
    outputs = [worker.communicate(timeout=120) for worker in workers]
    for worker, (_out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err
    activated = [int(v) for out, _ in outputs for v in out.split()]
    versions = registry.versions("race")
    assert sorted(activated) == sorted(v.number for v in versions) == list(range(1, 2 * rounds + 1))
    assert [v.status for v in versions].count("active") == 1
    assert registry.check() == {"orphan_files": [], "missing_files": [], "unused_blobs": []}
    assert len(registry.store.addresses()) == 2
