# The set-up contract: on a fresh Debian machine with Python 3.11, `make demo` runs the sample
# and `make test` runs every check and the whole test suite (installing PostgreSQL if needed).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENV_PY := $(BIN)/python
INSTALLED := $(VENV)/.installed
INSTALLED_DEV := $(VENV)/.installed-dev
LINT_PATHS := $(wildcard durable tests samples benchmarks)
DOCS_ADDR ?= 127.0.0.1:8000
QUICK ?=
REPS ?=

export PIP_DISABLE_PIP_VERSION_CHECK := 1
export NO_MKDOCS_2_WARNING := 1

# Prints the path of pg_ctl (on PATH, else Debian's newest /usr/lib/postgresql/*/bin), or nothing.
FIND_PG_CTL := command -v pg_ctl || { ls -1 /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null \
	| sort -V | tail -n 1; } || true
# Prints the directory of pg_ctl's real binary (initdb and postgres are beside it).
PG_BIN_DIR := dirname "$$(readlink -f "$$($(FIND_PG_CTL))")"

# $(call apt_install,packages): apt-get as root, or through sudo when not root.
define apt_install
if [ "$$(id -u)" = 0 ]; then sudo=; elif command -v sudo >/dev/null; then sudo=sudo; \
else echo "make: installing '$(1)' needs root or sudo" >&2; exit 1; fi; \
$$sudo apt-get update -q && \
$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(1)
endef

.PHONY: help demo test check chaos docs serve-docs bench bench-peers postgres chromium clean distclean

help:
	@echo "make demo        install durable in $(VENV) and run samples/checkout.py"
	@echo "make test        check, then the whole test suite (installs PostgreSQL and Chromium if missing)"
	@echo "make check       ruff, mypy, the docs build (strict) and the architecture test"
	@echo "make chaos       the full chaos suite (under 20 min), then its table of figures"
	@echo "make docs        build the documentation into site/"
	@echo "make serve-docs  serve the documentation on $(DOCS_ADDR)"
	@echo "make bench       run the benchmarks (QUICK=1 for a short run, REPS=N repetitions)"
	@echo "make bench-peers the benchmarks plus DBOS, Restate, duroxide and Temporal, when set up (not in CI)"
	@echo "make clean       remove caches and build output (distclean: also $(VENV))"

# Debian ships venv's ensurepip apart (python3.X-venv): install it when venv fails for want of it.
$(VENV_PY):
	@echo "make: creating $(VENV) with $(PY)"
	if ! $(PY) -m venv $(VENV); then \
		rm -rf $(VENV); \
		pkg="$$($(PY) -c 'import sys; print("python%d.%d-venv" % sys.version_info[:2])')"; \
		$(call apt_install,$$pkg); \
		$(PY) -m venv $(VENV); \
	fi

# The stamps re-install only when pyproject.toml is newer than the last install.
$(INSTALLED): pyproject.toml | $(VENV_PY)
	@echo "make: installing durable into $(VENV)"
	$(VENV_PY) -m pip install -q -e .
	touch $@

$(INSTALLED_DEV): pyproject.toml | $(VENV_PY)
	@echo "make: installing durable[dev,postgres,dashboard,otel] into $(VENV)"
	$(VENV_PY) -m pip install -q -e '.[dev,postgres,dashboard,otel]'
	touch $@

# The tests start their own PostgreSQL servers with pg_ctl; only the binaries are needed.
postgres:
	@if [ -z "$$($(FIND_PG_CTL))" ]; then \
		echo "make: pg_ctl not found; installing PostgreSQL from Debian packages"; \
		$(call apt_install,postgresql); \
	fi; \
	pg_ctl="$$($(FIND_PG_CTL))"; \
	if [ -z "$$pg_ctl" ]; then echo "make: pg_ctl still not found after install" >&2; exit 1; fi; \
	echo "make: PostgreSQL: $$pg_ctl"

