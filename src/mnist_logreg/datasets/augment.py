"""Augmented MNIST: seeded distorted copies of the training digits in a chunked Zarr store.

Row ``i`` of a store with ``n`` rows is training digit ``i % 60000`` (in the order of the MNIST
training file); copy ``i // 60000`` is the digit itself for copy 0 and a distortion for every
later copy: a random shift (up to 2 pixels), rotation (up to 10 degrees), scaling (0.9 to 1.1)
and an elastic distortion (a smoothed random displacement field, Simard et al. 2003), resampled
bilinearly. Each chunk of rows draws from a generator seeded by ``(seed, chunk index)``, so a
store is the same byte for byte whatever order its chunks were written in.

The store (``zarr`` format 3) holds ``images`` (n, 784) uint8 and ``labels`` (n,) uint8, chunked
alike along rows, and attributes: the format, seed, distortion parameters, the MNIST checksums of
the source and the SHA-256 of every chunk of both arrays. It is built in a hidden sibling folder
and renamed into place when complete: an interrupted run leaves nothing that looks complete. A
re-run with the same parameters and source goes on from the chunks already written (each one
checked against the checksum recorded when it was written); with any other, it starts clean.
:func:`open_augmented` reads it lazily as Dask arrays and checks each chunk against its checksum
as it is read.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._atomic import resumable_folder
from .._resources import check_disk, check_memory
from .._schema import AUGMENTED_ATTRS_SCHEMA, SchemaError, validate
from ..errors import DataError, OptionError

__all__ = ["FORMAT", "AugmentError", "AugmentedDigits", "augment", "augmented_copies", "distort", "open_augmented"]

FORMAT = "mnist-logreg-augmented/1"
#: rows per chunk of the store (7.8 MB of pixels): a unit of work for one Dask task
DEFAULT_CHUNK_ROWS = 10_000
# in a store being written: one line per chunk written, with its checksums (for a resumed run)
_PROGRESS = ".progress.jsonl"
SIDE = 28
DISTORTION = {"max_shift": 2.0, "max_rotate_degrees": 10.0, "max_scale": 0.1, "elastic_alpha": 12.0,
              "elastic_sigma": 3.0}


class AugmentError(DataError, ValueError):
    """An augmented store is missing, incomplete, of another format, or fails its checksums."""


def distort(images: NDArray[np.uint8], rng: np.random.Generator, **params: float) -> NDArray[np.uint8]:
    """Random affine and elastic distortions of 28x28 digits (rows of 784 uint8 pixels).

    Parameters
    ----------
    images : ndarray of shape (n, 784), uint8
    rng : numpy Generator
        The only source of randomness.
    **params
        Override :data:`DISTORTION` (``max_shift``, ``max_rotate_degrees``, ``max_scale``,
        ``elastic_alpha``, ``elastic_sigma``).

    Returns
    -------
    ndarray of shape (n, 784), uint8
    """
    from scipy import ndimage

    p = {**DISTORTION, **params}
    n = images.shape[0]
    centre = (SIDE - 1) / 2
    rows, cols = np.mgrid[0:SIDE, 0:SIDE].astype(np.float64) - centre
    angle = np.deg2rad(rng.uniform(-p["max_rotate_degrees"], p["max_rotate_degrees"], n))
    scale = rng.uniform(1 - p["max_scale"], 1 + p["max_scale"], n)
    shift = rng.uniform(-p["max_shift"], p["max_shift"], (2, n))
    cos, sin = (np.cos(angle) / scale)[:, None, None], (np.sin(angle) / scale)[:, None, None]
    # where each output pixel samples the input: the inverse of rotate-scale-shift, plus the field
    field = rng.uniform(-1.0, 1.0, (2, n, SIDE, SIDE))
    field = ndimage.gaussian_filter(field, sigma=(0, 0, p["elastic_sigma"], p["elastic_sigma"]), mode="constant")
    src_r = cos * rows - sin * cols + centre - shift[0][:, None, None] + p["elastic_alpha"] * field[0]
    src_c = sin * rows + cos * cols + centre - shift[1][:, None, None] + p["elastic_alpha"] * field[1]
    which = np.broadcast_to(np.arange(n, dtype=np.float64)[:, None, None], src_r.shape)
    out = ndimage.map_coordinates(images.reshape(n, SIDE, SIDE).astype(np.float32), [which, src_r, src_c],
                                  order=1, mode="constant", cval=0.0)
    distorted: NDArray[np.uint8] = np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(n, SIDE * SIDE)
    return distorted


def _chunk(train_images: NDArray[np.uint8], train_labels: NDArray[Any], lo: int, hi: int, seed: int,
           index: int) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Rows ``lo:hi`` of the store: sources ``i % n_train``, distorted from the second copy on."""
    n_train = train_images.shape[0]
    rows = np.arange(lo, hi)
    images = train_images[rows % n_train].copy()
    copy = rows // n_train
    distorted = np.flatnonzero(copy > 0)
    if distorted.size:
        rng = np.random.default_rng([seed, index])
        images[distorted] = distort(images[distorted], rng)
    return images, train_labels[rows % n_train].astype(np.uint8)


