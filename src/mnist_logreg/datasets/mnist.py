"""``load_mnist``: the MNIST digits from the bundled copy, OpenML, or IDX mirrors.

Every source returns the same :class:`MNIST` container: uint8 pixels of shape (n, 784) and
int64 labels, 60,000 training and 10,000 test digits for MNIST itself.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import time
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_write
from .._npz import read_npz
from ..errors import DataError, OptionError
from .idx import IDXFormatError, _decompress, idx_md5, parse_idx

__all__ = ["IDX_FILES", "IDX_MIRRORS", "MNIST", "CacheWarning", "DataSourceError", "default_cache_dir", "load_mnist"]

SOURCES = ("bundled", "openml", "idx")

#: The four MNIST files, with the SHA-256, MD5 and size of their *uncompressed* content, so that
#: any mirror's gzip of the same bytes is accepted, and nothing larger is ever downloaded or inflated.
IDX_FILES: dict[str, dict[str, Any]] = {
    "train-images-idx3-ubyte": {
        "sha256": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "md5": "6bbc9ace898e44ae57da46a324031adb",
        "size": 47040016,
    },
    "train-labels-idx1-ubyte": {
        "sha256": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "md5": "a25bea736e30d166cdddb491f175f624",
        "size": 60008,
    },
    "t10k-images-idx3-ubyte": {
        "sha256": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "md5": "2646ac647ad5339dbf082846283269ea",
        "size": 7840016,
    },
    "t10k-labels-idx1-ubyte": {
        "sha256": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        "md5": "27ae3e4e09519cfbb04c329615203637",
        "size": 10008,
    },
}

#: Public mirrors of the original gzip files, tried in order.
IDX_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

CACHE_ENV = "MNIST_LOGREG_CACHE"


class CacheWarning(UserWarning):
    """A cached file was corrupt or not what it claims, so it is discarded and fetched again."""


class DataSourceError(DataError, RuntimeError):
    """A data source could not deliver valid data (network, checksum, or content problem)."""


@dataclass
class MNIST:
    """Train and test digits as uint8 pixels (n, 784) and int64 labels.

    Attributes
    ----------
    X_train, y_train, X_test, y_test : ndarray
        Pixels in [0, 255] (uint8, one row per image, row-major 28x28) and labels 0-9.
    source : str
        Where the data came from ("bundled", "openml:<id>", "idx:<url>").
    checksums : dict
        MD5 of the IDX encoding of each array (the MNIST distribution's published checksums).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    source: str = "bundled"
    image_shape: tuple[int, int] = (28, 28)
    checksums: dict[str, str] = field(default_factory=dict)

    def images(self, split: str = "train") -> np.ndarray:
        """The images of ``split`` ("train" or "test") as a (n, 28, 28) view.

        Parameters
        ----------
        split : {"train", "test"}, default "train"
            Which split.

        Returns
        -------
        ndarray of uint8, shape (n, 28, 28)
            A view of the split's pixels (no copy).
        """
        X = self.split(split)[0]
        return X.reshape(-1, *self.image_shape)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The pixels and labels of one split.

        Parameters
        ----------
        name : {"train", "test"}
            Which split.

        Returns
        -------
        X : ndarray of shape (n, 784), uint8
            The pixels (the arrays themselves, not copies).
        y : ndarray of shape (n,), int64
            The labels 0-9.

        Raises
        ------
        ValueError
            ``name`` is neither "train" nor "test".
        """
        if name == "train":
            return self.X_train, self.y_train
        if name == "test":
            return self.X_test, self.y_test
        raise OptionError.naming(f"$split must be 'train' or 'test', got {name!r}")

    def compute_checksums(self) -> dict[str, str]:
        """MD5 of each array as the IDX file it came from (images as (n, 28, 28) uint8).

        Returns
        -------
        dict of str -> str
            Hexadecimal MD5 per array: ``train-images``, ``train-labels``, ``test-images``,
            ``test-labels`` (labels as uint8).
        """
        return {
            "train-images": idx_md5(self.images("train")),
            "train-labels": idx_md5(self.y_train.astype(np.uint8)),
            "test-images": idx_md5(self.images("test")),
            "test-labels": idx_md5(self.y_test.astype(np.uint8)),
        }


def default_cache_dir() -> Path:
    """The cache folder: ``$MNIST_LOGREG_CACHE`` if set, else the platform's user cache dir.

    Returns
    -------
    Path
        The folder (not created here).
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("mnist-logreg"))


