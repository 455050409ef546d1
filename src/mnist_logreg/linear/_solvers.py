"""Solvers: plain functions from a loss object to fitted parameters and a history.

They know nothing of the estimator API. Both full-batch solvers use the same preconditioner,
a curvature-weighted Gram matrix::

    P = S (x) (X~^T diag(w) X~) + alpha * I          (X~ = [X, 1], w and S from the loss)

The Hessian of the loss is ``sum_i M_i (x) x~_i x~_i^T`` with a small class-coupling block ``M_i``
per sample; the preconditioner replaces each ``M_i`` by ``w_i S``: a per-sample curvature weight
``w_i`` times one class matrix ``S`` (their weighted average). At the start (all probabilities
equal) every ``M_i`` is the same and ``P`` is the exact Hessian, a scaled Bohning bound; refreshed
as the fit goes on it follows the real curvature, which is almost nil for confidently classified
digits and large for ambiguous ones. For the binary loss ``M_i`` is a scalar, so ``P`` *is* the
Hessian and Newton-CG takes exact Newton steps.

With many features (``_data._SKETCH_MIN_COLUMNS``) the Gram matrix is estimated from rows drawn
in proportion to their curvature weight ``w_i``: ``O(d^3)`` per refresh instead of ``O(n d^2)``.
The sketch changes only the preconditioner, never the objective or the stopping rule.

The loss is any :class:`~._loss.Loss` over any :class:`~._data.DesignMatrix`; nothing here
depends on the array library.

Stopping rule (what ``tol`` means): ``tol`` is the relative accuracy of the coefficients. The
distance to the optimum in the curvature norm ``||v||_H = sqrt(v^T H v)`` is estimated twice from
the gradient ``g``: by the quadratic model along the search direction ``d`` (``sqrt(-g^T d)``,
the Newton decrement for Newton-CG) and by the preconditioner (``sqrt(g^T P^-1 g)``, a scaled
gradient norm); the last step's decrease of the objective also counts as a gap
(``_estimates``), and the quasi-Newton solvers check a stop with a preconditioner rebuilt at that point
(``_Schedule``). The fit stops when both are at most ``tol / 2`` times the size of the solution in
the same norm, ``sqrt(theta^T P theta)`` (or ``sqrt(|F|)`` when that is larger, so that a solution
near 0 still ends); the factor 2 is a margin for the estimates' own error. Since
``F - F* ~ ||theta - theta*||_H^2 / 2``, this also bounds the objective's gap: at most about
``tol^2 / 8`` relative to the solution's squared size. With L1 the gradient is the minimum-norm
subgradient (projected onto the orthant). When rounding stops all progress first (float32 asked
for ``tol`` far below its precision), the fit ends and counts as converged only if the estimates
are within ``10 * tol``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

import numpy as np
from numpy.typing import NDArray

from ._data import Array, DesignMatrix
from ._loss import Loss

__all__ = ["SolverResult", "epoch_seed", "lbfgs", "newton_cg", "owlqn", "sgd", "visiting_order"]

#: the backend's symmetric eigendecomposition: ``A -> (eigenvalues, eigenvectors)``
Eigh: TypeAlias = Callable[[Array], tuple[Array, Array]]
#: a solver's per-iteration callback, given the iteration's record (``SolverResult.history``)
Callback: TypeAlias = Callable[[dict[str, Any]], object]


class InverseOperator(Protocol):
    """An approximate inverse Hessian ``P^-1`` as the stopping rule and the two-loop recursion use it."""

    def __call__(self, R: Array) -> Array:
        """``P^-1 @ R``."""

    def size2(self, theta: Array) -> float:
        """``theta^T P theta``."""


@dataclass
class SolverResult:
    """What a solver returns."""

    theta: Any
    n_iter: int
    n_evals: int
    converged: bool
    message: str
    grad_norm: float
    objective: float
    n_hessp: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def _dot(xp: Any, a: Array, b: Array) -> float:
    return float(xp.sum(a * b))


# the preconditioner's Gram matrix leaves out the rows of least curvature weight that together
# hold at most this share of it (digits classified with confidence): cheaper refreshes, the same
# evaluations (the measurements: docs/solver.md, "Design choices")
_GRAM_LEFT_OUT = 0.01


class Preconditioner:
    """Applies the inverse of the curvature-weighted Kronecker preconditioner (module doc).

    ``P = S (x) G + alpha I`` with ``G = X~^T diag(w) X~`` and the loss's class-coupling matrix
    ``S``; both are diagonalised once (``eigh`` in float64), so applying ``P^-1`` costs two small
    matrix products. The all-classes direction, in which softmax is unchanged, is handled exactly:
    its curvature is ``alpha`` for coefficients and its gradient is 0 for intercepts.

    A floor keeps ``P`` invertible where the loss has no curvature: ``floor`` times the largest
    curvature. The smooth solvers' floor is tiny (1e-9), and without any penalty ``P`` is a
    pseudo-inverse instead (``_NULL_UNITS``). OWL-QN's floor is large (``_L1_FLOOR``), and relative
    to each column's own curvature: ``G`` is diagonalised with its columns scaled to unit diagonal,
    ``P = D^1/2 (S (x) (G_n + alpha D^-1 / s) + floor I) D^1/2`` with ``D = diag(G)``, ``G_n =
    D^-1/2 G D^-1/2`` and ``s`` the largest eigenvalue of ``S`` (exact for one output), so that
    columns of mixed scales (10^-1 beside 10^1) do not all sit on the largest one's floor.
    """

    def __init__(self, loss: Loss, state: Any, eigh: Eigh, seed: int = 0, floor: float = 1e-9) -> None:
        xp = loss.xp
        # without any penalty the loss is flat along the null space of the data (collinear
        # columns, a constant column beside the intercept): P is then a pseudo-inverse that never
        # steps there, read from the exact Gram matrix (see _NULL_UNITS)
        pseudo = not loss.alpha and floor <= 1e-9
        scaled = floor > 1e-9
        G, class_sum, w_sum = loss.curvature_sums(state, seed=seed, left_out=0.0 if pseudo else _GRAM_LEFT_OUT,
                                                  exact=pseudo)
        lam_s, self.V = eigh(class_sum / max(w_sum, 1e-300))
        lam_s = xp.clip(lam_s, min=0.0)
        s_top = max(float(xp.max(lam_s)), 1e-12)
        alpha = loss.alpha
        self.scale: Array | None = None  # D^-1/2 as a column, when scaled
        if scaled:
            diag = xp.linalg.diagonal(G)
            largest = max(float(xp.max(diag)), 1e-300)
            diag = xp.where(diag > 1e-12 * largest, diag, xp.full_like(diag, largest))  # zero columns
            self.scale = scale = (1.0 / xp.sqrt(diag))[:, None]
            G = G * scale * scale.T
            if alpha:
                G = G + xp.eye(G.shape[0], dtype=G.dtype, device=G.device) * (alpha / s_top) * scale * scale
                alpha = 0.0
        lam_g, self.U = eigh(G)
        lam_g = xp.clip(lam_g, min=0.0)
        top_g = float(xp.max(lam_g))
        top = top_g * s_top
        floor = max(alpha, floor * top, 1e-12)
        den = lam_g[:, None] * lam_s[None, :] + floor
        inv = 1.0 / den
        if pseudo:
            null = lam_g <= _NULL_UNITS * float(xp.finfo(G.dtype).eps) * top_g
            den = xp.where(null[:, None], xp.zeros_like(den), den)
            inv = xp.where(null[:, None], xp.zeros_like(inv), inv)
        self.den, self.inv = den, inv
        self.xp, self.K, self.alpha, self.d = xp, loss.n_outputs, loss.alpha, loss.d
        # the curvature given to the all-classes direction of the coefficients, where softmax's
        # loss is flat: the penalty's own (alpha; 0 for none, where P^-1 is 0 there), and for
        # OWL-QN at least its floor (scaled by each row's own curvature): the L1 term's subgradient
        # has a part along that direction, and a step of it over alpha alone, however small alpha
        # is, runs far past the kinks of |w| (elastic-net, l1_ratio 0.9, C = 50: steps of 1/32)
        self.flat: float | Array = loss.alpha
        if scaled:
            self.flat = xp.maximum(floor / (scale * scale), xp.full_like(scale, loss.alpha))

    def _kron(self, A: Array, values: Array) -> Array:
        """``U ((U^T A V) * values) V^T``, in the scaled coordinates when scaled."""
        return self.U @ (((self.U.T @ A) @ self.V) * values) @ self.V.T

    def _flat_times(self, mean: Array, inverse: bool) -> Array:
        """The all-classes part of ``P`` (or of ``P^-1``) applied to the coefficient rows of ``mean``."""
        flat = self.flat if isinstance(self.flat, float | int) else self.flat[: self.d]
        return mean[: self.d] / flat if inverse else flat * mean[: self.d]

    def _split(self, A: Array) -> tuple[Array, Array | None]:
        """``(A without its class mean, the mean)``; the mean is None for one output."""
        if self.K == 1:
            return A, None
        mean = self.xp.mean(A, axis=1, keepdims=True)
        return A - mean, mean

    def times(self, theta: Array) -> Array:
        """``P @ theta`` (the all-classes intercept direction, where ``P`` is 0, maps to 0)."""
        theta, mean = self._split(theta)
        if self.scale is None:
            out = self._kron(theta, self.den)
        else:
            out = self._kron(theta / self.scale, self.den) / self.scale
        if mean is not None and self._has_flat():
            out[: self.d] = out[: self.d] + self._flat_times(mean, inverse=False)
        return out

    def _has_flat(self) -> bool:
        return not isinstance(self.flat, float | int) or bool(self.flat)

    def on_subspace(self, free: Array, max_iter: int = 3, rtol: float = 1e-2) -> InverseOperator:
        """``R -> (P_FF)^-1 R_F``: the inverse of ``P`` restricted to the coordinates ``free``.

        Solved by conjugate gradients preconditioned with ``P^-1`` masked to ``free``: exact
        in one step when every coordinate is free; on a small free set (an L1 fit with most
        coefficients at 0) it corrects the coupling that masking ``P^-1`` alone would get wrong.
        Its :meth:`~InverseOperator.size2` is this preconditioner's.
        """
        return _OnSubspace(self, free, max_iter, rtol)

    def size2(self, theta: Array) -> float:
        """``theta^T P theta``: the squared size of ``theta`` in the preconditioner's norm."""
        theta, mean = self._split(theta)
        mean_part = 0.0
        if mean is not None and self._has_flat():
            mean_part = self.K * _dot(self.xp, mean[: self.d], self._flat_times(mean, inverse=False))
        if self.scale is not None:
            theta = theta / self.scale
        rotated = (self.U.T @ theta) @ self.V
        return _dot(self.xp, rotated * rotated, self.den) + mean_part

    def __call__(self, R: Array) -> Array:
        R, mean = self._split(R)
        if self.scale is None:
            out = self._kron(R, self.inv)
        else:
            out = self._kron(R * self.scale, self.inv) * self.scale
        if mean is not None and self._has_flat():
            out[: self.d] = out[: self.d] + self._flat_times(mean, inverse=True)
        return out


