"""The .hmf model file: round trips, determinism, and clear errors for anything that is not a model."""

import hashlib
import io
import json
import zipfile

import numpy as np
import pytest

from airflow_provider_hazy.model_file import (
    MODEL_FORMAT_VERSION,
    ModelFileError,
    read_manifest,
    read_model,
    write_model,
    write_model_bytes,
)

MANIFEST = {"synthesiser": "priv_bayes", "tables": {"t": {"n_rows": 3}}}
ARRAYS = {"t0.network.cpt0": np.array([[0.25, 0.75], [0.5, 0.5]]), "t0.encoding.edges": np.arange(5, dtype=np.int64)}


def _rewrite(data: bytes, replace: dict) -> bytes:
    """A copy of a zip archive with some members' bytes replaced."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            target.writestr(info.filename, replace.get(info.filename, source.read(info.filename)))
    return buffer.getvalue()


def test_round_trip_gives_equal_manifest_and_arrays(tmp_path):
    path = write_model(tmp_path / "m.hmf", MANIFEST, ARRAYS)
    manifest, arrays = read_model(path)
    assert manifest["synthesiser"] == "priv_bayes"
    assert manifest["format_version"] == MODEL_FORMAT_VERSION
    assert set(arrays) == set(ARRAYS)
    for name, array in ARRAYS.items():
        np.testing.assert_array_equal(arrays[name], array)
        assert arrays[name].dtype == array.dtype


def test_same_inputs_give_identical_bytes():
    assert write_model_bytes(MANIFEST, ARRAYS) == write_model_bytes(MANIFEST, ARRAYS)


def test_archive_holds_only_json_and_npy():
    names = zipfile.ZipFile(io.BytesIO(write_model_bytes(MANIFEST, ARRAYS))).namelist()
    assert names[0] == "manifest.json"
    assert all(name.endswith(".npy") for name in names[1:])


def test_object_arrays_are_refused_because_they_need_pickle():
    with pytest.raises(ModelFileError, match="pickle"):
        write_model_bytes(MANIFEST, {"bad": np.array(["a", None], dtype=object)})


def test_read_manifest_does_not_need_the_arrays(tmp_path):
    path = write_model(tmp_path / "m.hmf", MANIFEST, ARRAYS)
    assert read_manifest(path)["tables"] == MANIFEST["tables"]


def test_a_non_zip_file_is_not_a_model(tmp_path):
    path = tmp_path / "notes.hmf"
    path.write_text("hello")
    with pytest.raises(ModelFileError, match="not a model file"):
        read_model(path)


def test_a_truncated_file_is_reported(tmp_path):
    data = write_model_bytes(MANIFEST, ARRAYS)
    path = tmp_path / "cut.hmf"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="not a model file|damaged"):
        read_model(path)


def test_a_zip_without_manifest_is_not_a_model(tmp_path):
    path = tmp_path / "other.hmf"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hi")
    with pytest.raises(ModelFileError, match="no manifest.json"):
        read_model(path)


def test_an_unknown_format_version_is_refused():
    data = write_model_bytes(MANIFEST, ARRAYS)
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))
    manifest["format_version"] = 99
    tampered = _rewrite(data, {"manifest.json": json.dumps(manifest).encode()})
    with pytest.raises(ModelFileError, match="version 99 is not supported"):
        read_model(tampered)


def test_a_tampered_array_is_detected_by_its_checksum():
    data = write_model_bytes(MANIFEST, ARRAYS)
    buffer = io.BytesIO()
    np.save(buffer, np.array([[1.0, 0.0], [0.0, 1.0]]))
    tampered = _rewrite(data, {"arrays/t0.network.cpt0.npy": buffer.getvalue()})
    with pytest.raises(ModelFileError, match="checksum"):
        read_model(tampered)


def test_a_pickled_array_in_a_tampered_file_is_never_unpickled():
    data = write_model_bytes(MANIFEST, ARRAYS)
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    payload = buffer.getvalue()
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))
    manifest["arrays"]["t0.encoding.edges"] = hashlib.sha256(payload).hexdigest()
    manifest["array_sizes"]["t0.encoding.edges"] = len(payload)
    tampered = _rewrite(
        data, {"manifest.json": json.dumps(manifest).encode(), "arrays/t0.encoding.edges.npy": payload}
    )
    with pytest.raises(ModelFileError, match="only plain dtypes are read"):
        read_model(tampered)


def test_a_missing_file_is_reported_by_name(tmp_path):
    with pytest.raises(ModelFileError, match="nowhere.hmf"):
        read_model(tmp_path / "nowhere.hmf")
