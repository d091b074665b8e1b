"""The model loader reads with bounded memory: each member's declared size is checked against the manifest
and a limit before it is read, a `.npy` header is checked before any allocation, and every malformed
manifest or array is a `ModelFileError` (through `hazy generate`: exit 2, one line)."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from airflow_provider_hazy import api
from airflow_provider_hazy.model_file import ModelFileError, read_manifest, read_model, write_model_bytes

REPO = Path(__file__).resolve().parents[1]
GIB = 1024**3
MANIFEST = {"synthesiser": "priv_bayes", "tables": {"t": {"n_rows": 3}}}
ARRAYS = {"t0.network.cpt0": np.array([[0.25, 0.75], [0.5, 0.5]]), "t0.encoding.edges": np.arange(5, dtype=np.int64)}


def _zeros_deflated(size: int) -> tuple:
    """A raw deflate stream of `size` zero bytes (built from one repeated fully-flushed block), and its CRC."""
    chunk = 64 * 1024 * 1024
    assert size % chunk == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(chunk)) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    zero_chunk = bytes(chunk)
    for _ in range(size // chunk):
        crc = zlib.crc32(zero_chunk, crc)
    return block * (size // chunk) + compressor.flush(), crc


def _zip64(members: list) -> bytes:
    """A zip archive of (name, declared size, crc, deflated bytes), with zip64 sizes in every header."""
    body, central = io.BytesIO(), io.BytesIO()
    for name, size, crc, data in members:
        encoded = name.encode()
        extra = struct.pack("<HHQQ", 0x0001, 16, size, len(data))
        offset = body.tell()
        body.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                               len(encoded), len(extra)) + encoded + extra + data)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF,
                                  0xFFFFFFFF, len(encoded), len(extra), 0, 0, 0, 0, offset) + encoded + extra)
    directory = central.getvalue()
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), body.tell(), 0)
    return body.getvalue() + directory + end


def _member(name: str, payload: bytes) -> tuple:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return name, len(payload), zlib.crc32(payload), compressor.compress(payload) + compressor.flush()


def _manifest_bytes(**changes) -> bytes:
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(write_model_bytes(MANIFEST, ARRAYS))).read("manifest.json"))
    manifest.update(changes)
    return json.dumps(manifest).encode()


@pytest.fixture(scope="module")
def crafted(tmp_path_factory) -> Path:
    """A valid-looking model whose one array member declares (and really inflates to) 4 GiB of zeros; the
    manifest records that size, so only the limit stops it. About 4 MB on disk."""
    data, crc = _zeros_deflated(4 * GIB)
    manifest = _manifest_bytes(arrays={"big": "0" * 64}, array_sizes={"big": 4 * GIB})
    path = tmp_path_factory.mktemp("crafted") / "crafted.hmf"
    path.write_bytes(_zip64([_member("manifest.json", manifest), ("arrays/big.npy", 4 * GIB, crc, data)]))
    return path


def test_the_crafted_file_is_small_on_disk_and_declares_4_gib(crafted):
    assert crafted.stat().st_size < 8 * 1024 * 1024
    assert zipfile.ZipFile(crafted).getinfo("arrays/big.npy").file_size == 4 * GIB


# Linux keeps a process's peak RSS (ru_maxrss) across fork and exec: a child forked from pytest would start
# from pytest's own peak. A small launcher forks the measured process and reads its peak as RUSAGE_CHILDREN.
LAUNCHER = (
    "import resource, subprocess, sys; code = subprocess.run([sys.executable, *sys.argv[1:]]).returncode; "
    "print('peak_kib', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)


def measured(arguments: list, cwd: Path) -> subprocess.CompletedProcess:
    """Run `python <arguments>` with its peak memory printed last on standard output (`peak_kib N`)."""
    return subprocess.run(
        [sys.executable, "-c", LAUNCHER, *arguments], capture_output=True, text=True, cwd=cwd,
        env={"PYTHONPATH": str(REPO)}, timeout=120,
    )


def test_a_4_gib_member_is_refused_with_peak_memory_under_200_mb(crafted, tmp_path):
    script = textwrap.dedent(
        f"""
        from airflow_provider_hazy.model_file import ModelFileError, read_model
        try:
            read_model({str(crafted)!r})
        except ModelFileError as error:
            print("refused:", error)
        """
    )
    result = measured(["-c", script], REPO)
    assert result.returncode == 0, result.stderr
    refused, peak = result.stdout.strip().splitlines()
    assert "model file declares 4294967296 bytes of arrays (array 'big'" in refused
    assert "more than the limit of 2147483648" in refused
    peak_mb = int(peak.split()[1]) / 1024
    assert peak_mb < 200, f"peak memory {peak_mb:.0f} MB"


def test_hazy_generate_from_the_crafted_model_exits_2_in_one_line(crafted, tmp_path):
    config = tmp_path / "gen.yaml"
    config.write_text(f"model: {crafted}\ndata_output: [{{name: t, location: {tmp_path / 'out.csv'}}}]\n")
    result = measured(["-m", "airflow_provider_hazy.cli", "generate", str(config)], tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"hazy generate: {crafted}: model file declares 4294967296 bytes of arrays")
    assert int(result.stdout.strip().split()[-1]) / 1024 < 200


def test_a_member_larger_than_the_manifest_says_is_refused_before_reading():
    manifest = _manifest_bytes()
    sizes = json.loads(manifest)["array_sizes"]
    data, crc = _zeros_deflated(64 * 1024 * 1024)
    edges = io.BytesIO()
    np.save(edges, ARRAYS["t0.encoding.edges"])
    archive = _zip64(
        [
            _member("manifest.json", manifest),
            ("arrays/t0.network.cpt0.npy", 64 * 1024 * 1024, crc, data),
            _member("arrays/t0.encoding.edges.npy", edges.getvalue()),
        ]
    )
    with pytest.raises(ModelFileError, match=rf"array 't0.network.cpt0' declares 67108864 bytes, the manifest "
                                             rf"{sizes['t0.network.cpt0']}"):
        read_model(archive)


def test_a_huge_manifest_is_refused_before_reading():
    data, crc = _zeros_deflated(512 * 1024 * 1024)
    with pytest.raises(ModelFileError, match="manifest.json declares 536870912 bytes, more than the limit"):
        read_manifest(_zip64([("manifest.json", 512 * 1024 * 1024, crc, data)]))


def _with_array(payload: bytes, name: str = "t0.encoding.edges") -> bytes:
    manifest = json.loads(_manifest_bytes())
    manifest["arrays"][name] = hashlib.sha256(payload).hexdigest()
    manifest["array_sizes"][name] = len(payload)
    cpt = io.BytesIO()
    np.save(cpt, ARRAYS["t0.network.cpt0"])
    members = {"arrays/t0.network.cpt0.npy": cpt.getvalue(), f"arrays/{name}.npy": payload}
    entries = [_member("manifest.json", json.dumps(manifest).encode())]
    return _zip64(entries + [_member(member, payload) for member, payload in members.items()])


def test_a_npy_header_claiming_a_huge_shape_is_refused_without_allocating_it():
    buffer = io.BytesIO()
    header = {"descr": "<i8", "fortran_order": False, "shape": (5_000_000_000_000,)}  # 40 TB
    np.lib.format.write_array_header_1_0(buffer, header)
    lying = buffer.getvalue() + np.arange(5, dtype=np.int64).tobytes()
    with pytest.raises(ModelFileError, match=r"header declares shape \(5000000000000,\)"):
        read_model(_with_array(lying))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\x93NUMPY\x01\x00\x10\x00{'descr': 'nonsense'}", "is not a plain NumPy array"),
        (b"not an npy file at all", "is not a plain NumPy array"),
        (b"", "is not a plain NumPy array"),
    ],
)
def test_malformed_arrays_are_model_file_errors(payload, message):
    with pytest.raises(ModelFileError, match=message):
        read_model(_with_array(payload))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"arrays": {"x": 1}}, "manifest lists no arrays"),
        ({"arrays": []}, "manifest lists no arrays"),
        ({"array_sizes": {"t0.network.cpt0": -1, "t0.encoding.edges": 1}}, "array_sizes do not match"),
        ({"array_sizes": {"t0.network.cpt0": 1}}, "array_sizes do not match"),
        ({"array_sizes": "big"}, "array_sizes do not match"),
    ],
)
def test_malformed_manifests_are_model_file_errors(changes, message):
    data = write_model_bytes(MANIFEST, ARRAYS)
    source = zipfile.ZipFile(io.BytesIO(data))
    members = [_member("manifest.json", _manifest_bytes(**changes))]
    members += [_member(name, source.read(name)) for name in source.namelist() if name != "manifest.json"]
    with pytest.raises(ModelFileError, match=message):
        read_model(_zip64(members))


def test_a_manifest_whose_model_entries_are_malformed_is_a_model_file_error(tmp_path):
    manifest = {"synthesiser": "priv_bayes", "schema": {"tables": []}, "tables": {"t": {"n_rows": "many"}}}
    path = tmp_path / "m.hmf"
    path.write_bytes(write_model_bytes(manifest, ARRAYS))
    with pytest.raises(ModelFileError, match=f"{path}: damaged model file"):
        api.load_model(path)


def test_hazy_inspect_of_a_manifest_without_a_model_is_a_model_file_error_exit_2(tmp_path, capsys):
    from airflow_provider_hazy.cli import main

    path = tmp_path / "bad.hmf"
    path.write_bytes(write_model_bytes({"synthesiser": "priv_bayes", "tables": {"t": {"n_rows": 3}}}, ARRAYS))
    assert main(["inspect", str(path)]) == 2
    message = f"hazy inspect: {path}: damaged model file (manifest: KeyError: 'privacy')"
    assert capsys.readouterr().err.strip() == message
