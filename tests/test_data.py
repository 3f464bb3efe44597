"""Tests for repgeom.data: IDX/CIFAR parsing, mirrors, downloads (served from a local
http.server on 127.0.0.1, never the internet), provenance and the tensor file."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import io
import json
import pickle
import struct
import sys
import tarfile
import threading
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from cifar_fixture import CLASSES, py2_pickle
from conftest import find_mirror

from repgeom.data import DATASETS, DataError, fetch, load_dataset, prepare_dataset
from repgeom.data import cifar as cifar_mod
from repgeom.data.idx import read_idx_images, read_idx_labels

SHARED = find_mirror() or Path("no-mirror")
IDX_STEMS = [f.name.removesuffix(".gz") for f in DATASETS["mnist"].files]


# --------------------------------------------------------------------------- fixtures


def idx_images(images: np.ndarray) -> bytes:
    n, h, w = images.shape
    return struct.pack(">IIII", 0x803, n, h, w) + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 0x801, len(labels)) + labels.astype(np.uint8).tobytes()


def tiny_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        (np.arange(n) % 10).astype(np.uint8),
    )


def write_idx_mirror(root: Path, folder: str = "mnist", gz: bool = True, n=(20, 10)) -> dict:
    """Write a tiny MNIST-like dataset as IDX files; return the arrays."""
    d = root / folder
    d.mkdir(parents=True, exist_ok=True)
    (trx, try_), (tex, tey) = tiny_split(n[0], 0), tiny_split(n[1], 1)
    payloads = [idx_images(trx), idx_labels(try_), idx_images(tex), idx_labels(tey)]
    for stem, payload in zip(IDX_STEMS, payloads, strict=True):
        if gz:
            (d / f"{stem}.gz").write_bytes(gzip.compress(payload))
        else:
            (d / stem).write_bytes(payload)
    return {"train_images": trx, "train_labels": try_, "test_images": tex, "test_labels": tey}


def cifar_batch(n: int, first_label: int) -> tuple[bytes, np.ndarray]:
    """A batch whose red plane is 10+label, green 100+label, blue 200+label."""
    labels = [(first_label + i) % 10 for i in range(n)]
    rows = np.zeros((n, 3072), dtype=np.uint8)
    for i, y in enumerate(labels):
        rows[i, :1024], rows[i, 1024:2048], rows[i, 2048:] = 10 + y, 100 + y, 200 + y
        rows[i, 5] = 7  # pixel (row 0, col 5) of the red plane
    d = {b"batch_label": b"fake batch", b"labels": labels, b"data": rows, b"filenames": []}
    return py2_pickle(d), np.array(labels)


def write_cifar_folder(folder: Path, n: int = 4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(cifar_batch(n, i)[0])
    (folder / "test_batch").write_bytes(cifar_batch(n, 0)[0])
    meta = {b"label_names": [c.encode() for c in CLASSES], b"num_cases_per_batch": n}
    (folder / "batches.meta").write_bytes(py2_pickle(meta))
    return folder


def write_cifar_tarball(path: Path, tmp: Path, n: int = 4) -> Path:
    src = write_cifar_folder(tmp / "src" / "cifar-10-batches-py", n)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    return path


def all_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path):
    """Serve tmp_path/www on 127.0.0.1 (offline); yield (folder, base URL)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(QuietHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield www, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def no_env_mirror_no_sleep(monkeypatch):
    monkeypatch.delenv("REPGEOM_DATA_MIRROR", raising=False)
    sleeps: list[float] = []
    monkeypatch.setattr(fetch, "sleep", sleeps.append)
    return sleeps


@pytest.fixture
def no_network(monkeypatch):
    calls: list[str] = []

    def fail(req, timeout=None):
        calls.append(req.full_url)
        raise urllib.error.URLError("simulated: network is unreachable")

    monkeypatch.setattr(fetch, "urlopen", fail)
    return calls


def patch_urls(monkeypatch, name: str, urls_for, md5_for=None):
    """Point dataset ``name`` at other URLs (and md5s) for the duration of a test."""
    spec = DATASETS[name]
    files = tuple(
        dataclasses.replace(
            f, urls=tuple(urls_for(f.name)), md5=md5_for(f.name) if md5_for else f.md5
        )
        for f in spec.files
    )
    monkeypatch.setitem(DATASETS, name, dataclasses.replace(spec, files=files))


# --------------------------------------------------------------------------- IDX parsing


@pytest.mark.parametrize("gz", [True, False])
def test_idx_parsing_gz_and_raw(tmp_path, gz):
    arrays = write_idx_mirror(tmp_path, gz=gz)
    suffix = ".gz" if gz else ""
    x = read_idx_images(tmp_path / "mnist" / f"train-images-idx3-ubyte{suffix}")
    y = read_idx_labels(tmp_path / "mnist" / f"train-labels-idx1-ubyte{suffix}")
    assert x.shape == (20, 28, 28) and x.dtype == np.uint8
    np.testing.assert_array_equal(x, arrays["train_images"])
    np.testing.assert_array_equal(y, arrays["train_labels"])


def test_idx_wrong_magic_names_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_labels(np.zeros(5, np.uint8)))  # a labels file posing as images
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.*magic"):
        read_idx_images(path)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_truncated_names_file(tmp_path, gz):
    payload = idx_images(tiny_split(5, 0)[0])
    path = tmp_path / ("t10k-images-idx3-ubyte" + (".gz" if gz else ""))
    if gz:
        path.write_bytes(gzip.compress(payload)[:-40])  # truncated gzip stream
    else:
        path.write_bytes(payload[:-100])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.*truncated"):
        read_idx_images(path)


