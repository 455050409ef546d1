"""The docs' ``explain.png``: ``mnist-logreg predict --explain`` on three test digits (a 7, a 2,
and a 5 that looks like a 6), as a user runs it, with the shipped default model.

    python examples/explain_figure.py docs/images/explain.png
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

from mnist_logreg import load_mnist


def main(out: str) -> None:
    data = load_mnist()
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in (0, 1, 8):
            path = Path(tmp) / f"t{i}.png"
            Image.fromarray(255 - data.X_test[i].reshape(28, 28)).resize((140, 140)).save(path)
            paths.append(str(path.name))
        subprocess.run([sys.executable, "-m", "mnist_logreg", "predict", *paths, "--explain",
                        str(Path(out).resolve())], cwd=tmp, check=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "explain.png")