class _OnSubspace:
    """:meth:`Preconditioner.on_subspace`: ``P^-1`` restricted to the coordinates ``free``."""

    def __init__(self, precond: Preconditioner, free: Array, max_iter: int, rtol: float) -> None:
        self.precond, self.max_iter, self.rtol = precond, max_iter, rtol
        self.mask = precond.xp.astype(free, precond.U.dtype)
        self.size2 = precond.size2

    def __call__(self, R: Array) -> Array:
        precond, mask, xp = self.precond, self.mask, self.precond.xp
        r = R * mask
        x = xp.zeros_like(r)
        z = precond(r) * mask
        p, rz = z, _dot(xp, r, z)
        r0 = math.sqrt(_dot(xp, r, r))
        for _ in range(self.max_iter):
            Ap = precond.times(p) * mask
            pAp = _dot(xp, p, Ap)
            if pAp <= 0 or rz <= 0:
                break
            a = rz / pAp
            x, r = x + a * p, r - a * Ap
            if math.sqrt(_dot(xp, r, r)) <= self.rtol * r0:
                break
            z = precond(r) * mask
            rz_new = _dot(xp, r, z)
            p, rz = z + (rz_new / rz) * p, rz_new
        return x


# an eigenvalue of the exact Gram matrix at most this many units of rounding of its largest (in
# its dtype) marks a direction of its null space: there the data, so the loss, has no curvature and
# the gradient is rounding alone, which the floor's 1/(1e-9 x top) used to amplify into coefficients
# of 1e15 (newton-cg, no penalty, a constant column beside the intercept; tests/test_differential.py)
_NULL_UNITS = 100.0


