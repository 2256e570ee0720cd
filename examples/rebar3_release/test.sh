#!/bin/sh
# Builds the example release, boots it as a daemon on a private EPMD port and
# checks, from outside the VM, that it serves EPMD itself:
#   - Debian's `epmd -port P -names` lists the node, and the only listener on
#     P is the release's VM (no epmd daemon runs);
#   - `bin/hello eval`, `rpc`, `ping` (erl_call) and `remote_console` (a helper
#     VM) reach it, looking it up in that in-VM EPMD;
#   - after `bin/hello stop`, the node, and the port mapper with it, are gone
#     and the port is free again.
# Exits non-zero with a message on the first failure; the release is always
# stopped (killed by pid if `stop` does not work).
#
# CODE_LOADING_MODE=interactive boots the release in interactive mode (relx's
# default is embedded).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
# shellcheck source=../common.sh
. ../common.sh
REBAR=${REBAR:-rebar3}
REL=hello
# EPMD_RS_FORM=kernel_params builds the release with the kernel parameter
# (config/vm.kernel_params.args, OTP 27.2 and later) instead of the flag.
FORM=${EPMD_RS_FORM:-flag}
case $FORM in
    flag) PROFILE=default; AS="" ;;
    kernel_params) PROFILE=kernel_params; AS="as kernel_params" ;;
    *) echo "rebar3_release: EPMD_RS_FORM must be flag or kernel_params" >&2; exit 2 ;;
esac
BIN=$here/_build/$PROFILE/rel/$REL/bin/$REL
LIBDIR=$here/_build/$PROFILE/rel/$REL/lib
DEADLINE_S=60

say() { printf 'rebar3_release: %s\n' "$*"; }
fail() { printf 'rebar3_release: FAILED: %s\n' "$*" >&2; exit 1; }

for c in "$REBAR" erl escript epmd ps; do
    command -v "$c" >/dev/null || fail "$c is not on PATH"
done
[ -f _checkouts/epmd_rs/rebar.config ] \
    || fail "_checkouts/epmd_rs must be a symlink to the repository root (ln -s ../../.. _checkouts/epmd_rs)"

# run_erl's pipes and logs for this run only (relx's default pipe directory,
# /tmp/erl_pipes/hello, would be shared with any other `hello' on this host).
work=$(mktemp -d "${TMPDIR:-/tmp}/epmd_rs_rel.XXXXXX")
export PIPE_DIR="$work/pipes/" RUNNER_LOG_DIR="$work/log"

started=""
daemon_pid=""
beam_pid=""
# run_erl (what `daemon' starts) and the VM under it, found by our private
# pipe directory, which only this run's run_erl has on its command line.
our_pids() {
    ps -eo pid=,args= | awk -v d="$PIPE_DIR" 'index($0, d) && !/awk/ {print $1}' | while read -r p; do
        echo "$p"; ps -o pid= --ppid "$p" 2>/dev/null || true
    done
}
cleanup() {
    code=$?
    if [ -n "$started" ]; then
        if timeout 20 "$BIN" ping >/dev/null 2>&1; then
            say "cleanup: bin/$REL stop"
            timeout 30 "$BIN" stop >/dev/null 2>&1 || true
        fi
        [ -z "$daemon_pid" ] || kill "$daemon_pid" 2>/dev/null || true
        for p in $beam_pid $(our_pids); do
            if kill -0 "$p" 2>/dev/null; then
                say "cleanup: killing pid $p"
                kill -9 "$p" 2>/dev/null || true
            fi
        done
    fi
    if [ "$code" != 0 ] && [ -d "$work/log" ]; then
        for f in "$work"/log/*; do
            [ -f "$f" ] && { echo "---- $f (last lines)" >&2; tail -n 30 "$f" >&2; }
        done
    fi
    rm -rf "$work"
    exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(now_ms)
say "building: $REBAR $AS release"
# shellcheck disable=SC2086
"$REBAR" $AS release >"$work/rebar3.log" 2>&1 || { cat "$work/rebar3.log" >&2; fail "$REBAR $AS release failed"; }
t_build=$(now_ms)
ls "$LIBDIR"/epmd_rs-*/priv/libepmd_nif.so >/dev/null 2>&1 \
    || fail "the release has no lib/epmd_rs-*/priv/libepmd_nif.so"
if [ "$FORM" = kernel_params ] && ! erl -noshell -pa "$LIBDIR"/epmd_rs-*/ebin \
        -eval 'halt(case epmd_rs_config:kernel_has_parameters() of true -> 0; false -> 3 end).'; then
    say "not applicable: this OTP's kernel has no epmd_module parameter (it came with 27.2)"
    exit 0
fi

PORT=$(free_port) || fail "found no free port for the EPMD"
export ERL_EPMD_PORT="$PORT"
say "EPMD port for this run: $PORT (ERL_EPMD_PORT); nothing listens there yet"
epmd -port "$PORT" -names >/dev/null 2>&1 && fail "an EPMD already answers on port $PORT"

say "booting: bin/$REL daemon (code loading mode: ${CODE_LOADING_MODE:-embedded, the default})"
started=yes
# `daemon' returns once erl_call reaches the node, which already needs the
# in-VM EPMD. It would wait forever for a node that died at boot, so it runs
# in the background while we poll, and a crash fails the test at once.
"$BIN" daemon >"$work/daemon.out" 2>&1 &
daemon_pid=$!
crashed() { grep -qs -e 'Kernel pid terminated' -e 'Crash dump is being written' "$RUNNER_LOG_DIR"/erlang.log.*; }

deadline=$(( $(date +%s) + DEADLINE_S ))
until epmd_lists "$PORT" "$REL"; do
    crashed && fail "the release did not boot (its log is below)"
    [ "$(date +%s)" -lt "$deadline" ] \
        || fail "epmd -port $PORT -names did not list $REL within ${DEADLINE_S}s; it said: $names"
    sleep 0.1
done
t_listed=$(now_ms)
say "epmd -port $PORT -names:"
printf '%s\n' "$names" | sed 's/^/  | /'
while kill -0 "$daemon_pid" 2>/dev/null; do
    crashed && fail "the release died after registering (its log is below)"
    [ "$(date +%s)" -lt "$deadline" ] || fail "bin/$REL daemon did not return within ${DEADLINE_S}s"
    sleep 0.1
done
wait "$daemon_pid" || { cat "$work/daemon.out" >&2; fail "bin/$REL daemon failed"; }
daemon_pid=""
t_boot=$(now_ms)

beam_pid=$("$BIN" pid) || fail "bin/$REL pid failed"
case $beam_pid in *[!0-9]*|"") fail "bin/$REL pid printed '$beam_pid'" ;; esac
only_listener "$PORT" "$beam_pid" "the release's VM" || fail "$listener_note"
say "$listener_note"

