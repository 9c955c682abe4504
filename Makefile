# The two Quickstart commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 5000
CUSTOMERS ?= 5000

.PHONY: demo test install install-test serve clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# Set up, load demo data and serve the admin at http://127.0.0.1:$(PORT)/admin/
demo: install
	CRM_ENV=demo $(PY) run.py demo --customers $(CUSTOMERS)
	CRM_ENV=demo $(PY) run.py serve --port $(PORT)

# Set up and run the whole test suite (DATABASE_URL=postgresql://... runs it on PostgreSQL)
test: install-test
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) instance/*.db instance/*.db-wal instance/*.db-shm