def augmented_copies(train_images: NDArray[np.uint8], train_labels: NDArray[Any], copies: int, *, seed: int = 0,
                     chunk_rows: int = DEFAULT_CHUNK_ROWS) -> tuple[NDArray[np.uint8], NDArray[Any]]:
    """The digits and ``copies`` distorted copies of them, in memory: the rows of a store.

    Row ``i`` is digit ``i % n_train``, itself for the first ``n_train`` rows and distorted
    (:func:`distort`) after; each chunk of ``chunk_rows`` rows draws from a generator seeded by
    ``(seed, chunk index)``. With MNIST's training digits these are the rows :func:`augment`
    writes for ``n = 60000 * (copies + 1)`` with the same seed and chunk size.

    Parameters
    ----------
    train_images : ndarray of shape (n_train, 784), uint8
        The digits (28x28 images, one per row).
    train_labels : ndarray of shape (n_train,)
        Their labels; repeated for the copies, dtype kept.
    copies : int
        Distorted copies of every digit (0: the digits alone).
    seed : int, default 0
        Seed of the distortions.
    chunk_rows : int, default 10000
        Rows distorted at a time (memory: about 48 KB a row while distorting).

    Returns
    -------
    images : ndarray of shape (n_train * (copies + 1), 784), uint8
    labels : ndarray of shape (n_train * (copies + 1),)
    """
    if not (isinstance(copies, int | np.integer) and not isinstance(copies, bool) and copies >= 0):
        raise OptionError.naming(f"$augment: expected a number of copies >= 0, found {copies!r}")
    n_train = int(train_images.shape[0])
    n = n_train * (int(copies) + 1)
    chunk_rows = _checked_chunk_rows(train_images, max(n, 1), chunk_rows)
    images = np.empty((n, SIDE * SIDE), dtype=np.uint8)
    labels = np.empty(n, dtype=np.asarray(train_labels).dtype)
    for index, lo in enumerate(range(0, n, chunk_rows)):
        hi = min(lo + chunk_rows, n)
        images[lo:hi], _ = _chunk(train_images, np.zeros(n_train, np.uint8), lo, hi, int(seed), index)
        labels[lo:hi] = np.asarray(train_labels)[np.arange(lo, hi) % n_train]
    return images, labels


def _sha256(a: NDArray[Any]) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


_MEMORY_BASE = 512 * 2**20
_MEMORY_PER_ROW = 48 * 2**10
_DISK_PER_ROW = 200


