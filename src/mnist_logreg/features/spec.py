"""Feature-map specs and presets: ``"deskew,patches:64"`` -> a scikit-learn pipeline.

A spec is a comma-separated list of steps, applied left to right to the pixel rows:

=================  ==========================================================================
``deskew``         :class:`~mnist_logreg.features.Deskew` (straighten the slant)
``standard``       scikit-learn ``StandardScaler()`` (centre and scale each column)
``pca:N``          scikit-learn ``PCA(N)`` (N components, seeded randomized solver)
``poly:D``         scikit-learn ``PolynomialFeatures(D, include_bias=False)``
``patches:K``      :class:`~mnist_logreg.features.PatchFeatures` with K k-means filters
``patches:K:G``    the same, its responses sum-pooled on a G x G grid (default 3)
=================  ==========================================================================

or the name of a preset (:data:`PRESETS`). The logistic regression on top standardises its
inputs (``scaling="standard"``; x / 255 on images, see :func:`linear_scaling`) and uses the
preset's ``C``; a preset may also fit on distorted copies of the training digits
(``Preset.augment``, :func:`preset_augment`), which only changes what it is trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from ..errors import OptionError
from .deskew import Deskew
from .patches import PatchFeatures

__all__ = [
    "PRESETS",
    "STEPS",
    "FeatureSpecError",
    "Preset",
    "linear_scaling",
    "make_feature_map",
    "make_step",
    "output_width",
    "parse_features",
    "preset_C",
    "preset_augment",
    "step_params",
]


class FeatureSpecError(OptionError, ValueError):
    """A feature spec names an unknown step or preset, or gives a bad argument."""


@dataclass(frozen=True)
class Preset:
    """A named feature map, the C it is fitted with, and its measured full-MNIST test accuracy.

    ``augment`` is the number of distorted copies of each training digit
    (:func:`mnist_logreg.datasets.augment.augmented_copies`) added to the training digits when
    the preset is trained in memory (``train --augment`` overrides it); the feature map itself,
    and so a model file, is the same with or without them.
    """

    spec: str
    C: float
    about: str
    accuracy: float
    augment: int = 0


# accuracy: full MNIST, 60,000 training / 10,000 test digits (benchmarks/bench_features.py; best: the
# train flow at seed 0, which shuffles before making the copies: 0.9930 in the benchmark)
PRESETS: dict[str, Preset] = {
    "pixels": Preset("", 1.0, "raw pixels / 255", 0.9255),
    "deskew": Preset("deskew", 1.0, "deskewed pixels", 0.9561),
    "poly": Preset("deskew,pca:60,poly:2", 0.1, "deskew, 60 principal components and their products", 0.9861),
    "accurate": Preset("deskew,patches:64", 0.1,
                       "deskew, 64 k-means 5x5 patch filters, both signs, 3x3 sum pooling, square root", 0.9924),
    "best": Preset("deskew,patches:64:4", 0.1,
                   "deskew, 64 k-means 5x5 patch filters, both signs, 4x4 sum pooling, square root; trained with 2 "
                   "distorted copies of each digit", 0.9931, augment=2),
}

#: the pooling grids ``patches:K:G`` accepts (G x G cells over the response maps)
POOL_GRIDS = (1, 12)

# step name -> (argument description or None, smallest and largest argument)
STEPS: dict[str, tuple[str | None, int, int]] = {
    "deskew": (None, 0, 0),
    "standard": (None, 0, 0),
    "pca": ("number of components", 1, 784),
    "poly": ("degree", 2, 3),
    "patches": ("number of filters", 1, 1024),
}


def _valid_choices() -> str:
    steps = ", ".join(name if arg is None else f"{name}:N" for name, (arg, _, _) in STEPS.items())
    return f"presets {', '.join(PRESETS)}; or comma-separated steps {steps} (or patches:K:G, G x G pooling)"


def parse_features(spec: str) -> list[tuple[str, int | None]]:
    """Parse a spec or preset name into ``[(step, argument), ...]`` (empty for raw pixels).

    Parameters
    ----------
    spec : str
        Comma-separated steps (``"deskew,pca:60"``), a preset name (:data:`PRESETS`), or ``""``.

    Returns
    -------
    list of (str, int or None)
        Each step's name and argument (None for ``deskew``).

    Raises
    ------
    FeatureSpecError
        Naming the bad part and the valid choices.
    """
    return [(name, arg) for name, arg, _ in _parse(spec)]


def step_params(spec: str) -> list[dict[str, Any]]:
    """The constructor parameters each step of a spec (or preset) sets beyond its argument.

    Parameters
    ----------
    spec : str
        A feature spec or preset name (see :func:`parse_features`).

    Returns
    -------
    list of dict
        One per step, in order: ``{"pool_grid": G}`` for ``patches:K:G``, ``{}`` otherwise.
    """
    return [params for _, _, params in _parse(spec)]


def _parse_step(part: str, spec: str) -> tuple[str, int | None, dict[str, Any]]:
    """One step ``name[:N[:G]]`` of ``spec``: its name, argument and further parameters."""
    name, _, arg = part.partition(":")
    if name not in STEPS:
        raise FeatureSpecError(f"features: unknown step {part!r} in {spec!r}; valid: {_valid_choices()}")
    what, lo, hi = STEPS[name]
    if what is None:
        if arg:
            raise FeatureSpecError(f"features: step {name!r} takes no argument, found {part!r}")
        return name, None, {}
    params: dict[str, Any] = {}
    if name == "patches" and ":" in arg:
        arg, _, grid = arg.partition(":")
        g_lo, g_hi = POOL_GRIDS
        try:
            params["pool_grid"] = int(grid)
        except ValueError:
            raise FeatureSpecError(f"features: the pooling grid of 'patches' is a number, as patches:K:G with G "
                                   f"from {g_lo} to {g_hi}, found {part!r}") from None
        if not g_lo <= params["pool_grid"] <= g_hi:
            raise FeatureSpecError(f"features: the pooling grid of 'patches' must be from {g_lo} to {g_hi}, "
                                   f"found {params['pool_grid']}")
    try:
        value = int(arg)
    except ValueError:
        raise FeatureSpecError(
            f"features: step {name!r} needs {what} as {name}:N with N from {lo} to {hi}, found {part!r}"
        ) from None
    if not lo <= value <= hi:
        raise FeatureSpecError(f"features: {what} of {name!r} must be from {lo} to {hi}, found {value}")
    return name, value, params


def _parse(spec: str) -> list[tuple[str, int | None, dict[str, Any]]]:
    if not isinstance(spec, str):
        raise FeatureSpecError(f"features: expected a string, found {type(spec).__name__}")
    text = spec.strip()
    if text in PRESETS:
        text = PRESETS[text].spec
    if not text:
        return []
    steps = [_parse_step(part.strip(), spec) for part in text.split(",")]
    names = [n for n, _, _ in steps]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise FeatureSpecError(f"features: each step may appear once, {', '.join(map(repr, repeated))} is repeated "
                               f"in {spec!r}")
    if "poly" in names and "pca" not in names[: names.index("poly")]:
        raise FeatureSpecError(
            f"features: 'poly' needs 'pca:N' before it (products of 784 pixels are too many), in {spec!r}"
        )
    images = True  # deskew keeps images; every other step turns them into plain vectors
    for name in names:
        if name in ("deskew", "patches") and not images:
            raise FeatureSpecError(f"features: {name!r} needs images, but an earlier step made vectors, in {spec!r}")
        images = images and name == "deskew"
    return steps


def output_width(spec: str, n_in: int = 784) -> list[int]:
    """The width after each step of a spec (or preset), starting from ``n_in`` pixels; the
    largest is what a feature map holds in memory (``[]`` for raw pixels).

    Parameters
    ----------
    spec : str
        A feature spec (``"deskew,pca:60,poly:2"``) or a preset name.
    n_in : int, default 784
        The input's width (square images: ``n_in`` pixels).

    Returns
    -------
    list of int
        One width per step, in order.
    """
    from math import comb

    widths, width, side = [], n_in, round(n_in**0.5)
    for name, arg, params in _parse(spec):
        n = 0 if arg is None else int(arg)  # every step but deskew has its argument (parse_features)
        if name == "pca":
            width = min(n, width)
        elif name == "poly":
            width = comb(width + n, n) - 1
        elif name == "patches":
            defaults = PatchFeatures(n, **params)
            positions = max(1, side - min(defaults.patch_size, side) + 1)
            cells = min(defaults.pool_grid, positions) ** 2
            width = 2 * n * cells
        widths.append(width)
    return widths


def make_feature_map(spec: str, random_state: int | None = 0) -> Pipeline | None:
    """The scikit-learn pipeline of a spec or preset (None for raw pixels).

    Parameters
    ----------
    spec : str
        A feature spec or preset name (see :func:`parse_features`).
    random_state : int or None, default 0
        Seed of the randomised steps (PCA, patch filters).

    Returns
    -------
    Pipeline or None
        The unfitted steps in order, named as in the spec; None when the spec has no steps.
    """
    steps = [(name, make_step(name, arg, random_state).set_params(**params)) for name, arg, params in _parse(spec)]
    return Pipeline(steps) if steps else None


def make_step(name: str, arg: int | None, random_state: int | None = 0) -> Any:
    """The unfitted transformer of one parsed step ``name:arg``.

    Parameters
    ----------
    name : str
        The step: ``"deskew"``, ``"standard"``, ``"pca"``, ``"poly"`` or ``"patches"`` (a
        ``FeatureSpecError`` otherwise).
    arg : int or None
        Its argument: components, degree or filters (None for ``deskew``).
    random_state : int or None, default 0
        Seed of the randomised steps (PCA, patch filters).

    Returns
    -------
    transformer
        An unfitted scikit-learn transformer (``Deskew``, ``StandardScaler``, ``PCA``,
        ``PolynomialFeatures`` or ``PatchFeatures``).
    """
    if name == "deskew":
        return Deskew()
    if name == "standard":
        return StandardScaler()
    if name == "pca":
        return PCA(arg, svd_solver="randomized", random_state=random_state)
    if name == "poly":
        return PolynomialFeatures(arg, include_bias=False)
    if name == "patches":
        if arg is None:  # PatchFeatures(None) would only fail when fitted
            raise FeatureSpecError("features: step 'patches' needs the number of filters, as patches:K")
        return PatchFeatures(arg, random_state=random_state)
    raise FeatureSpecError(f"features: unknown step {name!r}; valid: {_valid_choices()}")


def linear_scaling(spec: str) -> str:
    """The preprocessing of the logistic regression on a feature map's output.

    Images (raw or deskewed pixels) keep the pixel scale, x / 255: standardising would blow up
    the border pixels that are almost always 0. Every other map is standardised.

    Parameters
    ----------
    spec : str
        A feature spec or preset name.

    Returns
    -------
    str
        ``"pixels"`` (x / 255) or ``"standard"``: the estimator's ``scaling``.
    """
    steps = parse_features(spec)
    return "pixels" if not steps or steps[-1][0] == "deskew" else "standard"


def preset_C(spec: str) -> float | None:
    """The ``C`` a preset is fitted with, or None for an explicit spec.

    Parameters
    ----------
    spec : str
        A preset name (surrounding spaces ignored) or a feature spec.

    Returns
    -------
    float or None
        The preset's ``C``.
    """
    preset = PRESETS.get(spec.strip()) if isinstance(spec, str) else None
    return preset.C if preset else None


def preset_augment(spec: str) -> int:
    """The distorted copies of each training digit a preset is trained with (0 for a spec).

    Parameters
    ----------
    spec : str
        A preset name (surrounding spaces ignored) or a feature spec.

    Returns
    -------
    int
        The preset's ``augment`` (:class:`Preset`); 0 for an explicit spec.
    """
    preset = PRESETS.get(spec.strip()) if isinstance(spec, str) else None
    return preset.augment if preset else 0
