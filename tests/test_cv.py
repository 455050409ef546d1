"""LogisticRegressionCV against scikit-learn's on the same folds, grid, scoring and objective.

scikit-learn's runs to tol 1e-10 (float64, its ``use_legacy_attributes=False`` convention); ours
in float64 at tol 1e-6. Tolerances: held-out log-loss scores within 1e-4, the same C_, final
coefficients within 1e-5 relative, each path's coefficients within 1e-3 of the largest. Also as
scikit-learn's: folds lacking a class fitted with every class, held-out rows scored with their
sample weights, ``score`` by ``scoring``, class weights computed once on all of ``y``, and
metadata routing (``groups`` to the splitter, sample weights to a scorer that requests them).
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.datasets import load_breast_cancer, load_iris, make_classification
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.linear_model import LogisticRegressionCV as SkCV
from sklearn.metrics import get_scorer
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_sample_weight_equivalence_on_dense_data

from mnist_logreg import LogisticRegression, LogisticRegressionCV

TIGHT = {"dtype": "float64", "tol": 1e-6}


@pytest.fixture(scope="module", params=["cancer", "iris"])
def problem(request):
    X, y = (load_breast_cancer if request.param == "cancer" else load_iris)(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def test_matches_sklearn(problem):
    X, y = problem
    ours = LogisticRegressionCV(Cs=6, scoring="neg_log_loss", **TIGHT).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        sk = SkCV(Cs=6, scoring="neg_log_loss", l1_ratios=(0.0,), use_legacy_attributes=False,
                  tol=1e-10, max_iter=10000).fit(X, y)
    np.testing.assert_allclose(ours.Cs_, sk.Cs_)
    for name in ("scores_", "coefs_paths_", "n_iter_", "coef_", "intercept_", "classes_"):
        assert getattr(ours, name).shape == getattr(sk, name).shape, name
    np.testing.assert_allclose(ours.scores_, sk.scores_, atol=1e-4)
    assert ours.C_ == sk.C_ and ours.l1_ratio_ == 0.0
    assert np.linalg.norm(ours.coef_ - sk.coef_) <= 1e-5 * np.linalg.norm(sk.coef_)
    assert np.abs(ours.coefs_paths_ - sk.coefs_paths_).max() <= 1e-3 * np.abs(sk.coefs_paths_).max()
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))


def test_picks_the_best_mean_score_and_refits_it(problem):
    X, y = problem
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    ours = LogisticRegressionCV(Cs=[0.01, 1.0, 100.0], cv=cv, **TIGHT).fit(X, y)
    mean = ours.scores_.mean(axis=0)[0]
    assert ours.C_ == ours.Cs_[int(np.argmax(mean))]
    direct = LogisticRegression(C=ours.C_, **TIGHT).fit(X, y)
    assert np.linalg.norm(ours.coef_ - direct.coef_) <= 1e-5 * np.linalg.norm(direct.coef_)


def test_refit_false_averages_the_folds(problem):
    X, y = problem
    ours = LogisticRegressionCV(Cs=4, refit=False, **TIGHT).fit(X, y)
    best = [np.unravel_index(np.argmax(s), s.shape) for s in ours.scores_]
    expected = np.mean([ours.coefs_paths_[k, i, j] for k, (i, j) in enumerate(best)], axis=0)
    np.testing.assert_allclose(ours.coef_, expected[:, :-1])
    assert ours.C_ == pytest.approx(np.mean([ours.Cs_[j] for _, j in best]))
    assert ours.score(X, y) > 0.9


def test_elastic_net_grid_and_parallel_folds():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    grid = {"Cs": [0.01, 0.1, 1.0], "l1_ratios": [0.0, 0.5, 1.0], "cv": 3}
    serial = LogisticRegressionCV(**grid, **TIGHT).fit(X, y)
    parallel = LogisticRegressionCV(**grid, n_jobs=2, **TIGHT).fit(X, y)
    assert serial.scores_.shape == (3, 3, 3)
    np.testing.assert_allclose(parallel.scores_, serial.scores_)
    assert serial.l1_ratio_ in (0.0, 0.5, 1.0)
    # the L1 end of the grid at the strongest penalty has exact zeros
    assert np.sum(serial.coefs_paths_[:, 2, 0, :, :-1] == 0) > 0


def test_sparse_input_matches_dense():
    X, y = load_breast_cancer(return_X_y=True)
    X = X / X.max(axis=0)
    dense = LogisticRegressionCV(Cs=3, **TIGHT).fit(X, y)
    sparse = LogisticRegressionCV(Cs=3, **TIGHT).fit(sp.csr_array(X), y)
    np.testing.assert_allclose(sparse.scores_, dense.scores_)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("kwargs", [{"Cs": [1.0, -1.0]}, {"Cs": 0}, {"l1_ratios": [1.5]},
                                    {"l1_ratios": [0.5], "solver": "newton-cg"}])
def test_bad_grids_are_refused(kwargs):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=r"Cs|l1_ratio"):
        LogisticRegressionCV(**kwargs).fit(X, y)


def test_sample_weight_equivalence_in_float64():
    """The float32 default is excused from this check (tests/test_estimator_checks.py); float64 passes."""
    check_sample_weight_equivalence_on_dense_data("LogisticRegressionCV", LogisticRegressionCV(dtype="float64"))


def _sk_cv(**kwargs):
    """scikit-learn's LogisticRegressionCV, L2, current attributes, run to tol 1e-10."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return SkCV(**{"l1_ratios": (0.0,), "use_legacy_attributes": False, "tol": 1e-10, "max_iter": 10000,
                       "scoring": None, **kwargs})


