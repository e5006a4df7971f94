# legato — development tasks. `make` (or `make help`) lists them.
#
# Every target is declared as `.PHONY: name  ## help text`; `make help` prints those lines.
# Tools are variables so they can be overridden: `make test CARGO="cargo +1.85"`.

CARGO ?= cargo

# Whether cargo-nextest is installed; evaluated only when a recipe asks.
NEXTEST = $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.DEFAULT_GOAL := help

.PHONY: help  ## Show this list of targets
help:
	@echo "usage: make <target>"
	@echo
	@grep -E '^\.PHONY: [a-zA-Z0-9_-]+ +## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = "^\\.PHONY: |  *## "}; {printf "  %-11s %s\n", $$2, $$3}'

# --- Rust ------------------------------------------------------------------------------------

.PHONY: demo  ## Run the examples: a deployment's plan and drawings, the deployment run (Rust), a release runbook and a failed migration resumed (CLI)
demo:
	@echo "--- the full-stack deployment graph: plan, ASCII and Mermaid drawings, error messages"
	$(CARGO) run -q -p legato --example deployment_plan
	@echo
	@echo "--- the same deployment, run as a Flow"
	$(CARGO) run -q -p legato --example deployment
	@echo
	@echo "--- legato runbook -f examples/runbooks/release.md"
	@mkdir -p target/legato-demo
	$(CARGO) run -q -p legato-cli -- runbook -f examples/runbooks/release.md --html target/legato-demo/release.html
	@echo "Open target/legato-demo/release.html in a browser to see the runbook's timeline."
	@echo
	@echo "--- a failed run fixed and resumed: examples/runbooks/migrate.md with a run history"
	@rm -f target/legato-demo/history.db*
	@$(CARGO) run -q -p legato-cli -- runbook -f examples/runbooks/migrate.md --history target/legato-demo/history.db \
		|| echo "(exit code $$?: the check fails until it is fixed; now fixed, the run is resumed)"
	MIGRATE_FIXED=1 $(CARGO) run -q -p legato-cli -- runbook -f examples/runbooks/migrate.md --resume last --history target/legato-demo/history.db
	$(CARGO) run -q -p legato-cli -- history -f examples/runbooks/migrate.md --history target/legato-demo/history.db
	@echo
	@$(MAKE) --no-print-directory demo-python
	@$(MAKE) --no-print-directory demo-node

.PHONY: test  ## Run the Rust tests (with cargo-nextest when installed), the doctests, the examples and the Python tests
test: test-python
	$(if $(NEXTEST),$(CARGO) nextest run --workspace,$(CARGO) test --workspace)
	$(if $(NEXTEST),$(CARGO) test --workspace --doc)
	@$(MAKE) --no-print-directory examples
	@$(MAKE) --no-print-directory test-node

