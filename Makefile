# epmd_rs: `make demo` and `make test` set up everything they need on a fresh
# Debian machine (Erlang/OTP and rebar3 from apt; Rust crates through cargo).

REBAR ?= rebar3
# Debian packages: the OTP pieces the build and the tests use, rebar3, and
# iproute2 for the multi-host tests.
APT_PACKAGES := erlang-base erlang-dev erlang-common-test erlang-eunit \
	erlang-dialyzer erlang-tools erlang-syntax-tools erlang-parsetools \
	erlang-edoc rebar3 iproute2
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

build: deps
	$(REBAR) compile

rust-test: deps
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cargo test --workspace --locked

erlang-test: deps
	cargo build --locked -p epmd_conformance
	$(REBAR) eunit
	$(REBAR) ct

lint: deps
	$(REBAR) xref
	$(REBAR) dialyzer

test: rust-test erlang-test lint

demo: build
	escript demo/demo.escript

clean:
	$(REBAR) clean
	rm -f priv/libepmd_nif.so
