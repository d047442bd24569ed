# autodiff-course: environment, JupyterLab, tests.  `make help` lists targets.
# GNU make; recipes run in bash with -e -u -o pipefail.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON      ?= python3
VENV        := $(CURDIR)/.venv
VENV_PY     := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
BUILD       := $(CURDIR)/build
PYTEST      := $(VENV_PY) -m pytest
PYTEST_ARGS ?=
NBVAL_ARGS  ?=
PORT        ?= 8888

# Keep every Jupyter / IPython / matplotlib config and runtime dir inside build/
# (gitignored), for every recipe. JUPYTER_PATH is left alone so that what is
# installed into the venv (sys-prefix: nbgrader's extensions, kernels) stays visible.
export JUPYTER_CONFIG_DIR  := $(BUILD)/jupyter/config
export JUPYTER_DATA_DIR    := $(BUILD)/jupyter/data
export JUPYTER_RUNTIME_DIR := $(BUILD)/jupyter/runtime
export IPYTHONDIR          := $(BUILD)/ipython
export MPLCONFIGDIR        := $(BUILD)/matplotlib
export JUPYTER_PLATFORM_DIRS := 1
# silences debugpy's "frozen modules" warning when kernels start
export PYDEVD_DISABLE_FILE_VALIDATION := 1

# The lessons are stored with their outputs, which nbval compares to the last
# digit. NumPy and OpenBLAS pick their kernels by CPU (AVX-512 ones round a few
# results differently from AVX2 ones), so on x86-64 machines with AVX2 the
# lessons, the tests and JupyterLab all use the AVX2 kernels: the same digits on
# every such machine. `make bench` keeps each machine's fastest kernels.
ifneq ($(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo && echo yes),)
SAME_DIGITS := OPENBLAS_CORETYPE=Haswell NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR"
else
SAME_DIGITS :=
endif

