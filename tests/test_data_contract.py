"""The solver's contract: design matrices (dense, sparse) and penalties give the same loss.

A scipy CSR matrix must give the loss value, gradient and Hessian-vector products of the same
dense array to float64 rounding; the weight-sampled Gram sketch must be unbiased; the L2
penalty's gradient must be its value's derivative.
"""

import threading

import numpy as np
import pytest
import scipy.sparse as sp

from mnist_logreg.linear import _data
from mnist_logreg.linear._data import (
    DenseMatrix,
    DesignMatrix,
    ScaledIntegerMatrix,
    SparseMatrix,
    as_design_matrix,
)
from mnist_logreg.linear._loss import BinaryLogLoss, Loss, SoftmaxLogLoss, _without_lightest
from mnist_logreg.linear._penalties import L2, Penalty, make_penalty


def _pair(tiny):
    X, y = tiny
    return X, y, DenseMatrix(np, X), SparseMatrix(sp.csr_array(X), dtype=np.float64)


def test_wrappers_satisfy_the_protocols(tiny):
    X, _, dense, sparse = _pair(tiny)
    assert isinstance(dense, DesignMatrix) and isinstance(sparse, DesignMatrix)
    assert isinstance(as_design_matrix(sp.csr_matrix(X)), SparseMatrix)
    assert isinstance(as_design_matrix(X), DenseMatrix)
    assert isinstance(make_penalty(1.0), Penalty)
    loss = SoftmaxLogLoss(dense, tiny[1], np.ones((len(X), 1)), make_penalty(1.0), True, 10)
    assert isinstance(loss, Loss)


