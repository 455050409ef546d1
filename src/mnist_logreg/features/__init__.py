"""Feature maps that take logistic regression beyond the linear limit on pixels.

``datasets -> tasks -> features -> linear``: scikit-learn transformers over pixel rows
(:class:`Deskew`, :class:`PatchFeatures`, and scikit-learn's PCA and PolynomialFeatures), put
together from a spec string or a preset by :func:`make_feature_map`.
"""

from .deskew import Deskew, deskew_images
from .patches import PatchFeatures
from .spec import (
    PRESETS,
    FeatureSpecError,
    linear_scaling,
    make_feature_map,
    parse_features,
    preset_augment,
    preset_C,
)

__all__ = [
    "PRESETS",
    "Deskew",
    "FeatureSpecError",
    "PatchFeatures",
    "deskew_images",
    "linear_scaling",
    "make_feature_map",
    "parse_features",
    "preset_C",
    "preset_augment",
]
