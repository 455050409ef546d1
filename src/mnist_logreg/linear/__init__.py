"""Logistic regression: losses, solvers and scikit-learn estimators."""

from .cv import LogisticRegressionCV
from .estimator import LogisticRegression, SGDLogisticRegression

__all__ = ["LogisticRegression", "LogisticRegressionCV", "SGDLogisticRegression"]