def _build(loss: Loss, state: Any, eigh: Eigh, it: int, confirming: bool,
           start_preconditioner: Preconditioner | None, floor: float = 1e-9) -> Preconditioner:
    """The preconditioner at iteration ``it``: the caller's ``start_preconditioner`` for the
    first one when given (the solvers' ``start_preconditioner`` argument), else built here."""
    if it == 0 and not confirming and start_preconditioner is not None and floor == 1e-9:
        return start_preconditioner
    return Preconditioner(loss, state, eigh, seed=it, floor=floor)


# OWL-QN's floor on the preconditioner's curvature, relative to the largest. The L1 term's
# subgradient has parts where the log loss has (almost) no curvature: the null space of collinear
# columns, and softmax's all-classes direction. With the smooth solvers' tiny floor (1e-9) a step
# there was ~1e9 too long and the line search stalled (iris scaled, L1, C = 1: objective 36.08
# against 28.70). Measured at tol 1e-10 (float64) on iris, breast cancer, 8x8 digits and
# make_classification with redundant columns: 1e-6 to 1e-2 all reach scikit-learn's optimum;
# 1e-3 took the fewest iterations overall
_L1_FLOOR = 1e-3


def _report(history: list[dict[str, Any]], callback: Callback | None, verbose: int, it: int, f: float, gnorm: float,
            gap: float, t0: float, n_evals: int) -> None:
    info = {"iter": it, "objective": f, "grad_norm": gnorm, "est_gap": gap,
            "time": time.perf_counter() - t0, "n_evals": n_evals}
    history.append(info)
    if verbose:
        print(f"iter {it:4d}  F = {f:.10g}  |g| = {gnorm:.3e}  est. gap = {gap:.2e}")
    if callback is not None:
        callback(info)


def _small_gap(gap: float, f: float, tol: float, size2: float = 0.0) -> bool:
    """Whether the estimated distance ``sqrt(2 gap)`` is within ``tol`` of the solution's size.

    ``gap`` is half a squared distance to the optimum in the curvature norm; ``size2`` the squared
    size of the current point in that norm (module doc).
    """
    # the estimates come from quadratic models: a factor 2 of margin on the distance covers their
    # error (measured against exact Hessians in tests/test_dropin.py)
    return 2.0 * gap <= 0.25 * tol * tol * max(size2, abs(f), 1e-30)


def _estimates(xp: Any, g: Array, direction: Array, precond: InverseOperator, theta: Array, decrease: float = 0.0,
               pg: Array | None = None) -> tuple[float, float]:
    """(estimated gap, size2): the gap is the largest of the model's ``-g^T d / 2``, ``g^T P^-1 g / 2``
    and ``decrease``, the objective's decrease in the last step.

    The solvers pass ``decrease``: where both quadratic estimates are too small
    (a nearly singular problem, such as one with no penalty, on which the preconditioner is a
    poor model), the last decrease still shows how far the fit is from its end. A step that
    removes less than half of the gap decreases the objective by less than what remains, so
    this only ever adds iterations, about one where convergence is fast.
    """
    model_gap = -_dot(xp, g, direction) / 2
    precond_gap = _dot(xp, g, precond(g) if pg is None else pg) / 2
    return max(model_gap, precond_gap, decrease), precond.size2(theta)


class _Stall:
    """Detects when rounding stops progress: ``patience`` line searches in a row had to shrink the
    step below ``2**-20`` (the direction is rounding noise) or did not decrease the objective."""

    def __init__(self, patience: int = 3) -> None:
        self.patience, self.count = patience, 0

    def __call__(self, step: float | None, f_old: float, f_new: float) -> bool:
        stalled = step is not None and (step < 2.0**-20 or f_new >= f_old)
        self.count = self.count + 1 if stalled else 0
        return self.count >= self.patience


