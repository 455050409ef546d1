"""Save and load fitted models as ``.npz`` files without pickle.

A model file holds plain arrays only: coefficients, intercepts, classes, the preprocessing
(offset and scale), the task, the options as JSON and a format version. A model on feature maps
(a scikit-learn ``Pipeline`` of feature steps and a logistic regression) adds its feature spec
(``"deskew,patches:64"``), each step's parameters and its fitted arrays as ``features.<i>.<name>``
(format version 2). ``load_model`` checks every field before building the estimator, so a
tampered or truncated file raises :class:`ModelFileError` and never runs code or half-loads.
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from sklearn.pipeline import Pipeline

from ._atomic import atomic_write
from ._npz import NpzError, read_npz
from .errors import InputError
from .features import FeatureSpecError, parse_features
from .features.spec import STEPS, make_step
from .features.state import FeatureStateError, export_state, import_state
from .linear import LogisticRegression, SGDLogisticRegression

__all__ = ["FORMAT_VERSION", "ModelFileError", "feature_spec", "final_estimator", "load_model", "save_model"]

FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)
N_FEATURES = 784
_KINDS = {"LogisticRegression": LogisticRegression, "SGDLogisticRegression": SGDLogisticRegression}
_FIELDS = ("format_version", "kind", "coef", "intercept", "classes", "offset", "scale", "task", "params")


class ModelFileError(InputError, ValueError):
    """A model file is missing, unreadable, or does not hold a valid model."""


def save_model(model: Any, path: str | os.PathLike[str], *, task: str = "multiclass",
               extra: dict[str, Any] | None = None) -> None:
    """Write a fitted ``model`` to ``path`` (``.npz``), atomically.

    ``model`` is an estimator of this package, or a ``Pipeline`` of feature steps (see
    :mod:`mnist_logreg.features`) ending in one. ``extra`` is JSON-serialisable metadata (e.g.
    metrics) stored with the options.

    Parameters
    ----------
    model : estimator or Pipeline
        The fitted model.
    path : str or os.PathLike
        The file to write (replaced whole, never left half-written).
    task : str, default "multiclass"
        The task the model was trained for, stored for :func:`load_model`.
    extra : dict or None, default None
        Metadata stored with the model's parameters.

    Raises
    ------
    ModelFileError
        The model would not load back (non-finite coefficients, a width other than the features',
        labels that are not integers), or a pipeline has a step other than this package's feature
        steps (the file would lose it); nothing is written then.
    TypeError
        ``model`` is not an estimator of this package.
    """
    feature_arrays, feature_params = {}, []
    spec = feature_spec(model)  # refuses a step a model file cannot hold
    if isinstance(model, Pipeline):
        for i, (name, _arg) in enumerate(parse_features(spec)):
            params, step_arrays = export_state(name, model.steps[i][1])
            feature_params.append(params)
            feature_arrays.update({f"features.{i}.{k}": v for k, v in step_arrays.items()})
        model = final_estimator(model)
    kind = type(model).__name__
    if kind not in _KINDS:
        raise TypeError(f"cannot save a {kind}: expected one of {sorted(_KINDS)}")
    if not spec and not np.any(model.offset_) and np.all(model.scale_ == 1):
        # a classifier that takes its inputs as given: fitted on raw floats, or on the output of
        # preprocessing it does not hold (the classifier of a StandardScaler pipeline, saved alone)
        warnings.warn(f"save_model: this {kind} uses its inputs as given (no scaling of its own, no feature "
                      "steps); if it was fitted after preprocessing (a StandardScaler, a PCA...), that is not in "
                      "the file: save the whole pipeline instead (StandardScaler, PCA and PolynomialFeatures "
                      "are saved with it)", UserWarning, stacklevel=2)
    params = {k: v for k, v in model.get_params().items() if k != "callback"}
    if np.asarray(model.classes_).dtype.kind not in "iub":
        raise ModelFileError(f"save_model: class labels must be integers (a model file stores them as int64), found "
                             f"{np.asarray(model.classes_)[:5].tolist()}")
    # Any: np.savez's stub types its keywords as arrays besides allow_pickle (a bool), so a dict of
    # arrays unpacked into it would not check
    arrays: dict[str, Any] = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "kind": np.array(kind),
        "coef": np.asarray(model.coef_, dtype=np.float64),
        "intercept": np.asarray(model.intercept_, dtype=np.float64),
        "classes": np.asarray(model.classes_).astype(np.int64),
        "offset": np.asarray(model.offset_, dtype=np.float64),
        "scale": np.asarray(model.scale_, dtype=np.float64),
        "task": np.array(task),
        "params": np.array(json.dumps({"params": params, "extra": extra or {}}, default=str)),
        "features": np.array(spec),
        "features_params": np.array(json.dumps(feature_params)),
        **feature_arrays,
    }
    try:  # what load_model would refuse is not written (NaN coefficients, another width...)
        _model_from_arrays(path, arrays)
    except ModelFileError as exc:
        raise ModelFileError(f"save_model: the model would not load back, so nothing was written: {exc}") from exc
    with atomic_write(path) as fh:
        np.savez(fh, **arrays)


def final_estimator(model: Any) -> Any:
    """The logistic regression of ``model`` (the last step of a feature pipeline).

    Parameters
    ----------
    model : estimator or Pipeline
        A model of this package, possibly after feature steps.

    Returns
    -------
    estimator
        The pipeline's last step, or ``model`` itself when it is not a pipeline.
    """
    return model.steps[-1][1] if isinstance(model, Pipeline) else model


def feature_spec(model: Any) -> str:
    """The feature spec of ``model`` (``"deskew,patches:64"``), ``""`` for one on raw pixels.

    Parameters
    ----------
    model : estimator or Pipeline
        A model of this package, possibly after feature steps.

    Returns
    -------
    str
        The steps before the classifier, as :func:`~mnist_logreg.features.parse_features` reads them.
    """
    if not isinstance(model, Pipeline):
        return ""
    return ",".join(_spec_step(name, step) for name, step in model.steps[:-1])


def _spec_step(name: str, step: Any) -> str:
    """A pipeline step as a spec step (``"pca:60"``), by its type: this package's feature steps
    and scikit-learn's ``StandardScaler``, ``PCA`` and ``PolynomialFeatures``, whatever the
    pipeline calls them (``make_pipeline`` names them ``standardscaler``...)."""
    for spec_name, (what, _, _) in STEPS.items():
        if type(step) is type(make_step(spec_name, None if what is None else 1)):
            break
    else:
        raise ModelFileError(
            f"save_model: pipeline step {name!r} ({type(step).__name__}) cannot be saved: a model file holds "
            "this package's feature steps and scikit-learn's StandardScaler, PCA and PolynomialFeatures before "
            "the classifier; save the classifier alone and keep the other steps yourself (its file would not "
            "include them)")
    arg = {"pca": "n_components_", "poly": "degree", "patches": "n_filters"}.get(spec_name)
    if arg is None:
        return spec_name
    value = getattr(step, arg, None) if arg.endswith("_") else step.get_params()[arg]
    if not isinstance(value, int | np.integer):  # PCA's n_components_ exists once fitted
        raise ModelFileError(f"save_model: pipeline step {name!r} ({type(step).__name__}) is not fitted, or its "
                             f"{arg.rstrip('_')} is not a whole number ({value!r})")
    if spec_name == "patches" and step.get_params()["pool_grid"] != type(step)().pool_grid:
        return f"patches:{int(value)}:{step.get_params()['pool_grid']}"  # patches:K:G, a grid other than 3
    return f"{spec_name}:{int(value)}"


def _fail(path: str | os.PathLike[str], msg: str) -> NoReturn:
    raise ModelFileError(f"{path}: {msg}")


#: the largest magnitude accepted in a model's arrays: beyond it scores can overflow to inf and nan
_MAX_MAGNITUDE = 1e30


#: the most bytes one member of a model file may hold (the largest feature maps need a few MB)
MAX_MEMBER_BYTES = 256 << 20


#: the most bytes all members of a model file may hold together
MAX_MODEL_BYTES = 512 << 20


def _model_member(name: str) -> bool:
    """Whether a member of that name can belong to a model file (others are refused unread: ten
    unused 200 MB members used to take a 2.2 MB model's loading to 2.1 GB)."""
    return name in _FIELDS or name in ("features", "features_params") or name.startswith("features.")


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The archive's arrays, every member's size checked from its header first (``_npz.read_npz``)."""
    try:
        return read_npz(path, MAX_MEMBER_BYTES, max_total_bytes=MAX_MODEL_BYTES, expected=_model_member)
    except NpzError as exc:
        if exc.reason in ("unexpected_member", "too_large_in_all"):
            raise ModelFileError(f"{exc} (not a model file written by save_model)") from exc
        if exc.reason == "not_npz":
            raise ModelFileError(f"{path}: not a model file (expected an .npz archive written by save_model)") \
                from exc
        if exc.reason == "unreadable":
            raise ModelFileError(str(exc).replace("not a readable archive", "not a readable model file")) from exc
        raise ModelFileError(str(exc).replace("allowed", "a model field may hold")) from exc


def load_model(path: str | os.PathLike[str]) -> tuple[Any, str, dict[str, Any]]:
    """Load a model saved by :func:`save_model`; returns ``(model, task, extra)``.

    ``path`` is a model file, or a run folder (``train --out``) holding ``model.npz``.

    Parameters
    ----------
    path : str or os.PathLike
        A model file, or a run folder holding ``model.npz``.

    Returns
    -------
    model : estimator or Pipeline
        The fitted model, ready to ``predict``.
    task : str
        The task it was trained for (``"multiclass"``, ``"digit:D"`` or ``"pair:A,B"``).
    extra : dict
        The metadata stored with it (its fit options and metrics).

    Raises
    ------
    ModelFileError
        The file is missing, not an npz archive, or any field is absent, of the wrong type or
        shape, not finite, or of an unknown format version.
    """
    path = Path(path)
    if path.is_dir():  # a run folder: its model
        if (path / "model.npz").is_file():
            path = path / "model.npz"
        else:
            raise ModelFileError(f"{path}: a folder without model.npz (give a model file, or a run folder that "
                                 "holds one)")
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        z = _read_arrays(path)
    except ModelFileError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise ModelFileError(f"{path}: not a readable model file ({type(exc).__name__}: {exc})") from exc
    return _model_from_arrays(path, z)


def _model_from_arrays(path: str | os.PathLike[str], z: dict[str, np.ndarray]) -> tuple[Any, str, dict[str, Any]]:
    """``(model, task, extra)`` from a model file's arrays, every field checked (``load_model``);
    ``path`` names the file in messages."""
    data, feature_arrays = _read_fields(path, z)
    kind, classes = _check_header(path, data)
    steps, width = _load_features(path, str(data["features"]), str(data["features_params"]), feature_arrays)
    n_out = 1 if len(classes) == 2 else len(classes)
    _check_numbers(path, data, {"coef": (n_out, width), "intercept": (n_out,), "offset": (width,),
                                "scale": (width,)})
    try:
        meta = json.loads(str(data["params"]))
        params, extra = meta["params"], meta["extra"]
        if not isinstance(params, dict) or not isinstance(extra, dict):
            raise TypeError("params and extra must be objects")
        model = _KINDS[kind]().set_params(**params)
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise ModelFileError(f"{path}: params: not valid options for {kind} ({type(exc).__name__}: "
                             f"{str(exc)[:200]})") from exc
    model.coef_ = data["coef"]
    model.intercept_ = data["intercept"]
    model.classes_ = classes
    model.offset_ = data["offset"]
    model.scale_ = data["scale"]
    model.n_features_in_ = width
    if steps:
        model = Pipeline([*steps, ("logreg", model)])
    return model, str(data["task"]), extra


def _read_fields(path: str | os.PathLike[str], z: dict[str, np.ndarray]
                 ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The model's fields (the optional feature fields defaulted) and the feature steps' arrays."""
    try:
        missing = [f for f in _FIELDS if f not in z]
        if missing:
            _fail(path, f"missing fields {missing}; expected {list(_FIELDS)}")
        data = {f: z[f] for f in _FIELDS}
        for f in ("features", "features_params"):
            if f in z:
                data[f] = z[f]
        feature_arrays = {f: z[f] for f in z if f.startswith("features.")}
    except ModelFileError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise ModelFileError(f"{path}: not a readable model file ({type(exc).__name__}: {exc})") from exc
    data.setdefault("features", np.array(""))
    data.setdefault("features_params", np.array("[]"))
    return data, feature_arrays


def _check_header(path: str | os.PathLike[str], data: dict[str, np.ndarray]) -> tuple[str, np.ndarray]:
    """The format version, the string fields, the kind and the classes; returns the kind and classes."""
    version = data["format_version"]
    if version.shape != () or version.dtype.kind not in "iu" or int(version) not in _READABLE_VERSIONS:
        _fail(path, f"format_version: expected one of {_READABLE_VERSIONS}, found {version!r}")
    for f in ("kind", "task", "params", "features", "features_params"):
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
    return kind, classes


def _check_numbers(path: str | os.PathLike[str], data: dict[str, np.ndarray],
                   shapes: dict[str, tuple[int, ...]]) -> None:
    """Each numeric field is float64 of its shape, finite and small enough to predict with."""
    for f, shape in shapes.items():
        arr = data[f]
        if arr.dtype != np.float64:
            _fail(path, f"{f}: expected float64, found {arr.dtype}")
        if arr.shape != shape:
            _fail(path, f"{f}: expected shape {shape}, found {arr.shape}")
        if not np.all(np.isfinite(arr)):
            _fail(path, f"{f}: values must be finite")
        if arr.size and float(np.max(np.abs(arr))) > _MAX_MAGNITUDE:
            _fail(path, f"{f}: values up to {float(np.max(np.abs(arr))):.3g}, above {_MAX_MAGNITUDE:g} (predictions "
                        "would overflow)")


def _load_features(path: str | os.PathLike[str], spec: str, params_json: str, arrays: dict[str, np.ndarray]
                   ) -> tuple[list[tuple[str, Any]], int]:
    """Rebuild the feature steps of a model file; returns them and the width they output."""
    try:
        parsed = parse_features(spec)
    except FeatureSpecError as exc:
        _fail(path, f"features: {exc}")
    try:
        params = json.loads(params_json)
    except (ValueError, RecursionError) as exc:
        _fail(path, f"features_params: not valid JSON ({exc})")
    if not isinstance(params, list) or len(params) != len(parsed) or not all(isinstance(p, dict) for p in params):
        _fail(path, f"features_params: expected a list of {len(parsed)} objects, one per step of {spec!r}")
    steps, width = [], N_FEATURES
    for i, ((name, arg), step_params) in enumerate(zip(parsed, params, strict=True)):
        prefix = f"features.{i}."
        mine = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        try:
            step, width = import_state(name, arg, step_params, mine, width, where=f"features.{i}")
        except FeatureStateError as exc:
            _fail(path, str(exc))
        steps.append((name, step))
    known = {k for k in arrays if any(k.startswith(f"features.{i}.") for i in range(len(parsed)))}
    if set(arrays) - known:
        _fail(path, f"unexpected arrays {sorted(set(arrays) - known)} for features {spec!r}")
    return steps, width
