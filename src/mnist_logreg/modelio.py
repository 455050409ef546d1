"""Save and load fitted models as ``.npz`` files without pickle.

A model file holds plain arrays only: coefficients, intercepts, classes, the preprocessing
(offset and scale), the task, the options as JSON and a format version. ``load_model`` checks
every field before building the estimator, so a tampered or truncated file raises
:class:`ModelFileError` and never runs code or half-loads.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ._atomic import atomic_write
from .linear import LogisticRegression, SGDLogisticRegression

__all__ = ["FORMAT_VERSION", "ModelFileError", "load_model", "save_model"]

FORMAT_VERSION = 1
N_FEATURES = 784
_KINDS = {"LogisticRegression": LogisticRegression, "SGDLogisticRegression": SGDLogisticRegression}
_FIELDS = ("format_version", "kind", "coef", "intercept", "classes", "offset", "scale", "task", "params")


class ModelFileError(ValueError):
    """A model file is missing, unreadable, or does not hold a valid model."""


def save_model(model, path: str | os.PathLike[str], *, task: str = "multiclass",
               extra: dict | None = None) -> None:
    """Write a fitted ``model`` to ``path`` (``.npz``), atomically.

    ``extra`` is JSON-serialisable metadata (e.g. metrics) stored with the options.
    """
    kind = type(model).__name__
    if kind not in _KINDS:
        raise TypeError(f"cannot save a {kind}: expected one of {sorted(_KINDS)}")
    params = {k: v for k, v in model.get_params().items() if k != "callback"}
    arrays = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "kind": np.array(kind),
        "coef": np.asarray(model.coef_, dtype=np.float64),
        "intercept": np.asarray(model.intercept_, dtype=np.float64),
        "classes": np.asarray(model.classes_).astype(np.int64),
        "offset": np.asarray(model.offset_, dtype=np.float64),
        "scale": np.asarray(model.scale_, dtype=np.float64),
        "task": np.array(task),
        "params": np.array(json.dumps({"params": params, "extra": extra or {}}, default=str)),
    }
    with atomic_write(path) as fh:
        np.savez(fh, **arrays)


def _fail(path, msg):
    raise ModelFileError(f"{path}: {msg}")


def load_model(path: str | os.PathLike[str]):
    """Load a model saved by :func:`save_model`; returns ``(model, task, extra)``.

    Raises
    ------
    ModelFileError
        The file is missing, not an npz archive, or any field is absent, of the wrong type or
        shape, not finite, or of an unknown format version.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [f for f in _FIELDS if f not in z.files]
            if missing:
                _fail(path, f"missing fields {missing}; expected {list(_FIELDS)}")
            data = {f: z[f] for f in _FIELDS}
    except ModelFileError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise ModelFileError(f"{path}: not a readable model file ({type(exc).__name__}: {exc})") from exc

    version = data["format_version"]
    if version.shape != () or version.dtype.kind not in "iu" or int(version) != FORMAT_VERSION:
        _fail(path, f"format_version: expected {FORMAT_VERSION}, found {version!r}")
    for f in ("kind", "task", "params"):
        if data[f].shape != () or data[f].dtype.kind != "U":
            _fail(path, f"{f}: expected a string, found {data[f].dtype} of shape {data[f].shape}")
    kind = str(data["kind"])
    if kind not in _KINDS:
        _fail(path, f"kind: expected one of {sorted(_KINDS)}, found {kind!r}")
    classes = data["classes"]
    if classes.ndim != 1 or classes.dtype.kind not in "iu" or len(classes) < 2:
        _fail(path, f"classes: expected at least 2 integer labels, found {classes.dtype} {classes.shape}")
    if len(np.unique(classes)) != len(classes):
        _fail(path, "classes: labels repeat")
    n_out = 1 if len(classes) == 2 else len(classes)
    expect = {
        "coef": (n_out, N_FEATURES),
        "intercept": (n_out,),
        "offset": (N_FEATURES,),
        "scale": (N_FEATURES,),
    }
    for f, shape in expect.items():
        arr = data[f]
        if arr.dtype != np.float64:
            _fail(path, f"{f}: expected float64, found {arr.dtype}")
        if arr.shape != shape:
            _fail(path, f"{f}: expected shape {shape}, found {arr.shape}")
        if not np.all(np.isfinite(arr)):
            _fail(path, f"{f}: values must be finite")
    try:
        meta = json.loads(str(data["params"]))
        params, extra = meta["params"], meta["extra"]
        if not isinstance(params, dict) or not isinstance(extra, dict):
            raise TypeError("params and extra must be objects")
        model = _KINDS[kind]().set_params(**params)
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelFileError(f"{path}: params: not valid options for {kind} ({exc})") from exc
    model.coef_ = data["coef"]
    model.intercept_ = data["intercept"]
    model.classes_ = classes
    model.offset_ = data["offset"]
    model.scale_ = data["scale"]
    model.n_features_in_ = N_FEATURES
    return model, str(data["task"]), extra
