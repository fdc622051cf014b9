# jupyter-qsecure: `make lab` to try it, `make test` to run every suite.
# Needs only Python 3.10+, Node and make; everything else is installed into .venv.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
LAB_DIR ?= .lab

# Debian packages the test suites drive for real (installed when missing and we are root, as in CI).
SYSTEM_PACKAGES := gnome-keyring dbus openssh-client chromium

# The JupyterLab extension: built with the jlpm that jupyter-builder installs into the venv.
JLPM := PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(CURDIR)/$(VENV)/bin/jlpm
LABEXT := jupyter_qsecure/labextension/static/style.js
LABEXT_SOURCES := package.json tsconfig.json $(shell find labextension/src labextension/style -type f 2>/dev/null)
UI_INSTALLED := ui-tests/node_modules/.installed

.PHONY: lab demo-token test test-fast test-ui screenshots lint format bench install system-deps clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# `pip install -e` builds the extension through the hatch build hook and copies it into the
# venv; `jupyter-builder develop` replaces the copy with a link, so rebuilds are served.
# Before installing again, that link goes: pip would write install.json through it into the
# build output, and the next wheel would then hold install.json twice (and fail).
$(INSTALLED): pyproject.toml | $(PY)
	if [ -L $(VENV)/share/jupyter/labextensions/jupyter-qsecure ]; then \
		rm $(VENV)/share/jupyter/labextensions/jupyter-qsecure; fi
	rm -f jupyter_qsecure/labextension/install.json
	$(PY) -m pip install --quiet -e ".[dev]"
	$(VENV)/bin/jupyter-builder develop --overwrite . >/dev/null
	npm install --prefix $(VENV)/node --no-save --no-fund --no-audit --loglevel=error configurable-http-proxy@5
	touch $@

$(LABEXT): $(INSTALLED) $(LABEXT_SOURCES)
	$(JLPM) install
	$(JLPM) build:prod
	touch $@

$(UI_INSTALLED): ui-tests/package.json $(INSTALLED)
	cd ui-tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(JLPM) install
	touch $@

install: $(INSTALLED) $(LABEXT)

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (tests that need them are skipped)"; fi; \
	fi

# The demo's keyring: an encrypted file beside the lab folder, unlocked with a demo password
# (use your desktop keyring, or your own password, for real secrets).
LAB_ENV := QSECURE_CONFIG=$(CURDIR)/jupyter-config/qsecure.demo.toml \
	QSECURE_KEYRING_FILE=$(CURDIR)/.lab-keyring.cfg \
	QSECURE_KEYRING_PASSWORD=$${QSECURE_KEYRING_PASSWORD:-qsecure-demo-only} \
	PYTHON_KEYRING_BACKEND=keyrings.cryptfile.cryptfile.CryptFileKeyring

## Open JupyterLab with jupyter-qsecure on a copy of demo/ (embedded keyring, demo policy).
## The server runs in the demo folder (its terminals open there, with the venv on PATH);
## the next step is printed right after the server's URL.
lab: install
	@chmod go-w jupyter-config jupyter-config/qsecure.demo.toml  # refused if others can write it
	@mkdir -p $(LAB_DIR)
	@cp -rn demo/. $(LAB_DIR)/
	@cd $(LAB_DIR) && PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(LAB_ENV) \
	  $(CURDIR)/$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) 2>&1 | \
	  (trap '' INT; exec awk '{ print; fflush() } /http:\/\/127\.0\.0\.1:[0-9]+\/lab/ && !shown { shown = 1; \
	    print ""; \
	    print "  +-- jupyter-qsecure demo: next step ----------------------------------------+"; \
	    print "  | In JupyterLab, open README.md (the demo tour) and follow it in order.    |"; \
	    print "  | Step 1 stores the token the notebooks read, IBM_QUANTUM_TOKEN: in the    |"; \
	    print "  | Secrets panel (left sidebar), or in another terminal: make demo-token    |"; \
	    print "  +--------------------------------------------------------------------------+"; \
	    print ""; fflush() }')

## Store the demo token (IBM_QUANTUM_TOKEN) in the demo's keyring; it asks for the value.
demo-token: install
	@chmod go-w jupyter-config jupyter-config/qsecure.demo.toml
	@$(LAB_ENV) $(VENV)/bin/jupyter qsecure secrets set IBM_QUANTUM_TOKEN

# pytest with ARGS ($(call PYTEST,ARGS)), writing no bytecode beside the sources.
# "No tests collected" (exit 5) is a failure.
PYTEST = PYTHONDONTWRITEBYTECODE=1 $(PY) -m pytest $(1); \
	  status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; \
	  exit $$status

## Run every suite and the linters: Python (pytest), Jest, and Galata in a real Chromium.
## pytest's "no tests collected" (exit 5) is a failure; so are Jest's and Playwright's.
test: install system-deps $(UI_INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(JLPM) prettier:check
	$(JLPM) eslint:check
	$(JLPM) test
	$(call PYTEST,)
	@command -v chromium >/dev/null || { echo "the UI tests need Debian's chromium (apt-get install chromium)" >&2; exit 1; }
	cd ui-tests && $(JLPM) playwright test

## The Python tests without those marked slow (real JupyterHubs, the binder build, every
## guide's commands, kernels outside a server): a quick check while working.
## `make test` (and CI) still runs everything.
test-fast: install system-deps
	$(call PYTEST,-m "not slow")

## Only the UI tests (Galata): `make test-ui`.
test-ui: install system-deps $(UI_INSTALLED)
	cd ui-tests && $(JLPM) playwright test

## Refresh the documentation's screenshots (docs/screenshots/*.png) from the UI tests that
## show each documented view (a normal UI test run writes no screenshot).
screenshots: install system-deps $(UI_INSTALLED)
	cd ui-tests && QSECURE_SCREENSHOTS=1 $(JLPM) playwright test tests/qsecure.spec.ts tests/first-time.spec.ts tests/notebook7.spec.ts

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(JLPM) prettier:check
	$(JLPM) eslint:check

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	$(JLPM) prettier
	$(JLPM) eslint

## Benchmarks: each prints a ratio against a baseline measured in the same run.
bench: install
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) bench/bench_scan.py
	$(PY) bench/bench_archive.py
	$(PY) bench/bench_save.py
	$(PY) bench/bench_recall.py
	$(PY) bench/bench_kernel_start.py
	$(PY) bench/bench_masking.py
	$(PY) bench/bench_provenance.py
	$(PY) bench/bench_environment.py
	$(PY) bench/bench_verify.py
	$(PY) bench/bench_live.py
	$(PY) bench/bench_event_loop.py
	$(PY) bench/bench_event_loop.py --copy

clean:
	rm -rf $(VENV) $(LAB_DIR) .lab-keyring.cfg build dist *.egg-info node_modules lib \
	  jupyter_qsecure/labextension labextension/tsconfig.tsbuildinfo ui-tests/node_modules
