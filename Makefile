# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo demo-serve test test-slow chaos install lint sandbox worker web clean translations

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
## Chromium when it is missing (or says what to run when it cannot). Tests marked slow are left out
## (pyproject's addopts): one representative of each of their families runs here.
test: $(STAMP)
	bash scripts/test-services
	$(BIN)/pytest -q -n 2

## Only the tests marked slow: the heavy variants make test leaves out (each ERP's and each country's
## end-to-end run on the other database, the embedded scheduler and the webhook replays likewise, the
## browser walk in English). Same set-up as make test.
test-slow: $(STAMP)
	bash scripts/test-services
	$(BIN)/pytest -q -n 2 -m slow

## The chaos run at 10 000 orders (make test runs it at 156): workers SIGKILLed, Redis restarted,
## the sandbox ERP failing; exactly one invoice per eligible order, none lost. Needs PostgreSQL and redis-server.
chaos: $(STAMP)
	$(BIN)/python -m tests.chaos --orders 10000 --json-out var/chaos/large.json

## The gettext catalogs: the panel's (admin_ui/translations: the core's code, templates and runtime
## labels, babel.cfg) and one per registered adapter package (erp/<name>/translations,
## channels/<name>/translations: its code and the texts it declares). admin_ui/i18n_extract.py extracts
## each (as pybabel extract -k reason -k N_ --no-location --sort-output) and prints its folder; the new
## messages are added to each folder's */messages.po, which is compiled (a check: the app compiles the
## .po itself at start, see connector/catalogs.py). Then fill in the empty msgstr.
translations: $(STAMP)
	folders=$$($(BIN)/python -m admin_ui.i18n_extract) && for folder in $$folders; do \
	  $(BIN)/pybabel update -i $$folder/messages.pot -d $$folder --no-fuzzy-matching --ignore-obsolete \
	    --ignore-pot-creation-date -w 110 && \
	  $(BIN)/pybabel compile -d $$folder --statistics || exit 1; \
	done

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