def _checked_chunk_rows(train_images: NDArray[np.uint8], n: int, chunk_rows: int) -> int:
    """The rows per chunk (at most ``n``), after checking the arguments and that a chunk's work
    fits in memory."""
    if train_images.dtype != np.uint8 or train_images.ndim != 2 or train_images.shape[1] != SIDE * SIDE:
        raise ValueError(f"train_images: expected uint8 rows of {SIDE * SIDE} pixels, found {train_images.dtype} "
                         f"{train_images.shape}")
    if not (isinstance(n, int | np.integer) and n >= 1):
        raise OptionError.naming(f"$n: expected a positive number of digits, found {n!r}")
    if not (isinstance(chunk_rows, int | np.integer) and chunk_rows >= 1):
        raise OptionError.naming(f"$chunk_rows: expected a positive number of rows, found {chunk_rows!r}")
    chunk_rows = min(int(chunk_rows), int(n))
    # measured: 20,000-row chunks peak at 1.27 GB (41 KB a row beside the data and libraries), and
    # 80,000 rows take 14.9 MB on disk (187 bytes a row, zstd)
    check_memory(_MEMORY_BASE + _MEMORY_PER_ROW * chunk_rows, f"data augment with chunks of {chunk_rows:,} rows "
                 "(--chunk-rows)")
    return chunk_rows


def _open_store(staging: Path, resumed: bool, n: int, chunk_rows: int,
                on_resume: Callable[[int, int], None] | None) -> tuple[Any, Any, Any, dict[int, tuple[str, str]]]:
    """The store's group, its ``images`` and ``labels`` arrays and the chunks an interrupted run
    wrote and verified (``{}`` for a new store, or when the interrupted one cannot be taken up)."""
    import zarr

    if resumed:
        try:
            group = zarr.open_group(str(staging), mode="r+")
            images: Any = group["images"]  # zarr types a group's member as an array or a group
            labels: Any = group["labels"]
            if images.shape != (n, SIDE * SIDE) or labels.shape != (n,) or images.chunks[0] != chunk_rows:
                raise AugmentError("the interrupted store's arrays do not match")
            done = _verified_chunks(staging / _PROGRESS, images, labels, chunk_rows, n)
        except Exception:  # killed while the store was being created: its metadata is partial
            _clear_staging(staging)
        else:
            if on_resume is not None:
                on_resume(sum(min(chunk_rows, n - i * chunk_rows) for i in done), n)
            return group, images, labels, done
    group = zarr.open_group(str(staging), mode="a", zarr_format=3)  # "w" would delete the resume key
    images = group.create_array("images", shape=(n, SIDE * SIDE), chunks=(chunk_rows, SIDE * SIDE), dtype="uint8")
    labels = group.create_array("labels", shape=(n,), chunks=(chunk_rows,), dtype="uint8")
    return group, images, labels, {}