NOTEBOOKS := $(wildcard notebooks/*.ipynb)
SANITIZE  := $(wildcard notebooks/sanitize.cfg)

.PHONY: help setup graphviz browser-deps lab formgrader test notebooks bench lock clean distclean

help: ## list the targets
	@echo "usage: make TARGET [PORT=8888] [PYTEST_ARGS='...'] [NBVAL_ARGS='...'] [NB=notebook] [BENCH_ARGS=--quick]"
	@echo
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z]+):.*## /  \1\t/' | expand -t 14

setup: $(STAMP) graphviz ## create .venv, install the project (when pyproject.toml or constraints.txt changed), ensure Graphviz
	@mkdir -p "$(JUPYTER_CONFIG_DIR)" "$(JUPYTER_DATA_DIR)" "$(JUPYTER_RUNTIME_DIR)" "$(IPYTHONDIR)" "$(MPLCONFIGDIR)"

$(VENV_PY):
	$(PYTHON) -m venv "$(VENV)"

$(STAMP): pyproject.toml constraints.txt | $(VENV_PY)
	"$(VENV_PY)" -m pip install -c constraints.txt -e .
	@touch "$@"

constraints.txt:
	@echo "constraints.txt is missing: run 'make lock' to create it" >&2; exit 1

graphviz: # Graphviz's `dot` renders the computation graphs (python package graphviz)
	@if ! command -v dot >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Graphviz 'dot' not found: installing Debian's graphviz"; \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y graphviz; \
	  else \
	    echo "error: Graphviz's 'dot' is not on PATH. Install it, then run make again:" >&2; \
	    echo "  Debian/Ubuntu: sudo apt-get install graphviz" >&2; \
	    echo "  macOS:         brew install graphviz" >&2; \
	    exit 1; \
	  fi; \
	fi

browser-deps: # headless Chromium and its WebDriver for the browser tests (tests/browser/, marker `browser`)
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "chromium / chromedriver not found: installing Debian's chromium and chromium-driver"; \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; \
	  else \
	    echo "error: the browser tests need Chromium and its driver on PATH. Install them, then run make again:" >&2; \
	    echo "  Debian/Ubuntu: sudo apt-get install chromium chromium-driver" >&2; \
	    exit 1; \
	  fi; \
	fi

lab: setup ## start JupyterLab on 127.0.0.1, port PORT (default 8888)
	$(SAME_DIGITS) "$(VENV)/bin/jupyter" lab --ip=127.0.0.1 --port=$(PORT) --no-browser --allow-root --ServerApp.root_dir="$(CURDIR)"

formgrader: setup ## start JupyterLab in course/, where nbgrader's Formgrader finds the course (grading written answers), on 127.0.0.1
	cd course && $(SAME_DIGITS) "$(VENV)/bin/jupyter" lab --ip=127.0.0.1 --port=$(PORT) --no-browser --allow-root --ServerApp.root_dir="$(CURDIR)/course"

test: setup browser-deps ## run pytest over tests/ (browser tests included), then nbval over notebooks/ (extra args: PYTEST_ARGS=... for tests/, NBVAL_ARGS=... for notebooks/)
	$(SAME_DIGITS) $(PYTEST) tests $(PYTEST_ARGS)
ifneq ($(NOTEBOOKS),)
	$(SAME_DIGITS) $(PYTEST) --nbval $(if $(SANITIZE),--nbval-sanitize-with $(SANITIZE)) notebooks $(NBVAL_ARGS)
endif

notebooks: setup ## re-execute lessons in place to refresh stored outputs (NB=path to run one)
	$(SAME_DIGITS) "$(VENV_PY)" tools/run_notebooks.py $(NB)

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	"$(VENV_PY)" -m pip install -c constraints.txt -e ".[bench]"
	@touch "$@"

bench: setup $(BENCH_STAMP) ## benchmarks side by side with micrograd, autograd, torch (BENCH_ARGS=--quick)
	"$(VENV_PY)" -m tests.benchmarks.bench_scalar $(BENCH_ARGS)
	"$(VENV_PY)" -m tests.benchmarks.bench_vectorised $(BENCH_ARGS)
	"$(VENV_PY)" -m tests.benchmarks.bench_lagrangian $(BENCH_ARGS)
	"$(VENV_PY)" -m tests.benchmarks.bench_grading $(BENCH_ARGS)

LOCK := $(BUILD)/lock

# The benchmark peers are resolved after the course's own set, within it, and
# listed below it: installing them never moves a version the course runs.
lock: ## re-resolve the dependencies in a fresh venv and rewrite constraints.txt
	rm -rf "$(LOCK)"
	$(PYTHON) -m venv "$(LOCK)/venv"
	"$(LOCK)/venv/bin/python" -m pip install -e .
	"$(LOCK)/venv/bin/python" -m pip freeze --exclude-editable > "$(LOCK)/course.txt"
	"$(LOCK)/venv/bin/python" -m pip install -c "$(LOCK)/course.txt" -e ".[bench]"
	"$(LOCK)/venv/bin/python" -m pip freeze --exclude-editable > "$(LOCK)/all.txt"
	{ echo "# The exact tested set of dependency versions, used by 'make setup' as"; \
	  echo "# 'pip install -c constraints.txt -e .'. Generated by 'make lock' (pip freeze"; \
	  echo "# of a fresh venv with the project installed); do not edit by hand."; \
	  cat "$(LOCK)/course.txt"; \
	  echo "# The optional benchmark peers (pip install -e .[bench]; make bench)"; \
	  grep -vxFf "$(LOCK)/course.txt" "$(LOCK)/all.txt"; \
	} > constraints.txt.tmp
	mv constraints.txt.tmp constraints.txt
	rm -rf "$(LOCK)"

clean: ## remove build/ and caches (keeps .venv)
	rm -rf "$(BUILD)" .pytest_cache .hypothesis *.egg-info
	find . -path ./.venv -prune -o -path ./.git -prune -o \
	  \( -name __pycache__ -o -name .ipynb_checkpoints \) -type d -print0 | xargs -0 rm -rf

distclean: clean ## clean, and remove .venv
	rm -rf "$(VENV)"