# the preconditioner is rebuilt at iterations 0, ``first``, then each time after
# max(first, _REFRESH_GROWTH * it) more iterations: 0, 10, 40, 160, ... for L-BFGS (binary fits
# need fewer rebuilds than earlier schedules) and 0, 5, 20, 80, ... for OWL-QN (its free
# coordinates change as coefficients reach 0); the measurements: docs/solver.md, "Design choices"
_REFRESH_FIRST_LBFGS = 10
_REFRESH_FIRST_OWLQN = 5
_REFRESH_GROWTH = 3.0


# curvature pairs kept by L-BFGS (40: fewer evaluations than 10 at every C tried) and by OWL-QN
# (10: its older pairs come from orthants it has since left); the measurements: docs/solver.md
_MEMORY_LBFGS = 40
_MEMORY_OWLQN = 10


class _Schedule:
    """When the quasi-Newton solvers rebuild their preconditioner (the constants above).

    The stopping rule's estimates are only as good as the preconditioner they use, so a fit
    that looks converged with one older than ``first`` iterations rebuilds it at the current
    point and checks again (``stale``): the schedule sets the cost, not the accuracy.
    """

    def __init__(self, first: int) -> None:
        self.first, self.next, self.last = first, 0, 0

    def due(self, it: int) -> bool:
        return it >= self.next

    def rebuilt(self, it: int) -> None:
        self.last, self.next = it, it + max(self.first, int(_REFRESH_GROWTH * it))

    def stale(self, it: int) -> bool:
        return it - self.last > self.first


_LINE_SEARCH_FAILED = "line search could not decrease the objective"
_STALLED = "the objective stopped decreasing"
#: the end of a stop's message when rounding explains it (the estimators read this)
ROUNDING = "rounding limit of the dtype"
# rounding explains a stall when the estimated gap is within this many units of rounding of the
# objective's value (float32: 1e-3 relative; float64: 2e-12)
_ROUNDING_UNITS = 1e4


# OWL-QN restarts its memory at most this many times when its line search stalls
_MAX_RESTARTS = 10


def _near_rounding(xp: Any, theta: Array, f: float, gap: float) -> bool:
    """Whether the estimated gap is within rounding of the objective in ``theta``'s dtype."""
    return gap <= _ROUNDING_UNITS * float(xp.finfo(theta.dtype).eps) * max(abs(f), 1e-300)


def _stop_message(xp: Any, theta: Array, f: float, gap: float, line_search_failed: bool) -> str:
    """Why a fit stopped before its tol: a rounding limit only when the estimated gap is near the
    rounding of the objective in ``theta``'s dtype; otherwise the gap is named (never blamed on
    rounding: that was how a stalled L1 fit, 2.3x above its optimum, used to be reported)."""
    what = _LINE_SEARCH_FAILED if line_search_failed else _STALLED
    if _near_rounding(xp, theta, f, gap):
        return f"{what} ({ROUNDING})"
    return f"{what} at an estimated relative gap of {gap / max(abs(f), 1e-300):.2g}, above the dtype's rounding"


def _armijo(loss: Loss, theta: Array, f: float, g: Array, direction: Array, slope: float,
            max_halvings: int = 40) -> tuple[float | None, Array, float, Array, Any, int]:
    """Backtracking line search from step 1; returns (step, theta, f, g, state, evals), with step and
    state None (and the point unchanged) when no step decreased the objective."""
    step = 1.0
    for k in range(max_halvings):
        cand = theta + step * direction
        fc, gc, sc = loss.value_grad(cand)
        if math.isfinite(fc) and fc <= f + 1e-4 * step * slope:
            return step, cand, fc, gc, sc, k + 1
        step *= 0.5
    return None, theta, f, g, None, max_halvings


def _remember(xp: Any, S: list[Array], Y: list[Array], s: Array, y: Array, memory: int) -> bool:
    """Keep the curvature pair ``(s, y)`` when it is positive, at most ``memory`` pairs; whether
    it was kept."""
    if _dot(xp, s, y) > 1e-12 * _dot(xp, y, y):
        S.append(s)
        Y.append(y)
        if len(S) > memory:
            S.pop(0)
            Y.pop(0)
        return True
    return False


def _two_loop(xp: Any, q: Array, S: list[Array], Y: list[Array], precond: InverseOperator,
              precond_last_y: Array | None = None) -> Array:
    """L-BFGS two-loop recursion on ``q`` with the preconditioner as initial inverse Hessian
    (scaled by ``s^T y / y^T P^-1 y`` of the newest pair; ``precond_last_y``, when given, is that
    pair's ``P^-1 y``)."""
    alphas = []
    for s, y in zip(reversed(S), reversed(Y), strict=True):
        rho = 1.0 / _dot(xp, s, y)
        a = rho * _dot(xp, s, q)
        alphas.append((a, rho))
        q = q - a * y
    q = precond(q)
    if S:
        py = precond(Y[-1]) if precond_last_y is None else precond_last_y
        yPy = _dot(xp, Y[-1], py)
        if not (math.isfinite(yPy) and yPy > 0) and precond_last_y is not None:
            # P^-1 y by difference cancels in float32 when y is tiny: apply P^-1 to y itself
            yPy = _dot(xp, Y[-1], precond(Y[-1]))
        if math.isfinite(yPy) and yPy > 0:  # else keep P^-1 unscaled
            q = q * (_dot(xp, S[-1], Y[-1]) / yPy)
    for (s, y), (a, rho) in zip(zip(S, Y, strict=True), reversed(alphas), strict=True):
        q = q + (a - rho * _dot(xp, y, q)) * s
    return q


