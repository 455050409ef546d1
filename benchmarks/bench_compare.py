"""Same-run speed ratio of two versions of the package: does a change slow the fit down?

Each configuration runs in its own process, alternating between the two versions (A, B, A, B,
...) so that both see the same machine load; the table gives each version's median fit time
and their ratio. A version is a git revision, checked out into a temporary worktree.

    python benchmarks/bench_compare.py e26aad8 HEAD            # the default configurations
    python benchmarks/bench_compare.py e26aad8 HEAD --rounds 7

The configurations: the default softmax fit (lbfgs, float32) on all 60,000 training digits,
one-vs-rest on 20,000, L1 on 10,000, and the whole ``train`` job (without figures) on 10,000.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CONFIGS = {
    "softmax lbfgs float32, 60,000 digits": "fit:softmax:60000",
    "one-vs-rest lbfgs float32, 20,000 digits": "fit:ovr:20000",
    "L1 softmax (OWL-QN), C=0.1, 10,000 digits": "fit:l1:10000",
    "train job (no figures), 10,000 digits": "train::10000",
}

CHILD = r"""
import json, sys, tempfile, time
kind, model, n = sys.argv[1].split(":")
n = int(n)
from mnist_logreg import LogisticRegression, load_mnist
from mnist_logreg.tasks import stratified_subsample
data = load_mnist()
if kind == "fit":
    X, y = stratified_subsample(data.X_train, data.y_train, n, random_state=0)
    params = {"softmax": {}, "ovr": {"multiclass": "ovr"}, "l1": {"penalty": "l1", "C": 0.1}}[model]
    t0 = time.perf_counter()
    est = LogisticRegression(**params).fit(X, y)
    print(json.dumps({"s": time.perf_counter() - t0, "objective": est.objective_}))
else:
    from mnist_logreg.pipeline import TrainOptions, train
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        m = train(TrainOptions(train_size=n, figures=False), out=tmp + "/run", data=data)
        print(json.dumps({"s": time.perf_counter() - t0, "objective": m["fit"]["objective"]}))
"""


def _worktree(rev: str, into: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(into), rev], check=True)
    return into / "src"


def _run(src: Path, config: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}
    out = subprocess.run([sys.executable, "-c", CHILD, config], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", help="the reference revision (e.g. the commit before a change)")
    parser.add_argument("b", help="the revision compared with it (e.g. HEAD)")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each configuration per revision")
    parser.add_argument("--only", metavar="WORDS", help="only the configurations whose name holds WORDS")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {}
        try:
            trees = {rev: _worktree(rev, Path(tmp) / f"v{i}") for i, rev in enumerate((args.a, args.b))}
            print(f"{'configuration':45s} {args.a:>10s} {args.b:>10s}  ratio  objective (rel. difference)")
            for name, config in CONFIGS.items():
                if args.only and args.only not in name:
                    continue
                times: dict[str, list[float]] = {rev: [] for rev in trees}
                objectives: dict[str, float] = {}
                for _ in range(args.rounds):
                    for rev, src in trees.items():  # alternating: both see the same load
                        r = _run(src, config)
                        times[rev].append(r["s"])
                        objectives[rev] = r["objective"]
                ta, tb = (statistics.median(times[rev]) for rev in (args.a, args.b))
                oa, ob = objectives[args.a], objectives[args.b]
                print(f"{name:45s} {ta:9.2f}s {tb:9.2f}s  {tb / ta:5.2f}  {abs(ob - oa) / abs(oa):.1e}", flush=True)
        finally:
            for i in range(len(trees)):
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(Path(tmp) / f"v{i}")],
                               check=False)


if __name__ == "__main__":
    main()