# The dashboard's browser tests drive Debian's Chromium with Playwright (never a downloaded
# browser); Debian's package brings the libraries it needs, fonts-liberation the page's text.
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ ! -x "$(CHROMIUM)" ] || [ ! -d /usr/share/fonts/truetype/liberation ]; then \
		echo "make: $(CHROMIUM) or its fonts not found; installing them from Debian packages"; \
		$(call apt_install,chromium fonts-liberation); \
	fi; \
	if [ ! -x "$(CHROMIUM)" ]; then echo "make: $(CHROMIUM) still not found after install" >&2; exit 1; fi; \
	echo "make: Chromium: $$("$(CHROMIUM)" --version 2>/dev/null || echo $(CHROMIUM))"

demo: $(INSTALLED)
	$(VENV_PY) samples/checkout.py

# Runs every check even when an earlier one fails, then fails if any did.
check: $(INSTALLED_DEV)
	@failed=(); \
	run() { echo "+ $$*"; "$$@" || failed+=("$${1##*/}"); }; \
	run $(BIN)/ruff check $(LINT_PATHS); \
	run $(BIN)/mypy durable; \
	run $(BIN)/mkdocs build --strict -q; \
	run $(BIN)/pytest -q tests/test_architecture.py; \
	if (( $${#failed[@]} )); then echo "make check: failed: $${failed[*]}" >&2; exit 1; fi

# pg_ctl's directory goes first on PATH so that the tests find Debian's PostgreSQL binaries;
# DURABLE_REQUIRE_POSTGRES=1 turns "PostgreSQL unavailable" from a skip into a failure; the
# browser tests fail (never skip) when $(CHROMIUM) cannot start.
test: $(INSTALLED_DEV) postgres chromium check
	pg_bin="$$($(PG_BIN_DIR))"; \
	PATH="$$pg_bin:$$PATH" DURABLE_REQUIRE_POSTGRES=1 DURABLE_CHROMIUM="$(CHROMIUM)" $(BIN)/pytest

# The chaos suite at the sizes of shared RELIABILITY.md (make test runs short versions): each test
# appends its row to CHAOS_REPORT, then the table is printed (and fails on any violation).
CHAOS_REPORT ?= chaos-report.jsonl
chaos: $(INSTALLED_DEV) postgres
	pg_bin="$$($(PG_BIN_DIR))"; rm -f $(CHAOS_REPORT); status=0; \
	PATH="$$pg_bin:$$PATH" DURABLE_REQUIRE_POSTGRES=1 DURABLE_CHAOS=1 \
		DURABLE_CHAOS_REPORT="$(abspath $(CHAOS_REPORT))" \
		$(BIN)/pytest -q -p no:cacheprovider tests/test_crash.py tests/test_chaos.py \
		tests/test_chaos_store_faults.py tests/test_chaos_load.py tests/test_entity_processes.py \
		tests/test_b6_unknown_names.py \
		|| status=$$?; \
	$(VENV_PY) -m tests.chaos.report $(CHAOS_REPORT) && exit $$status

docs: $(INSTALLED_DEV)
	$(BIN)/mkdocs build --strict

serve-docs: $(INSTALLED_DEV)
	$(BIN)/mkdocs serve --strict -a $(DOCS_ADDR)

bench: $(INSTALLED_DEV) postgres
	pg_bin="$$($(PG_BIN_DIR))"; \
	PATH="$$pg_bin:$$PATH" $(if $(filter-out 0,$(QUICK)),DURABLE_BENCH_QUICK=1) \
		$(VENV_PY) -m benchmarks $(if $(REPS),--reps $(REPS))

# Not in CI: the peers' environments (shared/bench/peers/README.md) are set up by hand; without
# them this prints what is missing and succeeds.
bench-peers: $(INSTALLED_DEV) postgres
	pg_bin="$$($(PG_BIN_DIR))"; \
	PATH="$$pg_bin:$$PATH" $(if $(filter-out 0,$(QUICK)),DURABLE_BENCH_QUICK=1) \
		$(VENV_PY) -m benchmarks --peers $(if $(REPS),--reps $(REPS))

clean:
	rm -rf site build dist htmlcov .pytest_cache .mypy_cache .ruff_cache .hypothesis \
		.coverage .coverage.* *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
