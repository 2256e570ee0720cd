#!/bin/sh
# The OTP version matrix that `make test` runs: every Erlang-side check
# (test/otp/check.sh) on this machine's OTP, then on OTP 27 (Debian trixie)
# and OTP 29 (Debian sid), each in a root of Debian's packages that
# test/otp/root.sh makes once and caches. The native code is built once here,
# with cargo; each OTP compiles the Erlang code with its own compiler and
# builds the examples with its own rebar3 and Elixir.
#   EPMD_RS_OTP_SUITES="trixie sid"   the roots to run (empty: host only)
# Prints a table of every step on every OTP and exits non-zero if any step
# failed, or if a root could not be made.
set -u
cd "$(dirname "$0")/../.."
here=$(pwd)
suites=${EPMD_RS_OTP_SUITES-trixie sid}
summary=$(mktemp "${TMPDIR:-/tmp}/epmd_rs_matrix.XXXXXX")
trap 'rm -f "$summary"' EXIT
status=0
mixed=""
labels=""

otp_version() { cat "$1"/usr/lib/erlang/releases/*/OTP_VERSION 2>/dev/null | head -n 1; }

printf '=== native code, built once with cargo\n'
EPMD_RS_NIF_FEATURES=test-hooks sh native/build.sh &&
    sh native/build.sh &&
    cargo build --release --locked -p epmd_cli &&
    cargo build --locked -p epmd_conformance -p epmd_cli || {
    echo "otp matrix: FAILED: the native build failed" >&2
    exit 1
}

started=$(date +%s)
sh test/otp/check.sh "OTP $(otp_version "") (host)" "$summary" || status=1
printf 'time\t%s\t%s\n' "OTP $(otp_version "") (host)" $(($(date +%s) - started)) >>"$summary"

for suite in $suites; do
    started=$(date +%s)
    if ! root=$(sh test/otp/root.sh "$suite"); then
        printf '%s\troot\tFAILED\tthe %s root could not be made (see above)\n' "$suite" "$suite" >>"$summary"
        status=1
        continue
    fi
    label="OTP $(otp_version "$root") ($suite)"
    if ! sh test/otp/stage.sh "$root"; then
        printf '%s\tstage\tFAILED\tthe tree could not be copied into the root\n' "$label" >>"$summary"
        status=1
        continue
    fi
    : >"$root/work/summary"
    sh test/otp/chroot.sh "$root" sh /work/epmd_rs/test/otp/check.sh "$label" /work/summary || status=1
    mixed="$mixed${mixed:+ }$(otp_version "$root")=$root"
    labels="$labels+$(otp_version "$root")"
    cat "$root/work/summary" >>"$summary"
    printf 'time\t%s\t%s\n' "$label" $(($(date +%s) - started)) >>"$summary"
done

# VMs of every OTP on one host and one EPMD port, from this host's CT, once
# each OTP has compiled the tree in its root.
if [ -n "$mixed" ] && ! grep -q "	FAILED	" "$summary"; then
    started=$(date +%s)
    EPMD_RS_OTP_ROOTS=$mixed sh test/otp/check.sh "OTP $(otp_version "")$labels" "$summary" rolling ||
        status=1
    printf 'time\t%s\t%s\n' "OTP $(otp_version "")$labels" $(($(date +%s) - started)) >>"$summary"
elif [ -n "$mixed" ]; then
    printf 'every OTP\trolling\tFAILED\tnot run: a check above failed\n' >>"$summary"
fi

cd "$here"
printf '\n=== OTP matrix\n'
awk -F '\t' '
    $1 == "time" { printf "%-26s %-19s %s s\n", $2, "(total)", $3; next }
    { printf "%-26s %-19s %-7s %s\n", $1, $2, $3, $4 }
    $2 == "toolchain" { next }
    {
      if (match($4, /[0-9]+ passed, [0-9]+ failed/)) {
          split(substr($4, RSTART, RLENGTH), c, /[^0-9]+/); p += c[1]; f += c[2]
      } else if ($3 == "ok") p++; else f++ }
    END { printf "\notp matrix (tests; a step without counts counts as one):\n%d passed, %d failed\n", p, f }
' "$summary"
grep -q "	FAILED	" "$summary" && status=1
exit $status