def test_a_fold_lacking_a_class_is_fitted_with_every_class():
    # two classes, each training fold has only one of them
    X4, y4 = np.arange(4.0)[:, None], np.array(["a", "a", "b", "b"])
    with pytest.warns(UserWarning, match=r"fold 0: \['a'\]; fold 1: \['b'\]"):
        ours = LogisticRegressionCV(cv=KFold(2), Cs=[1.0], **TIGHT).fit(X4, y4)
    sk = _sk_cv(cv=KFold(2), Cs=[1.0]).fit(X4, y4)
    assert ours.coefs_paths_.shape == sk.coefs_paths_.shape == (2, 1, 1, 1, 2)
    np.testing.assert_array_equal(ours.scores_, sk.scores_)  # each fold predicts the class it saw: 0
    # iris, 10 rows of class 2 first: KFold(3)'s first training fold has none of it
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    rows = np.r_[100:110, np.random.default_rng(0).permutation(np.r_[0:40, 50:90])]
    X, y = X[rows], y[rows]
    with pytest.warns(UserWarning, match=r"fold 0: \[2\]\)"):
        ours = LogisticRegressionCV(Cs=4, cv=KFold(3), **TIGHT).fit(X, y)
    sk = _sk_cv(Cs=4, cv=KFold(3)).fit(X, y)
    assert ours.coefs_paths_.shape == sk.coefs_paths_.shape == (3, 1, 4, 3, 5)
    np.testing.assert_array_equal(ours.scores_, sk.scores_)
    assert ours.scores_[0, 0].max() <= 20 / 30  # the 10 held-out rows of class 2 are never predicted
    assert ours.C_ == sk.C_
    assert np.linalg.norm(ours.coef_ - sk.coef_) <= 1e-5 * np.linalg.norm(sk.coef_)
    # the folds with every class agree; in the first, all but the intercept of class 2 (which only
    # heads to -inf: it stops where each fit's tol is met) and the intercepts' common shift
    assert np.abs(ours.coefs_paths_[1:] - sk.coefs_paths_[1:]).max() <= 1e-3 * np.abs(sk.coefs_paths_).max()
    first, first_sk = ours.coefs_paths_[0, 0], sk.coefs_paths_[0, 0]
    assert np.abs(first[..., :-1] - first_sk[..., :-1]).max() <= 1e-3 * np.abs(first_sk[..., :-1]).max()
    np.testing.assert_allclose(np.diff(first[:, :2, -1]), np.diff(first_sk[:, :2, -1]), atol=1e-3)
    assert np.all(first[:, 2, -1] < -10)


@pytest.mark.parametrize("scoring", [None, "neg_log_loss"])
def test_held_out_rows_are_scored_with_their_sample_weights(scoring):
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    sw = np.random.default_rng(1).uniform(0.1, 3.0, len(y))
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    ours = LogisticRegressionCV(Cs=4, cv=cv, scoring=scoring, **TIGHT).fit(X, y, sample_weight=sw)
    sk = _sk_cv(Cs=4, cv=cv, scoring=scoring).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(ours.scores_, sk.scores_, atol=1e-4)
    assert ours.C_ == sk.C_
    # the weights matter here: the held-out rows scored without them give other numbers
    scorer = get_scorer(scoring or "accuracy")
    train, test = next(cv.split(X, y))
    fold = LogisticRegression(C=ours.Cs_[-1], **TIGHT).fit(X[train], y[train], sample_weight=sw[train])
    assert scorer(fold, X[test], y[test], sample_weight=sw[test]) == pytest.approx(ours.scores_[0, 0, -1], abs=1e-4)
    assert abs(scorer(fold, X[test], y[test]) - ours.scores_[0, 0, -1]) > 1e-3


