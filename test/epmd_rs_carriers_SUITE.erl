%% Every distribution carrier OTP offers, with the in-VM mapper, next to stock
%% nodes on the same carrier: inet_tcp, inet6_tcp and inet_tls (TLS with
%% certificates made here), dynamic node names (-sname undefined) and helpers
%% that do not listen (-dist_listen false).
-module(epmd_rs_carriers_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(epmd_rs_test_lib, [port_string/1, rs_args/1, start_peer/1, epmd_cli_names/1]).

-export([all/0, suite/0]).
-export([inet_tcp/1, inet6_tcp/1, inet_tls/1, dynamic_names/1, helpers_that_do_not_listen/1]).

suite() ->
    [{timetrap, {minutes, 2}}, {ct_hooks, [epmd_rs_ct_hook]}].

all() ->
    [inet_tcp, inet6_tcp, inet_tls, dynamic_names, helpers_that_do_not_listen].

inet_tcp(Config) ->
    mesh(Config, ["-proto_dist", "inet_tcp"], {tcp, inet}).

%% erl_epmd registers an inet6 node over ::1, and looks nodes up there.
inet6_tcp(Config) ->
    mesh(Config, ["-proto_dist", "inet6_tcp"], {tcp, inet6}).

inet_tls(Config) ->
    Dir = ?config(priv_dir, Config),
    ok = epmd_rs_test_lib:make_tls_certs(Dir),
    Options = epmd_rs_test_lib:write_tls_dist(Dir, Dir),
    mesh(Config, ["-proto_dist", "inet_tls", "-ssl_dist_optfile", Options], {tls, inet}).

%% A node with a dynamic name neither listens nor registers: it gets its name
%% from the first node it connects to, which it looks up through its mapper.
dynamic_names(Config) ->
    {A, _B, _C} = three(Config, []),
    AName = peer:call(A, erlang, node, []),
    [begin
         D = start_peer(#{args => ["-sname", "undefined" | Args],
                          env => [{"ERL_EPMD_PORT", port_string(Config)}]}),
         ?assertEqual(nonode@nohost, peer:call(D, erlang, node, [])),
         %% Not net_adm:ping/1: a node that has no name yet answers pang at once.
         ?assert(peer:call(D, net_kernel, connect_node, [AName])),
         Dynamic = peer:call(D, erlang, node, []),
         ?assertNotEqual(nonode@nohost, Dynamic),
         ?assertEqual(Dynamic, peer:call(A, erpc, call, [Dynamic, erlang, node, []])),
         %% It is nobody's registration.
         ?assertEqual(["a", "b", "c"], epmd_cli_names(Config))
     end || Args <- [rs_args(Config), ["-start_epmd", "false"]]].

%% A helper with -dist_listen false reaches the others but registers nothing.
helpers_that_do_not_listen(Config) ->
    {A, B, C} = three(Config, []),
    Nodes = [peer:call(P, erlang, node, []) || P <- [A, B, C]],
    [begin
         H = start_peer(#{name => list_to_atom(Name), args => ["-dist_listen", "false" | Args],
                          env => [{"ERL_EPMD_PORT", port_string(Config)}]}),
         [?assertEqual(pong, peer:call(H, net_adm, ping, [N])) || N <- Nodes],
         ?assertEqual(["a", "b", "c"], epmd_cli_names(Config))
     end || {Name, Args} <- [{"hrs", rs_args(Config)}, {"hstock", ["-start_epmd", "false"]}]].

%%% Helpers

%% Two epmd_rs nodes (the first serves EPMD) and a stock node, on one carrier.
three(Config, Carrier) ->
    Env = [{"ERL_EPMD_PORT", port_string(Config)}],
    A = start_peer(#{name => a, args => rs_args(Config) ++ Carrier, env => Env}),
    B = start_peer(#{name => b, args => rs_args(Config) ++ Carrier, env => Env}),
    C = start_peer(#{name => c, args => ["-start_epmd", "false" | Carrier], env => Env}),
    ?assertEqual(server, peer:call(A, epmd_rs, mode, [])),
    ?assertEqual(client, peer:call(B, epmd_rs, mode, [])),
    {A, B, C}.

%% All three listed by every tool, and every pair connected on the carrier.
mesh(Config, Carrier, {Protocol, Family}) ->
    {A, B, C} = three(Config, Carrier),
    Expected = ["a", "b", "c"],
    ?assertEqual(Expected, epmd_cli_names(Config)),
    ?assertEqual(Expected, listed(C, erl_epmd)),
    [?assertEqual(Expected, listed(P, epmd_rs)) || P <- [A, B]],
    Nodes = [{P, peer:call(P, erlang, node, [])} || P <- [A, B, C]],
    Pairs = [{From, To} || {From, FromName} <- Nodes, {_, To} <- Nodes, To =/= FromName],
    [?assertEqual(pong, peer:call(From, net_adm, ping, [To])) || {From, To} <- Pairs],
    [?assertEqual(To, peer:call(From, erpc, call, [To, erlang, node, []])) || {From, To} <- Pairs],
    %% The connections really run on the carrier: #net_address{protocol, family}.
    [begin
         {ok, Info} = peer:call(From, net_kernel, node_info, [To]),
         ?assertMatch({net_address, _, _, Protocol, Family}, proplists:get_value(address, Info))
     end || {From, To} <- Pairs].

listed(Peer, Module) ->
    {ok, Names} = peer:call(Peer, Module, names, []),
    lists:sort([N || {N, _} <- Names]).
