# jupyter-qsecure: `make lab` to try it, `make test` to run every suite.
# Needs only Python 3.10+, Node and make; everything else is installed into .venv.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
LAB_DIR ?= .lab

# Debian packages the test suites drive for real (installed when missing and we are root, as in CI).
SYSTEM_PACKAGES := gnome-keyring dbus openssh-client

.PHONY: lab test lint format bench install system-deps clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev]"
	npm install --prefix $(VENV)/node --no-save --no-fund --no-audit --loglevel=error configurable-http-proxy@5
	touch $@

install: $(INSTALLED)

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
lab: install
	@mkdir -p $(LAB_DIR)
	@cp -rn demo/. $(LAB_DIR)/
	@echo "To store the demo's token:  $(LAB_ENV) $(VENV)/bin/jupyter qsecure secrets set IBM_QUANTUM_TOKEN"
	$(LAB_ENV) $(VENV)/bin/jupyter lab --ServerApp.root_dir=$(LAB_DIR) $(if $(filter 0,$(shell id -u)),--allow-root)

## Run every test suite and the linters. pytest's "no tests collected" (exit 5) is a failure.
test: install system-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest; status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; \
	  exit $$status

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## Benchmarks: each prints a ratio against a baseline measured in the same run.
bench: install
	$(PY) bench/bench_scan.py
	$(PY) bench/bench_save.py
	$(PY) bench/bench_recall.py
	$(PY) bench/bench_kernel_start.py
	$(PY) bench/bench_masking.py
	$(PY) bench/bench_provenance.py
	$(PY) bench/bench_verify.py

clean:
	rm -rf $(VENV) $(LAB_DIR) .lab-keyring.cfg build dist *.egg-info
