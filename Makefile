# The two set-up commands of the README:
#   make run    the main job on the bundled data (creates .venv if missing)
#   make test   the test suite (creates .venv, installs test tools and Chromium if missing)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUM := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
CORE := $(VENV)/.core-$(SUM)
FULL := $(VENV)/.full-$(SUM)
DOCS := $(VENV)/.docs-$(SUM)
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test docs bench gallery notebook lab clean chromium

# the main job needs only the core dependencies (numpy, scipy, scikit-learn, matplotlib, Pillow...)
$(CORE): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e .
	rm -f $(VENV)/.core-*
	touch $@

# the tests need every extra they exercise: the web app, Dask, torch (its CPU path) and the
# documentation build. torch is pinned: on this project's machines torch==2.13.0 is the CPU
# wheel; elsewhere see docs/getting-started.md for PyTorch's CPU index
$(FULL): $(CORE)
	$(PIP) install -e ".[test,web,gpu,dask,docs]"
	rm -f $(VENV)/.full-*
	touch $@

$(DOCS): $(CORE)
	$(PIP) install -e ".[docs]"
	rm -f $(VENV)/.docs-*
	touch $@

# the summary line of train comes last, as the README says; the run folder holds grid.png (the
# first training digits) with the other figures
run: $(CORE)
	$(BIN)/mnist-logreg data info
	MPLBACKEND=Agg $(BIN)/mnist-logreg train --out runs/latest

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; }

test: $(FULL) chromium
	$(BIN)/ruff check src tests benchmarks examples docs
	$(BIN)/mypy
	# one BLAS thread per pytest worker: two workers on two cores, no spinning BLAS threads
	# oversubscribing them (OpenBLAS then slows small eigh/gemm calls a hundredfold)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MPLBACKEND=Agg $(BIN)/python -m pytest -n 2 -q

bench: $(FULL)
	$(PIP) install -e ".[bench]"
	$(BIN)/python benchmarks/bench_fit.py
	$(BIN)/python benchmarks/bench_features.py

# the figures of a full run, then screenshots of the draw-a-digit page (laptop and phone) and of the
# run's report (examples/screenshots.py: serves the run's model, drives headless Chromium), which need
# the web and test extras (fastapi, uvicorn, playwright) and Chromium
GALLERY := confusion_matrix_normalized coefficients misclassified pixel_correlation grid mean_images
gallery: $(CORE) chromium
	$(PIP) install -e ".[web,test]"
	MPLBACKEND=Agg $(BIN)/mnist-logreg train --out runs/gallery --quiet
	mkdir -p docs/images
	for f in $(GALLERY); do cp runs/gallery/$$f.png docs/images/; done
	$(BIN)/python examples/screenshots.py runs/gallery docs/images
	MPLBACKEND=Agg $(BIN)/python examples/explain_figure.py docs/images/explain.png

# the notebook is stored without outputs; this writes an executed copy to runs/notebook/
notebook: $(CORE)
	$(PIP) install -e ".[notebook]"
	mkdir -p runs/notebook
	MPLBACKEND=Agg $(BIN)/python examples/make_notebook.py --execute runs/notebook/mnist_logistic_regression.ipynb

# the documentation site, built offline into docs/_build/html (warnings are errors)
docs: $(DOCS)
	cd docs && MPLBACKEND=Agg ../$(BIN)/sphinx-build -W --keep-going -q -b html . _build/html
	@echo "open docs/_build/html/index.html"

# JupyterLab on the example notebook (installs the notebook extra); prints the URL to open
lab: $(CORE)
	$(PIP) install -e ".[notebook]"
	$(BIN)/jupyter lab --no-browser --ServerApp.open_browser=False examples/mnist_logistic_regression.ipynb

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache docs/_build docs/tutorial docs/generated