def test_idx_trailing_bytes_and_bad_labels(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(idx_labels(np.arange(10, dtype=np.uint8)) + b"\x00")
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.*trailing"):
        read_idx_labels(path)
    path.write_bytes(idx_labels(np.array([0, 3, 12], np.uint8)))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.*outside"):
        read_idx_labels(path)


def test_image_label_count_mismatch(tmp_path):
    write_idx_mirror(tmp_path)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_labels(np.zeros(3, np.uint8)))
    )
    with pytest.raises(DataError, match="t10k-images.*10 images.*3 labels"):
        prepare_dataset("mnist", tmp_path / "out.pt", mirror=str(tmp_path), download=False)
    assert not (tmp_path / "out.pt").exists()


# --------------------------------------------------------------------------- real mirror


@pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason="no offline MNIST mirror")
def test_real_mnist_mirror(tmp_path):
    out = tmp_path / "mnist.pt"
    prov = prepare_dataset("mnist", out, mirror=str(SHARED), download=False)
    json.dumps(prov)
    assert prov["source"] == "mirror"
    assert (prov["n_train"], prov["n_test"]) == (8000, 2000)
    assert sum(prov["class_counts"]["train"]) == 8000
    assert sum(prov["class_counts"]["test"]) == 2000
    assert all(c > 0 for c in prov["class_counts"]["train"])
    assert [f["official"] for f in prov["files"]] == [False] * 4
    assert all(len(f["sha256"]) == 64 and Path(f["path"]).is_file() for f in prov["files"])
    warns = "\n".join(prov["warnings"])
    assert "mnist/train-images-idx3-ubyte.gz is not the official file (sha256" in warns
    assert "not comparable to published numbers" in warns
    assert "8000 train / 2000 test" in warns
    data = load_dataset(out)
    assert data["train_images"].shape == (8000, 1, 28, 28)
    assert data["test_images"].shape == (2000, 1, 28, 28)
    assert data["train_labels"].dtype == torch.int64
    counts = torch.bincount(data["train_labels"], minlength=10)
    assert counts.tolist() == prov["class_counts"]["train"]


