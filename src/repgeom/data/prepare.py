"""Find (mirror first, then official URLs), validate and convert a dataset into one
compact uint8 tensor file; load it back onto a device."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..io import remove_stale_temporaries, save_torch
from . import cifar, fetch, idx
from .errors import DataError, not_a_file
from .sources import CIFAR10_FOLDER, MIRROR_CONFIG_KEY, MIRROR_ENV, DatasetSpec, get_spec

FORMAT_VERSION = 1
NOT_COMPARABLE = "results are not comparable to published numbers"


def _log(logger: logging.Logger | None) -> logging.Logger:
    return logger or logging.getLogger("repgeom.data")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def expected_layout(spec: DatasetSpec) -> str:
    if spec.kind == "cifar":
        return (
            f"<mirror>/{spec.mirror_dir}/{spec.files[0].name} or an extracted "
            f"<mirror>/{spec.mirror_dir}/{CIFAR10_FOLDER}/ (data_batch_1..5, test_batch, "
            "batches.meta)"
        )
    names = ", ".join(f.name for f in spec.files)
    return f"<mirror>/{spec.mirror_dir}/ holding {names} (.gz or uncompressed)"


def fix_hint(spec: DatasetSpec) -> str:
    return (
        f"To fix: put the official files in a folder laid out as {expected_layout(spec)} and "
        f"set the config key `{MIRROR_CONFIG_KEY}` or the environment variable "
        f"{MIRROR_ENV} to that folder (or allow downloads on a machine with internet)."
    )


# --------------------------------------------------------------------------- locating


def _idx_mirror_files(spec: DatasetSpec, folder: Path) -> list[Path] | None:
    """Paths of the four IDX files in ``folder`` (.gz preferred), None if none is there."""
    found, missing, unreadable = [], [], []
    for f in spec.files:
        candidates = (folder / f.name, folder / f.name.removesuffix(".gz"))
        path = next((p for p in candidates if p.is_file()), None)
        if path:
            found.append(path)
            continue
        others = [p for p in candidates if p.exists()]
        (unreadable if others else missing).extend(others or [f.name])
    if not found and not unreadable:
        return None
    if missing or unreadable:
        problems = ([f"missing {', '.join(missing)}"] if missing else []) + [
            f"{p} {not_a_file(p)}" for p in unreadable
        ]
        raise DataError(
            f"{folder}: incomplete {spec.name} mirror, {'; '.join(problems)} "
            f"(expected {expected_layout(spec)})"
        )
    return found


def _cifar_mirror_source(spec: DatasetSpec, folder: Path) -> Path | None:
    for cand in (folder / spec.files[0].name, folder / CIFAR10_FOLDER, folder):
        if cand.is_file() or (cand.is_dir() and (cand / "data_batch_1").exists()):
            return cand
    return None


def _official_idx_entry(spec_file, path: Path, raw: bytes, content: bytes) -> dict[str, Any]:
    entry = {
        "name": path.name,
        "path": str(path),
        "bytes": len(raw),
        "sha256": _sha256(raw),
        "md5": _md5(raw),
        "content_sha256": _sha256(content),
    }
    if entry["md5"] == spec_file.md5:
        entry.update(official=True, note="official archive (md5 matches)")
    elif spec_file.content_sha256 and entry["content_sha256"] == spec_file.content_sha256:
        note = "recompressed archive, official content" if raw is not content else "official"
        entry.update(official=True, note=note + " (decompressed sha256 matches)")
    else:
        entry.update(official=False, note="does not match the official checksums")
    return entry


# --------------------------------------------------------------------------- converting


def _idx_convert(spec: DatasetSpec, paths: list[Path], contents: list[bytes]):
    arrays = []
    for path, content, f in zip(paths, contents, spec.files, strict=True):
        if "images" in f.name:
            arrays.append(idx.parse_images(content, str(path), spec.image_shape[1:]))
        else:
            arrays.append(idx.parse_labels(content, str(path), len(spec.classes)))
    tr_x, tr_y, te_x, te_y = arrays
    idx.check_pair(tr_x, tr_y, str(paths[0]), str(paths[1]))
    idx.check_pair(te_x, te_y, str(paths[2]), str(paths[3]))
    return {
        "train_images": tr_x[:, None],
        "train_labels": tr_y,
        "test_images": te_x[:, None],
        "test_labels": te_y,
    }


def _cifar_members(path: Path) -> dict[str, bytes]:
    return cifar.read_tar_members(path) if path.is_file() else cifar.read_folder_members(path)


def _cifar_entries(spec: DatasetSpec, path: Path, members: dict[str, bytes], origin: dict):
    """Provenance entries for a CIFAR tarball or folder, with official checks."""
    official_members = dict(spec.member_md5)
    member_md5 = cifar.member_md5s(members)
    members_ok = all(official_members.get(n) == m for n, m in member_md5.items())
    if path.is_file():
        raw_md5 = fetch.md5_of(path)
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(fetch.CHUNK), b""):
                h.update(block)
        entry = {"name": path.name, **origin, "bytes": path.stat().st_size}
        entry.update(sha256=h.hexdigest(), md5=raw_md5, member_md5=member_md5)
        if raw_md5 == spec.files[0].md5:
            entry.update(official=True, note="official archive (md5 matches)")
        elif members_ok:
            entry.update(official=True, note="repacked archive, official content (batch md5s)")
        else:
            entry.update(official=False, note="does not match the official checksums")
        return [entry]
    entries = []
    for name, data in members.items():
        ok = official_members.get(name) == member_md5[name]
        entries.append(
            {
                "name": f"{CIFAR10_FOLDER}/{name}",
                "path": str(path / name),
                "bytes": len(data),
                "sha256": _sha256(data),
                "md5": member_md5[name],
                "official": ok,
                "note": "official batch (md5 matches)" if ok else "not the official batch",
            }
        )
    return entries


def _cifar_convert(spec: DatasetSpec, path: Path, members: dict[str, bytes], warnings):
    tr_x, tr_y, te_x, te_y, classes = cifar.assemble(members, str(path))
    if classes is not None and classes != list(spec.classes):
        warnings.append(f"{path}: batches.meta class names {classes} differ from {spec.classes}")
    return {"train_images": tr_x, "train_labels": tr_y, "test_images": te_x, "test_labels": te_y}


# --------------------------------------------------------------------------- obtaining


def _from_mirror(spec, mirror: Path, tried: list[str], log) -> tuple[Path, list[Path]] | None:
    """Return (dataset folder, files) found in the mirror, or None to fall through."""
    folder = mirror / spec.mirror_dir
    if not mirror.is_dir():
        tried.append(f"mirror {mirror}: folder does not exist")
        log.warning("data mirror %s does not exist", mirror)
        return None
    if not folder.is_dir():
        tried.append(f"mirror {folder}: folder does not exist")
        log.info("no %s folder in mirror %s", spec.mirror_dir, mirror)
        return None
    log.info("looking for %s in mirror %s", spec.name, folder)
    if spec.kind == "cifar":
        src = _cifar_mirror_source(spec, folder)
        paths = [src] if src else None
    else:
        paths = _idx_mirror_files(spec, folder)
    if paths is None:
        tried.append(f"mirror {folder}: no {spec.name} files there ({expected_layout(spec)})")
        log.warning("mirror folder %s holds no %s files", folder, spec.name)
        return None
    return folder, paths


def _download_all(spec, cache: Path, retries, timeout_s, tried, log) -> list[tuple[Path, dict]]:
    out = []
    folder = cache / spec.mirror_dir
    for f in spec.files:
        dest = folder / f.name
        # This dataset's job alone writes its cache folder: a temporary there is
        # what a killed download left.
        for stale in remove_stale_temporaries(dest):
            log.info("removed %s, left by an interrupted download", stale)
        if dest.is_file():
            if fetch.md5_of(dest) == f.md5:
                log.info("using cached %s (md5 ok)", dest)
                out.append((dest, {"url": f.urls[0], "path": str(dest), "from_cache": True}))
                continue
            log.warning("cached %s has the wrong md5; downloading it again", dest)
        attempts: list[str] = []
        try:
            url = fetch.download(
                f, dest, retries=retries, timeout_s=timeout_s, logger=log, attempts=attempts
            )
        except DataError:
            tried.extend(attempts)
            raise DataError(
                f"could not obtain {spec.name}: every source for {f.name} failed. Tried:\n  - "
                + "\n  - ".join(tried)
                + "\n"
                + fix_hint(spec)
            ) from None
        tried.extend(attempts)
        out.append((dest, {"url": url, "path": str(dest), "from_cache": False}))
    return out


def resolve_mirror(mirror: str | os.PathLike | None) -> Path | None:
    """The mirror argument, else the REPGEOM_DATA_MIRROR environment variable."""
    value = mirror if mirror not in (None, "") else os.environ.get(MIRROR_ENV) or None
    return Path(value).expanduser() if value else None


def _obtain(spec, mirror_path, download, cache, retries, timeout_s, tried, log):
    """Find the raw files, mirror first, else download them into ``cache``: (source,
    paths, per-file origin dicts); ``tried`` collects what was looked at."""
    if mirror_path is None:
        tried.append(f"no mirror set (config key `{MIRROR_CONFIG_KEY}` / env {MIRROR_ENV})")
        found = None
    else:
        found = _from_mirror(spec, mirror_path, tried, log)
    if found is not None:
        _, paths = found
        return "mirror", paths, [{"path": str(p)} for p in paths]
    if not download:
        raise DataError(
            f"{spec.name}: no local copy found and downloading is disabled (download=False). "
            "Tried:\n  - " + "\n  - ".join(tried) + "\n" + fix_hint(spec)
        )
    got = _download_all(spec, cache, retries, timeout_s, tried, log)
    return "download", [p for p, _ in got], [origin for _, origin in got]


def _read_files(spec, paths, origins, warnings):
    """Provenance entries (with official checks) and arrays of the raw files (a CIFAR
    class-name mismatch goes to ``warnings``)."""
    if spec.kind == "cifar":
        members = _cifar_members(paths[0])
        files = _cifar_entries(spec, paths[0], members, origins[0])
        return files, _cifar_convert(spec, paths[0], members, warnings)
    files, contents = [], []
    for f, p, origin in zip(spec.files, paths, origins, strict=True):
        raw, content = idx.read_file_bytes(p)
        files.append({**_official_idx_entry(f, p, raw, content), **origin})
        contents.append(content)
    return files, _idx_convert(spec, paths, contents)


def _comparability_warnings(spec, files, n_train: int, n_test: int) -> list[str]:
    """Warnings for files that are not the official ones and for a non-official split."""
    warnings = []
    for entry in files:
        label = f"{spec.mirror_dir}/{entry['name']}"
        if not entry["official"]:
            warnings.append(
                f"{label} is not the official file (sha256 {entry['sha256']}): {NOT_COMPARABLE}"
            )
        elif "official content" in entry["note"]:
            warnings.append(
                f"{label} is not the official archive but holds the official content "
                f"({entry['note']}); results remain comparable"
            )
    if (n_train, n_test) != (spec.n_train, spec.n_test):
        warnings.append(
            f"{spec.name}: split is {n_train} train / {n_test} test, not the official "
            f"{spec.n_train} / {spec.n_test}: {NOT_COMPARABLE}"
        )
    return warnings


def _save_arrays(spec, arrays, out_path: Path) -> None:
    """Write the arrays as one tensor file (atomically)."""
    import torch

    obj = {
        "name": spec.name,
        "classes": list(spec.classes),
        "format_version": FORMAT_VERSION,
        **{k: torch.from_numpy(np.ascontiguousarray(v).copy()) for k, v in arrays.items()},
    }
    save_torch(out_path, obj)


def prepare_dataset(
    name: str,
    out_path: str | os.PathLike,
    *,
    mirror: str | os.PathLike | None = None,
    download: bool = True,
    retries: int = 3,
    timeout_s: float = 60.0,
    cache_dir: str | os.PathLike | None = None,
    logger: logging.Logger | None = None,
) -> dict[str, Any]:
    """Obtain, validate and convert dataset ``name`` into ``out_path`` (written atomically);
    return a JSON-able provenance dict. See the package docstring for the search order."""
    spec = get_spec(name)
    log = _log(logger)
    out_path = Path(out_path)
    tried: list[str] = []
    warnings: list[str] = []
    mirror_path = resolve_mirror(mirror)
    cache = Path(cache_dir) if cache_dir is not None else out_path.parent / "downloads"
    source, paths, origins = _obtain(
        spec, mirror_path, download, cache, retries, timeout_s, tried, log
    )
    files, arrays = _read_files(spec, paths, origins, warnings)
    n_train, n_test = len(arrays["train_labels"]), len(arrays["test_labels"])
    warnings += _comparability_warnings(spec, files, n_train, n_test)
    for w in warnings:
        log.warning("%s", w)

    _save_arrays(spec, arrays, out_path)
    log.info("wrote %s (%d train / %d test)", out_path, n_train, n_test)
    n_classes = len(spec.classes)
    return {
        "dataset": spec.name,
        "source": source,
        "mirror": str(mirror_path) if source == "mirror" else None,
        "files": files,
        "n_train": n_train,
        "n_test": n_test,
        "image_shape": list(spec.image_shape),
        "classes": list(spec.classes),
        "class_counts": {
            "train": np.bincount(arrays["train_labels"], minlength=n_classes).tolist(),
            "test": np.bincount(arrays["test_labels"], minlength=n_classes).tolist(),
        },
        "output": str(out_path),
        "warnings": warnings,
    }


REQUIRED_KEYS = ("train_images", "train_labels", "test_images", "test_labels", "classes", "name")


def load_dataset(path: str | os.PathLike, device: Any = "cpu") -> dict[str, Any]:
    """Load a file written by prepare_dataset: uint8 NCHW images and int64 labels on
    ``device``, plus "classes" and "name"."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: prepared dataset file not found; run prepare_dataset first")
    try:
        obj = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise DataError(
            f"{path}: cannot load prepared dataset ({type(exc).__name__}: {exc}); "
            "delete it and run prepare_dataset again"
        ) from exc
    if not isinstance(obj, dict) or any(k not in obj for k in REQUIRED_KEYS):
        raise DataError(f"{path}: not a prepared dataset file (needs keys {REQUIRED_KEYS})")
    out = {
        "train_images": obj["train_images"].to(device),
        "train_labels": obj["train_labels"].to(device=device, dtype=torch.int64),
        "test_images": obj["test_images"].to(device),
        "test_labels": obj["test_labels"].to(device=device, dtype=torch.int64),
        "classes": list(obj["classes"]),
        "name": str(obj["name"]),
    }
    for split in ("train", "test"):
        x, y = out[f"{split}_images"], out[f"{split}_labels"]
        if x.dtype != torch.uint8 or x.ndim != 4 or len(x) != len(y):
            raise DataError(f"{path}: malformed {split} tensors {tuple(x.shape)} {x.dtype}")
    return out
