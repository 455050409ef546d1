"""Fits on Dask arrays: the same optimum as in memory, on a local cluster of worker processes.

The reference is the in-memory fit of the same estimator in float64 to a tight ``tol``: both
minimise the same objective, so their objectives must agree to 1e-6 (relative) and their
coefficients closely; the cluster (``distributed.LocalCluster``, 127.0.0.1 only) runs the loss
chunk by chunk in two worker processes.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from mnist_logreg import LogisticRegression, SGDLogisticRegression  # noqa: E402
from mnist_logreg.linear._dask import ChunkedLoss  # noqa: E402

TIGHT = dict(dtype="float64", tol=1e-5)  # objective gap about tol**2 / 8: 1e-11


@pytest.fixture(scope="module")
def client():
    from mnist_logreg._chunks import dask_client

    with dask_client(workers=2, memory_limit="2GiB") as c:
        yield c


@pytest.fixture(scope="module")
def digits(small):
    X, y, _, _ = small
    return X[:900], y[:900]


def _dask(X, y, rows=300):
    return da.from_array(X, chunks=(rows, X.shape[1])), da.from_array(y, chunks=rows)


@pytest.mark.parametrize(("classes", "params"), [
    (10, {}),
    (3, {"multiclass": "ovr"}),
    (3, {"penalty": "l1", "C": 0.05}),
    (3, {"penalty": "elasticnet", "l1_ratio": 0.5, "C": 0.05}),
    (10, {"solver": "newton-cg"}),
    (3, {"fit_intercept": False, "C": 10.0}),
    (3, {"scaling": "standard", "class_weight": "balanced", "C": 0.1}),
], ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default" if isinstance(p, dict) else f"{p}classes")
def test_dask_fit_reaches_the_in_memory_optimum(client, digits, classes, params):
    X, y = digits
    keep = y < classes
    X, y = X[keep], y[keep]
    ref = LogisticRegression(**TIGHT, **params).fit(X, y)
    Xd, yd = _dask(X, y)
    got = LogisticRegression(**TIGHT, **params).fit(Xd, yd)
    assert got.converged_ and ref.converged_
    assert abs(got.objective_ - ref.objective_) <= 1e-6 * abs(ref.objective_)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(got.coef_, ref.coef_, atol=2e-3 * scale)
    np.testing.assert_allclose(got.intercept_, ref.intercept_, atol=2e-3 * max(scale, 1.0))
    np.testing.assert_array_equal(got.classes_, ref.classes_)
    assert got.n_features_in_ == X.shape[1]
    np.testing.assert_array_equal(got.offset_, ref.offset_)
    np.testing.assert_allclose(got.scale_, ref.scale_, rtol=1e-12)


def test_binary_with_sample_weights_and_float_input(client, digits):
    """Two classes, float32 pixels / 255 and sample weights given as a Dask array in other chunks."""
    X, y = digits
    keep = np.isin(y, [3, 5])
    X, y = X[keep].astype(np.float32) / 255, np.where(y[keep] == 3, "three", "five")
    w = np.random.default_rng(0).uniform(0.2, 3.0, len(y))
    ref = LogisticRegression(**TIGHT).fit(X, y, sample_weight=w)
    Xd = da.from_array(X, chunks=(50, 392))  # column chunks are merged
    got = LogisticRegression(**TIGHT).fit(Xd, y, sample_weight=da.from_array(w, chunks=70))
    assert abs(got.objective_ - ref.objective_) <= 1e-6 * ref.objective_
    np.testing.assert_array_equal(got.classes_, ["five", "three"])


def test_predict_score_and_probabilities_on_dask_arrays(client, digits, small):
    X, y = digits
    _, _, Xte, yte = small
    model = LogisticRegression().fit(X, y)
    Xd, yd = _dask(Xte, yte, rows=128)
    proba = model.predict_proba(Xd)
    assert isinstance(proba, da.Array)
    np.testing.assert_allclose(proba.compute(), model.predict_proba(Xte), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(model.predict(Xd).compute(), model.predict(Xte))
    np.testing.assert_allclose(model.decision_function(Xd).compute(), model.decision_function(Xte), rtol=1e-6,
                               atol=1e-5)
    assert model.score(Xd, yd) == pytest.approx(model.score(Xte, yte), abs=1e-12)
    w = np.linspace(0.5, 2.0, len(yte))
    assert model.score(Xd, yd, sample_weight=w) == pytest.approx(model.score(Xte, yte, sample_weight=w), abs=1e-12)


def test_the_data_stays_on_the_workers(client, digits):
    """The loss's chunks are futures held by the workers; only sums come to the client."""
    X, y = digits
    Xd, yd = _dask(X, y)
    seen = []
    model = LogisticRegression(max_iter=3, callback=seen.append)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(Xd, yd)
    held = client.has_what()
    keys = {k for ks in held.values() for k in ks}
    assert any(str(k).startswith("_make_loss") for k in keys)
    assert len(seen) == 3


