# The two commands a newcomer runs: `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
DEMO_USERS ?= 50000
DEMO_DAYS ?= 365
export JINGYUN_HOME ?= $(CURDIR)/.jingyun

.PHONY: demo test bench lint sysdeps clean screenshots

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# Debian packages the suites need: a JRE for Spark in local mode, PostgreSQL
# server binaries for the metadata-store tests, Chromium (+ CJK fonts) for the
# console's browser tests.
sysdeps:
	@command -v java >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }
	@command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }

demo: $(VENV)/.installed
	$(VENV)/bin/jingyun demo --users $(DEMO_USERS) --days $(DEMO_DAYS) --replace --serve

test: $(VENV)/.installed sysdeps
	$(PY) -m pytest -q -p no:cacheprovider -n 2
	$(MAKE) lint

bench: $(VENV)/.installed sysdeps
	$(PY) -m bench.run

# Every console page in zh-CN and en on a 5,000-user demo, into docs/screenshots (linked from docs/console.md).
screenshots: $(VENV)/.installed sysdeps
	$(PY) -m jingyun.web.screenshots docs/screenshots

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .jingyun .pytest_cache .mypy_cache .ruff_cache
