"""Dask benchmark: fits on augmented digits on a local cluster, mnist-logreg beside dask-ml.

Data: ``N`` augmented digits (``mnist-logreg data augment``: the 60,000 originals, then seeded
distorted copies) in a Zarr store, read lazily by the workers. Each configuration runs in its own
process with its own ``LocalCluster`` (workers limited to ``--worker-memory``, 4 GiB by default).

- Same objective for both libraries: dask-ml's ``LogisticRegression`` is binary only and
  penalises its intercept, so the shared problem is "is it a 2" without intercept,
  ``sum_i logloss + 0.5 / C ||w||^2`` with C = 1 on pixels / 255. The reference optimum ``F*``
  is a float64 in-memory fit run to tol = 1e-8; each configuration's gap is recomputed here in
  float64 chunk by chunk, independently of both libraries.
- Time per gradient pass: the mean of 5 passes (value and gradient) after a warm-up.
- Peak memory per worker: the largest ru_maxrss among the workers.
- Accuracy gained by augmentation: the softmax (10 digits) on the N augmented digits against the
  same model on the 60,000 originals, both scored on the 10,000 test digits; on pixels, and on a
  feature map (``--features``, the ``poly`` preset by default: fitted on 20,000 rows spread over
  the data, then made chunk by chunk on the workers).

    python benchmarks/bench_dask.py --n 200000           # the table (bench extra: dask-ml)
    python benchmarks/bench_dask.py --n 1000000 --store /tmp/augmented_1m
    python benchmarks/bench_dask.py --n 1000000 --only lbfgs --binary-features deskew   # beside dask-ml on features
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

C = 1.0
DIGIT = 2


def _peak_worker_mb(client) -> float:
    rss = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return max(rss.values()) / 1024


def _binary(store, features: str | None = None):
    """(what the fits take, the same as float64 for the objective, targets, dask.array): the pixels
    (uint8; the model sees x / 255), or with ``features`` the feature map made chunk by chunk
    (fitted on 20,000 rows spread over the store, as ``train`` does), float32, divided by 255 (a
    pixel-valued map such as deskew then has the pixels' scale)."""
    import dask.array as da

    X = store.images
    y = (store.labels == DIGIT).astype(np.float64)
    if features is None:
        return X, X.astype(np.float64) / 255.0, y, da
    from mnist_logreg.features import make_feature_map
    from mnist_logreg.features.chunks import fit_on_sample, transform_chunks

    feature_map = make_feature_map(features, random_state=0)
    fit_on_sample(feature_map, X, store.labels)
    # / 255: a pixel-valued map (deskew) on the pixels' scale, the same conditioning as x / 255
    F = (transform_chunks(feature_map, X) / np.float32(255)).astype(np.float32)
    return F, F.astype(np.float64), y, da


def objective(beta: np.ndarray, Xf, y) -> float:
    """sum_i logloss(y_i, x_i . beta) + 0.5 / C ||beta||^2 in float64, chunk by chunk."""
    import dask.array as da

    z = Xf @ beta
    loss = da.logaddexp(0.0, z) - y * z
    return float(loss.sum().compute()) + 0.5 / C * float(beta @ beta)


def run_one(cfg: dict) -> dict:
    from mnist_logreg._chunks import dask_client
    from mnist_logreg.datasets.augment import open_augmented

    warnings.simplefilter("ignore")
    out: dict = {}
    with dask_client(workers=cfg["workers"], memory_limit=cfg["worker_memory"]) as client:
        store = open_augmented(cfg["store"])
        X, Xf, y, da = _binary(store, cfg.get("binary_features"))
        if cfg["binary_features"] is not None and cfg["lib"] == "dask-ml":
            # the features, made once on the workers (float32) for dask-ml, which reads X each pass; our
            # fit makes them once per chunk itself as it builds the chunks' losses (persisting them here
            # too would hold them twice)
            X = X.persist()
        if cfg["lib"] == "ours":
            from mnist_logreg import LogisticRegression

            model = LogisticRegression(C=C, fit_intercept=False, tol=cfg.get("tol", 6e-4))
            t0 = time.perf_counter()
            model.fit(X, y)
            out["fit_s"] = time.perf_counter() - t0
            out["evals"] = model.n_evals_
            # acts on x / 255 for pixels (scale_ 1/255) or on the features, as dask-ml's does
            beta = model.coef_[0].astype(np.float64)
            # time per gradient pass, on the chunks the fit persisted
            from mnist_logreg.linear._dask import chunked_losses
            from mnist_logreg.linear._penalties import make_penalty

            active = np.arange(X.shape[1])
            (loss,) = chunked_losses(X, y.astype(np.int64), da.ones(X.shape[0], chunks=X.chunks[0]), active=active,
                                     offset=model.offset_, scale=model.scale_,
                                     dtype="float32", penalty=make_penalty(C), fit_intercept=False, n_classes=2,
                                     one_vs_rest=False)
            theta = loss.initial()
            loss.value_grad(theta)
            t0 = time.perf_counter()
            for _ in range(5):
                loss.value_grad(theta)
            out["pass_s"] = (time.perf_counter() - t0) / 5
        elif cfg["lib"] == "dask-ml":
            from dask_glm.families import Logistic
            from dask_ml.linear_model import LogisticRegression as DaskLR

            # dask-ml works on float64 pixels, kept on the workers as it needs; features stay float32
            # (products with its float64 coefficients are float64), 6.3 GB in float64 at 1M digits
            Xp = X if cfg["binary_features"] is not None else Xf.persist()
            yp = y.persist()
            # normalize=False: by default dask-glm standardises the columns before the solve, so its
            # penalty acts on other coefficients and the objective is not the one compared here
            model = DaskLR(C=C, fit_intercept=False, solver="lbfgs", max_iter=cfg["max_iter"], tol=cfg["tol"],
                           solver_kwargs={"normalize": False})
            t0 = time.perf_counter()
            model.fit(Xp, yp)
            out["fit_s"] = time.perf_counter() - t0
            out["evals"] = None
            beta = np.asarray(model.coef_, dtype=np.float64).ravel()
            b = np.zeros(X.shape[1])
            t0 = time.perf_counter()
            for _ in range(5):
                import dask

                dask.compute(Logistic.pointwise_loss(b, Xp, yp), Logistic.pointwise_gradient(b, Xp, yp))
            out["pass_s"] = (time.perf_counter() - t0) / 5
        elif cfg["lib"] == "ours-features":
            from sklearn.pipeline import Pipeline

            from mnist_logreg import LogisticRegression, load_mnist
            from mnist_logreg._chunks import is_dask_collection
            from mnist_logreg.features import linear_scaling, make_feature_map, preset_C
            from mnist_logreg.features.chunks import fit_on_sample, transform_chunks

            data = load_mnist()
            spec, C_f = cfg["features"], preset_C(cfg["features"]) or 1.0

            def model_on(X, y):
                feature_map = make_feature_map(spec, random_state=0)
                linear = LogisticRegression(C=C_f, scaling=linear_scaling(spec))
                if is_dask_collection(X):  # features fitted on a sample, made chunk by chunk on the workers
                    fit_on_sample(feature_map, X, y)
                    linear.fit(transform_chunks(feature_map, X), y)
                else:
                    linear.fit(feature_map.fit_transform(X, y), y)
                return Pipeline([*feature_map.steps, ("logreg", linear)]), linear

            t0 = time.perf_counter()
            model, linear = model_on(store.images, store.labels)
            out["fit_s"] = time.perf_counter() - t0
            out["evals"] = linear.n_evals_
            # time per gradient pass: the fit's loss on its features, rebuilt and persisted as the fit does
            from mnist_logreg.linear._dask import chunked_losses
            from mnist_logreg.linear._penalties import make_penalty

            F = transform_chunks(Pipeline(model.steps[:-1]), store.images)
            active = np.arange(F.shape[1])
            (loss,) = chunked_losses(F, store.labels.astype(np.int64), da.ones(F.shape[0], chunks=F.chunks[0]),
                                     active=active, offset=np.broadcast_to(linear.offset_, active.shape),
                                     scale=np.broadcast_to(linear.scale_, active.shape), dtype="float32",
                                     penalty=make_penalty(C_f), fit_intercept=True, n_classes=10, one_vs_rest=False)
            theta = loss.initial()
            loss.value_grad(theta)
            t0 = time.perf_counter()
            for _ in range(3):
                loss.value_grad(theta)
            out["pass_s"] = (time.perf_counter() - t0) / 3
            out["test_accuracy"] = model.score(data.X_test, data.y_test)
            out["originals_accuracy"] = model_on(data.X_train, data.y_train)[0].score(data.X_test, data.y_test)
            beta = None
        elif cfg["lib"] == "ours-softmax":
            from mnist_logreg import LogisticRegression, load_mnist

            data = load_mnist()
            t0 = time.perf_counter()
            model = LogisticRegression().fit(store.images, store.labels)
            out["fit_s"] = time.perf_counter() - t0
            out["evals"] = model.n_evals_
            out["test_accuracy"] = model.score(data.X_test, data.y_test)
            out["originals_accuracy"] = LogisticRegression().fit(data.X_train, data.y_train).score(
                data.X_test, data.y_test)
            beta = None
        out["peak_worker_mb"] = _peak_worker_mb(client)
        if beta is not None:
            out["objective"] = objective(beta, Xf, y)
    out["peak_client_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def reference(store_path: str, features: str | None = None) -> float:
    """F*: float64 in-memory fit to tol 1e-8 (the whole store, or its features, in this process's memory)."""
    import dask

    from mnist_logreg import LogisticRegression
    from mnist_logreg.datasets.augment import open_augmented

    store = open_augmented(store_path)
    with dask.config.set(scheduler="threads"):
        X, _, y, _ = _binary(store, features)
        X, y = X.compute(), y.compute().astype(np.int64)
    model = LogisticRegression(C=C, fit_intercept=False, dtype="float64", tol=1e-8).fit(X, y)
    beta = model.coef_[0].astype(np.float64)  # acts on x / 255 for pixels, on the features as they are
    z = (X / 255.0) @ beta if features is None else X.astype(np.float64) @ beta
    return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 / C * beta @ beta)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000, help="augmented digits (default 200000)")
    parser.add_argument("--store", help="the Zarr store (written if missing; default /tmp/mnist_augmented_N)")
    parser.add_argument("--worker-memory", default="4GiB")
    parser.add_argument("--only", help="run the configurations whose name contains this text")
    parser.add_argument("--features", default="poly",
                        help="feature spec or preset of the softmax-with-features configuration (default poly)")
    parser.add_argument("--binary-features", metavar="SPEC",
                        help="the binary problem (ours beside dask-ml) on this pixel-valued feature map "
                             "(deskew) / 255, made chunk by chunk and persisted as float32, instead of pixels / 255")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return
    store = args.store or f"/tmp/mnist_augmented_{args.n}"
    if not Path(store).exists():
        from mnist_logreg import load_mnist
        from mnist_logreg.datasets.augment import augment

        data = load_mnist()
        t0 = time.perf_counter()
        augment(data.X_train, data.y_train, args.n, store, seed=0, source_checksums=data.checksums)
        print(f"wrote {args.n} augmented digits to {store} in {time.perf_counter() - t0:.0f} s")
    common = {"store": store, "worker_memory": args.worker_memory, "binary_features": args.binary_features}
    configs = {
        "ours lbfgs, 1 worker": {"lib": "ours", "workers": 1},
        "ours lbfgs, 2 workers": {"lib": "ours", "workers": 2},
        "dask-ml lbfgs, 2 workers (tol 1e-4, max_iter 100, its defaults)": {
            "lib": "dask-ml", "workers": 2, "tol": 1e-4, "max_iter": 100},
        "dask-ml lbfgs, 2 workers (tol 1e-10, max_iter 300)": {
            "lib": "dask-ml", "workers": 2, "tol": 1e-10, "max_iter": 300},
        "ours softmax (10 digits), 2 workers": {"lib": "ours-softmax", "workers": 2},
        f"ours softmax on features {args.features}, 1 worker": {"lib": "ours-features", "workers": 1,
                                                                "features": args.features},
        f"ours softmax on features {args.features}, 2 workers": {"lib": "ours-features", "workers": 2,
                                                                 "features": args.features},
    }
    selected = {name: cfg for name, cfg in configs.items() if not args.only or args.only in name}
    f_star = None
    if any(cfg["lib"] in ("ours", "dask-ml") for cfg in selected.values()):  # the binary problem's optimum
        t0 = time.perf_counter()
        f_star = reference(store, args.binary_features)
        print(f"F* = {f_star:.10g} (float64 in memory, tol 1e-8, {time.perf_counter() - t0:.0f} s)")
    on = "x/255" if args.binary_features is None else f"features {args.binary_features} / 255 (float32)"
    print(f"\n{args.n} augmented digits, binary 'is it a {DIGIT}' without intercept, C = {C}, {on}; workers "
          f"limited to {args.worker_memory}")
    print(f"{'configuration':<66} {'fit s':>8} {'pass s':>8} {'gap':>9} {'evals':>6} {'worker MB':>10}")
    for name, cfg in selected.items():
        proc = subprocess.run([sys.executable, __file__, "--one", json.dumps({**cfg, **common})],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{name:<66} failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else '?'}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        gap = (r["objective"] - f_star) / f_star if "objective" in r and f_star else None
        print(f"{name:<66} {r['fit_s']:8.1f} {r.get('pass_s', float('nan')):8.3f} "
              f"{'' if gap is None else f'{gap:9.1e}'} {r['evals'] or '':>6} {r['peak_worker_mb']:10.0f}")
        if "test_accuracy" in r:
            print(f"    test accuracy {r['test_accuracy']:.4f} on {args.n} augmented digits against "
                  f"{r['originals_accuracy']:.4f} on the 60,000 originals")


if __name__ == "__main__":
    main()