mode=$("$BIN" eval 'epmd_rs:mode().') || fail "bin/$REL eval failed"
[ "$mode" = server ] || fail "bin/$REL eval 'epmd_rs:mode().' printed '$mode', not server"
say "bin/$REL eval 'epmd_rs:mode().' -> $mode"

info=$("$BIN" rpc hello info) || fail "bin/$REL rpc hello info failed"
printf '%s\n' "$info" | grep -q "epmd_mode => server" || fail "bin/$REL rpc hello info printed '$info'"
say "bin/$REL rpc hello info -> $info"

pong=$("$BIN" ping) || fail "bin/$REL ping failed"
[ "$pong" = pong ] || fail "bin/$REL ping printed '$pong'"
say "bin/$REL ping -> $pong"

# remote_console starts a helper VM with the release's dist flags. With the
# flag form that includes `-epmd_module epmd_rs': it finds epmd_rs's code
# because the boot script it uses, relx's start_clean, has every application
# of the release on its path (that epmd_rs finds the port held by the
# release's VM and is its client). With the kernel parameter relx carries
# nothing over, and the helper's stock erl_epmd looks the node up in the
# release's EPMD like any client.
# The escript bounds each of its steps and cleans up after itself.
remote=$(escript "$here/remote_console.escript" "$BIN") || fail "bin/$REL remote_console did not work"
case $remote in
    "remote:$REL@"*":server") ;;
    *) fail "remote_console printed '$remote', not remote:$REL@<host>:server" ;;
esac
say "bin/$REL remote_console, typing io:format(..., [node(), epmd_rs:mode()]) -> $remote"

t_checks=$(now_ms)
say "stopping: bin/$REL stop"
timeout 60 "$BIN" stop || fail "bin/$REL stop failed"
t_stop=$(now_ms)
kill -0 "$beam_pid" 2>/dev/null && fail "the VM (pid $beam_pid) still runs after bin/$REL stop"
started=""

# The VM was the EPMD: once it is gone, nothing answers on the port.
deadline=$(( $(date +%s) + DEADLINE_S ))
while epmd_lists "$PORT" "$REL"; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "$REL is still listed after stop: $names"
    sleep 0.1
done
say "after stop, epmd -port $PORT -names: $(printf '%s' "$names" | tr '\n' ' ')"
until port_free "$PORT"; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "port $PORT is still held after stop"
    sleep 0.1
done
say "port $PORT is free again"

t_end=$(now_ms)
say "OK ($FORM) in $(( t_end - t0 )) ms: rebar3 release $(( t_build - t0 )), listed by epmd $(( t_listed - t_build )) ms after the daemon command, daemon returned at $(( t_boot - t_build )), rpc/eval/ping/remote_console $(( t_checks - t_boot )), stop $(( t_stop - t_checks ))"
