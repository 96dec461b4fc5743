# The two commands of the README, and the chores around them.
#   make up    set everything up, then run the suite (embedded PostgreSQL + four services)
#   make test  set everything up, then run every test
# Set-up is idempotent: a virtual environment in .venv (Python 3.11, pinned by constraints.txt)
# and node_modules from npm (pinned by package-lock.json): buf, protoc-gen-es, TypeScript, and the
# TypeScript client's dependencies (npm workspaces clients/typescript and examples/typescript).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: up test setup sandbox pgbouncer protos lint bench lock clean

up: setup
	$(BIN)/agentsuite up

test: setup
	$(BIN)/python -m pytest

setup: $(VENV)/.installed node_modules/.installed sandbox pgbouncer

# Tools run in bubblewrap (and, as root, bwrap is started through setpriv from util-linux). As root
# we install them; otherwise we say how and go on: the tools service then refuses to execute tools
# and says why (see docs/tools.md).
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq bubblewrap; \
	  else \
	    echo "note: bubblewrap (bwrap) is not installed; tools will not execute until it is:"; \
	    echo "      sudo apt-get install bubblewrap   (or: sudo dnf install bubblewrap)"; \
	  fi; }
	@[ "$$(id -u)" != 0 ] || command -v setpriv >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null 2>&1 && apt-get install -y -qq util-linux; }

# PgBouncer (Debian's package) for the test and benchmark of the suite behind a transaction pooler.
# As root we install it (only the binary is used: the system service the package enables is
# stopped and disabled again); otherwise we say how, and that test is skipped with this reason.
pgbouncer:
	@command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq pgbouncer && \
	    { ! command -v systemctl >/dev/null 2>&1 || systemctl disable --now pgbouncer >/dev/null 2>&1 || true; }; \
	  else \
	    echo "note: pgbouncer is not installed; the PgBouncer test will be skipped until it is:"; \
	    echo "      sudo apt-get install pgbouncer"; \
	  fi; }

$(VENV)/.installed: pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

# npm ci rejects this lock file: the registry here lacks some platform builds of buf, so npm
# leaves them out of the lock. npm install honours the lock and the exact pin all the same.
node_modules/.installed: package.json package-lock.json clients/typescript/package.json examples/typescript/package.json
	npm install --no-save --no-audit --no-fund --loglevel=error
	touch $@

# Regenerate agentsuite/ (Python stubs) and clients/typescript/src/gen/ (TypeScript, with buf and
# buf.gen.yaml) from protos/; the test run fails when either is stale.
protos: setup
	$(BIN)/python scripts/gen_protos.py

lint: setup
	node_modules/.bin/buf lint
	node_modules/.bin/buf format --diff --exit-code
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python bench/throughput.py

lock:
	{ sed -n '1,2p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^agentsuite'; } > constraints.new
	mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) node_modules