def augment(train_images: NDArray[np.uint8], train_labels: NDArray[Any], n: int, out: str | Path, *, seed: int = 0,
            chunk_rows: int = DEFAULT_CHUNK_ROWS, source_checksums: dict[str, str] | None = None,
            on_chunk: Callable[[int, int], None] | None = None,
            on_resume: Callable[[int, int], None] | None = None) -> Path:
    """Write ``n`` rows of augmented digits to the Zarr store ``out`` (module doc), atomically.

    Parameters
    ----------
    train_images : ndarray of shape (n_train, 784), uint8
    train_labels : ndarray of shape (n_train,)
    n : int
        Rows to write (copy 0, the digits themselves, fills the first ``n_train``).
    out : path
        The store's folder; replaced whole when the new one is complete. A run interrupted while
        writing it is resumed (module doc).
    seed : int
    chunk_rows : int
        Rows per chunk.
    source_checksums : dict, optional
        The checksums of the source data, recorded in the store.
    on_chunk : callable, optional
        Called with (rows written, n) after each chunk.
    on_resume : callable, optional
        Called with (rows kept, n) when an interrupted run's chunks are taken up.

    Returns
    -------
    Path
        ``out``.
    """
    chunk_rows = _checked_chunk_rows(train_images, n, chunk_rows)
    check_disk(Path(out).absolute().parent, _DISK_PER_ROW * int(n), f"a store of {int(n):,} augmented digits")
    # what decides the store's bytes: a left-over partial store is resumed only if all of it agrees
    key = {"format": FORMAT, "n": int(n), "seed": int(seed), "chunk_rows": chunk_rows, "distortion": DISTORTION,
           "source_sha256": [_sha256(train_images), _sha256(np.asarray(train_labels))]}
    with resumable_folder(out, key) as (staging, resumed):
        progress = staging / _PROGRESS
        group, images, labels, done = _open_store(staging, resumed, n, chunk_rows, on_resume)
        image_sums, label_sums = [], []
        with open(progress, "a") as log:
            for index, lo in enumerate(range(0, n, chunk_rows)):
                hi = min(lo + chunk_rows, n)
                if index in done:  # written and verified by an interrupted run
                    sums = done[index]
                else:
                    block, block_labels = _chunk(train_images, train_labels, lo, hi, int(seed), index)
                    images[lo:hi] = block
                    labels[lo:hi] = block_labels
                    sums = (_sha256(block), _sha256(block_labels))
                    # recorded once the chunk is written: a resumed run keeps only recorded chunks
                    log.write(json.dumps({"chunk": index, "images": sums[0], "labels": sums[1]}) + "\n")
                    log.flush()
                    os.fsync(log.fileno())
                image_sums.append(sums[0])
                label_sums.append(sums[1])
                if on_chunk is not None:
                    on_chunk(hi, n)
        # the attributes, the checksums among them, then the progress log's removal: a run killed
        # in between resumes from the log with every chunk kept (removing the log first made a
        # resume recompute them all)
        group.attrs.update({"format": FORMAT, "n": int(n), "seed": int(seed), "chunk_rows": chunk_rows,
                            "n_source": int(train_images.shape[0]), "distortion": DISTORTION,
                            "source_checksums": source_checksums or {},
                            "sha256": {"images": image_sums, "labels": label_sums}})
        progress.unlink()
    return Path(out)


def _clear_staging(staging: Path) -> None:
    """Empty an interrupted store's staging folder, keeping the files that make it resumable."""
    import shutil

    for child in staging.iterdir():
        if child.name.startswith(".resume-key"):
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _verified_chunks(progress: Path, images: Any, labels: Any, chunk_rows: int,
                     n: int) -> dict[int, tuple[str, str]]:
    """The chunks an interrupted run recorded as written whose contents still match their checksums."""
    done: dict[int, tuple[str, str]] = {}
    try:
        lines = progress.read_text().splitlines()
    except FileNotFoundError:
        return done
    for line in lines:
        try:
            entry = json.loads(line)
            index, sums = int(entry["chunk"]), (str(entry["images"]), str(entry["labels"]))
        except (ValueError, KeyError, TypeError):  # a line cut short by the interruption
            continue
        lo = index * chunk_rows
        if not 0 <= lo < n:
            continue
        hi = min(lo + chunk_rows, n)
        try:
            ok = (_sha256(images[lo:hi]), _sha256(labels[lo:hi])) == sums
        except Exception:  # a chunk cut short by the interruption does not decode: written again
            ok = False
        if ok:
            done[index] = sums
    return done


@dataclass
class AugmentedDigits:
    """An augmented store opened lazily: ``images`` (n, 784) and ``labels`` (n,) Dask arrays."""

    images: Any
    labels: Any
    attrs: dict[str, Any]
    path: Path