@pytest.mark.skipif(not (SHARED / "fashion-mnist").is_dir(), reason="no Fashion-MNIST mirror")
def test_real_fashion_mnist_mirror(tmp_path):
    out = tmp_path / "fmnist.pt"
    prov = prepare_dataset("fashion-mnist", out, mirror=str(SHARED), download=False)
    assert (prov["n_train"], prov["n_test"]) == (60000, 10000)
    assert prov["class_counts"]["train"] == [6000] * 10
    assert prov["class_counts"]["test"] == [1000] * 10
    assert all(f["official"] for f in prov["files"])
    assert all("recompressed archive, official content" in f["note"] for f in prov["files"])
    assert not any("not the official file" in w for w in prov["warnings"])
    assert any("official content" in w for w in prov["warnings"])
    data = load_dataset(out)
    assert data["train_images"].shape == (60000, 1, 28, 28)
    assert data["classes"][0] == "T-shirt/top" and data["name"] == "fashion-mnist"


# --------------------------------------------------------------------------- prepare / load


@pytest.mark.parametrize("gz", [True, False])
def test_prepare_from_mirror_roundtrip(tmp_path, no_network, gz, caplog):
    arrays = write_idx_mirror(tmp_path / "mirror", gz=gz)
    out = tmp_path / "prepared" / "mnist.pt"
    with caplog.at_level("INFO", logger="repgeom.data"):
        prov = prepare_dataset("mnist", out, mirror=str(tmp_path / "mirror"))
    assert no_network == []  # the mirror was used, nothing downloaded
    assert json.loads(json.dumps(prov))["dataset"] == "mnist"
    assert prov["source"] == "mirror" and prov["image_shape"] == [1, 28, 28]
    assert "looking for mnist in mirror" in caplog.text
    assert any("not the official file" in w for w in prov["warnings"])
    raw = torch.load(out, weights_only=True)
    assert raw["train_labels"].dtype == torch.uint8  # stored compactly
    data = load_dataset(out, device="cpu")
    assert data["train_images"].dtype == torch.uint8
    assert data["train_images"].shape == (20, 1, 28, 28)
    assert data["test_labels"].dtype == torch.int64 and data["test_labels"].shape == (10,)
    np.testing.assert_array_equal(data["train_images"][:, 0].numpy(), arrays["train_images"])
    np.testing.assert_array_equal(data["test_labels"].numpy(), arrays["test_labels"])
    assert data["classes"] == [str(i) for i in range(10)] and data["name"] == "mnist"
    assert [p.name for p in out.parent.iterdir()] == ["mnist.pt"]  # no temp files left


def test_env_var_mirror(tmp_path, monkeypatch, no_network):
    write_idx_mirror(tmp_path / "m", folder="fashion-mnist")
    monkeypatch.setenv("REPGEOM_DATA_MIRROR", str(tmp_path / "m"))
    prov = prepare_dataset("fashion-mnist", tmp_path / "f.pt", mirror=None)
    assert prov["source"] == "mirror" and prov["n_train"] == 20


def test_corrupt_mirror_file_is_error_not_fallback(tmp_path, no_network):
    write_idx_mirror(tmp_path / "mirror")
    bad = tmp_path / "mirror" / "mnist" / "train-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(DataError, match=r"mirror/mnist/train-images-idx3-ubyte\.gz"):
        prepare_dataset("mnist", tmp_path / "out.pt", mirror=str(tmp_path / "mirror"))
    assert no_network == [] and not (tmp_path / "out.pt").exists()