def load_mnist(
    source: str = "bundled",
    *,
    name: str | None = None,
    version: int | str | None = None,
    data_id: int | None = None,
    base_url: str | Sequence[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
    timeout: float = 30.0,
) -> MNIST:
    """Load MNIST (or an MNIST-shaped OpenML dataset).

    Parameters
    ----------
    source : {"bundled", "openml", "idx"}
        "bundled": the copy shipped with the package (offline, default).
        "openml": ``sklearn.datasets.fetch_openml`` by ``name`` (+ ``version``) or by ``data_id``,
        exactly one of the two. "idx": the four original files from ``base_url`` (one URL or a
        list of mirrors tried in order; default :data:`IDX_MIRRORS`), checked by SHA-256.
    name : str or None, default None
        The OpenML dataset's name (``source="openml"`` only).
    version : int, str or None, default None
        Its OpenML version, with ``name``; None takes the active one.
    data_id : int or None, default None
        The OpenML dataset's id, instead of ``name``.
    base_url : str, sequence of str or None, default None
        The IDX files' URL, or mirrors tried in order (``source="idx"`` only); None means
        :data:`IDX_MIRRORS`.
    cache_dir : path, optional
        Where downloads and decoded arrays are cached (default :func:`default_cache_dir`).
    progress : bool
        Show download progress on stderr.
    timeout : float, default 30.0
        Seconds a download may wait for each read; a whole file may take at most
        ``DEADLINE_PER_TIMEOUT`` (10) times that.

    Returns
    -------
    MNIST
        The training and test digits (uint8 pixels, int64 labels), their source and checksums.

    Raises
    ------
    ValueError
        Bad arguments (unknown source, both or neither of name and data_id, ...).
    DataSourceError
        The source could not deliver valid data; the message says which file and why.
    """
    if source not in SOURCES:
        raise OptionError.naming(f"unknown $source {source!r}: expected one of {', '.join(SOURCES)}")
    if source != "openml" and (name is not None or data_id is not None or version is not None):
        raise OptionError.naming("$name, $version and $data_id are only for $source openml")
    if source != "idx" and base_url is not None:
        raise OptionError.naming("$base_url is only for $source idx")
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    if cache.exists() and not cache.is_dir():
        raise DataSourceError(f"{cache}: the cache folder is a file (choose another --cache-dir)")
    if source == "bundled":
        return _load_bundled()
    if source == "openml":
        return _load_openml(name, version, data_id, cache)
    if isinstance(base_url, str):
        mirrors = [base_url]
    else:
        mirrors = list(IDX_MIRRORS) if base_url is None else list(base_url)
    if not mirrors:
        raise OptionError.naming("$base_url: expected at least one mirror URL, found an empty list")
    return _load_idx_mirrors(mirrors, cache, progress, timeout)


# ---------------------------------------------------------------- bundled


def _arrays_from_idx(blobs: dict[str, bytes | bytearray], source: str) -> MNIST:
    """Build an MNIST from the four IDX files' uncompressed bytes, checking they agree."""
    arrays = {key: parse_idx(data, name=key) for key, data in blobs.items()}
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = arrays[f"{prefix}-images-idx3-ubyte"]
        labels = arrays[f"{prefix}-labels-idx1-ubyte"]
        if images.ndim != 3 or images.dtype != np.uint8:
            raise IDXFormatError(
                f"{prefix}-images-idx3-ubyte: expected 3-D uint8 images, found "
                f"{images.ndim}-D {images.dtype}"
            )
        if labels.ndim != 1:
            raise IDXFormatError(f"{prefix}-labels-idx1-ubyte: expected 1-D labels, found {labels.ndim}-D")
        if len(images) != len(labels):
            raise IDXFormatError(
                f"{prefix}: image and label counts disagree: {len(images)} images in "
                f"{prefix}-images-idx3-ubyte, {len(labels)} labels in {prefix}-labels-idx1-ubyte"
            )
        out[split] = (images.reshape(len(images), -1), labels.astype(np.int64))
    checksums = {
        key.replace("t10k", "test").replace("-idx3-ubyte", "").replace("-idx1-ubyte", ""): (
            hashlib.md5(data).hexdigest()
        )
        for key, data in blobs.items()
    }
    return MNIST(*out["train"], *out["test"], source=source, checksums=checksums)


def _bundled_dir() -> Traversable:
    return resources.files("mnist_logreg.datasets") / "_bundled"


def _load_bundled() -> MNIST:
    folder = _bundled_dir()
    blobs = {}
    for key in IDX_FILES:
        res = folder / f"{key}.gz"
        blobs[key] = _decompress(res.read_bytes(), f"bundled {key}.gz")
    return _arrays_from_idx(blobs, "bundled")


# ---------------------------------------------------------------- IDX mirrors


#: a download may take at most this many times the socket timeout in all (a mirror that drips
#: a byte at a time never trips the per-read timeout)
DEADLINE_PER_TIMEOUT = 10


def _download(url: str, progress: bool, timeout: float, max_bytes: int) -> bytes:
    """GET ``url`` into memory, with an optional tqdm progress bar.

    Refused (``DataSourceError``) as soon as the server declares or sends more than
    ``max_bytes``, or the whole transfer takes longer than ``DEADLINE_PER_TIMEOUT * timeout``.
    """
    deadline = time.monotonic() + DEADLINE_PER_TIMEOUT * timeout
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        total = int(resp.headers.get("Content-Length") or 0) or None
        if total is not None and total > max_bytes:
            raise DataSourceError(f"{url}: the server declares {total} bytes, more than the {max_bytes} "
                                  "this file can take")
        buf = io.BytesIO()
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], file=sys.stderr)
        try:
            while chunk := resp.read1(1 << 16):  # what has arrived: the deadline is checked often
                buf.write(chunk)
                if buf.tell() > max_bytes:
                    raise DataSourceError(f"{url}: sent more than {max_bytes} bytes, more than this file can take")
                if time.monotonic() > deadline:
                    raise DataSourceError(f"{url}: the download took longer than "
                                          f"{DEADLINE_PER_TIMEOUT * timeout:g} s (a stalled or very slow mirror)")
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    return buf.getvalue()


