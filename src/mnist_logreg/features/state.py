"""A fitted feature map as plain named arrays, and back, with every array checked.

Model files store no pickle: each fitted step becomes a few float or integer arrays
(:func:`export_state`) and is rebuilt from its spec step, its parameters and those arrays
(:func:`import_state`), which refuses any array of the wrong dtype, shape or with non-finite
values with a :class:`FeatureStateError` naming the array, expected vs found.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator

from ..errors import InputError
from .spec import make_step

__all__ = ["FeatureStateError", "export_state", "import_state"]

# the parameters of each step that a model file keeps (the rest follow from the spec)
_PARAMS = {
    "deskew": (),
    "standard": ("with_mean", "with_std"),
    "pca": ("whiten",),
    "poly": ("include_bias", "interaction_only"),
    "patches": ("patch_size", "pool_grid", "threshold", "power", "whitening", "contrast"),
}


#: the largest magnitude a stored feature array may hold (means of pixels, whitened filters and
#: their offsets are all far below it; 1e300 or 3e38 would overflow float32 features to inf)
_PLAUSIBLE = 1e6


class FeatureStateError(InputError, ValueError):
    """A stored feature-map array or parameter is missing or invalid."""


def export_state(name: str, step: BaseEstimator) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """The parameters (JSON-ready) and arrays that rebuild the fitted ``step`` named ``name``.

    Parameters
    ----------
    name : str
        The step's name in the spec: ``"deskew"``, ``"standard"``, ``"pca"``, ``"poly"`` or ``"patches"``.
    step : BaseEstimator
        The fitted step.

    Returns
    -------
    params : dict
        Its constructor parameters that a model file keeps (JSON-ready).
    arrays : dict of str -> ndarray
        Its fitted arrays (``image_shape``; ``mean`` and ``scale``; ``components``, ``mean`` and
        ``explained_variance``; or ``scale``, ``filters`` and ``offsets``; none for ``poly``).
    """
    params = {k: step.get_params()[k] for k in _PARAMS[name]}
    arrays: dict[str, NDArray[Any]]
    if name == "deskew":
        arrays = {"image_shape": np.asarray(step.image_shape_, dtype=np.int64)}
    elif name == "standard":  # a column StandardScaler leaves alone is stored as mean 0, scale 1
        n = int(step.n_features_in_)
        arrays = {"mean": np.zeros(n) if step.mean_ is None else np.asarray(step.mean_, dtype=np.float64),
                  "scale": np.ones(n) if step.scale_ is None else np.asarray(step.scale_, dtype=np.float64)}
    elif name == "pca":
        arrays = {"components": step.components_.astype(np.float64), "mean": step.mean_.astype(np.float64),
                  "explained_variance": np.asarray(step.explained_variance_, dtype=np.float64)}
    elif name == "poly":
        arrays = {}
    else:
        arrays = {
            "image_shape": np.asarray(step.image_shape_, dtype=np.int64),
            "scale": np.asarray(step.scale_, dtype=np.float64),
            "filters": step.filters_.astype(np.float32),
            "offsets": step.offsets_.astype(np.float32),
        }
    return params, arrays


def _array(arrays: dict[str, Any], key: str, kinds: str, shape: tuple[int | None, ...], where: str,
           limit: float | None = None) -> NDArray[Any]:
    if key not in arrays:
        raise FeatureStateError(f"{where}.{key}: missing")
    a = arrays[key]
    if not isinstance(a, np.ndarray) or a.dtype.kind not in kinds:
        raise FeatureStateError(f"{where}.{key}: expected {'integers' if kinds == 'iu' else 'floats'}, "
                                f"found {getattr(a, 'dtype', type(a).__name__)}")
    if len(a.shape) != len(shape) or any(e is not None and e != f for e, f in zip(shape, a.shape, strict=True)):
        raise FeatureStateError(f"{where}.{key}: expected shape {shape}, found {a.shape}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise FeatureStateError(f"{where}.{key}: values must be finite")
    if limit is not None and a.size and float(np.max(np.abs(a))) > limit:
        raise FeatureStateError(f"{where}.{key}: values up to {float(np.max(np.abs(a))):.3g}, above the {limit:g} "
                                "such a field can hold (a fitted map's values are far smaller)")
    return a


def import_state(name: str, arg: int | None, params: dict[str, Any], arrays: dict[str, Any], n_in: int,
                 where: str) -> tuple[BaseEstimator, int]:
    """Rebuild one fitted step from its spec step ``name:arg``; returns it and its output width.

    ``n_in`` is the width of its input; ``where`` prefixes error messages (e.g. ``features.1``).

    Parameters
    ----------
    name : str
        The step's name in the spec: ``"deskew"``, ``"standard"``, ``"pca"``, ``"poly"`` or ``"patches"``.
    arg : int or None
        Its argument in the spec (None for ``deskew``).
    params : dict
        The parameters :func:`export_state` wrote.
    arrays : dict of str -> ndarray
        The arrays :func:`export_state` wrote; each is checked (dtype, shape, finite, size).
    n_in : int
        The width of the step's input.
    where : str
        Prefix of error messages (e.g. ``features.1``).

    Returns
    -------
    step : BaseEstimator
        The fitted step, ready to ``transform``.
    n_out : int
        The width of its output.
    """
    step = make_step(name, arg)
    extra = set(params) - set(_PARAMS[name])
    if extra:
        raise FeatureStateError(f"{where}: unknown parameters {sorted(extra)} for {name!r}")
    try:
        step.set_params(**params)
    except (TypeError, ValueError) as exc:
        raise FeatureStateError(f"{where}: bad parameters for {name!r} ({exc})") from exc
    step.n_features_in_ = n_in
    if name in ("deskew", "patches"):
        shape = tuple(int(v) for v in _array(arrays, "image_shape", "iu", (2,), where))
        if shape[0] < 1 or shape[1] < 1 or shape[0] * shape[1] != n_in:
            raise FeatureStateError(f"{where}.image_shape: {shape} does not hold {n_in} pixels")
        step.image_shape_ = shape
    if name == "deskew":
        return step, n_in
    if name == "standard":
        step.mean_ = _array(arrays, "mean", "f", (n_in,), where, limit=_PLAUSIBLE)
        scale = _array(arrays, "scale", "f", (n_in,), where, limit=_PLAUSIBLE)
        if np.any(scale < 1 / _PLAUSIBLE):
            raise FeatureStateError(f"{where}.scale: expected standard deviations from {1 / _PLAUSIBLE:g} to "
                                    f"{_PLAUSIBLE:g}, found {float(scale.min()):.3g}")
        step.scale_, step.var_, step.n_samples_seen_ = scale, scale**2, 1
        return step, n_in
    if name == "pca":
        if arg is None:  # a spec parsed by parse_features always gives it
            raise FeatureStateError(f"{where}: 'pca' needs its number of components")
        # PCA's components are unit vectors: no entry above 1
        comp = _array(arrays, "components", "f", (arg, n_in), where, limit=1.0 + 1e-6)
        step.components_ = comp
        step.mean_ = _array(arrays, "mean", "f", (n_in,), where, limit=_PLAUSIBLE)
        step.n_components_ = arg
        step.explained_variance_ = np.ones(arg)
        if step.whiten:  # the components' variances divide the output: needed, and positive
            variance = _array(arrays, "explained_variance", "f", (arg,), where, limit=_PLAUSIBLE**2)
            if np.any(variance < 1 / _PLAUSIBLE**2):
                raise FeatureStateError(f"{where}.explained_variance: expected positive variances, found "
                                        f"{float(variance.min()):.3g}")
            step.explained_variance_ = variance
        return step, arg
    if name == "poly":
        step.fit(np.zeros((1, n_in)))
        return step, int(step.n_output_features_)
    try:
        step._check_params()
    except ValueError as exc:
        raise FeatureStateError(f"{where}: {exc}") from exc
    P = min(step.patch_size, shape[0]) * min(step.patch_size, shape[1])
    scale = _array(arrays, "scale", "f", (), where)
    # 1 / the largest pixel value: 1 for pixels / 255, 1/255 for raw ones
    if not 1 / _PLAUSIBLE <= float(scale) <= _PLAUSIBLE:
        raise FeatureStateError(f"{where}.scale: expected 1 / the largest pixel value, from {1 / _PLAUSIBLE:g} to "
                                f"{_PLAUSIBLE:g}, found {float(scale):.3g}")
    step.scale_ = float(scale)
    step.filters_ = _array(arrays, "filters", "f", (P, arg), where, limit=_PLAUSIBLE).astype(np.float32)
    step.offsets_ = _array(arrays, "offsets", "f", (arg,), where, limit=_PLAUSIBLE).astype(np.float32)
    return step, step.n_features_out_