@pytest.mark.parametrize("scoring", [None, "neg_log_loss", "balanced_accuracy"])
def test_score_uses_the_scoring(scoring):
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    sw = np.random.default_rng(2).uniform(0.1, 3.0, len(y))
    ours = LogisticRegressionCV(Cs=3, scoring=scoring, **TIGHT).fit(X, y)
    sk = _sk_cv(Cs=3, scoring=scoring).fit(X, y)
    scorer = get_scorer(scoring or "accuracy")
    assert ours.score(X, y) == scorer(ours, X, y)
    assert ours.score(X, y, sample_weight=sw) == scorer(ours, X, y, sample_weight=sw)
    assert ours.score(X, y, sample_weight=sw) == pytest.approx(sk.score(X, y, sample_weight=sw), abs=1e-5)
    if scoring == "neg_log_loss":
        assert ours.score(X, y) < 0


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("class_weight", ["balanced", {1: 3.0}])
def test_class_weights_are_computed_once_on_all_of_y(n_classes, class_weight):
    weights = [0.8, 0.2] if n_classes == 2 else [0.6, 0.3, 0.1]
    X, y = make_classification(300, 6, n_informative=4, n_classes=n_classes, weights=weights, random_state=0)
    sw = np.random.default_rng(2).uniform(0.2, 2.0, len(y))
    cv = StratifiedKFold(3, shuffle=True, random_state=1)
    grid = {"Cs": 3, "cv": cv, "class_weight": class_weight, "scoring": "neg_log_loss"}
    ours = LogisticRegressionCV(**grid, **TIGHT).fit(X, y, sample_weight=sw)
    sk = _sk_cv(**grid).fit(X, y, sample_weight=sw)
    assert np.abs(ours.coefs_paths_ - sk.coefs_paths_).max() <= 1e-4 * np.abs(sk.coefs_paths_).max()
    np.testing.assert_allclose(ours.scores_, sk.scores_, atol=1e-6)
    assert ours.C_ == sk.C_
    assert np.linalg.norm(ours.coef_ - sk.coef_) <= 1e-5 * np.linalg.norm(sk.coef_)


def test_class_weight_labels_must_be_classes():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="class_weight"):
        LogisticRegressionCV(Cs=2, class_weight={7: 2.0}).fit(X, y)


def test_metadata_routing_matches_sklearn():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    groups = np.arange(len(y)) % 6
    sw = np.random.default_rng(3).uniform(0.1, 2.0, len(y))
    pairs = [(LogisticRegressionCV(Cs=2, **TIGHT), _sk_cv(Cs=2))]
    # without routing: extra keywords are refused with scikit-learn's own error, in fit and score
    for ours, sk in pairs:
        for method, args in (("fit", (X, y)), ("score", (X, y))):
            if method == "score":
                ours.fit(X, y), sk.fit(X, y)
            with pytest.raises(ValueError, match="enable_metadata_routing=True") as ours_error:
                getattr(ours, method)(*args, groups=groups)
            with pytest.raises(ValueError) as sk_error:
                getattr(sk, method)(*args, groups=groups)
            assert str(ours_error.value) == str(sk_error.value)
    with sklearn.config_context(enable_metadata_routing=True):
        assert str(LogisticRegressionCV(cv=GroupKFold(3)).get_metadata_routing()) == \
            str(_sk_cv(cv=GroupKFold(3)).get_metadata_routing())
        # groups reach the splitter
        ours = LogisticRegressionCV(Cs=3, cv=GroupKFold(3), **TIGHT).fit(X, y, groups=groups)
        sk = _sk_cv(Cs=3, cv=GroupKFold(3)).fit(X, y, groups=groups)
        np.testing.assert_array_equal(ours.scores_, sk.scores_)
        folds = list(GroupKFold(3).split(X, y, groups))
        np.testing.assert_array_equal(ours.scores_, LogisticRegressionCV(Cs=3, cv=folds, **TIGHT).fit(X, y).scores_)
        # sample weights reach a scorer that requests them, in fit and in score
        scorer = get_scorer("neg_log_loss").set_score_request(sample_weight=True)
        ours = LogisticRegressionCV(Cs=3, cv=GroupKFold(3), scoring=scorer, **TIGHT)
        ours.fit(X, y, sample_weight=sw, groups=groups)
        sk = _sk_cv(Cs=3, cv=GroupKFold(3), scoring=scorer).fit(X, y, sample_weight=sw, groups=groups)
        np.testing.assert_allclose(ours.scores_, sk.scores_, atol=1e-4)
        assert ours.score(X, y, sample_weight=sw) == scorer(ours, X, y, sample_weight=sw)
        assert ours.score(X, y, sample_weight=sw) != scorer(ours, X, y)
        # and are refused, as scikit-learn refuses them, where the scorer has not said
        for est in (LogisticRegressionCV(Cs=2, **TIGHT), _sk_cv(Cs=2)):
            with pytest.raises(UnsetMetadataPassedError):
                est.fit(X, y, sample_weight=sw)
            with pytest.raises(TypeError, match=r"LogisticRegressionCV\.fit got unexpected argument\(s\) \{'foo'\}"):
                est.fit(X, y, foo=1)
            est.fit(X, y)
            with pytest.raises(TypeError, match=r"LogisticRegressionCV\.score got unexpected"):
                est.score(X, y, groups=groups)
