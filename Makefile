# Two commands for a newcomer:
#   make demo   install into .venv and run the main job on a simulated cube
#   make test   install into .venv (with test extras), run the checks and the tests, build the docs
#   make docs   build the documentation site (docs/_build/html), warnings as errors
#
# torch: the CPU build is taken on machines without CUDA. On this project's
# machines `pip install torch==2.13.0` finds the CPU wheel on disk; elsewhere
# set TORCH_INDEX to a CPU wheel index (see README) to avoid the CUDA build.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?=
DEMO_DIR ?= demo-output

.PHONY: install install-test demo test test-all docs bench-fit clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==$(TORCH_VERSION) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/hxrg demo --out $(DEMO_DIR) --overwrite

test: install-test
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q -m "not slow" -n auto --dist loadscope
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html

docs: install-test
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs/_build/html/index.html"

test-all: install-test
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -q -m "slow or not slow" -n auto --dist loadscope

bench-fit: install
	$(BIN)/python benchmarks/bench_fit_fullframe.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) docs/_build docs/_generated