# Every example in core/examples/; each one asserts what it shows, so a regression fails.
EXAMPLES = $(sort $(basename $(notdir $(wildcard core/examples/*.rs))))

.PHONY: examples  ## Run every example in core/examples/ (output hidden; each asserts what it shows)
examples:
	@set -e; for ex in $(EXAMPLES); do \
		echo "$(CARGO) run -q -p legato --example $$ex"; \
		$(CARGO) run -q -p legato --example $$ex >/dev/null; \
	done

.PHONY: lint  ## Check formatting (rustfmt), lints (clippy, warnings are errors), the core without tokio, the Python package (ruff, mypy, stubtest) and the Node types (tsc)
lint: lint-python
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p legato --no-default-features -- -D warnings
	@$(MAKE) --no-print-directory lint-node

.PHONY: fmt  ## Format all Rust code
fmt:
	$(CARGO) fmt --all

.PHONY: bench  ## Run every benchmark (release build, with the dagx and dagrs peers, C++ Taskflow when its headers are present, the Python and Node doors); merge into bench/results.json
bench:
	@$(MAKE) --no-print-directory -C bench/taskflow
	$(CARGO) run --release -p legato-bench --features dagx,dagrs -- all --runs 9 --json bench/results.json
	@$(MAKE) --no-print-directory bench-python
	@$(MAKE) --no-print-directory bench-node

.PHONY: doc  ## Build the API docs of the legato crate (rustdoc warnings are errors)
doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps -p legato

# --- Python (bindings-python/) ---------------------------------------------------------------
#
# One virtual environment, .venv/, made with `python3 -m venv`; stamps in it keep every step
# idempotent: tools are reinstalled only when a requirements file changes, the extension is
# rebuilt (maturin develop) only when a Rust or Python source of the package changed.

PYTHON ?= python3
VENV ?= .venv
VPY = $(VENV)/bin/python
PY_SOURCES = $(shell find bindings-python/src bindings-python/python core/src -type f) \
	bindings-python/Cargo.toml bindings-python/pyproject.toml core/Cargo.toml

$(VENV)/.stamp-venv:
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	@touch $@

$(VENV)/.stamp-dev: bindings-python/requirements-dev.txt $(VENV)/.stamp-venv
	$(VPY) -m pip install -q -r bindings-python/requirements-dev.txt
	@touch $@

$(VENV)/.stamp-develop: $(PY_SOURCES) $(VENV)/.stamp-dev
	cd bindings-python && VIRTUAL_ENV=$(abspath $(VENV)) $(abspath $(VENV))/bin/maturin develop -q --release
	@touch $@

$(VENV)/.stamp-bench: bench/python/requirements.txt $(VENV)/.stamp-dev
	$(VPY) -m pip install -q -r bench/python/requirements.txt
	@touch $@

.PHONY: python-dev  ## Make .venv with the Python package (maturin develop) and its test tools
python-dev: $(VENV)/.stamp-develop

.PHONY: test-python  ## Run the Python tests (pytest) against the package built into .venv
test-python: $(VENV)/.stamp-develop
	cd bindings-python && $(abspath $(VPY)) -m pytest -q

.PHONY: dist  ## Build the Python package as one abi3 wheel (CPython >= 3.9) into target/wheels/: pip installs it with no Rust toolchain
dist: $(VENV)/.stamp-dev
	cd bindings-python && $(abspath $(VENV))/bin/maturin build --release --out ../target/wheels

.PHONY: lint-python  ## Lint the Python package: ruff, mypy, and stubtest of the native module's stubs
lint-python: $(VENV)/.stamp-develop
	$(VPY) -m ruff check --config bindings-python/pyproject.toml bindings-python examples/python bench/python
	$(VPY) -m ruff format --check --config bindings-python/pyproject.toml bindings-python examples/python bench/python
	cd bindings-python && $(abspath $(VPY)) -m mypy
	cd bindings-python && $(abspath $(VPY)) -m mypy.stubtest legato._legato

.PHONY: demo-python  ## Run the Python example (examples/python/release.py): a release flow and an orchestrator
demo-python: $(VENV)/.stamp-develop
	$(VPY) examples/python/release.py

.PHONY: bench-python  ## Run W1-W5 through the Python door (sync and async steps) beside Python peers; merge into bench/results.json
bench-python: $(VENV)/.stamp-develop $(VENV)/.stamp-bench
	$(VPY) bench/python/bench.py --json bench/results.json

# --- Node (bindings-node/: the npm package `legato`) -------------------------------------------
NPM ?= npm
NODE ?= node
NODE_DIR = bindings-node
NODE_TSC = $(NODE) $(NODE_DIR)/node_modules/typescript/bin/tsc

# Dev dependencies, installed again only when the lock file changes. `--ignore-scripts`: the
# addon is built by the next step, not by npm's install hook.
$(NODE_DIR)/node_modules/.package-lock.json: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && $(NPM) ci --no-audit --no-fund --ignore-scripts
	@touch $@

.PHONY: build-node  ## Build the Node addon (release; skipped when it is up to date)
build-node: $(NODE_DIR)/node_modules/.package-lock.json
	cd $(NODE_DIR) && $(NODE) scripts/build.js

.PHONY: test-node  ## Build the Node package and run its tests (node --test), the seed examples included
test-node: build-node
	$(NODE_TSC) -p $(NODE_DIR)/test/tsconfig.json
	cd $(NODE_DIR) && $(NODE) --test --test-timeout=120000 test/

.PHONY: lint-node  ## Type-check the TypeScript consumer against the shipped index.d.ts; check native.d.ts is current
lint-node: build-node
	$(NODE_TSC) -p $(NODE_DIR)/test/tsconfig.json --noEmit
	@git diff --exit-code --quiet -- $(NODE_DIR)/native.d.ts || \
		{ echo "bindings-node/native.d.ts changed when built: commit the regenerated file"; exit 1; }

.PHONY: demo-node  ## Run the Node example (examples/node/release.mjs)
demo-node: build-node
	@echo "--- node examples/node/release.mjs"
	$(NODE) examples/node/release.mjs

.PHONY: bench-node  ## Run W1-W6 through the Node door beside hand-rolled, async.auto, p-graph, p-queue (W1-W3 again after forced collections); merge into bench/results.json
bench-node: build-node
	$(NODE) bench/node/bench.mjs --runs 10 --json bench/results.json
	$(NODE) --expose-gc bench/node/bench.mjs --runs 10 --collect --only W1,W2,W3 --impls legato,hand-rolled,p-graph,p-queue --json bench/results.json
