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
		awk 'BEGIN {FS = "^\\.PHONY: |  *## "}; {printf "  %-8s %s\n", $$2, $$3}'

# --- Rust ------------------------------------------------------------------------------------

.PHONY: demo  ## Run the examples: a deployment's plan and drawings, the deployment run (Rust), a release runbook (CLI)
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

.PHONY: test  ## Run the Rust tests (with cargo-nextest when installed), the doctests and the examples
test:
	$(if $(NEXTEST),$(CARGO) nextest run --workspace,$(CARGO) test --workspace)
	$(if $(NEXTEST),$(CARGO) test --workspace --doc)
	@$(MAKE) --no-print-directory examples

# Every example in core/examples/; each one asserts what it shows, so a regression fails.
EXAMPLES = $(sort $(basename $(notdir $(wildcard core/examples/*.rs))))

.PHONY: examples  ## Run every example in core/examples/ (output hidden; each asserts what it shows)
examples:
	@set -e; for ex in $(EXAMPLES); do \
		echo "$(CARGO) run -q -p legato --example $$ex"; \
		$(CARGO) run -q -p legato --example $$ex >/dev/null; \
	done

.PHONY: lint  ## Check formatting (rustfmt), lints (clippy, warnings are errors), the core without tokio
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p legato --no-default-features -- -D warnings

.PHONY: fmt  ## Format all Rust code
fmt:
	$(CARGO) fmt --all

.PHONY: bench  ## Run every benchmark (release build, with the dagx and dagrs peers); merge into bench/results.json
bench:
	$(CARGO) run --release -p legato-bench --features dagx,dagrs -- all --runs 9 --json bench/results.json

.PHONY: doc  ## Build the API docs of the legato crate (rustdoc warnings are errors)
doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps -p legato

# --- Python (bindings-python/) and Node (bindings-node/) targets come with those packages ------
