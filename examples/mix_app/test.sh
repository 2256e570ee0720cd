#!/bin/sh
# Compiles this Mix project, which depends on epmd_rs (a rebar3 project, built
# by Mix with MIX_REBAR3 and with no network), then starts Elixir nodes from it
# with the in-VM mapper, in the three ways README.md describes:
#   boot:  ERL_LIBS=_build/dev/lib elixir --sname N --erl "-epmd_module epmd_rs
#          -start_epmd false" -S mix run --no-halt   (distribution at boot)
#   start: elixir --erl "-epmd_module epmd_rs -start_epmd false" -S mix run
#          --no-halt -e 'Node.start(N, :shortnames)' (distribution after Mix
#          has put the deps on the code path)
#   release: MIX_ENV=prod mix release, whose rel/vm.args.eex has the flag,
#          then bin/mix_app start
# For each: Debian's `epmd -port P -names` lists the node (nothing but that VM
# listens on P), a stock node (erl_epmd, no epmd_rs code) finds it through that
# in-VM EPMD and calls it (:epmd_rs.mode() is server), and once it is stopped
# the name and the port are gone. Exits non-zero with a message on failure;
# the nodes are always stopped.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
# shellcheck source=../common.sh
. ../common.sh
export MIX_ENV=dev
# Mix builds rebar3 dependencies with this rebar3 (else `mix local.rebar`,
# which needs hex.pm).
MIX_REBAR3=${MIX_REBAR3:-$(command -v rebar3 || echo /usr/bin/rebar3)}
export MIX_REBAR3
COOKIE=epmd_rs_mix_example_cookie
DEADLINE_S=60

say() { printf 'mix_app: %s\n' "$*"; }
fail() { printf 'mix_app: FAILED: %s\n' "$*" >&2; exit 1; }

for c in mix elixir erl epmd; do
    command -v "$c" >/dev/null || fail "$c is not on PATH (Debian: elixir, erlang-base)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/epmd_rs_mix.XXXXXX")
