# epmd_rs: `make demo` and `make test` set up everything they need on a fresh
# Debian machine (Erlang/OTP and rebar3 from apt; Rust crates through cargo).

REBAR ?= rebar3
# Debian packages: the OTP pieces the build and the tests use, rebar3,
# iproute2 for the multi-host tests, elixir and procps (ps) for examples/, and
# python3 for the fault tests (a node process to kill).
APT_PACKAGES := erlang-base erlang-dev erlang-common-test erlang-eunit \
	erlang-dialyzer erlang-tools erlang-syntax-tools erlang-parsetools \
	erlang-edoc rebar3 iproute2 elixir procps python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build test rust-test erlang-test lint demo clean

all: build

deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing from apt:$$missing"; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi
	@command -v cargo >/dev/null || { echo "cargo (Rust >= 1.91) is required: https://rustup.rs"; exit 1; }

# The NIF (through rebar3's hook) and the epmd-rs binary.
build: deps
	$(REBAR) compile
	cargo build --release --locked -p epmd_cli

rust-test: deps
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cargo clippy -p epmd_nif --features test-hooks --locked -- -D warnings
	cargo test --workspace --locked

erlang-test: deps
	cargo build --locked -p epmd_conformance
	$(REBAR) eunit
	$(REBAR) ct

lint: deps
	$(REBAR) xref
	$(REBAR) dialyzer

# The projects in examples/ that use epmd_rs as users will (a relx release, a
# Mix project), built from this working tree, booted on a free EPMD port and
# checked from outside with Debian's epmd.
.PHONY: examples
examples: deps
	REBAR=$(REBAR) sh examples/rebar3_release/test.sh
	sh examples/mix_app/test.sh

test: rust-test erlang-test lint examples

demo: build
	escript demo/demo.escript

# OTP's epmd, epmd-rs and the in-VM server measured side by side on loopback
# (a few minutes; not part of `make test`): prints the table, rewrites the
# results in BENCHMARKS.md and draws bench/chart.png with matplotlib, which
# is installed from PyPI into a venv under target/.
BENCH_VENV := target/bench/venv
.PHONY: bench
bench: build
	cargo build --release --locked -p epmd_cli -p epmd_bench
	@[ -x $(BENCH_VENV)/bin/pip ] || python3 -m venv $(BENCH_VENV) >/dev/null 2>&1 || { \
	  rm -rf $(BENCH_VENV); \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends python3 python3-venv && \
	  python3 -m venv $(BENCH_VENV); }
	@$(BENCH_VENV)/bin/python -c 'import matplotlib' 2>/dev/null || \
	  $(BENCH_VENV)/bin/pip install -q 'matplotlib>=3.8,<4'
	target/release/epmd-bench suite --markdown BENCHMARKS.md --json target/bench/results.json
	$(BENCH_VENV)/bin/python bench/chart.py target/bench/results.json bench/chart.png

clean:
	$(REBAR) clean
	rm -f priv/libepmd_nif.so
