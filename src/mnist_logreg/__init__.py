"""mnist-logreg: handwritten-digit classification with logistic regression.

Data flows one way: ``datasets`` -> ``tasks`` -> ``linear`` -> ``evaluation`` -> outputs
(``plots``, ``report``, ``modelio``, ``predict``, ``explain``, ``shipped``, ``cli``, ``web``).
"""

from importlib.metadata import PackageNotFoundError, version

from .datasets import MNIST, load_mnist
from .explain import explain_digit
from .images import preprocess_image
from .linear import LogisticRegression, LogisticRegressionCV, SGDLogisticRegression
from .modelio import load_model, save_model
from .tasks import parse_task

try:
    __version__ = version("mnist-logreg")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = [
    "MNIST",
    "LogisticRegression",
    "LogisticRegressionCV",
    "SGDLogisticRegression",
    "__version__",
    "explain_digit",
    "load_mnist",
    "load_model",
    "parse_task",
    "preprocess_image",
    "save_model",
]
