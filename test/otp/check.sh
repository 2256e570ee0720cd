#!/bin/sh
# Every Erlang-side check, with the OTP on PATH: EUnit, Common Test (every
# suite), xref, dialyzer, the relx release example and the Mix example. The
# native artefacts (the NIF libraries, epmd-conformance, epmd-rs) must already
# be in target/: the matrix builds them once, with cargo, on the host.
#   test/otp/check.sh LABEL SUMMARY_FILE [rolling]
# With `rolling', only the suite that puts VMs of every OTP on one host
# (test/mixed), which needs EPMD_RS_OTP_ROOTS: the matrix runs it last.
# Runs every step even after a failure, appends a line per step to
# SUMMARY_FILE ("LABEL<TAB>step<TAB>ok|FAILED<TAB>counts and time") and exits
# non-zero if any step failed.
set -u
cd "$(dirname "$0")/../.."
label=$1
summary=$2
REBAR=${REBAR:-rebar3}
# native/build.sh installs the library from target/ instead of running cargo.
export EPMD_RS_PREBUILT=1
status=0
log=$(mktemp "${TMPDIR:-/tmp}/epmd_rs_check.XXXXXX")
trap 'rm -f "$log"' EXIT

# The counts a runner printed last, from rebar3's summaries: EUnit's "N tests,
# F failures", CT's "All N tests passed." or "Failed F tests. Passed P tests."
# and "Skipped S (...) tests.".
counts() {
    sed 's/\x1b\[[0-9;]*m//g' "$log" | awk '
        /^[0-9]+ tests, [0-9]+ failures/ { p = $1 - $3; f = $3; seen = 1 }
        /^All [0-9]+ tests passed\./ { p = $2; f = 0; seen = 1 }
        /^Failed [0-9]+ tests\. Passed [0-9]+ tests\./ { f = $2; p = $5; seen = 1 }
        /^Skipped [0-9]+ / { s = $2 }
        END { if (seen) printf "%d passed, %d failed, %d skipped", p, f, s }'
}

step() {
    name=$1
    shift
    printf '\n=== %s: %s\n' "$label" "$name"
    start=$(date +%s)
    "$@" >"$log" 2>&1
    rc=$?
    cat "$log"
    detail="$(counts)"
    # A check of a feature this OTP lacks says so, and passes.
    if grep -q "not applicable" "$log"; then detail="not applicable${detail:+, $detail}"; fi
    detail="${detail:+$detail, }$(($(date +%s) - start)) s"
    if [ "$rc" = 0 ]; then
        printf '%s\t%s\tok\t%s\n' "$label" "$name" "$detail" >>"$summary"
    else
        printf '%s\t%s\tFAILED\t%s\n' "$label" "$name" "$detail" >>"$summary"
        status=1
    fi
}

if [ "${3:-}" = rolling ]; then
    step rolling "$REBAR" ct --suite test/mixed/epmd_rs_rolling_SUITE
    exit $status
fi

# What this OTP's toolchain is, for the matrix's table.
nif=$(erl -noshell -eval 'io:format("~s", [erlang:system_info(nif_version)]), halt().')
rebar=$("$REBAR" version | awk '{print $2}')
elixir=$(elixir --short-version 2>/dev/null || echo none)
printf '%s\ttoolchain\t-\tNIF API %s, rebar3 %s, Elixir %s\n' "$label" "$nif" "$rebar" "$elixir" >>"$summary"

step eunit "$REBAR" eunit
step ct "$REBAR" ct
step xref "$REBAR" xref
step dialyzer "$REBAR" dialyzer
step relx-example env REBAR="$REBAR" sh examples/rebar3_release/test.sh
step relx-kernel-params env EPMD_RS_FORM=kernel_params REBAR="$REBAR" sh examples/rebar3_release/test.sh
step mix-example sh examples/mix_app/test.sh
exit $status