def _max_download(key: str) -> int:
    """The most bytes a mirror may send for ``key``: twice its size (gzip never grows it so), plus 1 MiB."""
    size = IDX_FILES[key].get("size")
    return 2 * int(size) + (1 << 20) if size else 256 << 20


def _verified_idx(raw: bytes, key: str, origin: str) -> bytes | bytearray:
    """Decompress and check the SHA-256 of one downloaded or cached IDX file."""
    size = IDX_FILES[key].get("size")
    data = _decompress(raw, origin, max_size=int(size) if size else None)
    found = hashlib.sha256(data).hexdigest()
    expected = IDX_FILES[key]["sha256"]
    if found != expected:
        raise DataSourceError(f"{origin}: SHA-256 mismatch: expected {expected}, found {found}")
    return data


def _load_idx_mirrors(mirrors: list[str], cache: Path, progress: bool, timeout: float) -> MNIST:
    folder = cache / "idx"
    blobs = {}
    for key in IDX_FILES:
        cached = folder / f"{key}.gz"
        if cached.exists():
            try:
                blobs[key] = _verified_idx(cached.read_bytes(), key, str(cached))
                continue
            except (DataSourceError, IDXFormatError) as exc:  # corrupt cache entry: fetch again
                warnings.warn(f"discarding corrupt cache file ({exc})", CacheWarning, stacklevel=2)
                cached.unlink(missing_ok=True)
        failures = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + f"/{key}.gz"
            try:
                raw = _download(url, progress, timeout, _max_download(key))
                blobs[key] = _verified_idx(raw, key, url)
            except (OSError, urllib.error.URLError, DataSourceError, IDXFormatError) as exc:
                failures.append(f"{url}: {exc}")
                continue
            with atomic_write(cached) as fh:
                fh.write(raw)
            break
        else:
            raise DataSourceError(f"could not fetch {key}.gz from any mirror:\n  " + "\n  ".join(failures))
    return _arrays_from_idx(blobs, "idx:" + mirrors[0])


# ---------------------------------------------------------------- OpenML


def _openml_cache_file(cache: Path, name: str | None, version: int | str | None, data_id: int | None) -> Path:
    if data_id is not None:
        return cache / "openml" / f"id-{int(data_id)}.npz"
    return cache / "openml" / f"name-{name}-v{version if version is not None else 'active'}.npz"


def _array_digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        h.update(key.encode())
        h.update(np.ascontiguousarray(arrays[key]).tobytes())
    return h.hexdigest()


_KEYS = ("X_train", "y_train", "X_test", "y_test")


#: the most bytes one array of a cached dataset may hold (MNIST's training images: 47 MB)
_MAX_CACHED_ARRAY = 1 << 30


