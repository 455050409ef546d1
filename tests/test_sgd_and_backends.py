import numpy as np
import pytest

from mnist_logreg import LogisticRegression, SGDLogisticRegression


def test_sgd_learns_digits(small):
    Xtr, ytr, Xte, yte = small
    model = SGDLogisticRegression(max_iter=20, random_state=0).fit(Xtr, ytr)
    assert model.score(Xte, yte) > 0.80
    again = SGDLogisticRegression(max_iter=20, random_state=0).fit(Xtr, ytr)
    np.testing.assert_array_equal(model.coef_, again.coef_)  # same seed, same model


def test_sgd_approaches_the_full_batch_optimum(small):
    """SGD minimises mean loss + alpha/2 ||W||^2; with alpha = 1/(C n) that is LogisticRegression's
    objective divided by n. The float64 optimum is a lower bound of every SGD objective, and the
    gap to it shrinks with the epochs (measured: 168%, 80%, 26% after 5, 20, 100 epochs)."""
    from sklearn.metrics import log_loss

    Xtr, ytr, _, _ = small

    def objective(model):
        p = model.predict_proba(Xtr).astype(np.float64)
        return log_loss(ytr, p, normalize=False, labels=model.classes_) + 0.5 * np.sum(
            model.coef_.astype(np.float64) ** 2)

    exact = LogisticRegression(C=1.0, dtype="float64", tol=1e-8).fit(Xtr, ytr)
    optimum = objective(exact)
    gaps, distances = [], []
    for epochs in (5, 20, 100):
        sgd = SGDLogisticRegression(alpha=1.0 / len(ytr), max_iter=epochs, random_state=0).fit(Xtr, ytr)
        value = objective(sgd)
        assert value >= optimum * (1 - 1e-9), (epochs, value, optimum)
        gaps.append((value - optimum) / optimum)
        distances.append(np.linalg.norm(sgd.coef_ - exact.coef_) / np.linalg.norm(exact.coef_))
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.35, gaps
    assert distances[0] > distances[2] and distances[2] < 0.45, distances


def test_partial_fit_streams(small):
    Xtr, ytr, Xte, yte = small
    model = SGDLogisticRegression(random_state=0)
    with pytest.raises(ValueError, match="needs classes"):
        model.partial_fit(Xtr[:100], ytr[:100])
    for _ in range(10):
        for lo in range(0, len(ytr), 250):
            model.partial_fit(Xtr[lo : lo + 250], ytr[lo : lo + 250], classes=np.arange(10))
    assert model.n_iter_ == 40
    assert model.score(Xte, yte) > 0.80
    with pytest.raises(ValueError, match=r"labels \[11\] not in classes_"):
        model.partial_fit(Xtr[:2], np.array([1, 11]))


def test_sgd_binary(small):
    Xtr, ytr, Xte, yte = small
    model = SGDLogisticRegression(max_iter=10, random_state=0).fit(Xtr, ytr == 2)
    assert model.coef_.shape == (1, 784)
    assert model.score(Xte, yte == 2) > 0.95


torch = pytest.importorskip("torch")


@pytest.mark.parametrize("multiclass", ["multinomial", "ovr"])
@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
def test_torch_backend_matches_numpy(small, multiclass, solver):
    Xtr, ytr, _, _ = small
    kw = {"multiclass": multiclass, "solver": solver, "dtype": "float64", "tol": 1e-5}
    a = LogisticRegression(**kw).fit(Xtr, ytr)
    b = LogisticRegression(backend="torch", **kw).fit(Xtr, ytr)
    np.testing.assert_allclose(a.objective_, b.objective_, rtol=1e-9)
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-4 * np.abs(a.coef_).max())


def test_torch_float32_value_sums_rows_in_float64(mnist):
    """The float32 softmax value on a torch matrix is its rows' float32 losses summed in float64:
    within 1e-8 of the float64 value of the same float32 scores. (Two float32 sums over all the
    rows' terms, as before, were 3e-7 off on these 5,000 digits: enough noise to make the
    line search halve steps for nothing near the optimum of full MNIST.)"""
    from array_api_compat import array_namespace

    from mnist_logreg.linear._data import DenseMatrix
    from mnist_logreg.linear._loss import SoftmaxLogLoss
    from mnist_logreg.linear._penalties import make_penalty

    n = 5000
    X = (mnist.X_train[:n].reshape(n, -1) / 255.0).astype(np.float32)
    y = mnist.y_train[:n]
    data = DenseMatrix(array_namespace(torch.empty(0)), torch.from_numpy(X))
    labels, weights = torch.from_numpy(y.astype(np.int64)), torch.ones((n, 1))
    loss = SoftmaxLogLoss(data, labels, weights, make_penalty(np.inf), True, 10)
    rng = np.random.default_rng(0)
    for _ in range(3):
        theta = rng.normal(scale=0.05, size=(785, 10)).astype(np.float32)
        value = loss.value_grad(torch.from_numpy(theta))[0]
        Z = (torch.from_numpy(X) @ torch.from_numpy(theta[:-1]) + torch.from_numpy(theta[-1])).double().numpy()
        Z -= Z.max(axis=1, keepdims=True)
        expected = float(np.sum(np.log(np.exp(Z).sum(axis=1)) - Z[np.arange(n), y]))
        assert value == pytest.approx(expected, rel=1e-8, abs=0)


def test_torch_sgd_runs_same_path(small):
    Xtr, ytr, _Xte, _yte = small
    a = SGDLogisticRegression(dtype="float64", random_state=0).fit(Xtr, ytr)
    b = SGDLogisticRegression(dtype="float64", backend="torch", random_state=0).fit(Xtr, ytr)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-8, atol=1e-10)


def test_cuda_without_gpu_is_clear_error(small):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    Xtr, ytr, _, _ = small
    with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
        LogisticRegression(device="cuda").fit(Xtr, ytr)


def test_bad_parameters(small):
    Xtr, ytr, _, _ = small
    # scikit-learn's parameter validation: the message names the parameter and the valid values
    for kw, words in [({"penalty": "l3"}, "'penalty' parameter.*Got 'l3'"), ({"multiclass": "x"}, "'multiclass'"),
                      ({"solver": "sag"}, "'solver'.*Got 'sag'"), ({"dtype": "float16"}, "'dtype'.*float32"),
                      ({"scaling": "minmax"}, "'scaling'.*Got 'minmax'")]:
        with pytest.raises(ValueError, match=words):
            LogisticRegression(**kw).fit(Xtr, ytr)


def test_scaling_is_part_of_the_model(small):
    Xtr, ytr, Xte, _ = small
    pix = LogisticRegression(tol=3e-5, dtype="float64").fit(Xtr, ytr)
    manual = LogisticRegression(tol=3e-5, dtype="float64", scaling=None).fit(Xtr / 255.0, ytr)
    np.testing.assert_allclose(pix.coef_, manual.coef_, atol=1e-5)
    np.testing.assert_allclose(pix.predict_proba(Xte), manual.predict_proba(Xte / 255.0), atol=1e-6)
    std = LogisticRegression(scaling="standard").fit(Xtr, ytr)
    assert np.all(std.scale_ > 0) and std.offset_.shape == (784,)
    assert std.score(Xte, small[3]) > 0.8
