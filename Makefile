# The one entry point: CI calls these same targets.
#   make test   set up .venv if needed and run every test (CPython and MicroPython)
#   make bench  run the benchmarks and rewrite docs/benchmarks.md
#   make demo   (arrives with the gateway/relay issue)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: all venv test bench mpy demo clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Compile every device module with mpy-cross: what gets flashed, and what the
# MicroPython tests import.
mpy: $(STAMP)
	$(BIN)/python -m host_tools.provision.mpy_build build/mpy

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench.run

demo: $(STAMP)
	@echo "make demo arrives with the gateway and relay issue; see README.md"

clean:
	rm -rf build .pytest_cache .hypothesis