def _read_chunk(store: str, what: str, sums: list[str], path: Path, block_info: Any = None) -> NDArray[Any]:
    """One chunk of ``what`` (images or labels) of the store, decoded and checked by its SHA-256."""
    import zarr

    index = block_info[None]["chunk-location"][0]
    lo, hi = block_info[None]["array-location"][0]
    try:
        block = np.asarray(zarr.open_array(store=store, path=what, mode="r")[lo:hi])
    except Exception as exc:  # a truncated or empty chunk file: the codec's own error
        raise AugmentError(f"{path}: chunk {index} of {what} cannot be decoded ({type(exc).__name__}: "
                           f"{str(exc)[:120]}); the store is damaged: write it again with "
                           "'mnist-logreg data augment'") from None
    if _sha256(block) != sums[index]:
        raise AugmentError(f"{path}: chunk {index} of {what} fails its SHA-256 checksum (the store is "
                           "damaged: write it again with 'mnist-logreg data augment')")
    return block


def open_augmented(path: str | Path) -> AugmentedDigits:
    """Open an augmented store as Dask arrays; each chunk is verified by its checksum when read.

    Parameters
    ----------
    path : str or Path
        The store's folder, as written by :func:`augment` (``mnist-logreg data augment --out``).

    Returns
    -------
    AugmentedDigits
        The store's ``images`` (n, 784) uint8 and ``labels`` (n,) as Dask arrays, its attributes and
        its path; nothing is read until they are computed.

    Raises
    ------
    AugmentError
        The folder is missing, is not a complete store of this format, or its arrays disagree
        with its attributes (naming the field, expected and found).
    """
    import dask.array as da

    path = Path(path)
    meta_file = path / "zarr.json"
    if not path.is_dir():
        raise AugmentError(f"{path}: no such folder (make one with 'mnist-logreg data augment --out {path}')")
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError, RecursionError) as exc:
        raise AugmentError(f"{meta_file}: not a readable Zarr store ({exc})") from None
    attrs = meta.get("attributes", {}) if isinstance(meta, dict) else None
    if not isinstance(attrs, dict) or attrs.get("format") != FORMAT:
        found = attrs.get("format") if isinstance(attrs, dict) else attrs
        raise AugmentError(f"{meta_file}: format: expected {FORMAT!r}, found {found!r}")
    try:
        validate(attrs, AUGMENTED_ATTRS_SCHEMA, f"{meta_file} (attributes)")
    except SchemaError as exc:
        raise AugmentError(str(exc)) from None
    try:
        images = da.from_zarr(str(path), component="images")
        labels = da.from_zarr(str(path), component="labels")
    except Exception as exc:  # a missing or damaged array's metadata
        raise AugmentError(f"{path}: images/labels: not readable Zarr arrays ({type(exc).__name__}: "
                           f"{str(exc)[:160]}); write the store again with 'mnist-logreg data augment'") from None
    n = attrs.get("n")
    sums = attrs.get("sha256", {})
    if images.shape != (n, SIDE * SIDE) or labels.shape != (n,):
        raise AugmentError(f"{path}: images/labels: expected shapes ({n}, {SIDE * SIDE}) and ({n},), found "
                           f"{images.shape} and {labels.shape}")
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise AugmentError(f"{path}: images/labels: expected uint8, found {images.dtype} and {labels.dtype}")
    for name, arr in (("images", images), ("labels", labels)):
        if len(sums.get(name, [])) != len(arr.chunks[0]):
            raise AugmentError(f"{meta_file}: sha256.{name}: expected {len(arr.chunks[0])} checksums (one per "
                               f"chunk), found {len(sums.get(name, []))}")
    # each chunk read by a task of its own that turns a decoding failure (a truncated or empty
    # chunk file: "Zstd decompression error") into an AugmentError, then checks its SHA-256
    images = da.map_blocks(_read_chunk, str(path), "images", sums["images"], path, chunks=images.chunks,
                           dtype=np.uint8, meta=np.empty((0, SIDE * SIDE), np.uint8))
    labels = da.map_blocks(_read_chunk, str(path), "labels", sums["labels"], path, chunks=labels.chunks,
                           dtype=np.uint8, meta=np.empty((0,), np.uint8))
    return AugmentedDigits(images, labels, attrs, path)
