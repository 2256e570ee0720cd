#!/bin/sh
# Builds the NIF library and installs it as priv/libepmd_nif.so. Run by rebar3's
# compile hook from the application's directory (also when it is a dependency).
set -eu
cd "$(dirname "$0")/.."
profile=${EPMD_RS_CARGO_PROFILE:-release}
target=target
features=${EPMD_RS_NIF_FEATURES:-}
# This repository's own test runs (rebar3's test profile, with this app at the
# top level) get the NIFs that only tests call, such as an injected panic.
if [ -z "$features" ] && [ -n "${REBAR_ROOT_DIR:-}" ] &&
   [ "$(cd "$REBAR_ROOT_DIR" && pwd -P)" = "$(pwd -P)" ] &&
   [ "$(basename "${REBAR_BUILD_DIR:-}")" = test ]; then
  features=test-hooks
fi
if [ -n "$features" ]; then
  # A target directory per feature set keeps both builds incremental.
  target=target/features-$(echo "$features" | tr -c 'a-z0-9\n' '-')
  set -- --features "$features"
fi
dir=$profile
[ "$profile" = dev ] && dir=debug
lib=libepmd_nif.so
# EPMD_RS_PREBUILT: the library in target/ was built elsewhere (the OTP test
# matrix builds it once on the host, for roots that have no cargo); install it.
if [ -n "${EPMD_RS_PREBUILT:-}" ]; then
  [ -f "$target/$dir/$lib" ] || {
    echo "native/build.sh: EPMD_RS_PREBUILT is set but $target/$dir/$lib is missing" >&2
    exit 1
  }
else
  cargo build --locked --profile "$profile" -p epmd_nif --target-dir "$target" "$@"
fi
mkdir -p priv
# Replace, never overwrite in place: a running VM may have the old file mapped
# (rusterlium/rustler#128). rename(2) swaps the name atomically.
cp "$target/$dir/$lib" "priv/.libepmd_nif.so.$$"
mv -f "priv/.libepmd_nif.so.$$" priv/libepmd_nif.so
