#!/bin/sh
# Builds the NIF library and installs it as priv/libepmd_nif.so. Run by rebar3's
# compile hook from the application's directory (also when it is a dependency).
set -eu
cd "$(dirname "$0")/.."
profile=${EPMD_RS_CARGO_PROFILE:-release}
cargo build --locked --profile "$profile" -p epmd_nif
dir=$profile
[ "$profile" = dev ] && dir=debug
case "$(uname -s)" in
  Darwin) lib=libepmd_nif.dylib ;;
  *) lib=libepmd_nif.so ;;
esac
mkdir -p priv
# Replace, never overwrite in place: a running VM may have the old file mapped
# (rusterlium/rustler#128). rename(2) swaps the name atomically.
cp "target/$dir/$lib" priv/.libepmd_nif.so.tmp
mv -f priv/.libepmd_nif.so.tmp priv/libepmd_nif.so
