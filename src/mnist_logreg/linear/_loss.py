"""Penalised log losses for binary (sigmoid) and multinomial (softmax) logistic regression.

Objective (scikit-learn's convention), for coefficients ``W`` and intercepts ``b``::

    F(W, b) = sum_i s_i * logloss(y_i, x_i @ W + b) + 0.5 / C * ||W||_F^2

with sample weights ``s_i`` (1 by default); the intercept is not penalised and ``C = inf``
means no penalty. The data is a :class:`~._data.DesignMatrix` (the products the loss needs) and the penalty a
:class:`~._penalties.Penalty`. Parameters are one array ``theta`` of shape ``(d + 1, K)`` whose last row is
the intercept (or ``(d, K)`` without intercept); ``K = 1`` for the binary model.

Written against the array API standard, so parameters may be numpy arrays or torch tensors.
Each loss gives the value and gradient, Hessian-vector products, and the curvature sums the
preconditioner is built from; all of them add up over rows, which is how ``_dask.ChunkedLoss``
runs the same loss chunk by chunk on Dask workers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol, runtime_checkable

from ._data import Array, DesignMatrix, Residual
from ._penalties import Penalty

__all__ = ["BinaryLogLoss", "Loss", "SoftmaxLogLoss"]


@runtime_checkable
class Loss(Protocol):
    """What the solvers need of a penalised loss over parameters ``theta`` (``(d [+ 1], K)``).

    ``state`` is whatever :meth:`value_grad` computed at a point (the probabilities) and the
    curvature methods need there.
    """

    xp: Any  # the namespace of the parameter arrays
    penalty: Penalty
    alpha: float  # the penalty's curvature
    fit_intercept: bool
    n_outputs: int
    d: int

    def value_grad(self, theta: Any) -> tuple[float, Any, Any]:
        """Objective value (float), its gradient (shaped like ``theta``) and the state."""

    def hessp(self, state: Any, V: Any) -> Any:
        """Hessian-vector product ``H @ V`` at the point where ``state`` was computed."""

    def curvature_sums(self, state: Any, *, seed: int = 0, left_out: float = 0.0,
                       exact: bool = False) -> tuple[Any, Any, float]:
        """The preconditioner's curvature as sums over samples (module doc of ``_solvers``).

        Returns ``(G, S_sum, w_sum)``: the weighted Gram matrix ``X~^T diag(w) X~`` of the
        features with the intercept column when there is one (``(d [+ 1], d [+ 1])``; a sketch
        for many features), the unnormalised class-coupling matrix ``sum_i s_i M_i`` (``(K, K)``)
        and ``sum_i w_i``. All three add up over disjoint sets of rows, so a loss over chunks of
        rows (Dask) answers with the sum of its chunks' answers. With ``left_out > 0``, ``G``
        leaves out the rows of least curvature per unit of sample weight that together hold at
        most that share of ``w_sum`` (a chunked loss: of each chunk's), which makes it cheaper
        and the sums no longer exactly additive. ``exact=True`` asks for ``G`` over every row, never
        a sketch (the preconditioner of an unpenalised fit reads its null space from it).
        """

    def initial(self) -> Any:
        """The starting point."""


class _PenalisedLoss(ABC):
    """Common data, intercept handling and penalty for both losses.

    A loss adds its per-sample curvature (:meth:`curvature`, :meth:`class_sum`,
    :meth:`_curvature_times`) and :meth:`value_grad`.
    """

    n_outputs: int

    def __init__(self, data: DesignMatrix, sample_weight: Array, penalty: Penalty, fit_intercept: bool) -> None:
        self.data, self.xp, self.s = data, data.xp, sample_weight
        self.n, self.d = data.n_samples, data.n_features
        self.penalty, self.fit_intercept = penalty, fit_intercept
        self.alpha = penalty.curvature
        self.n_params_rows = self.d + int(fit_intercept)

    @abstractmethod
    def value_grad(self, theta: Array) -> tuple[float, Array, Array]:
        """Objective value (float), gradient (same shape as theta), and state (probabilities)."""

    @abstractmethod
    def curvature(self, state: Array) -> Array:
        """Per-sample curvature weights ``w_i`` at ``state`` (``(n,)``)."""

    @abstractmethod
    def class_sum(self, state: Array) -> Array:
        """The unnormalised class-coupling matrix ``sum_i s_i M_i`` (``(K, K)``) at ``state``."""

    @abstractmethod
    def _curvature_times(self, state: Array, U: Array, rows: slice = slice(None)) -> Array:
        """The rows ``rows`` of the loss's Hessian blocks ``s_i M_i`` applied to the scores' directions ``U``
        (``state`` already restricted to those rows)."""

    def _pass(self, theta: Array, residual: Residual) -> tuple[float, Array]:
        """``(value, gradient rows without the penalty)`` from one pass over the data:
        ``X^T R`` and, with an intercept, the row ``sum(R)`` (``DesignMatrix.forward_backward``)."""
        xp = self.xp
        b = theta[self.d] if self.fit_intercept else None
        value, gW, R_sum = self.data.forward_backward(theta[: self.d], b, residual)
        if self.fit_intercept:
            gW = xp.concat([gW, R_sum], axis=0)
        return value, gW

    def _with_penalty(self, theta: Array, f: float, g: Array) -> tuple[float, Array]:
        """Adds the penalty's value and gradient to a pass's ``f`` and gradient rows ``g``."""
        if self.alpha:
            gW = g[: self.d] + self.penalty.gradient(self.xp, theta[: self.d])
            g = self.xp.concat([gW, g[self.d :]], axis=0) if self.fit_intercept else gW
        return f + self._penalty(theta), g

    def _empty_state(self, theta: Array) -> Array:
        return self.xp.empty((self.n, theta.shape[1]), dtype=theta.dtype, device=self.data.device)

    def _penalty(self, theta: Array) -> float:
        return self.penalty.value(self.xp, theta[: self.d])

    def curvature_sums(self, state: Array, *, seed: int = 0, left_out: float = 0.0,
                       exact: bool = False) -> tuple[Array, Array, float]:
        """``(G, S_sum, w_sum)`` at ``state`` (see :class:`Loss`)."""
        xp, data = self.xp, self.data
        w = self.curvature(state)
        w_sum = float(xp.sum(w))
        if left_out > 0 and not exact:
            w = _without_lightest(xp, w, self.s[:, 0], left_out)
        G = data.weighted_gram(w, sketch=not exact, seed=seed)
        if self.fit_intercept:
            xw = data.rmatmul(w[:, None])
            top = xp.concat([G, xw], axis=1)
            bottom = xp.concat([xw.T, xp.reshape(xp.sum(w), (1, 1))], axis=1)
            G = xp.concat([top, bottom], axis=0)
        return G, self.class_sum(state), w_sum

    def hessp(self, state: Array, V: Array) -> Array:
        """Hessian-vector product H @ V at the point where ``state`` was computed."""
        _, HV = self._pass(V, lambda rows, U: (0.0, self._curvature_times(state[rows], U, rows)))
        if self.alpha:
            HV = self.xp.concat([HV[: self.d] + self.penalty.gradient(self.xp, V[: self.d]), HV[self.d :]], axis=0)
        return HV

    def __sizeof__(self) -> int:
        """Bytes held (the data, targets and weights), for Dask's memory accounting and task placement."""
        arrays = [a for a in vars(self).values() if hasattr(a, "nbytes")]
        return object.__sizeof__(self) + self.data.__sizeof__() + int(sum(a.nbytes for a in arrays))

    def initial(self) -> Array:
        """The starting point: all zeros."""
        return self.xp.zeros((self.n_params_rows, self.n_outputs), dtype=self.data.dtype,
                             device=self.data.device)


class BinaryLogLoss(_PenalisedLoss):
    """Sigmoid log loss with labels ``y`` in {0, 1}: ``softplus(z) - y z``."""

    n_outputs = 1

    def __init__(self, data: DesignMatrix, y: Array, sample_weight: Array, penalty: Penalty,
                 fit_intercept: bool) -> None:
        super().__init__(data, sample_weight, penalty, fit_intercept)
        xp = self.xp
        self.y = xp.reshape(xp.astype(y, data.dtype), (-1, 1))

    def value_grad(self, theta: Array) -> tuple[float, Array, Array]:
        """Objective value (float), gradient (same shape as theta), and state for ``hessp``."""
        xp = self.xp
        p_all = self._empty_state(theta)

        def residual(rows: slice, z: Array) -> tuple[float, Array]:
            y, s = self.y[rows], self.s[rows]
            # softplus(z) = max(z, 0) + log1p(exp(-|z|)), stable for any z
            e = xp.exp(-xp.abs(z))  # in (0, 1]: no overflow for any z
            per_sample = xp.maximum(z, 0) + xp.log1p(e) - y * z
            p = xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
            p_all[rows] = p
            return float(xp.sum(xp.astype(s * per_sample, xp.float64))), s * (p - y)

        f, g = self._with_penalty(theta, *self._pass(theta, residual))
        return f, g, p_all

    def curvature(self, p: Array) -> Array:
        """Per-sample weights w_i: the exact Hessian weight s_i * p_i (1 - p_i)."""
        return self.xp.reshape(self.s * p * (1.0 - p), (-1,))

    def class_sum(self, p: Array) -> Array:
        """The (1, 1) class sum ``sum_i w_i``, so that the class matrix is 1 and ``w_i`` the
        exact Hessian weight."""
        return self.xp.reshape(self.xp.sum(self.curvature(p)), (1, 1))

    def _curvature_times(self, p: Array, U: Array, rows: slice = slice(None)) -> Array:
        return self.s[rows] * p * (1.0 - p) * U


class SoftmaxLogLoss(_PenalisedLoss):
    """Multinomial log loss with integer labels ``y`` in 0..K-1: ``logsumexp(z) - z_y``."""

    def __init__(self, data: DesignMatrix, y: Array, sample_weight: Array, penalty: Penalty, fit_intercept: bool,
                 n_classes: int) -> None:
        super().__init__(data, sample_weight, penalty, fit_intercept)
        xp = self.xp
        self.n_outputs = n_classes
        classes = xp.arange(n_classes, device=data.device)
        self.Y = xp.astype(xp.reshape(y, (-1, 1)) == classes, data.dtype)  # one-hot
        self.sY = self.s * self.Y
        self.unit_weights = bool(xp.all(self.s == 1))
        self._ones = xp.ones((n_classes, 1), dtype=data.dtype, device=data.device)

    def _row_sums(self, A: Array) -> Array:
        """``A``'s row sums as a column, by a matrix product: numpy's reduction along a short
        last axis costs several times more (28 against 4 us for 1,024 x 10 values)."""
        return A @ self._ones

    def value_grad(self, theta: Array) -> tuple[float, Array, Array]:
        """Objective value (float), gradient (same shape as theta), and state (probabilities)."""
        xp = self.xp
        P_all = self._empty_state(theta)

        def residual(rows: slice, Z: Array) -> tuple[float, Array]:
            sY = self.sY[rows]
            Z -= _row_max(xp, Z)
            # sum_i s_i (logsumexp(z_i) - z_iy), with z shifted by its maximum: each row's loss
            # in the working dtype, their sum in float64 (as BinaryLogLoss does). Two float32
            # sums over all the rows' terms (600,000 of them for z_iy on full MNIST, one product
            # on a torch matrix) left rounding noise of about 1e-3 to 1e-2 in the value, as
            # large as the last steps' decreases: the line search then halved steps for nothing
            # (torch CPU backend, 40 curvature pairs: 119 evaluations, 76 with this sum)
            E = xp.exp(Z)
            total = self._row_sums(E)
            log_total = xp.log(total)
            row_loss = (log_total if self.unit_weights else self.s[rows] * log_total) - self._row_sums(Z * sY)
            value = float(xp.sum(xp.astype(row_loss, xp.float64)))
            E /= total
            P_all[rows] = E
            if not self.unit_weights:
                E *= self.s[rows]
            E -= sY
            return value, E  # s (P - Y)

        f, g = self._with_penalty(theta, *self._pass(theta, residual))
        return f, g, P_all

    def curvature(self, P: Array) -> Array:
        """Per-sample weights w_i = 2 s_i max_k p_ik (1 - p_ik): large for ambiguous digits.

        ``M_i = diag(p_i) - p_i p_i^T`` is the sample's class-coupling Hessian block; for a digit
        torn between two classes its largest eigenvalue is about ``2 p (1 - p)``, and it is ~0 for
        a confidently classified one.
        """
        xp = self.xp
        return 2.0 * self.s[:, 0] * xp.max(P * (1.0 - P), axis=1)

    def class_sum(self, P: Array) -> Array:
        """``sum_i s_i M_i`` (K, K); divided by ``sum_i w_i`` it is the class matrix ``S``."""
        xp = self.xp
        sP = self.s * P
        return _diag(xp, xp.sum(sP, axis=0)) - sP.T @ P

    def _curvature_times(self, P: Array, U: Array, rows: slice = slice(None)) -> Array:
        return self.s[rows] * P * (U - self._row_sums(P * U))


def _without_lightest(xp: Any, w: Array, s: Array, share: float) -> Array:
    """``w`` with 0 for the rows of least curvature per unit of sample weight (``w / s``) that
    together hold at most ``share`` of ``sum(w)``. Ties at the cut are kept, so a row of weight 2
    and the same row twice get the same answer (scikit-learn's sample-weight equivalence)."""
    positive = s > 0
    unit = xp.where(positive, w / xp.where(positive, s, xp.ones_like(s)), xp.zeros_like(w))
    order = xp.argsort(unit)
    cumulative = xp.cumulative_sum(xp.take(w, order))
    n_light = int(xp.sum(xp.astype(cumulative <= share * cumulative[-1], xp.int64)))
    if n_light == 0 or n_light == w.shape[0]:  # nothing light, or no weight at all
        return w
    cut = unit[order[n_light]]
    return xp.where(unit < cut, xp.zeros_like(w), w)


def _row_max(xp: Any, Z: Array) -> Array:
    """The maximum of each row of ``Z`` as a column. With few columns, as maxima of columns taken
    in turn: numpy's reduction along a short last axis costs 3 times more (45 against 14 us for
    1,024 x 10 values)."""
    if Z.shape[1] > 16:
        return xp.max(Z, axis=1, keepdims=True)
    m = Z[:, 0]
    for k in range(1, Z.shape[1]):
        m = xp.maximum(m, Z[:, k])
    return xp.reshape(m, (-1, 1))


def _diag(xp: Any, v: Array) -> Array:
    """A diagonal matrix from a vector (array API has no ``diag``)."""
    n = v.shape[0]
    return xp.eye(n, dtype=v.dtype, device=v.device) * v[None, :]