def test_local_threads_without_a_cluster(digits):
    """No distributed client: Dask's threaded scheduler runs the same chunks."""
    import dask

    X, y = digits
    ref = LogisticRegression(**TIGHT).fit(X, y)
    with dask.config.set(scheduler="threads"):
        got = LogisticRegression(**TIGHT).fit(*_dask(X, y, rows=300))
    assert abs(got.objective_ - ref.objective_) <= 1e-6 * ref.objective_


def test_a_killed_worker_is_recovered(client, digits):
    """A worker process killed mid-fit: Dask recomputes its chunks and the fit ends at the optimum."""
    X, y = digits
    ref = LogisticRegression(**TIGHT).fit(X, y)
    pids = list(client.run(os.getpid).values())
    killed = []

    def kill_one(info):
        if info["iter"] == 4 and not killed:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    got = LogisticRegression(**TIGHT, callback=kill_one).fit(*_dask(X, y))
    assert killed
    assert abs(got.objective_ - ref.objective_) <= 1e-6 * ref.objective_
    client.wait_for_workers(2, timeout=60)


def test_cross_validation_folds_on_the_cluster(client, digits):
    """Each fold fits the chunks with its held-out rows weighted 0: the same model as fitting
    the other rows in memory, scored on the held-out rows."""
    from mnist_logreg._chunks import held_out, row_groups
    from mnist_logreg.evaluation import cross_validate_chunked

    X, y = digits
    Xd, yd = _dask(X, y)
    folds = []
    groups = row_groups(Xd.chunks[0], 300)  # rows i and i + 300 copies of one digit
    cv = cross_validate_chunked(LogisticRegression(**TIGHT, C=0.1), Xd, yd, 3, groups=groups,
                                on_fold=lambda i, score: folds.append(i))
    assert folds == [0, 1, 2]  # reported in order
    rows = np.arange(len(y))
    for fold, score in enumerate(cv["scores"]):
        test = (rows % 300) % 3 == fold  # copies of a digit (period 300) share its fold
        np.testing.assert_array_equal(held_out(groups, 3, fold).compute(), test.astype(float))
        ref = LogisticRegression(**TIGHT, C=0.1).fit(X[~test], y[~test])
        assert score == pytest.approx(ref.score(X[test], y[test]), abs=1.5 / test.sum())
    assert cv["mean"] == pytest.approx(np.mean(cv["scores"]))


def test_C_sweep_side_by_side_on_the_cluster(client, digits):
    from mnist_logreg.evaluation import sweep_C_chunked

    X, y = digits
    Xd, yd = _dask(X, y)
    steps = []
    rows, coefs = sweep_C_chunked(LogisticRegression(**TIGHT), Xd, yd, [1.0, 0.01],
                                  on_step=lambda i, row: steps.append(i))
    assert [r["C"] for r in rows] == [0.01, 1.0] and steps == [0, 1]
    validation = np.arange(len(y)) % 10 == 0
    for row, coef in zip(rows, coefs, strict=True):
        ref = LogisticRegression(**TIGHT, C=row["C"]).fit(X[~validation], y[~validation])
        np.testing.assert_allclose(coef, ref.coef_, rtol=1e-3, atol=1e-3 * np.abs(ref.coef_).max())
        assert row["validation_accuracy"] == pytest.approx(ref.score(X[validation], y[validation]), abs=1.5 / 90)
        assert row["train_accuracy"] == pytest.approx(ref.score(X[~validation], y[~validation]), abs=1.5 / 810)


