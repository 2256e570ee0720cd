# epmd_rs: `make demo` and `make test` set up everything they need on a fresh
# Debian machine (Erlang/OTP and rebar3 from apt; Rust crates through cargo).

REBAR ?= rebar3
# Debian packages: the OTP pieces the build and the tests use, rebar3,
# iproute2 for the multi-host tests, elixir and procps (ps) for examples/,
# python3 for the fault tests (a node process to kill), openssl for TLS test
# certificates, debootstrap for the OTP matrix's roots, binutils (readelf)
# to check how the NIF library is linked, and dpkg-dev (dpkg-shlibdeps) for
# the Debian package's dependencies.
APT_PACKAGES := erlang-base erlang-dev erlang-common-test erlang-eunit \
	erlang-dialyzer erlang-tools erlang-syntax-tools erlang-parsetools \
	erlang-edoc erlang-ssl rebar3 iproute2 elixir procps python3 openssl debootstrap \
	binutils dpkg-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build test rust-test demo clean

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

# Every Erlang-side check on every supported OTP: EUnit, Common Test, xref,
# dialyzer and the examples in examples/ (a relx release and a Mix project),
# on this machine's OTP and on OTP 27 and 29 in Debian roots that the matrix
# makes with debootstrap and caches in /var/cache/epmd_rs/roots (see
# test/otp/matrix.sh). Making a root needs root.
.PHONY: otp-matrix test-host
otp-matrix: deps
	sh test/otp/matrix.sh

test: rust-test otp-matrix deb-test

# The same checks on this machine's OTP only: quicker, for development.
test-host: deps rust-test
	EPMD_RS_OTP_SUITES= sh test/otp/matrix.sh

# The Debian package of the epmd-rs daemon, target/deb/epmd-rs_VERSION_ARCH.deb
# (packaging/deb/build.sh, with dpkg-deb): the binary, its man page, systemd
# units and /etc/default/epmd-rs. `make test` runs deb-test: the package
# installed in a Debian bookworm root that test/otp/root.sh makes with
# debootstrap and caches, the daemon run as its service runs it, serving a
# stock node, then removed and purged (test/deb/check.sh; needs root).
.PHONY: deb deb-test
deb: deps
	cargo build --release --locked -p epmd_cli
	sh packaging/deb/build.sh

deb-test: deb
	sh test/deb/check.sh

demo: build
	escript demo/demo.escript

# OTP's epmd, epmd-rs and the in-VM server measured side by side on loopback,
# in a network namespace of their own when root may make one (bench/netns.sh)
# (about ten minutes; not part of `make test`): prints the table, rewrites the
# results in BENCHMARKS.md and draws bench/chart.png with matplotlib, which
# is installed from PyPI into a venv under target/.
BENCH_VENV := target/bench/venv
.PHONY: bench bench-venv soak
bench: build bench-venv
	cargo build --release --locked -p epmd_cli -p epmd_bench
	sh bench/netns.sh target/release/epmd-bench suite --markdown BENCHMARKS.md \
	  --json target/bench/results.json
	$(BENCH_VENV)/bin/python bench/chart.py target/bench/results.json bench/chart.png

bench-venv:
	@[ -x $(BENCH_VENV)/bin/pip ] || python3 -m venv $(BENCH_VENV) >/dev/null 2>&1 || { \
	  rm -rf $(BENCH_VENV); \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends python3 python3-venv && \
	  python3 -m venv $(BENCH_VENV); }
	@$(BENCH_VENV)/bin/python -c 'import matplotlib' 2>/dev/null || \
	  $(BENCH_VENV)/bin/pip install -q 'matplotlib>=3.8,<4'

# An endurance run of epmd-rs and the in-VM server under a mixed load
# (SOAK_DURATION, 10 minutes by default; not part of `make test`): prints
# the verdict, rewrites the soak's section of BENCHMARKS.md and draws
# bench/soak.png, also when the verdict is FAIL; exits non-zero then.
SOAK_DURATION ?= 10m
soak: build bench-venv
	cargo build --release --locked -p epmd_cli -p epmd_bench
	target/release/epmd-bench soak --duration $(SOAK_DURATION) \
	  --markdown BENCHMARKS.md --json target/soak/results.json; status=$$?; \
	  $(BENCH_VENV)/bin/python bench/soak_chart.py target/soak/results.json bench/soak.png && \
	  exit $$status

clean:
	$(REBAR) clean
	rm -f priv/libepmd_nif.so