@pytest.mark.parametrize("kind", ["binary", "softmax"])
def test_sparse_matches_dense(tiny, kind):
    X, y, dense, sparse = _pair(tiny)
    s = np.ones((len(y), 1))
    pen = make_penalty(0.5)
    if kind == "binary":
        a, b = (BinaryLogLoss(m, (y == 3).astype(float), s, pen, True) for m in (dense, sparse))
    else:
        a, b = (SoftmaxLogLoss(m, y, s, pen, True, 10) for m in (dense, sparse))
    rng = np.random.default_rng(0)
    theta = rng.normal(scale=0.1, size=a.initial().shape)
    fa, ga, sa = a.value_grad(theta)
    fb, gb, sb = b.value_grad(theta)
    assert fb == pytest.approx(fa, rel=1e-12)
    np.testing.assert_allclose(gb, ga, rtol=1e-10, atol=1e-12)
    V = rng.normal(size=theta.shape)
    np.testing.assert_allclose(b.hessp(sb, V), a.hessp(sa, V), rtol=1e-10, atol=1e-12)
    w = rng.random(len(y))
    np.testing.assert_allclose(sparse.weighted_gram(w), X.T @ (w[:, None] * X), rtol=1e-10, atol=1e-12)
    rows = np.array([3, 1, 4])
    np.testing.assert_allclose(sparse.take_rows(rows).matmul(theta[:-1]), X[rows] @ theta[:-1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scaled_integers_match_dense(monkeypatch, dtype):
    """uint8 pixels times a scale, converted block by block, give the products of the float matrix."""
    monkeypatch.setattr(_data, "_CONVERT_BLOCK", 37)  # several blocks and a ragged last one
    monkeypatch.setattr(_data, "_GRAM_BLOCK", 50)
    rng = np.random.default_rng(0)
    X_int = rng.integers(0, 256, size=(300, 20), dtype=np.uint8)
    scale = rng.uniform(0.5, 2.0, size=20) / 255
    dense = DenseMatrix(np, (X_int * scale).astype(dtype))
    scaled = ScaledIntegerMatrix(X_int, scale, dtype=dtype)
    assert isinstance(scaled, DesignMatrix)
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    W = rng.normal(size=(20, 4)).astype(dtype)
    R = rng.normal(size=(300, 4)).astype(dtype)
    w = rng.random(300).astype(dtype)
    np.testing.assert_allclose(scaled.matmul(W), dense.matmul(W), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(scaled.rmatmul(R), dense.rmatmul(R), rtol=rtol, atol=rtol * 10)
    np.testing.assert_allclose(scaled.weighted_gram(w), dense.weighted_gram(w), rtol=rtol, atol=rtol)
    rows = np.array([5, 299, 0])
    np.testing.assert_allclose(scaled.take_rows(rows).matmul(W), dense.take_rows(rows).matmul(W), rtol=rtol)
    y = rng.integers(0, 4, size=300)
    a, b = (SoftmaxLogLoss(m, y, np.ones((300, 1), dtype=dtype), make_penalty(1.0), True, 4) for m in (dense, scaled))
    theta = rng.normal(scale=0.1, size=a.initial().shape).astype(dtype)
    fa, ga, _ = a.value_grad(theta)
    fb, gb, _ = b.value_grad(theta)
    assert fb == pytest.approx(fa, rel=rtol)
    np.testing.assert_allclose(gb, ga, rtol=rtol * 10, atol=rtol * 10)
    with pytest.raises(TypeError, match="integer data"):
        ScaledIntegerMatrix(X_int.astype(np.float32), scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scaled_integer_blocks_keep_only_their_nonzero_columns(monkeypatch, dtype):
    """Blocks of rows that leave some columns at 0 store and multiply only the others (the rows
    in class order, as the estimator passes MNIST): with a row order and a column subset, every
    product equals that of the dense ``X_int[rows][:, columns] * scale``, in row threads too."""
    from threadpoolctl import threadpool_limits

    monkeypatch.setattr(_data, "_CONVERT_BLOCK", 40)
    rng = np.random.default_rng(1)
    n, d = 400, 36
    X_int = rng.integers(1, 256, size=(n, d), dtype=np.uint8)
    group = rng.integers(0, 4, size=n)
    for g in range(4):  # each group leaves its own band of 12 columns at 0
        X_int[np.ix_(group == g, np.arange(7 * g, 7 * g + 12))] = 0
    rows, columns = np.argsort(group, kind="stable"), np.arange(2, 34)
    scale = rng.uniform(0.5, 2.0, size=len(columns)) / 255
    X = X_int[rows][:, columns] * scale
    dense = DenseMatrix(np, X.astype(dtype))
    m = ScaledIntegerMatrix(X_int, scale, dtype=dtype, rows=rows, columns=columns)
    assert m.n_samples == n and m.n_features == len(columns)
    kept = [len(cols) for _, _, cols in m._blocks if cols is not None]
    assert kept and min(kept) <= len(columns) - 10  # blocks of one group really left columns out
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    W, b = rng.normal(size=(len(columns), 3)).astype(dtype), rng.normal(size=3).astype(dtype)
    R = rng.normal(size=(n, 3)).astype(dtype)
    w = rng.random(n).astype(dtype)
    w[::3] = 0  # rows of weight 0 are skipped in the Gram matrix
    np.testing.assert_allclose(m.matmul(W), dense.matmul(W), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(m.rmatmul(R), dense.rmatmul(R), rtol=rtol, atol=rtol * 10)
    picked = np.array([5, 399, 0, 123])
    np.testing.assert_allclose(m.take_rows(picked).matmul(W), X[picked] @ W, rtol=rtol, atol=rtol)

    def residual(rows, Z):
        np.testing.assert_allclose(Z, X[rows] @ W + b, rtol=rtol * 10, atol=rtol * 10)
        return float(np.sum(Z)), np.tanh(Z)

    Z = X @ W + b
    with threadpool_limits(2, user_api="blas"):
        value, XtR, R_sum = m.forward_backward(W, b, residual)
        G = m.weighted_gram(w)
    assert value == pytest.approx(float(np.sum(Z)), rel=rtol * 10)
    np.testing.assert_allclose(XtR, X.T @ np.tanh(Z), rtol=rtol * 10, atol=rtol * 10)
    np.testing.assert_allclose(R_sum, np.tanh(Z).sum(axis=0, keepdims=True), rtol=rtol * 10, atol=rtol * 10)
    np.testing.assert_allclose(G, X.T @ (w[:, None] * X), rtol=rtol * 10, atol=rtol)


def _blas_threads() -> int:
    from threadpoolctl import threadpool_info

    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


@pytest.mark.parametrize("kind", ["uint8", "float64"])
def test_passes_in_row_threads_match_one_block(monkeypatch, kind):
    """With BLAS at 2 threads, a pass and a Gram matrix are split among 2 row threads (BLAS held
    to 1 meanwhile): the same results as the plain products, every row in exactly one block,
    and BLAS's setting back afterwards."""
    from threadpoolctl import threadpool_limits

    monkeypatch.setattr(_data, "_CONVERT_BLOCK", 37)  # ragged blocks, split between the threads
    monkeypatch.setattr(_data, "_GRAM_BLOCK", 23)
    rng = np.random.default_rng(3)
    X_int = rng.integers(0, 256, size=(301, 15), dtype=np.uint8)
    scale = np.full(15, 1 / 255)
    X = X_int * scale
    m = ScaledIntegerMatrix(X_int, scale, dtype=np.float64) if kind == "uint8" else DenseMatrix(np, X)
    W, b = rng.normal(size=(15, 3)), rng.normal(size=3)
    seen, threads = [], set()

    def residual(rows, Z):
        seen.append((rows.start, rows.stop))
        threads.add(threading.get_ident())
        np.testing.assert_allclose(Z, X[rows] @ W + b, rtol=1e-12)
        R = np.tanh(Z)
        return float(np.sum(Z)), R

    with threadpool_limits(2, user_api="blas"):
        value, XtR, R_sum = m.forward_backward(W, b, residual)
        assert _blas_threads() == 2  # restored after the pass
        with _data.row_threads as n:
            assert n == 2 and _blas_threads() == 1
            with _data.row_threads:  # sessions nest
                pass
            assert _blas_threads() == 1
            G = m.weighted_gram(np.linspace(0, 1, 301))
        assert _blas_threads() == 2
    Z = X @ W + b
    assert value == pytest.approx(float(np.sum(Z)), rel=1e-12)
    np.testing.assert_allclose(XtR, X.T @ np.tanh(Z), rtol=1e-12)
    np.testing.assert_allclose(R_sum, np.tanh(Z).sum(axis=0, keepdims=True), rtol=1e-12)
    assert sorted(r for block in seen for r in range(*block)) == list(range(301))
    assert len(threads) == 2  # the blocks really ran in two threads
    w = np.linspace(0, 1, 301)
    np.testing.assert_allclose(G, X.T @ (w[:, None] * X), rtol=1e-12)


def test_gram_sketch_is_unbiased_and_sized(monkeypatch):
    rng = np.random.default_rng(0)
    n, d = 4000, 40
    X = rng.normal(size=(n, d))
    w = rng.random(n) ** 4  # skewed weights, as late in a fit
    exact = X.T @ (w[:, None] * X)
    monkeypatch.setattr(_data, "_SKETCH_MIN_COLUMNS", 10)
    m = DenseMatrix(np, X)
    # exact below the size where a sketch pays
    np.testing.assert_allclose(m.weighted_gram(w, sketch=False), exact, rtol=1e-10)
    sketches = [m.weighted_gram(w, sketch=True, seed=s) for s in range(200)]
    one_err = np.linalg.norm(sketches[0] - exact) / np.linalg.norm(exact)
    mean_err = np.linalg.norm(np.mean(sketches, axis=0) - exact) / np.linalg.norm(exact)
    assert 0.02 < one_err < 0.5  # a real sketch, not the exact matrix
    assert mean_err < one_err / 5  # averaging draws converges to the exact matrix (unbiased)


def test_l2_penalty_value_and_gradient():
    rng = np.random.default_rng(1)
    W = rng.normal(size=(5, 3))
    pen = L2(0.7)
    assert pen.value(np, W) == pytest.approx(0.35 * np.sum(W**2))
    np.testing.assert_allclose(pen.gradient(np, W), 0.7 * W)
    # the gradient is the value's derivative (central differences)
    E = rng.normal(size=W.shape)
    h = 1e-6
    slope = (pen.value(np, W + h * E) - pen.value(np, W - h * E)) / (2 * h)
    assert slope == pytest.approx(float(np.sum(pen.gradient(np, W) * E)), rel=1e-6)
    assert make_penalty(np.inf).value(np, W) == 0.0
    with pytest.raises(ValueError, match="finite and >= 0"):
        L2(-1.0)


def test_preconditioner_gram_leaves_out_only_the_lightest_rows():
    """The rows left out of the preconditioner's Gram matrix are the lightest, hold at most the
    share asked, and a row of sample weight 2 is treated as the same row twice."""
    rng = np.random.default_rng(0)
    w = rng.random(1000) ** 4  # skewed, as late in a fit
    out = _without_lightest(np, w, np.ones(1000), 0.01)
    dropped = out == 0
    assert 100 < dropped.sum() < 1000 and w[dropped].sum() <= 0.01 * w.sum()
    assert w[dropped].max() <= w[~dropped].min()
    np.testing.assert_array_equal(out[~dropped], w[~dropped])
    s2, w2 = np.ones(1000), w.copy()
    s2[:10], w2[:10] = 2.0, 2 * w[:10]  # rows 0-9 with sample weight 2 ...
    twice = np.concatenate([w, w[:10]])  # ... or repeated
    kept = _without_lightest(np, w2, s2, 0.01) > 0
    kept_twice = _without_lightest(np, twice, np.ones(1010), 0.01) > 0
    np.testing.assert_array_equal(kept, kept_twice[:1000])
    np.testing.assert_array_equal(kept_twice[1000:], kept_twice[:10])
    assert not _without_lightest(np, np.zeros(5), np.ones(5), 0.01).any()  # no weight at all
    np.testing.assert_array_equal(_without_lightest(np, np.ones(50), np.ones(50), 0.01), np.ones(50))
