# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo demo-serve test chaos install lint sandbox worker web clean translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Fresh machine → virtual environment, install, sandbox, connect, sync, and a report of what happened.
demo: $(STAMP)
	$(BIN)/connector demo

## The demo, then keep the sandbox and the admin UI running until Ctrl+C.
demo-serve: $(STAMP)
	$(BIN)/connector demo --serve

## Installs and runs the whole test suite (SQLite and PostgreSQL, the Celery path on Redis, the
## browser tests), on two workers: every test has its own database, sandbox ports and temp files.
## scripts/test-services first starts PostgreSQL and Redis when they are down and installs Debian's
## Chromium when it is missing (or says what to run when it cannot).
test: $(STAMP)
	bash scripts/test-services
	$(BIN)/pytest -q -n 2

## The chaos run at 10 000 orders (make test runs it at 156): workers SIGKILLed, Redis restarted,
## the sandbox ERP failing; exactly one invoice per eligible order, none lost. Needs PostgreSQL and redis-server.
chaos: $(STAMP)
	$(BIN)/python -m tests.chaos --orders 10000 --json-out var/chaos/large.json

## The panel's gettext catalogs: extract every message (babel.cfg: code, templates, runtime labels,
## stored reasons), add the new ones to admin_ui/translations/*/messages.po, compile them (a check:
## the app compiles the .po itself at start, see admin_ui/i18n.py). Then fill in the empty msgstr.
TRANSLATIONS := admin_ui/translations
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k reason -k N_ --no-location --sort-output -o $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) --no-fuzzy-matching --ignore-obsolete -w 110
	$(BIN)/pybabel compile -d $(TRANSLATIONS) --statistics

lint: $(STAMP)
	$(BIN)/ruff check .

sandbox: $(STAMP)
	$(BIN)/python -m sandbox

worker: $(STAMP)
	$(BIN)/connector worker

web: $(STAMP)
	$(BIN)/connector web

clean:
	rm -rf $(VENV) var .pytest_cache
