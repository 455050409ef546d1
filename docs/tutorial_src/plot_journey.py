"""
From pixels to a confusion matrix: MNIST with logistic regression
=================================================================

Load the digits, look at them, split them, and fit logistic regression three ways: one digit
against the rest ("is it a 2?"), two digits against each other (0 vs 1), then all ten (one-vs-rest,
softmax, and SGD). Then measure: accuracy, a per-class report, the confusion matrix,
cross-validation, the mistakes, and what the model learnt (its coefficients as images).

To keep the build quick, the fits use 10,000 of the 60,000 training digits; the command line
(``mnist-logreg train``) uses all of them.
"""

# %%
# Load
# ----
# The 70,000 digits ship with the package (bit-exact copies of the original files, checked by
# their MD5). Pixels are ``uint8`` from 0 (paper) to 255 (ink), one row of 784 per digit.
from mnist_logreg import load_mnist

data = load_mnist()
print(data.X_train.shape, data.X_train.dtype, data.y_train[:10])
print(data.X_test.shape)

# %%
# Look
# ----
# A grid of the first training digits with their labels, and the mean image of each digit.
from mnist_logreg import plots

grid = plots.digit_grid(data.X_train[:40], [str(d) for d in data.y_train[:40]], rows=4)
means = plots.mean_images(data.X_train, data.y_train)

# %%
# Split
# -----
# MNIST comes split: 60,000 training digits and 10,000 test digits written by other people. We
# shuffle the training digits with a seed and keep 10,000 of them, every class in proportion.
from mnist_logreg.tasks import stratified_subsample

X, y = stratified_subsample(data.X_train, data.y_train, 10_000, random_state=0)
X_test, y_test = data.X_test, data.y_test
print(X.shape, "digits of each class:", [int((y == d).sum()) for d in range(10)])

# %%
# Is it a 2?
# ----------
# One digit against the other nine: a binary logistic regression on ``y == 2``. The model
# divides the pixels by 255 itself (``scaling="auto"`` for uint8 input).
from mnist_logreg import LogisticRegression

is_two = LogisticRegression(C=1.0).fit(X, y == 2)
print(f"test accuracy {is_two.score(X_test, y_test == 2):.2%}  (always saying 'no' would score "
      f"{(y_test != 2).mean():.2%})", "converged:", is_two.converged_)

# %%
# Accuracy flatters a rare class: look at the ROC and precision-recall curves instead.
roc = plots.pr_roc_curves(y_test == 2, is_two.predict_proba(X_test)[:, 1], positive="2")

# %%
# 0 against 1
# -----------
# The easiest pair: almost separable by a straight line in 784 dimensions.
from mnist_logreg.tasks import pair_subset

X01, y01 = pair_subset(X, y, 0, 1)
Xt01, yt01 = pair_subset(X_test, y_test, 0, 1)
zero_one = LogisticRegression().fit(X01, y01)
print(f"0 vs 1: test accuracy {zero_one.score(Xt01, yt01):.2%} on {len(yt01)} digits")

# %%
# All ten digits: one-vs-rest, softmax, SGD
# -----------------------------------------
# One-vs-rest fits ten binary models; softmax (multinomial) fits one model whose ten scores
# become probabilities that sum to 1; SGD fits softmax by mini-batch stochastic gradient descent.
from mnist_logreg import SGDLogisticRegression

ovr = LogisticRegression(multiclass="ovr").fit(X, y)
softmax = LogisticRegression().fit(X, y)
sgd = SGDLogisticRegression(random_state=0).fit(X, y)
for name, model in [("one-vs-rest", ovr), ("softmax", softmax), ("SGD", sgd)]:
    print(f"{name:12s} test accuracy {model.score(X_test, y_test):.2%}")

# %%
# Metrics
# -------
# Precision, recall and F1 per digit. The weakest digits are usually 8, 5 and 9.
from sklearn.metrics import classification_report

predicted = softmax.predict(X_test)
print(classification_report(y_test, predicted, digits=3))

# %%
# The confusion matrix
# --------------------
# Each row is a true digit, each column a prediction; rows normalised, the diagonal is recall.
from sklearn.metrics import confusion_matrix

cm = confusion_matrix(y_test, predicted)
cm_figure = plots.confusion_matrix_figure(cm, [str(d) for d in range(10)], normalize=True)

# %%
# Cross-validation
# ----------------
# The estimators are scikit-learn estimators: ``cross_val_score``, ``Pipeline`` and
# ``GridSearchCV`` work as with scikit-learn's own.
from sklearn.model_selection import cross_val_score

scores = cross_val_score(LogisticRegression(), X[:5000], y[:5000], cv=3)
print("3-fold accuracy:", [f"{s:.2%}" for s in scores], f"mean {scores.mean():.2%}")

# %%
# Mistakes
# --------
# The test digits the model got wrong with the most confidence. Some are hard to read for a
# person too.
import numpy as np

proba = softmax.predict_proba(X_test)
wrong = np.flatnonzero(predicted != y_test)
worst = wrong[np.argsort(-proba[wrong].max(axis=1))][:20]
mistakes = plots.digit_grid(X_test[worst], [f"true {t}, read {p}" for t, p in zip(y_test[worst], predicted[worst],
                                                                                  strict=True)], rows=2)

# %%
# What the model learnt
# ---------------------
# Each digit's coefficients as a 28x28 image: red pixels vote for the digit, blue against. At
# C = 1 single pixels take large weights and the images look like noise; a strong penalty
# (C = 0.001) keeps them small and smooth, and they turn into templates of the digits.
readable = LogisticRegression(C=0.001).fit(X, y)
coefficients = plots.coefficient_images(readable.coef_, [str(d) for d in range(10)])
print(f"C = 0.001: test accuracy {readable.score(X_test, y_test):.2%}")

# %%
# Pixel correlations
# ------------------
# Neighbouring pixels are strongly correlated: that is why a linear model on raw pixels stops
# near 92%, and why feature maps (``mnist-logreg train --features accurate``: 99.2%) help.
correlation = plots.pixel_correlation(X)