def lbfgs(
    loss: Loss,
    theta0: Array,
    *,
    eigh: Eigh,
    tol: float,
    max_iter: int,
    memory: int = _MEMORY_LBFGS,
    verbose: int = 0,
    callback: Callback | None = None,
    start_preconditioner: Preconditioner | None = None,
) -> SolverResult:
    """Preconditioned L-BFGS (two-loop recursion with the weighted-Gram preconditioner).

    The preconditioner is rebuilt from the current curvature at iterations 0, 10, 40, 160, ...
    (each gap 3 times the iterations so far), which costs one weighted Gram matrix each time (a weight-sampled sketch of
    it when there are many features, see ``DesignMatrix.weighted_gram``). A caller that already
    has the preconditioner at ``theta0`` passes it as ``start_preconditioner`` (one-vs-rest's fits
    all start at 0, where every sample's curvature is the same whatever its class: they share one).
    """
    xp = loss.xp
    t0 = time.perf_counter()
    theta = theta0
    f, g, state = loss.value_grad(theta)
    n_evals = 1
    history: list[dict[str, Any]] = []
    S: list[Array] = []
    Y: list[Array] = []
    schedule, decrease = _Schedule(_REFRESH_FIRST_LBFGS), 0.0
    precond: Preconditioner | None = None
    converged, message = False, "max_iter reached"
    stall = _Stall()
    # P^-1 g of the previous iteration, and whether the newest pair's y is g minus that gradient:
    # then the newest pair's P^-1 y is P^-1 g - P^-1 g_prev while P is unchanged (one application
    # of P^-1 less an iteration, of about 3)
    pg_prev: Array | None = None
    precond_prev: Preconditioner | None = None
    fresh_pair = False
    it = 0
    for it in range(max_iter):
        for confirming in (False, True):
            if schedule.due(it) or confirming:  # rebuilt at iterations 0, 10, 40, 160, ...
                precond = _build(loss, state, eigh, it, confirming, start_preconditioner)
                schedule.rebuilt(it)
            assert precond is not None  # built at iteration 0
            pg = precond(g)
            py = pg - pg_prev if fresh_pair and precond is precond_prev else None
            q = _two_loop(xp, -g, S, Y, precond, py)
            slope = _dot(xp, g, q)
            if slope >= 0:  # not a descent direction (rounding): restart from the preconditioned gradient
                S.clear()
                Y.clear()
                q = -pg
                slope = _dot(xp, g, q)
            gap, size2 = _estimates(xp, g, q, precond, theta, decrease, pg)
            if not (_small_gap(gap, f, tol, size2) and schedule.stale(it)):
                break
        gnorm = math.sqrt(_dot(xp, g, g))
        _report(history, callback, verbose, it, f, gnorm, gap, t0, n_evals)
        if _small_gap(gap, f, tol, size2):
            converged, message = True, "converged"
            break
        step, theta_new, f_new, g_new, state_new, evals = _armijo(loss, theta, f, g, q, slope)
        n_evals += evals
        if step is None or stall(step, f, f_new):
            converged = _small_gap(gap, f, 10 * tol, size2)
            message = _stop_message(xp, theta, f, gap, step is None)
            break
        s, y = theta_new - theta, g_new - g
        fresh_pair = _remember(xp, S, Y, s, y, memory)
        pg_prev, precond_prev = pg, precond
        theta, f, g, state, decrease = theta_new, f_new, g_new, state_new, f - f_new
    else:
        it = max_iter
    return SolverResult(theta, it, n_evals, converged, message, math.sqrt(_dot(xp, g, g)), f,
                        history=history)


def newton_cg(
    loss: Loss,
    theta0: Array,
    *,
    eigh: Eigh,
    tol: float,
    max_iter: int,
    max_cg: int = 100,
    verbose: int = 0,
    callback: Callback | None = None,
    start_preconditioner: Preconditioner | None = None,
) -> SolverResult:
    """Line-search Newton-CG: each step solves H d = -g by preconditioned conjugate gradients.

    The preconditioner is rebuilt at every Newton step; the CG solve stops at a relative residual
    of ``min(0.5, sqrt(|g| / |g0|))`` (an Eisenstat-Walker forcing term), so early steps are cheap
    and late ones accurate. ``start_preconditioner`` as in :func:`lbfgs`.
    """
    xp = loss.xp
    t0 = time.perf_counter()
    theta = theta0
    f, g, state = loss.value_grad(theta)
    n_evals, n_hessp = 1, 0
    history: list[dict[str, Any]] = []
    g0norm = math.sqrt(_dot(xp, g, g)) or 1.0
    converged, message, decrease = False, "max_iter reached", 0.0
    stall = _Stall(patience=2)
    it = 0
    for it in range(max_iter):
        precond = _build(loss, state, eigh, it, False, start_preconditioner)
        gnorm = math.sqrt(_dot(xp, g, g))
        eta = min(0.5, math.sqrt(gnorm / g0norm))
        # preconditioned CG on H d = -g
        d = xp.zeros_like(g)
        r = -g
        z = precond(r)
        p = z
        rz = _dot(xp, r, z)
        for _ in range(max_cg if rz > 0 else 0):
            Hp = loss.hessp(state, p)
            n_hessp += 1
            pHp = _dot(xp, p, Hp)
            if pHp <= 0:
                break
            a = rz / pHp
            d = d + a * p
            r = r - a * Hp
            if math.sqrt(_dot(xp, r, r)) <= eta * gnorm:
                break
            z = precond(r)
            rz_new = _dot(xp, r, z)
            if not (rz_new > 0 and math.isfinite(rz_new)):  # the residual vanished in P^-1: done
                break
            p = z + (rz_new / rz) * p
            rz = rz_new
        slope = _dot(xp, g, d)
        if slope >= 0:
            d = precond(-g)
            slope = _dot(xp, g, d)
        gap, size2 = _estimates(xp, g, d, precond, theta, decrease)
        _report(history, callback, verbose, it, f, gnorm, gap, t0, n_evals)
        if _small_gap(gap, f, tol, size2):
            converged, message = True, "converged"
            break
        f_old = f
        step, theta, f, g, state_new, evals = _armijo(loss, theta, f, g, d, slope)
        n_evals += evals
        if step is None or stall(step, f_old, f):
            converged = _small_gap(gap, f, 10 * tol, size2)
            message = _stop_message(xp, theta, f, gap, step is None)
            break
        state, decrease = state_new, f_old - f
    else:
        it = max_iter
    return SolverResult(theta, it, n_evals, converged, message, math.sqrt(_dot(xp, g, g)), f,
                        n_hessp=n_hessp, history=history)


