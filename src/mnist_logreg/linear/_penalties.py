"""Penalties on the coefficients ``W`` (never the intercept), as small objects.

A penalty answers its value, the gradient of its smooth part, its curvature (a constant added to
the Hessian's diagonal) and its proximal operator, so a smooth solver uses the first three and a
proximal one the last. Written against the array API: ``W`` may be numpy or torch.
"""

from __future__ import annotations

import math
from typing import Any, Protocol, runtime_checkable

__all__ = ["L2", "Penalty", "make_penalty"]


@runtime_checkable
class Penalty(Protocol):
    """What the solvers need of a penalty ``h(W)``.

    Attributes
    ----------
    smooth : bool
        Whether ``h`` is differentiable (then :meth:`gradient` is its gradient).
    curvature : float
        The constant ``c`` with ``Hessian(h) = c I`` for a smooth quadratic penalty (0 if none).
    """

    smooth: bool
    curvature: float

    def value(self, xp: Any, W: Any) -> float:
        """``h(W)``."""

    def gradient(self, xp: Any, W: Any) -> Any:
        """The gradient of the smooth part of ``h`` at ``W``."""

    def prox(self, xp: Any, W: Any, step: float) -> Any:
        """``argmin_V h(V) + ||V - W||^2 / (2 step)``."""


class L2:
    """``h(W) = 0.5 * alpha * ||W||_F^2``; ``alpha = 0`` is no penalty."""

    smooth = True

    def __init__(self, alpha: float):
        if not (alpha >= 0 and math.isfinite(alpha)):
            raise ValueError(f"L2 penalty strength must be finite and >= 0, got {alpha!r}")
        self.alpha = float(alpha)
        self.curvature = self.alpha

    def value(self, xp, W) -> float:
        if not self.alpha:
            return 0.0
        return 0.5 * self.alpha * float(xp.sum(W * W))

    def gradient(self, xp, W):
        return self.alpha * W

    def prox(self, xp, W, step: float):
        return W / (1.0 + step * self.alpha)

    def __repr__(self) -> str:
        return f"L2(alpha={self.alpha:g})"


def make_penalty(C: float) -> Penalty:
    """The penalty of scikit-learn's convention ``0.5 / C * ||W||^2`` (``C = inf``: none)."""
    C = float(C)
    return L2(0.0 if math.isinf(C) else 1.0 / C)
