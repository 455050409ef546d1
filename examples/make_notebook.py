"""Runs the notebook built from the cells below, or (for developers) rewrites the stored one.

``make notebook`` runs ``python examples/make_notebook.py --execute OUT``: the notebook is built
from the cells, executed, and the copy with outputs written to OUT; the stored
``mnist_logistic_regression.ipynb`` (where a learner may have made edits) is not touched.
Developers who change the cells here run ``--write-source`` to rewrite the stored notebook
(without outputs); it refuses to overwrite a stored notebook that holds outputs (someone ran
and saved it) unless ``--force`` is given. ``tests/test_notebook.py`` checks that the stored
notebook's cells are the generator's.
"""

from pathlib import Path

import nbformat

CELLS = [
    ("md", """# Logistic regression on MNIST, step by step

This notebook follows the classic *MNIST + logistic regression* tutorials with the `mnist_logreg`
library: load the digits, look at them, shuffle and split, then fit a binary "is it a 2" classifier,
a 0-vs-1 classifier, softmax and one-vs-rest models and SGD, evaluate them, and finally read a digit
from your own image.

To keep it quick, most fits use a subset of the 60,000 training digits; set `N_TRAIN = 60000` for
the full data (about 10 seconds per softmax fit on 2 cores)."""),
    ("code", """%matplotlib inline
import numpy as np

import mnist_logreg
from mnist_logreg import LogisticRegression, SGDLogisticRegression, load_mnist, plots
from mnist_logreg.evaluation import cross_validate, evaluate, misclassified
from mnist_logreg.tasks import binary_target, pair_subset, shuffle, stratified_subsample

N_TRAIN = 10_000  # digits used for the fits below
print("mnist_logreg", mnist_logreg.__version__)"""),
    ("md", """## 1. Load the data

A bit-exact copy of MNIST ships with the package, so this works offline. The same call can fetch
from OpenML by name (`load_mnist("openml", name="mnist_784", version=1)`) **or** by id
(`load_mnist("openml", data_id=554)`) — never both — or the original IDX files from mirrors
(`load_mnist("idx")`); downloads are checksummed and cached."""),
    ("code", """data = load_mnist()  # source="bundled"
print(data.X_train.shape, data.X_train.dtype, data.y_train.shape, data.y_train.dtype)
print(data.X_test.shape, data.y_test.shape)
print("published MD5 checksums match:", data.checksums["train-images"] == "6bbc9ace898e44ae57da46a324031adb")"""),
    ("md", """## 2. Look at a digit

Each row of `X` holds 784 pixel values (0 = background, 255 = ink). Reshaped to 28x28 it is an image."""),
    ("code", """digit = data.X_train[36001]
print("label:", data.y_train[36001])
plots.digit_figure(digit.reshape(28, 28), f"train[36001]: label {data.y_train[36001]}")"""),
    ("code", """plots.digit_grid(data.X_train[:50], data.y_train[:50], rows=5, cols=10, title="The first 50 training digits")"""),
    ("md", """Neighbouring pixels are strongly correlated (strokes are several pixels wide), and the border
pixels are almost always 0 — which is why the pixel-correlation heatmap has a grid pattern and
blank stripes."""),
    ("code", """plots.pixel_correlation(data.X_train)"""),
    ("md", """## 3. Shuffle and split

MNIST comes split already: the first 60,000 images for training, the last 10,000 for testing.
The training set is ordered in a way that can hurt methods which see it in order (SGD, k-fold
cross-validation), so we shuffle it with a seeded numpy generator: the same seed gives the same
order, every time."""),
    ("code", """X_train, y_train = shuffle(data.X_train, data.y_train, random_state=42)
X_test, y_test = data.X_test, data.y_test
X_sub, y_sub = stratified_subsample(X_train, y_train, N_TRAIN, random_state=0)
print(np.bincount(y_sub))"""),
    ("md", """## 4. A binary classifier: "is it a 2?"

Logistic regression models the probability of the positive class with the logistic (sigmoid)
function of a linear score: $p(y=1\\mid x) = \\sigma(w^\\top x + b)$, $\\sigma(z) = 1/(1+e^{-z})$.
Fitting minimises the log loss over the training digits plus an L2 penalty
$\\tfrac{1}{2C}\\lVert w\\rVert^2$ that keeps the weights small (smaller `C` = stronger penalty).
The model scales pixels to $[0, 1]$ itself, and applies the same scaling when it predicts."""),
    ("code", """is_two = LogisticRegression(C=1.0).fit(X_sub, binary_target(y_sub, 2))
print("iterations:", is_two.n_iter_, "converged:", is_two.converged_)
print("test accuracy:", is_two.score(X_test, binary_target(y_test, 2)))
print("share of non-2s (what 'always no' would score):", 1 - binary_target(y_test, 2).mean())"""),
    ("md", """## 5. Zero versus one

Keeping only two digits makes an easy problem: almost every 0 and 1 is separable by a linear score."""),
    ("code", """X01, y01 = pair_subset(X_sub, y_sub, 0, 1)
X01_test, y01_test = pair_subset(X_test, y_test, 0, 1)
zero_one = LogisticRegression().fit(X01, y01)
print("classes:", zero_one.classes_, "test accuracy:", zero_one.score(X01_test, y01_test))"""),
    ("md", """## 6. Ten classes: softmax and one-vs-rest

*Softmax* (multinomial) regression gives each digit $k$ a score $w_k^\\top x + b_k$ and turns the
scores into probabilities with $p_k = e^{z_k} / \\sum_j e^{z_j}$; all ten weight vectors are fitted
together. *One-vs-rest* fits ten independent "is it a $k$" models and predicts the most confident one."""),
    ("code", """softmax = LogisticRegression(multiclass="multinomial").fit(X_sub, y_sub)
ovr = LogisticRegression(multiclass="ovr").fit(X_sub, y_sub)
print(f"softmax: {softmax.score(X_test, y_test):.4f} ({softmax.fit_time_:.1f} s)")
print(f"one-vs-rest: {ovr.score(X_test, y_test):.4f} ({ovr.fit_time_:.1f} s)")"""),
    ("md", """### Why convergence matters

An optimiser stopped early returns *some* weights, not the minimiser of the objective you asked
for: results then depend on the solver, its tolerance and the iteration limit rather than on the
model. `mnist_logreg` stops only when the estimated suboptimality is below `tol` (relative), and
warns otherwise. The fit history shows the objective falling to its minimum:"""),
    ("code", """plots.training_curve(softmax.history_, softmax.score(X_test, y_test))"""),
    ("md", """## 7. SGD with log loss

Stochastic gradient descent updates the weights from small batches of digits. It is cheap per
step and can learn from a stream (`partial_fit`), but only approaches the optimum."""),
    ("code", """sgd = SGDLogisticRegression(alpha=1 / len(y_sub), max_iter=5, random_state=0).fit(X_sub, y_sub)
print("SGD test accuracy:", sgd.score(X_test, y_test))

stream = SGDLogisticRegression(random_state=0)
for start in range(0, len(y_sub), 2000):  # five chunks, as if they arrived one by one
    stream.partial_fit(X_sub[start:start + 2000], y_sub[start:start + 2000], classes=np.arange(10))
print("after one pass over the stream:", stream.score(X_test, y_test))"""),
    ("md", """## 8. Evaluate: accuracy, classification report, confusion matrix"""),
    ("code", """y_pred = softmax.predict(X_test)
result = evaluate(y_test, y_pred, class_names=[str(d) for d in range(10)])
print("accuracy:", result["accuracy"])
print(result["report_text"])"""),
    ("code", """plots.confusion_matrix_figure(np.array(result["confusion_matrix"]), [str(d) for d in range(10)], normalize=True)"""),
    ("md", """## 9. Cross-validation

k-fold cross-validation fits the model k times, each time holding out a different fifth of the
training data, and reports the accuracy on the held-out part: an estimate of test accuracy that
does not touch the test set."""),
    ("code", """cv = cross_validate(LogisticRegression(), X_sub[:3000], y_sub[:3000], k=5)
print(f"5-fold accuracy: {cv['mean']:.4f} ± {cv['std']:.4f}", np.round(cv["scores"], 4))"""),
    ("md", """## 10. Misclassified digits

The most confident mistakes are worth a look: some are genuinely ambiguous, a few are mislabelled."""),
    ("code", """proba = softmax.predict_proba(X_test)
wrong = misclassified(y_test, y_pred, proba, limit=20)
labels = [f"true {t}\\npred {p} {c:.0%}" for t, p, c in zip(wrong["true"], wrong["pred"], wrong["confidence"])]
plots.digit_grid(X_test[wrong["index"]], labels, cols=10, title="Misclassified test digits")"""),
    ("md", """## 11. Coefficient images

Each class has one weight per pixel; shown as a 28x28 image, red pixels are evidence *for* the
digit and blue ones *against* it. The model has learnt rough templates of the digits."""),
    ("code", """plots.coefficient_images(softmax.coef_, [str(d) for d in range(10)])"""),
    ("md", """### Why do the images at C = 1 look like noise? The regularisation path

`C` sets how much the penalty $\\tfrac{1}{2C}\\lVert w\\rVert^2$ counts. Fit the same model at
several `C` (each fit starts from the previous one's solution, so the whole path is cheap) and
look at accuracy and coefficients side by side: a strong penalty (small `C`) keeps the weights
small and smooth, and they look like digit templates; a weak one lets single pixels take large
weights that fit the training digits, so train accuracy runs ahead of test accuracy and the images
turn to noise. On the command line: `mnist-logreg train --C 0.001,0.01,0.1,1,10` (it picks `C` on a
held-out tenth of the training digits). With `penalty="l1"` many weights become exactly 0."""),
    ("code", """from mnist_logreg.evaluation import regularisation_path

rows, coefs = regularisation_path(LogisticRegression(), X_sub, y_sub, [0.001, 0.01, 0.1, 1.0],
                                  {"test": (X_test, y_test)})
for r in rows:
    print(f"C = {r['C']:<6g} train {r['train_accuracy']:.4f}  test {r['test_accuracy']:.4f}")
plots.regularisation_path(rows, coefs, [str(d) for d in range(10)])"""),
    ("md", """## 12. Predict your own image

A photo or drawing of a digit is not like MNIST: dark ink on light paper, any size, off-centre.
`preprocess_image` turns it into the 28x28, white-on-black, size-normalised and centred form the
model expects. Here we make such an image from a test digit (on the command line:
`mnist-logreg predict my_digit.png`)."""),
    ("code", """import tempfile
from pathlib import Path

from PIL import Image
from mnist_logreg import preprocess_image

paper = Image.fromarray(255 - X_test[0].reshape(28, 28)).resize((300, 300))
canvas = Image.new("L", (420, 380), 255)
canvas.paste(paper, (90, 20))
my_digit = Path(tempfile.mkdtemp(prefix="mnist-logreg-")) / "my_digit.png"  # not in your working folder
canvas.save(my_digit)
print("saved", my_digit, "- try yours: preprocess_image('path/to/your_photo.jpg')")

seen = preprocess_image(my_digit)
print("the model reads:", softmax.predict(seen.reshape(1, -1))[0], "(true label:", y_test[0], ")")
# digit_grid draws ink dark on light (MNIST's white-on-black, inverted): give it the photo inverted
# too, so that it shows as it is, dark ink on white paper
plots.digit_grid(np.stack([255 - np.asarray(canvas.resize((28, 28))), seen]), ["your image", "what the model sees"],
                 cols=2)"""),
]


def build() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, text in CELLS:
        nb.cells.append(nbformat.v4.new_markdown_cell(text) if kind == "md" else nbformat.v4.new_code_cell(text))
    return nb


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--execute", metavar="OUT", help="run it and write the executed copy to OUT")
    parser.add_argument("--write-source", action="store_true",
                        help="rewrite the stored notebook from the cells (developers)")
    parser.add_argument("--force", action="store_true", help="with --write-source: even over edits or outputs")
    args = parser.parse_args()
    path = Path(__file__).with_name("mnist_logistic_regression.ipynb")
    nb = build()
    if args.write_source:
        if path.exists() and not args.force:
            stored = nbformat.read(path, as_version=4)
            has_outputs = any(c.get("outputs") for c in stored.cells if c.cell_type == "code")
            if has_outputs:
                raise SystemExit(f"{path} holds outputs (someone ran and saved it): not overwritten; "
                                 "use --force to replace it")
        nbformat.write(nb, path)
        print(f"wrote {path}")
    if args.execute:
        import nbclient

        out = Path(args.execute)
        nbclient.NotebookClient(nb, timeout=600, resources={"metadata": {"path": str(out.parent)}}).execute()
        nbformat.write(nb, out)
        print(f"wrote {out} (executed)")
