# The two set-up commands of the README:
#   make run    the main job on the bundled data (creates .venv if missing)
#   make test   the test suite (creates .venv, installs test tools and Chromium if missing)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test bench gallery notebook clean chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	# torch is pinned to the CPU wheel (any other version pulls GBs of CUDA packages)
	$(PIP) install -e ".[test,web,gpu,dask]"
	rm -f $(VENV)/.installed-*
	touch $@

# the summary line of train comes last, as the README says; the run folder holds grid.png (the
# first training digits) with the other figures
run: $(STAMP)
	$(BIN)/mnist-logreg data info
	MPLBACKEND=Agg $(BIN)/mnist-logreg train --out runs/latest

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; }

test: $(STAMP) chromium
	$(BIN)/ruff check src tests benchmarks examples
	# one BLAS thread per pytest worker: two workers on two cores, no spinning BLAS threads
	# oversubscribing them (OpenBLAS then slows small eigh/gemm calls a hundredfold)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MPLBACKEND=Agg $(BIN)/python -m pytest -n 2 -q

bench: $(STAMP)
	$(PIP) install -e ".[bench]"
	$(BIN)/python benchmarks/bench_fit.py
	$(BIN)/python benchmarks/bench_features.py

GALLERY := confusion_matrix_normalized coefficients misclassified pixel_correlation grid mean_images
gallery: $(STAMP)
	MPLBACKEND=Agg $(BIN)/mnist-logreg train --out runs/gallery --quiet
	mkdir -p docs/images
	for f in $(GALLERY); do cp runs/gallery/$$f.png docs/images/; done

# the notebook is stored without outputs; this writes an executed copy to runs/notebook/
notebook: $(STAMP)
	mkdir -p runs/notebook
	MPLBACKEND=Agg $(BIN)/python examples/make_notebook.py --execute runs/notebook/mnist_logistic_regression.ipynb

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