def test_chunked_loss_matches_the_in_memory_loss(client, digits):
    """Value, gradient, Hessian-vector product and curvature sums, chunk by chunk against in memory."""
    from mnist_logreg.linear._dask import chunked_losses
    from mnist_logreg.linear._data import preprocessed_matrix
    from mnist_logreg.linear._loss import SoftmaxLogLoss
    from mnist_logreg.linear._penalties import make_penalty

    X, y = digits
    active = np.flatnonzero(X.any(axis=0))
    offset, scale = np.zeros(len(active)), np.full(len(active), 1 / 255)
    penalty = make_penalty(0.5)
    Xd, yd = _dask(X, y)
    (chunked,) = chunked_losses(Xd, yd, da.ones(len(y), chunks=300), active=active, offset=offset, scale=scale,
                                dtype="float64", penalty=penalty, fit_intercept=True, n_classes=10,
                                one_vs_rest=False)
    assert isinstance(chunked, ChunkedLoss)
    memory = SoftmaxLogLoss(preprocessed_matrix(X[:, active], offset, scale, "float64"), y, np.ones((len(y), 1)),
                            penalty, True, 10)
    theta = np.random.default_rng(1).normal(0, 0.01, (len(active) + 1, 10))
    V = np.random.default_rng(2).normal(0, 1.0, theta.shape)
    f1, g1, s1 = chunked.value_grad(theta)
    f2, g2, s2 = memory.value_grad(theta)
    assert f1 == pytest.approx(f2, rel=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(chunked.hessp(s1, V), memory.hessp(s2, V), rtol=1e-9, atol=1e-9)
    for a, b in zip(chunked.curvature_sums(s1), memory.curvature_sums(s2), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def test_bad_dask_input_is_named(client, digits):
    X, y = digits
    Xd, yd = _dask(X, y)
    with pytest.raises(ValueError, match=r"y: expected shape \(900,\)"):
        LogisticRegression().fit(Xd, yd[:-1])
    with pytest.raises(ValueError, match="2-D"):
        LogisticRegression().fit(Xd[:, 0], yd)
    with pytest.raises(ValueError, match="unknown sizes"):
        LogisticRegression().fit(Xd[Xd[:, 300] > 0], yd)
    with pytest.raises(ValueError, match="numpy backend"):
        LogisticRegression(backend="torch").fit(Xd, yd)
    with pytest.raises(ValueError, match="non-negative"):
        LogisticRegression().fit(Xd, yd, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="1 class"):
        LogisticRegression().fit(Xd, da.zeros(len(y), chunks=300, dtype=int))


def test_sgd_on_one_chunk_is_the_in_memory_fit(client, digits):
    """SGD over a Dask array of one chunk visits the rows in the in-memory fit's order: the same fit."""
    X, y = digits
    ref = SGDLogisticRegression(random_state=3, max_iter=3, dtype="float64").fit(X, y)
    got = SGDLogisticRegression(random_state=3, max_iter=3, dtype="float64").fit(*_dask(X, y, rows=900))
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got.intercept_, ref.intercept_, rtol=1e-12, atol=1e-14)
    assert got.t_ == ref.t_ and got.n_iter_ == 3


def test_sgd_chains_the_chunks_on_the_cluster(client, digits, small):
    """Several chunks: one task per chunk, passing the parameters on; seeded, as good as in memory,
    partial_fit goes on where it stopped, rows weighted 0 are left out of the mini-batches."""
    X, y = digits
    _, _, X_test, y_test = small
    Xd, yd = _dask(X, y, rows=250)  # 4 chunks, the last one short
    a = SGDLogisticRegression(random_state=0, max_iter=4).fit(Xd, yd)
    b = SGDLogisticRegression(random_state=0, max_iter=4).fit(Xd, yd)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    in_memory = SGDLogisticRegression(random_state=0, max_iter=4).fit(X, y)
    assert a.score(X_test, y_test) >= in_memory.score(X_test, y_test) - 0.03
    assert a.score(Xd, yd) == pytest.approx(float(np.mean(a.predict(X) == y)))
    # two partial_fit calls are the fit with 2 epochs
    two = SGDLogisticRegression(random_state=1, max_iter=2).fit(Xd, yd)
    step = SGDLogisticRegression(random_state=1)
    step.partial_fit(Xd, yd, classes=np.arange(10)).partial_fit(Xd, yd)
    np.testing.assert_allclose(step.coef_, two.coef_, rtol=1e-6, atol=1e-7)
    assert step.t_ == two.t_ and step.n_iter_ == 2
    # rows weighted 0 (here the first 100 of each chunk) make no updates
    w = np.ones(len(y))
    w[np.arange(len(y)) % 250 < 100] = 0.0
    held = SGDLogisticRegression(random_state=0, max_iter=1, batch_size=32).fit(Xd, yd, sample_weight=w)
    assert held.t_ == sum(-(-(n - 100) // 32) for n in (250, 250, 250, 150))
    with pytest.raises(ValueError, match="every weight is zero"):
        SGDLogisticRegression().fit(Xd, yd, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match=r"labels \[10\] not in classes_"):
        SGDLogisticRegression().partial_fit(Xd, yd + 1, classes=np.arange(10))


@pytest.mark.full
def test_full_mnist_on_the_cluster_reaches_the_optimum(client, mnist):
    """Full MNIST on two workers: gap to F* = 13927.0617126 at most 1e-5 (objective recomputed in float64)."""
    from scipy.special import logsumexp

    Xd = da.from_array(mnist.X_train, chunks=(10000, 784))
    model = LogisticRegression().fit(Xd, da.from_array(mnist.y_train, chunks=10000))
    assert model.converged_
    X = mnist.X_train / 255.0
    Z = X @ model.coef_.T.astype(np.float64) + model.intercept_
    F = np.sum(logsumexp(Z, axis=1) - Z[np.arange(len(Z)), mnist.y_train]) + 0.5 * np.sum(
        model.coef_.astype(np.float64) ** 2)
    assert -1e-9 < (F - 13927.0617126) / 13927.0617126 <= 1e-5