node_pid=""
cleanup() {
    code=$?
    if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then
        say "cleanup: killing the node (pid $node_pid)"
        kill -9 "$node_pid" 2>/dev/null || true
    fi
    if [ "$code" != 0 ] && [ -f "$work/node.out" ]; then
        echo "---- the node's output (last lines)" >&2
        tail -n 30 "$work/node.out" >&2
    fi
    rm -rf "$work"
    exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(now_ms)
say "mix compile (MIX_REBAR3=$MIX_REBAR3)"
mix compile >"$work/compile.log" 2>&1 || { cat "$work/compile.log" >&2; fail "mix compile failed"; }
[ -f _build/dev/lib/epmd_rs/ebin/epmd_rs.beam ] || fail "no _build/dev/lib/epmd_rs/ebin/epmd_rs.beam"
[ -f _build/dev/lib/epmd_rs/priv/libepmd_nif.so ] || fail "no _build/dev/lib/epmd_rs/priv/libepmd_nif.so"
t_build=$(now_ms)

PORT=$(free_port) || fail "found no free port for the EPMD"
export ERL_EPMD_PORT="$PORT"
say "EPMD port for this run: $PORT (ERL_EPMD_PORT)"

# A stock node: OTP's erl_epmd, no epmd_rs code. It finds $1 through the EPMD
# on $PORT (the in-VM one) and runs the Erlang expression $2 there; it prints
# the result with ~p.
stock_call() {
    erl -noshell -sname "probe_$$" -hidden -start_epmd false -setcookie "$COOKIE" -eval "
        [_, Host] = string:split(atom_to_list(node()), \"@\"),
        N = list_to_atom(\"$1@\" ++ Host),
        case rpc:call(N, erl_eval, exprs, [element(2, erl_parse:parse_exprs(
                 element(2, erl_scan:string(\"$2\")))), []], 10000) of
            {value, V, _} -> io:format(\"~p~n\", [V]), halt(0);
            Error -> io:format(standard_error, \"~p~n\", [Error]), halt(1)
        end."
}

# run_node NAME HOW CMD...: starts the node, checks it, stops it.
run_node() {
    name=$1; how=$2; shift 2
    port_free "$PORT" || fail "port $PORT is held before $name starts"
    say "[$how] $*"
    t_start=$(now_ms)
    "$@" >"$work/node.out" 2>&1 &
    node_pid=$!

    deadline=$(( $(date +%s) + DEADLINE_S ))
    until epmd_lists "$PORT" "$name"; do
        kill -0 "$node_pid" 2>/dev/null || { wait "$node_pid" || true; node_pid=""; fail "[$how] the node exited before registering"; }
        [ "$(date +%s)" -lt "$deadline" ] || fail "[$how] epmd -port $PORT -names never listed $name; last output: $names"
        sleep 0.1
    done
    t_listed=$(now_ms)
    say "[$how] epmd -port $PORT -names, $(( t_listed - t_start )) ms after the start:"
    printf '%s\n' "$names" | sed 's/^/  | /'

    only_listener "$PORT" "$node_pid" "the node's VM" || fail "[$how] $listener_note"
    say "[$how] $listener_note"

    # Fields one by one: each OTP prints the keys of a map in its own order.
    # With distribution at boot the node is listed before Mix has put the
    # project's code on its path: until then the call is undef, so retry.
    until info=$(stock_call "$name" "{maps:get(epmd_mode, 'Elixir.MixApp':info()), maps:get(node, 'Elixir.MixApp':info()), os:getpid()}." 2>&1); do
        [ "$(date +%s)" -lt "$deadline" ] || fail "[$how] a stock node could not call $name: $info"
        sleep 0.2
    done
    printf '%s' "$info" | grep -Eq "^\{server,'?$name@[^,]*,\"$node_pid\"\}\$" \
        || fail "[$how] {epmd_mode, node, :os.getpid()} of MixApp.info() over rpc returned $info (node pid $node_pid)"
    say "[$how] from a stock node, rpc {epmd_mode, node, :os.getpid()} of MixApp.info() -> $info"

    stock_call "$name" "init:stop()." >/dev/null || fail "[$how] init:stop() over rpc failed"
    while kill -0 "$node_pid" 2>/dev/null; do
        [ "$(date +%s)" -lt "$deadline" ] || fail "[$how] the node did not stop"
        sleep 0.1
    done
    wait "$node_pid" || true
    node_pid=""
    while epmd_lists "$PORT" "$name"; do
        [ "$(date +%s)" -lt "$deadline" ] || fail "[$how] $name is still listed after it stopped: $names"
        sleep 0.1
    done
    until port_free "$PORT"; do
        [ "$(date +%s)" -lt "$deadline" ] || fail "[$how] port $PORT is still held after the node stopped"
        sleep 0.1
    done
    say "[$how] stopped: epmd -names says '$(printf '%s' "$names" | tr '\n' ' ')', port $PORT is free ($(( $(now_ms) - t_start )) ms in all)"
}

# Distribution starts at boot, before Mix runs: epmd_rs must already be
# compiled, and on the code path through ERL_LIBS (or --erl "-pa ...").
# --no-compile: `mix compile` ran above; without it Mix would run rebar3 on
# the path dependency again, inside the node.
run_node mix_boot boot \
    env ERL_LIBS="$here/_build/dev/lib" \
    elixir --sname mix_boot --cookie "$COOKIE" --erl "-epmd_module epmd_rs -start_epmd false" \
    -S mix run --no-compile --no-halt

# Distribution starts from code, once Mix has set the code path: no ERL_LIBS,
# and no --sname (it would start distribution at boot). -epmd_module still
# comes from the command line: net_kernel reads it when distribution starts.
run_node mix_start start \
    elixir --cookie "$COOKIE" --erl "-epmd_module epmd_rs -start_epmd false" \
    -S mix run --no-compile --no-halt \
    -e '{:ok, _} = Node.start(:mix_start, :shortnames)'

# A release: rel/vm.args.eex carries the flag; epmd_rs is in the release's
# lib/ and its boot script, so nothing else is needed at boot.
say "[release] MIX_ENV=prod mix release"
MIX_ENV=prod mix release --overwrite >"$work/release.log" 2>&1 \
    || { cat "$work/release.log" >&2; fail "mix release failed"; }
release=$here/_build/prod/rel/mix_app
grep -qx -- '-epmd_module epmd_rs' "$release"/releases/*/vm.args \
    || fail "the release's vm.args does not carry -epmd_module epmd_rs"
export RELEASE_NODE=mix_rel RELEASE_COOKIE="$COOKIE" RELEASE_DISTRIBUTION=sname
run_node mix_rel release "$release/bin/mix_app" start
unset RELEASE_NODE RELEASE_COOKIE RELEASE_DISTRIBUTION

t_end=$(now_ms)
say "OK: mix compile $(( t_build - t0 )) ms, total $(( t_end - t0 )) ms"