def _pseudo_gradient(xp: Any, theta: Array, g: Array, l1: float, d: int) -> Array:
    """The minimum-norm subgradient of ``F + l1 ||W||_1`` (W = the first ``d`` rows; not the intercept)."""
    W, gW = theta[:d], g[:d]
    at_zero = W == 0
    right, left = gW + l1, gW - l1
    pg_zero = xp.where(right < 0, right, xp.where(left > 0, left, xp.zeros_like(gW)))
    pgW = xp.where(at_zero, pg_zero, gW + l1 * xp.sign(W))
    return xp.concat([pgW, g[d:]], axis=0) if g.shape[0] > d else pgW


def _recentred(xp: Any, theta: Array, f: float, l1: float, d: int) -> tuple[Array, float]:
    """``theta`` with each coefficient row shifted by its (lower) median over the classes, and the
    objective ``f`` lowered by what the L1 term loses.

    Softmax's probabilities, and so the log loss and its gradient, do not change when one number
    is added to a feature's coefficients of every class; ``sum_k |w_jk - c|`` is least at a median
    of ``w_j``, and the lower median makes one coefficient of the row exactly 0. Without this,
    OWL-QN crawls along that flat direction (raw iris, L1, C = 2: 20,000 iterations to 4e-7 of
    the optimum).
    """
    W = theta[:d]
    K = W.shape[1]
    median = xp.sort(W, axis=1)[:, (K - 1) // 2 : (K - 1) // 2 + 1]
    W_new = W - median
    drop = l1 * (float(xp.sum(xp.abs(W))) - float(xp.sum(xp.abs(W_new))))
    if not drop > 0:
        return theta, f
    theta = xp.concat([W_new, theta[d:]], axis=0) if theta.shape[0] > d else W_new
    return theta, f - drop


def _polish(loss: Loss, theta: Array, f: float, g: Array, state: Any, pg: Array, l1: float, d: int,
            max_steps: int = 3, max_cg: int = 50) -> tuple[Array, float, Array, Any, Array]:
    """Newton steps on the free coefficients, each kept only if it lowers the pseudo-gradient.

    Where OWL-QN stops at float64's rounding of the objective, points a few 1e-8 apart have the
    same objective value and a line search cannot tell them apart; the pseudo-gradient still can.
    Each step solves ``H_FF x = -pg_F`` on the nonzero coefficients and the intercepts by
    conjugate gradients with the exact Hessian product, and must keep every coefficient's sign
    (raw iris, L1, C = 2: the sparse and the dense fits went from 4.5e-8 apart to rounding).
    """
    xp = loss.xp
    for _ in range(max_steps):
        free = xp.astype(theta != 0, theta.dtype)
        if theta.shape[0] > d:
            free = xp.concat([free[:d], xp.ones_like(free[d:])], axis=0)
        r = -pg * free
        norm0 = math.sqrt(_dot(xp, pg, pg))
        rr = _dot(xp, r, r)
        if not rr > 0:
            break
        x, p = xp.zeros_like(r), r
        for _ in range(max_cg):
            Hp = loss.hessp(state, p) * free
            pHp = _dot(xp, p, Hp)
            if not pHp > 1e-14 * _dot(xp, p, p) * max(norm0, 1.0):  # a flat direction: stop there
                break
            a = rr / pHp
            x, r = x + a * p, r - a * Hp
            rr_new = _dot(xp, r, r)
            if math.sqrt(rr_new) <= 1e-6 * norm0:
                break
            p, rr = r + (rr_new / rr) * p, rr_new
        cand = theta + x
        if bool(xp.any((cand[:d] * theta[:d]) < 0)):  # a coefficient would change sign: not this way
            break
        fc, gc, sc = loss.value_grad(cand)
        pgc = _pseudo_gradient(xp, cand, gc, l1, d)
        if not (math.isfinite(fc) and math.sqrt(_dot(xp, pgc, pgc)) < norm0):
            break
        theta, f, g, state, pg = cand, fc, gc, sc, pgc
    return theta, f, g, state, pg


def owlqn(
    loss: Loss,
    theta0: Array,
    *,
    eigh: Eigh,
    tol: float,
    max_iter: int,
    memory: int = _MEMORY_OWLQN,
    verbose: int = 0,
    callback: Callback | None = None,
    start_preconditioner: Preconditioner | None = None,
) -> SolverResult:
    """Orthant-wise limited-memory quasi-Newton (Andrew and Gao, 2007) for L1 and elastic-net.

    Minimises the loss (its smooth part: log loss and any L2 term) plus ``l1 ||W||_1`` with
    ``l1 = loss.penalty.l1_strength``. Each step works in one orthant: the preconditioned L-BFGS
    direction of the pseudo-gradient (the minimum-norm subgradient), with the coordinates that
    disagree in sign with it set to 0, and a line search whose points are projected back onto
    the orthant (coordinates that would cross 0 stop at 0, which is how coefficients become
    exactly 0). Curvature pairs come from the smooth gradient; the preconditioner is the same
    curvature-weighted Gram matrix as :func:`lbfgs`'s, rebuilt at iterations 0, 5, 20, 80, ... Stops by
    the module's rule, with the pseudo-gradient ``pg`` in place of the gradient.
    ``start_preconditioner`` as in :func:`lbfgs`.
    """
    xp = loss.xp
    l1, d = float(loss.penalty.l1_strength), loss.d
    # softmax (several outputs) is flat along the all-classes direction: with no L2 part there,
    # each step is followed by the exact minimisation of the L1 term along it (_recentred)
    recentre = loss.n_outputs > 1 and not loss.alpha and l1 > 0
    t0 = time.perf_counter()
    theta = theta0
    f, g, state = loss.value_grad(theta)
    n_evals = 1
    history: list[dict[str, Any]] = []
    S: list[Array] = []
    Y: list[Array] = []
    schedule, decrease = _Schedule(_REFRESH_FIRST_OWLQN), 0.0
    precond: Preconditioner | None = None
    converged, message = False, "max_iter reached"
    stall = _Stall()
    it = 0
    pg = _pseudo_gradient(xp, theta, g, l1, d)
    restarts = 0
    for it in range(max_iter):
        precond, q, gap, size2 = _owlqn_direction(loss, state, eigh, it, schedule, precond, start_preconditioner,
                                                  theta, pg, S, Y, f, tol, decrease)
        gnorm = math.sqrt(_dot(xp, pg, pg))
        _report(history, callback, verbose, it, f, gnorm, gap, t0, n_evals)
        if _small_gap(gap, f, tol, size2) or gnorm == 0:
            converged, message = True, "converged"
            break
        accepted, step, evals = _orthant_line_search(loss, theta, q, pg, f, d)
        n_evals += evals
        stuck = accepted is None or stall(step, f, accepted[1])
        if stuck and S and restarts < _MAX_RESTARTS and not _near_rounding(xp, theta, f, gap):
            # the curvature pairs, gathered across orthants, can mislead: start them afresh
            # (elastic-net, C = 1e4, a constant column: stalled after 53 iterations at 8e-6 of
            # the objective without this)
            S.clear()
            Y.clear()
            stall.count, restarts = 0, restarts + 1
            if accepted is None:
                continue
            stuck = False
        if stuck:
            converged = _small_gap(gap, f, 10 * tol, size2)
            message = _stop_message(xp, theta, f, gap, accepted is None)
            if ROUNDING in message and theta.dtype == xp.float64:
                theta, f, g, state, pg = _polish(loss, theta, f, g, state, pg, l1, d)
            break
        assert accepted is not None  # else stuck: the fit ended above, or restarted (continue)
        cand, fc, gc, sc = accepted
        if recentre:
            cand, fc = _recentred(xp, cand, fc, l1, d)
        _remember(xp, S, Y, cand - theta, gc - g, memory)
        theta, f, g, state, decrease = cand, fc, gc, sc, f - fc
        pg = _pseudo_gradient(xp, theta, g, l1, d)
    else:
        it = max_iter
    return SolverResult(theta, it, n_evals, converged, message, math.sqrt(_dot(xp, pg, pg)), f,
                        history=history)


def _owlqn_direction(loss: Loss, state: Any, eigh: Eigh, it: int, schedule: _Schedule,
                     precond: Preconditioner | None, start_preconditioner: Preconditioner | None, theta: Array,
                     pg: Array, S: list[Array], Y: list[Array], f: float, tol: float,
                     decrease: float) -> tuple[Preconditioner, Array, float, float]:
    """OWL-QN's direction at iteration ``it``, the preconditioner rebuilt when the schedule says
    so, or once more to confirm a fit that looks converged with a stale one. Returns the
    preconditioner, the direction and the module's two estimates (gap, solution size)."""
    xp = loss.xp
    for confirming in (False, True):
        if schedule.due(it) or confirming:  # rebuilt at iterations 0, 5, 20, 80, ...
            precond = _build(loss, state, eigh, it, confirming, start_preconditioner, _L1_FLOOR)
            schedule.rebuilt(it)
        assert precond is not None  # built at iteration 0
        q, free_precond = _orthant_direction(xp, precond, theta, pg, S, Y)
        gap, size2 = _estimates(xp, pg, q, free_precond, theta, decrease)
        if not (_small_gap(gap, f, tol, size2) and schedule.stale(it)):
            break
    assert precond is not None
    return precond, q, gap, size2


def _orthant_direction(xp: Any, precond: Preconditioner, theta: Array, pg: Array, S: list[Array],
                       Y: list[Array]) -> tuple[Array, InverseOperator]:
    """OWL-QN's direction: the two-loop recursion on the free coordinates (nonzero, or at 0 with
    a subgradient that pushes them off), the preconditioner restricted to them; restarts from
    the preconditioned pseudo-gradient (clearing ``S`` and ``Y``) when rounding leaves no descent.
    Returns the direction and the restricted preconditioner."""
    free_precond = precond.on_subspace((theta != 0) | (pg != 0))
    q = _two_loop(xp, -pg, S, Y, free_precond)
    # coefficients at 0 may only leave it in the descent orthant of -pg; nonzero ones follow the
    # quasi-Newton direction, and the line search stops them at 0 (projecting them too, as Andrew
    # and Gao do, took 3,000 iterations where this takes 42: 8 columns of mixed scales, L1,
    # C = 251, tests/test_differential.py)
    q = xp.where((q * pg < 0) | (theta != 0), q, xp.zeros_like(q))
    if _dot(xp, pg, q) >= 0:  # not a descent direction (rounding): restart from the preconditioned one
        S.clear()
        Y.clear()
        q = free_precond(-pg)
        q = xp.where(q * pg < 0, q, xp.zeros_like(q))
    return q, free_precond


def _orthant_line_search(loss: Loss, theta: Array, q: Array, pg: Array, f: float,
                         d: int) -> tuple[tuple[Array, float, Array, Any] | None, float, int]:
    """Backtracking along ``q`` within the orthant (the sign of each coefficient, or of -pg where
    it is 0): coefficients that would cross 0 stop at 0. Returns the accepted point (with its
    value, gradient and state; None after 40 halvings), the last step and the evaluations."""
    xp = loss.xp
    orthant = xp.where(theta != 0, xp.sign(theta), -xp.sign(pg))
    step = 1.0
    for evals in range(1, 41):
        cand = theta + step * q
        W = cand[:d]
        W = xp.where(W * orthant[:d] > 0, W, xp.zeros_like(W))
        cand = xp.concat([W, cand[d:]], axis=0) if cand.shape[0] > d else W
        fc, gc, sc = loss.value_grad(cand)
        if math.isfinite(fc) and fc <= f + 1e-4 * _dot(xp, pg, cand - theta):
            return (cand, fc, gc, sc), step, evals
        step *= 0.5
    return None, step, 40


def epoch_seed(rng: np.random.Generator) -> int:
    """One draw of ``rng``: the seed of an SGD epoch's order (or of a Dask chunk's)."""
    return int(rng.integers(2**63))


def visiting_order(seed: int | None, n: int) -> NDArray[np.intp]:
    """The order of ``n`` rows in an SGD epoch: a permutation drawn from ``seed``, or 0..n-1 for
    None. One number per epoch, so a Dask chunk's task gets its order from one number."""
    if seed is None:
        return np.arange(n)
    return np.random.default_rng(seed).permutation(n)


def sgd(
    make_loss: Callable[[DesignMatrix, Array, Array], Loss],
    data: DesignMatrix,
    y: Array,
    sample_weight: Array,
    theta: Array,
    *,
    alpha: float,
    batch_size: int = 256,
    epochs: int = 5,
    eta0: float = 0.5,
    power_t: float = 0.5,
    t_start: int = 0,
    rng: np.random.Generator | None = None,
    steps_per_epoch: int | None = None,
    verbose: int = 0,
    callback: Callback | None = None,
) -> tuple[Array, Array, int]:
    """Mini-batch SGD on ``mean log loss + 0.5 * alpha * ||W||^2``, averaging iterates per epoch.

    The step at update ``t`` is ``eta0 / (1 + t / steps_per_epoch) ** power_t``; ``make_loss(rows, yb, sb)``
    builds the unpenalised loss of one mini-batch (a design matrix of its rows, labels, sample weights), and the penalty
    gradient ``alpha * W`` is added here (``alpha = 1 / (C n)`` gives the full-batch objective
    divided by n). Returns the averaged parameters, the last iterate and the number of updates.
    Without ``rng`` the rows are visited in their order; ``steps_per_epoch`` (by default the
    batches in ``data``) is that of the whole data when ``data`` is one part of it (Dask chunks).
    """
    xp = data.xp
    n = data.n_samples
    steps_per_epoch = steps_per_epoch or max(1, math.ceil(n / batch_size))
    t = t_start
    d = data.n_features
    avg = theta
    for epoch in range(epochs):
        order = visiting_order(None if rng is None else epoch_seed(rng), n)
        order = xp.asarray(order, device=data.device)  # a torch tensor is indexed by one on its device
        avg_sum, count = None, 0
        for lo in range(0, n, batch_size):
            idx = order[lo : lo + batch_size]
            loss = make_loss(data.take_rows(idx), y[idx], sample_weight[idx])
            _, g, _ = loss.value_grad(theta)
            g = g / len(idx)
            eta = eta0 / (1.0 + t / steps_per_epoch) ** power_t
            theta = theta - eta * g
            if alpha:
                # the penalty's step taken implicitly (its proximal operator): the same as
                # ``- eta * alpha * W`` to first order, and stable for any ``eta * alpha`` (the
                # explicit step diverged to NaN once it passed 2: alpha=1e300, or C=1e-300)
                theta[:d] = theta[:d] * (1.0 / (1.0 + eta * alpha))
            t += 1
            avg_sum = theta if avg_sum is None else avg_sum + theta
            count += 1
        assert avg_sum is not None  # n >= 1 rows: at least one mini-batch
        avg = avg_sum / count
        if not math.isfinite(float(xp.sum(xp.abs(avg)))):
            raise ValueError(f"SGD diverged: the coefficients overflowed after {t} updates at step size eta0={eta0}; "
                             "use a smaller eta0")
        if verbose:
            print(f"epoch {epoch + 1}/{epochs}  step {eta:.3g}")
        if callback is not None:
            callback({"epoch": epoch + 1, "epochs": epochs})
    return avg, theta, t
