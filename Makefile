# The two Quickstart commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 5000
CUSTOMERS ?= 5000

.PHONY: demo test install install-test system-packages runtime-packages serve clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -e '.[test]'
	touch $@

# What the test suite needs from Debian (Chromium and its CJK fonts, redis-server) is listed
# once, in .ci/debian-packages (.ci/run reads it too). Missing ones are installed with apt-get
# when run as root on Debian; otherwise this prints the apt-get line and stops. A machine that
# has them all does nothing (one dpkg-query per package).
# runtime-packages does the same for the ones the application itself needs (`# runtime:` in that list:
# Chromium, which prints the PDF exports), for `make demo`.
DEBIAN_PACKAGES := $(shell sed -n 's/^\([a-z0-9][a-z0-9.+-]*\).*/\1/p' .ci/debian-packages)
DEBIAN_RUNTIME := $(shell sed -n 's/^\([a-z0-9][a-z0-9.+-]*\)[^\#]*\# runtime:.*/\1/p' .ci/debian-packages)
PACKAGES ?= $(DEBIAN_PACKAGES)
system-packages:
	@missing=""; \
	for p in $(PACKAGES); do \
		[ "$$(dpkg-query -W -f='$${db:Status-Status}' $$p 2>/dev/null)" = installed ] || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing the Debian packages needed (.ci/debian-packages):$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update && apt-get install -y --no-install-recommends $$missing; \
	else \
		echo "These Debian packages are needed (listed in .ci/debian-packages), missing here:$$missing" >&2; \
		echo "Install them with:  sudo apt-get install --no-install-recommends$$missing" >&2; \
		exit 1; \
	fi

install: $(VENV)/.installed

runtime-packages:
	@$(MAKE) --no-print-directory system-packages PACKAGES="$(DEBIAN_RUNTIME)"

install-test: $(VENV)/.installed-test

# Set up, load demo data and serve the admin at http://127.0.0.1:$(PORT)/admin/, with the
# background worker (scheduled jobs, 立即运行, report subscriptions) beside it, and the local
# mailbox that keeps the subscriptions' mail in instance/mail/ (unless SMTP_HOST names a real
# server; SMTP_PORT moves it off 8025). Both stop when serve does.
demo: install runtime-packages
	CRM_ENV=demo $(PY) run.py demo --customers $(CUSTOMERS)
	if [ -z "$$SMTP_HOST" ]; then CRM_ENV=demo $(PY) run.py mailbox --port $${SMTP_PORT:-8025} & mailbox=$$!; fi; \
	CRM_ENV=demo $(PY) run.py worker & worker=$$!; \
	trap 'kill -INT $$worker $$mailbox 2>/dev/null; wait $$worker $$mailbox' EXIT INT TERM; \
	CRM_ENV=demo $(PY) run.py serve --port $(PORT)

# Set up and run the whole test suite (DATABASE_URL=postgresql://... runs it on PostgreSQL);
# installs the Debian packages the tests need first (see system-packages)
test: install-test system-packages
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) instance/*.db instance/*.db-wal instance/*.db-shm instance/mail
