%% Many VMs on one host: the first epmd_rs VM serves the EPMD port, the others
%% are its clients, and when the serving VM dies the survivors elect a new
%% server by binding the port.
-module(epmd_rs_takeover_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(epmd_rs_test_lib, [start_peer/3, kill_peer/1, epmd_cli_names/1,
                           start_otp_epmd/1, wait_until/2]).

-export([all/0, suite/0]).
-export([chain_of_three_kills/1, takeover_from_otp_daemon/1]).

%% The takeover targets: epmd_rs names back within 500 ms, stock names
%% (erl_epmd retries every 2 s) within 3 s.
-define(RS_DEADLINE_MS, 500).
-define(STOCK_DEADLINE_MS, 3000).

suite() ->
    [{timetrap, {minutes, 2}}, {ct_hooks, [epmd_rs_ct_hook]}].

all() ->
    [chain_of_three_kills, takeover_from_otp_daemon].

chain_of_three_kills(Config) ->
    Rs = [{N, start_peer(Config, N, rs)} || N <- ["a", "b", "c", "d"]],
    _Stock = start_peer(Config, "s", stock),
    ?assertEqual(["a", "b", "c", "d", "s"], epmd_cli_names(Config)),
    Creations = [{N, creation(P)} || {N, P} <- Rs],
    lists:foldl(fun(_Round, Alive) -> kill_server(Config, Alive) end, Rs, [1, 2, 3]),
    %% Killing changes nobody's creation.
    [?assertEqual(C, creation(P)) || {N, P} <- Rs, {M, C} <- Creations, N =:= M,
                                     is_process_alive(P)].

%% OTP's daemon holds the port: epmd_rs VMs are its clients; when it dies,
%% one of them takes over and everybody registers with it.
takeover_from_otp_daemon(Config) ->
    OsPid = start_otp_epmd(Config),
    Rs = [{N, start_peer(Config, N, rs)} || N <- ["a", "b"]],
    _Stock = start_peer(Config, "s", stock),
    [?assertEqual(client, peer:call(P, epmd_rs, mode, [])) || {_, P} <- Rs],
    ?assertEqual(["a", "b", "s"], epmd_cli_names(Config)),
    Killed = now_ms(),
    epmd_rs_test_lib:kill_os_pid(OsPid),
    await_listed(Config, ["a", "b"], Killed + ?RS_DEADLINE_MS),
    await_listed(Config, ["a", "b", "s"], Killed + ?STOCK_DEADLINE_MS),
    ?assertEqual([client, server], lists:sort([peer:call(P, epmd_rs, mode, []) || {_, P} <- Rs])).

%%% Helpers

%% Kills the serving VM and checks the takeover; returns the survivors.
kill_server(Config, Alive) ->
    [{Name, Server}] = [{N, P} || {N, P} <- Alive, peer:call(P, epmd_rs, mode, []) =:= server],
    Killed = now_ms(),
    kill_peer(Server),
    Survivors = Alive -- [{Name, Server}],
    RsNames = [N || {N, _} <- Survivors],
    await_listed(Config, RsNames, Killed + ?RS_DEADLINE_MS),
    await_listed(Config, lists:sort(["s" | RsNames]), Killed + ?STOCK_DEADLINE_MS),
    %% Exactly one server; every other VM is its client.
    Modes = lists:sort([peer:call(P, epmd_rs, mode, []) || {_, P} <- Survivors]),
    ?assertEqual([server | lists:duplicate(length(Survivors) - 1, client)],
                 lists:reverse(lists:sort(Modes))),
    Survivors.

%% Waits until Debian's `epmd -names' lists at least `Names', by `Deadline'
%% (monotonic milliseconds).
await_listed(Config, Names, Deadline) ->
    Listed = fun() -> Names -- epmd_cli_names(Config) =:= [] end,
    case wait_until(Listed, max(0, Deadline - now_ms())) of
        ok -> ct:log("~p listed, ~b ms before the deadline", [Names, Deadline - now_ms()]);
        {error, timeout} -> ct:fail({not_listed_in_time, Names, epmd_cli_names(Config)})
    end.

now_ms() ->
    erlang:monotonic_time(millisecond).

%% The creation the node uses on the wire.
creation(Peer) ->
    peer:call(Peer, erlang, system_info, [creation]).
