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

# The browser tests drive Debian's Chromium; on a fresh Debian machine (as root) fetch it.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update && apt-get install -y --no-install-recommends chromium fonts-wqy-microhei; \
	else \
		echo "The browser tests need Debian's Chromium: sudo apt-get install chromium fonts-wqy-microhei"; exit 1; \
	fi

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# Set up, load demo data and serve the admin at http://127.0.0.1:$(PORT)/admin/, with the
# background worker (scheduled jobs, 立即运行, report subscriptions) beside it, and the local
# mailbox that keeps the subscriptions' mail in instance/mail/ (unless SMTP_HOST names a real
# server; SMTP_PORT moves it off 8025). Both stop when serve does.
demo: install
	CRM_ENV=demo $(PY) run.py demo --customers $(CUSTOMERS)
	if [ -z "$$SMTP_HOST" ]; then CRM_ENV=demo $(PY) run.py mailbox --port $${SMTP_PORT:-8025} & mailbox=$$!; fi; \
	CRM_ENV=demo $(PY) run.py worker & worker=$$!; \
	trap 'kill -INT $$worker $$mailbox 2>/dev/null; wait $$worker $$mailbox' EXIT INT TERM; \
	CRM_ENV=demo $(PY) run.py serve --port $(PORT)

# Set up and run the whole test suite (DATABASE_URL=postgresql://... runs it on PostgreSQL)
test: install-test $(CHROMIUM)
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) instance/*.db instance/*.db-wal instance/*.db-shm instance/mail
