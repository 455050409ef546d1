"""Logistic regression: losses, solvers and scikit-learn estimators."""

from .estimator import LogisticRegression, SGDLogisticRegression

__all__ = ["LogisticRegression", "SGDLogisticRegression"]