def test_incomplete_mirror_is_error(tmp_path, no_network):
    write_idx_mirror(tmp_path / "mirror")
    (tmp_path / "mirror" / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte.gz"):
        prepare_dataset("mnist", tmp_path / "out.pt", mirror=str(tmp_path / "mirror"))
    assert no_network == []


@pytest.mark.parametrize("all_dirs", [False, True])
def test_mirror_entry_that_is_a_directory_is_named(tmp_path, no_network, all_dirs):
    """A folder where an IDX file should be is reported as a folder, not as missing,
    whether the other files are there or not."""
    mnist = tmp_path / "mirror" / "mnist"
    write_idx_mirror(tmp_path / "mirror")
    stems = IDX_STEMS if all_dirs else IDX_STEMS[:1]
    for stem in stems:
        (mnist / f"{stem}.gz").unlink()
        (mnist / f"{stem}.gz").mkdir()
    with pytest.raises(DataError) as err:
        prepare_dataset("mnist", tmp_path / "out.pt", mirror=str(tmp_path / "mirror"))
    msg = str(err.value)
    for stem in stems:
        assert f"{mnist / stem}.gz is a directory, not a file" in msg
    assert "missing" not in msg and no_network == []


def test_cifar_batch_that_is_a_directory_is_named(tmp_path, no_network):
    folder = write_cifar_folder(tmp_path / "mirror" / "cifar-10" / "cifar-10-batches-py")
    (folder / "test_batch").unlink()
    (folder / "test_batch").mkdir()
    with pytest.raises(DataError, match="test_batch: is a directory, not a file"):
        prepare_dataset("cifar10", tmp_path / "c.pt", mirror=str(tmp_path / "mirror"))


def test_truncated_gzip_advice_is_to_replace_the_file(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_labels(np.zeros(50, np.uint8)))[:-20])
    with pytest.raises(DataError) as err:
        read_idx_labels(path)
    assert "truncated gzip archive" in str(err.value)
    assert "replace it with an intact copy of the file" in str(err.value)
    assert "delete it" not in str(err.value)


def test_load_dataset_errors(tmp_path):
    with pytest.raises(DataError, match="nothere.pt.*prepare_dataset"):
        load_dataset(tmp_path / "nothere.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="junk.pt"):
        load_dataset(tmp_path / "junk.pt")


# --------------------------------------------------------------------------- downloads


def test_download_from_mirrors_with_fallback(
    tmp_path, http_root, monkeypatch, no_env_mirror_no_sleep
):
    www, base = http_root
    write_idx_mirror(www, folder="good")
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in (www / "good").iterdir()}
    patch_urls(
        monkeypatch, "mnist", lambda n: [base + "missing/" + n, base + "good/" + n], md5.__getitem__
    )
    cache = tmp_path / "cache"
    prov = prepare_dataset("mnist", tmp_path / "out.pt", mirror=None, cache_dir=cache)
    assert prov["source"] == "download"
    assert all(f["url"].startswith(base + "good/") and f["official"] for f in prov["files"])
    assert [p.name for p in all_files(cache)] == sorted(md5)
    assert no_env_mirror_no_sleep == []  # a 404 is not retried
    assert load_dataset(tmp_path / "out.pt")["train_images"].shape == (20, 1, 28, 28)
    # second run: the verified cache is reused, no network needed
    monkeypatch.setattr(fetch, "urlopen", None)
    prov2 = prepare_dataset("mnist", tmp_path / "out2.pt", mirror=None, cache_dir=cache)
    assert prov2["files"][0]["sha256"] == prov["files"][0]["sha256"]
    assert [f["from_cache"] for f in prov2["files"]] == [True] * 4


def test_default_cache_dir_beside_output(tmp_path, http_root, monkeypatch):
    www, base = http_root
    write_idx_mirror(www, folder="good")
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in (www / "good").iterdir()}
    patch_urls(monkeypatch, "mnist", lambda n: [base + "good/" + n], md5.__getitem__)
    stale = tmp_path / "data" / "downloads" / "mnist" / ".t10k-images-idx3-ubyte.gz.x1_y2z3a.tmp"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a download, killed")
    prepare_dataset("mnist", tmp_path / "data" / "mnist.pt", mirror=None)
    assert len(all_files(tmp_path / "data" / "downloads" / "mnist")) == 4  # stale one gone


def test_checksum_mismatch_leaves_nothing(tmp_path, http_root, monkeypatch, no_env_mirror_no_sleep):
    www, base = http_root
    write_idx_mirror(www, folder="wrong")  # valid IDX files, but not the expected ones
    patch_urls(monkeypatch, "mnist", lambda n: [base + "wrong/" + n, base + "wrong/" + n + "?b"])
    cache, out = tmp_path / "cache", tmp_path / "out" / "mnist.pt"
    with pytest.raises(DataError) as err:
        prepare_dataset("mnist", out, mirror=None, cache_dir=cache, retries=2)
    msg = str(err.value)
    assert "md5 mismatch" in msg and "f68b3c2dcbeaaa9fbdd348bbdeb94873" in msg
    assert base + "wrong/train-images-idx3-ubyte.gz (try 2)" in msg
    assert base + "wrong/train-images-idx3-ubyte.gz?b (try 1)" in msg
    assert "data_mirror" in msg and "REPGEOM_DATA_MIRROR" in msg
    assert all_files(cache) == []  # neither final nor temp (dot) files
    assert not out.exists() and all_files(out.parent) == []
    assert no_env_mirror_no_sleep == [1.0, 1.0]  # one backoff per URL between its 2 tries


