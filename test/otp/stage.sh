#!/bin/sh
# Copies this working tree (what git tracks or would track, uncommitted
# changes included) into an OTP root at /work/epmd_rs, with the native
# artefacts that the host built: the root has no cargo, and each OTP compiles
# the Erlang code in a _build of its own.
#   test/otp/stage.sh ROOT
# Then, for example, one suite on that root's OTP:
#   test/otp/chroot.sh ROOT sh -c 'cd /work/epmd_rs && EPMD_RS_PREBUILT=1 rebar3 ct --suite test/epmd_rs_dist_SUITE'
set -eu
cd "$(dirname "$0")/../.."
tree=$1/work/epmd_rs
rm -rf "$tree"
mkdir -p "$tree"
git ls-files -z -c -o --exclude-standard | tr '\0' '\n' | while IFS= read -r f; do
    if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\n' "$f"; fi
done | tar -cf - -T - | tar -xf - -C "$tree"
for f in target/release/libepmd_nif.so target/features-test-hooks/release/libepmd_nif.so \
         target/release/epmd-rs target/debug/epmd-rs target/debug/epmd-conformance; do
    [ -f "$f" ] || { echo "test/otp/stage.sh: $f is missing: build it first (make test does)" >&2; exit 1; }
    mkdir -p "$tree/$(dirname "$f")"
    cp "$f" "$tree/$f"
done
