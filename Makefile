# The two commands a newcomer needs: `make run` and `make test`.
# Both build .venv from pyproject.toml on a fresh machine; `test` also installs the
# Debian packages the real-protocol tests need (Dovecot, Chromium, Postfix, LibreOffice) when missing.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# `make run CONFIG=copy.toml`, or INTAKE_CONFIG=copy.toml in the environment, runs with another config.
# Test processes for `make test`: most tests wait on Dovecot, Postfix or a browser, so three
# keep two cores busy. `make test JOBS=0` runs them in one process.
JOBS ?= 3
CONFIG ?= $(if $(INTAKE_CONFIG),$(INTAKE_CONFIG),config/intake.toml)

.PHONY: run test lint typecheck pytest system-deps bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	mkdir -p var
	$(BIN)/intake --config $(CONFIG) db upgrade
	$(BIN)/intake --config $(CONFIG) workflows sync
	exec $(BIN)/intake --config $(CONFIG) serve

# Installs what the protocol tests drive for real; apt-get only runs when something is missing.
# Each package is checked by the program the tests start, not by a neighbour of it: a machine
# with dovecot-core but without dovecot-imapd has `dovecot` and no IMAP server. The archive needs
# LibreOffice (office files to PDF/A), Pango (WeasyPrint draws the mail text with it) and the
# DejaVu fonts the archive's PDF/A pages name.
system-deps:
	@missing=""; \
	{ test -x /usr/lib/dovecot/imap && command -v dovecot >/dev/null 2>&1; } || missing="$$missing dovecot-imapd"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v soffice >/dev/null 2>&1 || missing="$$missing libreoffice-writer-nogui"; \
	test -e /usr/lib/libreoffice/program/libsclo.so || missing="$$missing libreoffice-calc-nogui"; \
	{ test -x /usr/sbin/postfix && test -x /usr/lib/postfix/sbin/master; } || missing="$$missing postfix"; \
	command -v imap4d >/dev/null 2>&1 || missing="$$missing mailutils-imap4d"; \
	ldconfig -p | grep -q 'libpangoft2-1.0.so.0' || missing="$$missing libpangoft2-1.0-0"; \
	test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || missing="$$missing fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing (install them as root)"; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check intake tests bench

typecheck: $(STAMP)
	$(BIN)/mypy intake

pytest: $(STAMP) system-deps
	$(BIN)/python -m pytest -n $(JOBS)

test: system-deps lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/extract.py
	$(BIN)/python bench/pdf_fields.py
	$(BIN)/python bench/imap.py
	$(BIN)/python bench/process.py
	$(BIN)/python bench/summary.py
	$(BIN)/python bench/archive.py
	$(BIN)/python bench/web.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