def test_truncated_download_is_a_failed_try(tmp_path, monkeypatch):
    payload = gzip.compress(idx_labels(np.zeros(10, np.uint8)))

    class Short(io.BytesIO):
        headers = {"Content-Length": str(len(payload) + 50)}

        def __enter__(self):
            return self

    monkeypatch.setattr(fetch, "urlopen", lambda req, timeout=None: Short(payload))
    spec = dataclasses.replace(
        DATASETS["mnist"].files[1], md5=hashlib.md5(payload).hexdigest(), urls=("http://x/",)
    )
    with pytest.raises(DataError, match="connection closed after"):
        fetch.download(spec, tmp_path / "f.gz", retries=1)
    assert all_files(tmp_path) == []


def test_no_network_no_mirror_lists_tries(tmp_path, no_network, no_env_mirror_no_sleep):
    with pytest.raises(DataError) as err:
        prepare_dataset("mnist", tmp_path / "m.pt", mirror=None, cache_dir=tmp_path / "c")
    msg = str(err.value)
    assert "`data_mirror`" in msg and "REPGEOM_DATA_MIRROR" in msg
    assert "train-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    for url in DATASETS["mnist"].files[0].urls:
        assert f"{url} (try 3): URLError" in msg
    assert len(no_network) == 3 * len(DATASETS["mnist"].files[0].urls)
    assert no_env_mirror_no_sleep == [1.0, 2.0] * 3
    assert all_files(tmp_path / "c") == []


def test_missing_mirror_folder_falls_through_to_download(tmp_path, no_network):
    (tmp_path / "mirror").mkdir()
    with pytest.raises(DataError) as err:
        prepare_dataset(
            "cifar10",
            tmp_path / "c.pt",
            mirror=str(tmp_path / "mirror"),
            retries=1,
            cache_dir=tmp_path / "cache",
        )
    assert no_network == ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
    assert "mirror/cifar-10: folder does not exist" in str(err.value)


def test_download_false_without_mirror(tmp_path, no_network):
    with pytest.raises(DataError, match="download=False") as err:
        prepare_dataset("fashion-mnist", tmp_path / "f.pt", mirror=None, download=False)
    assert "data_mirror" in str(err.value) and "REPGEOM_DATA_MIRROR" in str(err.value)
    assert "fashion-mnist/" in str(err.value) and no_network == []
    with pytest.raises(DataError, match="unknown dataset"):
        prepare_dataset("svhn", tmp_path / "s.pt", mirror=None)


# --------------------------------------------------------------------------- CIFAR-10


def check_cifar(data, n):
    assert data["train_images"].shape == (5 * n, 3, 32, 32)
    assert data["test_images"].shape == (n, 3, 32, 32)
    x, y = data["train_images"], data["train_labels"]
    assert torch.equal(x[:, 0, 10, 10].long(), 10 + y)  # red plane first
    assert torch.equal(x[:, 1, 10, 10].long(), 100 + y)
    assert torch.equal(x[:, 2, 31, 31].long(), 200 + y)
    assert (x[:, 0, 0, 5] == 7).all()  # row-major within a plane
    assert data["train_labels"][:n].tolist() == [(1 + i) % 10 for i in range(n)]
    assert data["classes"] == list(CLASSES)