def _check_arrays(arrays: dict[str, np.ndarray], what: str) -> None:
    """The checks a fresh download gets: uint8 pixels (n, 784), one integer label per row."""
    for split in ("train", "test"):
        X, y = arrays[f"X_{split}"], arrays[f"y_{split}"]
        if X.dtype != np.uint8 or X.ndim != 2 or X.shape[1] != 784 or X.shape[0] < 1:
            raise ValueError(f"{what}: X_{split}: expected uint8 pixels of shape (n, 784), found {X.dtype} {X.shape}")
        if y.dtype.kind not in "iu" or y.shape != (X.shape[0],):
            raise ValueError(f"{what}: y_{split}: expected {X.shape[0]} integer labels, found {y.dtype} {y.shape}")


def _read_npz_cache(path: Path) -> MNIST | None:
    """Return the cached arrays, or None (removing the file) if the entry is missing or corrupt.

    A cached entry is checked as a fresh one is (shapes, dtypes) and against its own SHA-256;
    its members' sizes are checked from their headers before any is read.
    """
    if not path.exists():
        return None
    try:
        z = read_npz(path, _MAX_CACHED_ARRAY)
        arrays: dict[str, Any] = {k: z[k] for k in _KEYS}
        digest, source = str(z["sha256"]), str(z["source"])
        if digest != _array_digest(arrays):
            raise ValueError("digest mismatch")
        _check_arrays(arrays, str(path))
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        warnings.warn(f"discarding corrupt cache file {path} ({exc})", CacheWarning, stacklevel=2)
        path.unlink(missing_ok=True)
        return None
    return MNIST(**arrays, source=source)


def _write_npz_cache(path: Path, data: MNIST) -> None:
    arrays = {k: getattr(data, k) for k in _KEYS}
    with atomic_write(path) as fh:
        np.savez_compressed(fh, **arrays, sha256=_array_digest(arrays), source=data.source)


def _load_openml(name: str | None, version: int | str | None, data_id: int | None, cache: Path) -> MNIST:
    if (name is None) == (data_id is None):
        raise OptionError.naming(
            "OpenML needs exactly one of $name (with an optional $version) or $data_id, "
            f"found name={name!r}, data_id={data_id!r}"
        )
    if data_id is not None and version is not None:
        raise OptionError.naming("$version goes with $name, not with $data_id")
    path = _openml_cache_file(cache, name, version, data_id)
    cached = _read_npz_cache(path)
    if cached is not None:
        return cached
    from sklearn.datasets import fetch_openml

    kwargs: dict[str, Any] = (
        {"data_id": data_id} if data_id is not None else {"name": name, "version": version or "active"})
    try:
        bunch = fetch_openml(
            **kwargs, data_home=str(cache / "openml" / "sklearn"), as_frame=False, parser="liac-arff"
        )
    except Exception as exc:  # sklearn raises many types (URLError, ValueError, OpenMLError)
        raise DataSourceError(f"OpenML {kwargs}: {type(exc).__name__}: {exc}") from exc
    X, y = np.asarray(bunch.data), np.asarray(bunch.target)
    what = f"OpenML {kwargs}"
    if X.ndim != 2 or X.shape[1] != 784:
        raise DataSourceError(f"{what}: expected 784 pixel columns (28x28), found shape {X.shape}")
    if X.shape[0] < 7 or len(y) != X.shape[0]:
        raise DataSourceError(f"{what}: expected at least 7 rows with one label each, found "
                              f"{X.shape[0]} rows and {len(y)} labels")
    Xf = np.asarray(X, dtype=np.float64)
    if not np.all(np.isfinite(Xf)) or Xf.min() < 0 or Xf.max() > 255 or np.any(Xf != np.round(Xf)):
        raise DataSourceError(f"{what}: expected integer pixel values in 0..255")
    try:
        labels = np.asarray(y).astype(np.int64)
    except ValueError as exc:
        raise DataSourceError(f"{what}: labels are not integers: {exc}") from exc
    X8 = Xf.astype(np.uint8)
    source = f"openml:{getattr(bunch, 'details', {}).get('id', data_id or name)}"
    # MNIST's canonical split: the first 60,000 of 70,000 rows train, the last 10,000 test;
    # a dataset of another size keeps the same proportion (its last seventh is the test set)
    n_train = X8.shape[0] - X8.shape[0] // 7
    data = MNIST(X8[:n_train], labels[:n_train], X8[n_train:], labels[n_train:], source=source)
    _write_npz_cache(path, data)
    return data
