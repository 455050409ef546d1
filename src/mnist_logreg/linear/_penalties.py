"""Penalties on the coefficients ``W`` (never the intercept), as small objects.

A penalty answers its value, the gradient of its smooth part, its curvature (a constant added to
the Hessian's diagonal) and the strength of its L1 part, which OWL-QN handles through the
pseudo-gradient and its orthant steps. Written against the array API: ``W`` may be numpy or torch.
"""

from __future__ import annotations

import math
from typing import Any, Protocol, runtime_checkable

__all__ = ["L2", "ElasticNet", "Penalty", "make_penalty"]


@runtime_checkable
class Penalty(Protocol):
    """What the solvers need of a penalty ``h(W)``.

    Attributes
    ----------
    smooth : bool
        Whether ``h`` is differentiable (then :meth:`gradient` is its gradient).
    curvature : float
        The constant ``c`` with ``Hessian = c I`` of the smooth quadratic part (0 if none).
    l1_strength : float
        The weight ``a`` of the non-smooth part ``a ||W||_1`` (0 for a smooth penalty).
    """

    smooth: bool
    curvature: float
    l1_strength: float

    def value(self, xp: Any, W: Any) -> float:
        """``h(W)``."""

    def gradient(self, xp: Any, W: Any) -> Any:
        """The gradient of the smooth part of ``h`` at ``W``."""


class L2:
    """``h(W) = 0.5 * alpha * ||W||_F^2``; ``alpha = 0`` is no penalty."""

    smooth = True
    l1_strength = 0.0

    def __init__(self, alpha: float) -> None:
        if not (alpha >= 0 and math.isfinite(alpha)):
            raise ValueError(f"L2 penalty strength must be finite and >= 0, got {alpha!r}")
        self.alpha = float(alpha)
        self.curvature = self.alpha

    def value(self, xp: Any, W: Any) -> float:
        if not self.alpha:
            return 0.0
        return 0.5 * self.alpha * float(xp.sum(W * W))

    def gradient(self, xp: Any, W: Any) -> Any:
        return self.alpha * W

    def __repr__(self) -> str:
        return f"L2(alpha={self.alpha:g})"


class ElasticNet:
    """``h(W) = alpha * (l1_ratio * ||W||_1 + 0.5 * (1 - l1_ratio) * ||W||_F^2)``; ``l1_ratio=1`` is L1."""

    def __init__(self, alpha: float, l1_ratio: float) -> None:
        if not (alpha >= 0 and math.isfinite(alpha)) or not 0 <= l1_ratio <= 1:
            raise ValueError(f"elastic net needs finite alpha >= 0 and 0 <= l1_ratio <= 1, got {alpha!r}, {l1_ratio!r}")
        self.alpha, self.l1_ratio = float(alpha), float(l1_ratio)
        self.l1_strength = self.alpha * self.l1_ratio
        self.curvature = self.alpha * (1.0 - self.l1_ratio)
        self.smooth = self.l1_strength == 0

    def value(self, xp: Any, W: Any) -> float:
        out = 0.0
        if self.l1_strength:
            out += self.l1_strength * float(xp.sum(xp.abs(W)))
        if self.curvature:
            out += 0.5 * self.curvature * float(xp.sum(W * W))
        return out

    def gradient(self, xp: Any, W: Any) -> Any:
        """The gradient of the smooth (L2) part only."""
        return self.curvature * W

    def __repr__(self) -> str:
        return f"ElasticNet(alpha={self.alpha:g}, l1_ratio={self.l1_ratio:g})"


def make_penalty(C: float, kind: str | None = "l2", l1_ratio: float | None = None) -> Penalty:
    """The penalty of scikit-learn's convention divided by ``C`` (``C = inf`` or None: none).

    ``"l2"``: ``0.5 / C ||W||^2``; ``"l1"``: ``1 / C ||W||_1``; ``"elasticnet"``:
    ``1 / C (l1_ratio ||W||_1 + 0.5 (1 - l1_ratio) ||W||^2)``.
    """
    C = float(C)
    alpha = 0.0 if math.isinf(C) or kind is None else 1.0 / C
    if kind in ("l2", None):
        return L2(alpha)
    if kind == "l1":
        return ElasticNet(alpha, 1.0)
    if kind == "elasticnet":
        if l1_ratio is None:
            raise ValueError("penalty='elasticnet' needs l1_ratio (0 <= l1_ratio <= 1)")
        return ElasticNet(alpha, float(l1_ratio))
    raise ValueError(f"penalty must be 'l2', 'l1', 'elasticnet' or None, got {kind!r}")