def test_cifar_folder(tmp_path, no_network):
    write_cifar_folder(tmp_path / "mirror" / "cifar-10" / "cifar-10-batches-py", n=4)
    prov = prepare_dataset("cifar10", tmp_path / "c.pt", mirror=str(tmp_path / "mirror"))
    assert prov["source"] == "mirror" and prov["image_shape"] == [3, 32, 32]
    assert len(prov["files"]) == 7 and not any(f["official"] for f in prov["files"])
    assert any("50000 / 10000" in w for w in prov["warnings"])
    check_cifar(load_dataset(tmp_path / "c.pt"), 4)


def test_cifar_tarball(tmp_path, no_network):
    write_cifar_tarball(tmp_path / "mirror" / "cifar-10" / "cifar-10-python.tar.gz", tmp_path)
    prov = prepare_dataset("cifar10", tmp_path / "c.pt", mirror=str(tmp_path / "mirror"))
    (entry,) = prov["files"]
    assert entry["name"] == "cifar-10-python.tar.gz" and entry["official"] is False
    assert any(
        "cifar-10/cifar-10-python.tar.gz is not the official file" in w for w in prov["warnings"]
    )
    check_cifar(load_dataset(tmp_path / "c.pt"), 4)


def test_cifar_download_from_local_server(tmp_path, http_root, monkeypatch):
    www, base = http_root
    tar = write_cifar_tarball(www / "cifar-10-python.tar.gz", tmp_path, n=2)
    md5 = hashlib.md5(tar.read_bytes()).hexdigest()
    patch_urls(monkeypatch, "cifar10", lambda n: [base + n], lambda n: md5)
    prov = prepare_dataset("cifar10", tmp_path / "out" / "c.pt", mirror=None)
    assert prov["source"] == "download" and prov["files"][0]["official"] is True
    check_cifar(load_dataset(tmp_path / "out" / "c.pt"), 2)


def test_cifar_python3_pickles(tmp_path):
    rows = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    for protocol in (2, 4, 5):
        blob = pickle.dumps({b"data": rows, b"labels": [3, 4]}, protocol=protocol)
        x, y = cifar_mod.parse_batch(blob, "b")
        assert x.shape == (2, 3, 32, 32) and y.tolist() == [3, 4]
        np.testing.assert_array_equal(x.reshape(2, -1), rows)


def test_cifar_truncated_batch(tmp_path, no_network):
    folder = write_cifar_folder(tmp_path / "mirror" / "cifar-10" / "cifar-10-batches-py")
    batch = folder / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:5000])
    with pytest.raises(DataError, match="data_batch_3.*truncated"):
        prepare_dataset("cifar10", tmp_path / "c.pt", mirror=str(tmp_path / "mirror"))
    assert not (tmp_path / "c.pt").exists() and no_network == []


def test_cifar_truncated_tarball(tmp_path, no_network):
    tar = write_cifar_tarball(tmp_path / "m" / "cifar-10" / "cifar-10-python.tar.gz", tmp_path)
    tar.write_bytes(tar.read_bytes()[:-300])
    with pytest.raises(DataError, match="cifar-10-python.tar.gz.*(truncated|lacks)"):
        prepare_dataset("cifar10", tmp_path / "c.pt", mirror=str(tmp_path / "m"))


def test_cifar_pickle_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    with pytest.raises(DataError, match="refusing to load global builtins.print"):
        cifar_mod.parse_batch(pickle.dumps({b"data": Evil()}), "evil_batch")


def test_cifar_reader_needs_no_private_numpy_module(tmp_path, monkeypatch):
    # numpy 1.x has no numpy._core (numpy 2 renamed numpy.core to it): the reader must not
    # import either by name. Pickles naming both paths still load.
    rows = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    new_paths = pickle.dumps({b"data": rows, b"labels": [3, 4]}, protocol=5)
    old_paths, labels = cifar_batch(3, 1)
    monkeypatch.setitem(sys.modules, "numpy._core", None)
    monkeypatch.setitem(sys.modules, "numpy.core", None)
    x, y = cifar_mod.parse_batch(new_paths, "new")
    assert x.shape == (2, 3, 32, 32) and (x.reshape(2, -1) == rows).all()
    x, y = cifar_mod.parse_batch(old_paths, "old")
    assert y.tolist() == labels.tolist() and x.shape == (3, 3, 32, 32)
