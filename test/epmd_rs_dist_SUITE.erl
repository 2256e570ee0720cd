%% Real nodes on one host using the in-VM mapper, next to stock nodes and
%% Debian's epmd. The CT node itself stays non-distributed: peers are driven
%% over their standard I/O, so nothing here depends on the EPMD under test.
-module(epmd_rs_dist_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(epmd_rs_test_lib, [port_string/1, rs_args/1, start_peer/1, start_peer/3,
                           start_peer/4, kill_peer/1, listed_names/4, epmd_cli/2,
                           epmd_cli_names/1, start_otp_epmd/1, run_erl/2, run_erl/3,
                           start_tty/3, expect/2, tty_exit/1, wait_until/2]).

-export([all/0, suite/0]).
-export([three_nodes_listed_and_connected/1,
         killed_nodes_leave_every_listing/1,
         duplicate_name_refuses_to_boot/1,
         lookups_match_erl_epmd/1,
         registers_with_otp_daemon/1,
         port_held_by_non_epmd_fails_boot/1,
         local_registration_follows_owner/1,
         port_from_application_env/1,
         silent_epmd_does_not_hang/1,
         kill_and_stop_refused_by_default/1,
         relaxed_kill_and_stop_never_take_the_node_down/1,
         missing_nif_falls_back_to_erl_epmd/1,
         missing_nif_with_fail_refuses_to_boot/1,
         application_serves_epmd/1,
         introspection_and_logging/1,
         nif_panic_is_an_erlang_error/1,
         nifs_never_hold_a_scheduler/1,
         owner_crash_loses_nobody_for_long/1,
         killed_node_restarts_at_once_under_its_name/1,
         helper_vms_inherit_flags/1,
         nif_loads_on_any_first_call/1,
         nif_library_stays_mapped/1,
         what_the_host_shows/1,
         boot_loads_only_its_own_modules/1]).

suite() ->
    [{timetrap, {minutes, 2}}, {ct_hooks, [epmd_rs_ct_hook]}].

all() ->
    [three_nodes_listed_and_connected,
     killed_nodes_leave_every_listing,
     duplicate_name_refuses_to_boot,
     lookups_match_erl_epmd,
     registers_with_otp_daemon,
     port_held_by_non_epmd_fails_boot,
     local_registration_follows_owner,
     port_from_application_env,
     silent_epmd_does_not_hang,
     kill_and_stop_refused_by_default,
     relaxed_kill_and_stop_never_take_the_node_down,
     missing_nif_falls_back_to_erl_epmd,
     missing_nif_with_fail_refuses_to_boot,
     application_serves_epmd,
     introspection_and_logging,
     nif_panic_is_an_erlang_error,
     nifs_never_hold_a_scheduler,
     owner_crash_loses_nobody_for_long,
     killed_node_restarts_at_once_under_its_name,
     helper_vms_inherit_flags,
     nif_loads_on_any_first_call,
     nif_library_stays_mapped,
     what_the_host_shows,
     boot_loads_only_its_own_modules].

%%% Cases

three_nodes_listed_and_connected(Config) ->
    {A, B, C} = start_three(Config),
    ?assertEqual(server, peer:call(A, epmd_rs, mode, [])),
    ?assertEqual(client, peer:call(B, epmd_rs, mode, [])),
    Expected = lists:sort(["a", "b", "c"]),
    %% net_adm:names/0 goes through each node's own epmd module.
    [?assertEqual(Expected, listed_names(P, net_adm, names, [])) || P <- [A, B, C]],
    ?assertEqual(Expected, listed_names(C, erl_epmd, names, [])),
    ?assertEqual(Expected, epmd_cli_names(Config)),
    %% Same answer, same order, as erl_epmd through OTP's protocol.
    ?assertEqual(peer:call(C, erl_epmd, names, []), peer:call(A, epmd_rs, names, [])),
    Nodes = [{P, peer:call(P, erlang, node, [])} || P <- [A, B, C]],
    [?assertEqual(pong, peer:call(From, net_adm, ping, [To]))
     || {From, _} <- Nodes, {_, To} <- Nodes],
    [?assertEqual(To, peer:call(From, erpc, call, [To, erlang, node, []]))
     || {From, _} <- Nodes, {_, To} <- Nodes].

killed_nodes_leave_every_listing(Config) ->
    {A, B, C} = start_three(Config),
    kill_peer(B),
    Listings = fun() -> [listed_names(A, net_adm, names, []),
                         listed_names(C, erl_epmd, names, []),
                         epmd_cli_names(Config)] end,
    ok = wait_until(fun() -> Listings() =:= lists:duplicate(3, ["a", "c"]) end, 2000),
    kill_peer(C),
    ok = wait_until(fun() -> epmd_cli_names(Config) =:= ["a"] end, 2000),
    ?assertEqual(["a"], listed_names(A, epmd_rs, names, [])).

duplicate_name_refuses_to_boot(Config) ->
    A = start_peer(Config, "a", rs),
    {Status, Output} = run_erl(Config, ["-sname", "a" | rs_args(Config)]),
    ?assertNotEqual(0, Status),
    ?assertMatch({match, _}, re:run(Output, "the name a@\\S+ seems to be in use")),
    ?assertEqual(["a"], epmd_cli_names(Config)),
    ?assertEqual(server, peer:call(A, epmd_rs, mode, [])),
    %% The same from a stock node, which registers over TCP.
    {Status2, Output2} = run_erl(Config, ["-sname", "a", "-start_epmd", "false"]),
    ?assertNotEqual(0, Status2),
    ?assertMatch({match, _}, re:run(Output2, "seems to be in use")),
    ?assertEqual(["a"], epmd_cli_names(Config)).

lookups_match_erl_epmd(Config) ->
    {A, B, C} = start_three(Config),
    Hosts = [{127, 0, 0, 1}, peer:call(A, net_adm, localhost, [])],
    [begin
         Expected = peer:call(C, erl_epmd, port_please, [Name, Host]),
         ?assertMatch({port, _, 6}, Expected),
         ?assertEqual(Expected, peer:call(A, epmd_rs, port_please, [Name, Host])),
         ?assertEqual(Expected, peer:call(B, epmd_rs, port_please, [Name, Host]))
     end || Name <- ["a", "b", "c"], Host <- Hosts],
    ?assertEqual(noport, peer:call(A, epmd_rs, port_please, ["nobody", {127, 0, 0, 1}])),
    ?assertEqual(noport, peer:call(B, epmd_rs, port_please, ["nobody", {127, 0, 0, 1}])),
    ?assertEqual(noport, peer:call(C, erl_epmd, port_please, ["nobody", {127, 0, 0, 1}])),
    ?assertEqual(peer:call(C, erl_epmd, names, ["localhost"]),
                 peer:call(B, epmd_rs, names, ["localhost"])),
    %% At one of the host's own addresses the serving node answers from its
    %% registry, with no request on the wire; it reads the addresses on the
    %% first such lookup, not at boot.
    server = peer:call(A, epmd_rs, mode, []),
    {ok, Ifs} = inet:getifaddrs(),
    case [Ip || {_, Opts} <- Ifs, {addr, {I1, _, _, _} = Ip} <- Opts, I1 =/= 127] of
        [] ->
            {comment, "no IPv4 address but loopback: own-address lookups not checked"};
        [Own | _] ->
            {ok, Before} = peer:call(A, epmd_rs, stats, []),
            ?assertEqual(peer:call(A, epmd_rs, port_please, ["b", {127, 0, 0, 1}]),
                         peer:call(A, epmd_rs, port_please, ["b", Own])),
            {ok, After} = peer:call(A, epmd_rs, stats, []),
            ?assertEqual(maps:get(port_please2_requests, Before),
                         maps:get(port_please2_requests, After))
    end.

registers_with_otp_daemon(Config) ->
    start_otp_epmd(Config),
    A = start_peer(Config, "a", rs),
    C = start_peer(Config, "c", stock),
    ?assertEqual(client, peer:call(A, epmd_rs, mode, [])),
    ?assertEqual(["a", "c"], epmd_cli_names(Config)),
    ?assertEqual(peer:call(C, erl_epmd, names, []), peer:call(A, epmd_rs, names, [])),
    CNode = peer:call(C, erlang, node, []),
    ?assertEqual(pong, peer:call(A, net_adm, ping, [CNode])).

port_held_by_non_epmd_fails_boot(Config) ->
    Port = ?config(port, Config),
    %% Something that is not an EPMD: it accepts and hangs up at once.
    Holder = spawn_link(fun() ->
                                {ok, L} = gen_tcp:listen(Port, [{reuseaddr, true}]),
                                accept_and_close(L)
                        end),
    ok = wait_until(fun() -> gen_tcp:connect({127, 0, 0, 1}, Port, []) =/= {error, econnrefused} end,
                    2000),
    {Status, Output} = run_erl(Config, ["-sname", "a" | rs_args(Config)]),
    unlink(Holder),
    exit(Holder, kill),
    ?assertNotEqual(0, Status),
    Message = io_lib:format("cannot serve EPMD port ~b \\(address in use\\) nor use an EPMD there",
                            [Port]),
    ?assertMatch({match, _}, re:run(Output, lists:flatten(Message))).

%% The NIF directly: a registration owned by a process ends when it dies.
local_registration_follows_owner(Config) ->
    Port = ?config(port, Config),
    Server = epmd_rs_test_lib:start_server(Port, #{}),
    try
        Parent = self(),
        Owner = spawn(fun() ->
                              Node = {<<"owned">>, 4321, $M, 0, 6, 5, <<>>},
                              Parent ! {registered,
                                        epmd_rs_nif:register_local(Server, Node, self())},
                              receive stop -> ok end
                      end),
        receive {registered, Reply} -> ?assertMatch({ok, {_, _}}, Reply) end,
        ?assertEqual(["owned"], epmd_cli_names(Config)),
        ?assertEqual({4321, $M, 0, 6, 5, <<>>}, epmd_rs_nif:lookup(Server, <<"owned">>)),
        exit(Owner, kill),
        %% The monitor fires as the process exits: no grace period.
        ok = wait_until(fun() -> epmd_rs_nif:lookup(Server, <<"owned">>) =:= noport end, 500),
        ?assertEqual([], epmd_cli_names(Config)),
        Dead = spawn(fun() -> ok end),
        ok = wait_until(fun() -> not is_process_alive(Dead) end, 1000),
        ?assertEqual({error, owner_dead},
                     epmd_rs_nif:register_local(Server, {<<"late">>, 1, $M, 0, 6, 5, <<>>}, Dead)),
        ?assertEqual(noport, epmd_rs_nif:lookup(Server, <<"late">>))
    after
        shutdown = epmd_rs_test_lib:stop_server(Server)
    end.

port_from_application_env(Config) ->
    Args = rs_args(Config) ++ ["-epmd_rs", "port", port_string(Config)],
    Peer = start_peer(#{name => a, args => Args}),
    ?assertEqual(false, peer:call(Peer, os, getenv, ["ERL_EPMD_PORT"])),
    ?assertEqual(server, peer:call(Peer, epmd_rs, mode, [])),
    ?assertEqual(["a"], epmd_cli_names(Config)).

%% A server that accepts and never answers: every remote request returns within
%% its bound, where erl_epmd would wait forever.
silent_epmd_does_not_hang(Config) ->
    Port = ?config(port, Config),
    {ok, L} = gen_tcp:listen(Port, [{reuseaddr, true}, {backlog, 16}]),
    try
        ok = application:set_env(epmd_rs, port, Port),
        Start = erlang:monotonic_time(millisecond),
        ?assertEqual(noport, epmd_rs:port_please("x", {127, 0, 0, 1}, 300)),
        ?assertEqual({error, etimedout}, epmd_rs_client:names({127, 0, 0, 1}, Port, 300)),
        Elapsed = erlang:monotonic_time(millisecond) - Start,
        ?assert(Elapsed < 3000),
        %% A name no EPMD packet can carry is refused before anything is sent.
        ?assertEqual(noport, epmd_rs:port_please(lists:duplicate(70000, $a), {127, 0, 0, 1}, 300))
    after
        ok = application:unset_env(epmd_rs, port),
        gen_tcp:close(L)
    end.

kill_and_stop_refused_by_default(Config) ->
    A = start_peer(Config, "a", rs),
    ?assertEqual({1, "Killing not allowed - living nodes in database.\n"},
                 epmd_cli(Config, ["-kill"])),
    ?assertEqual({1, "epmd: local epmd responded with <>\n"}, epmd_cli(Config, ["-stop", "a"])),
    ?assertEqual(server, peer:call(A, epmd_rs, mode, [])),
    ?assertEqual(["a"], epmd_cli_names(Config)).

%% In the VM, a STOP of the node's own name and an accepted KILL end the
%% registration or the server as in OTP's daemon; the node stays up and comes
%% back within erl_epmd's 2 s retry, serving the port again.
relaxed_kill_and_stop_never_take_the_node_down(Config) ->
    Relaxed = [{"ERL_EPMD_RELAXED_COMMAND_CHECK", "1"}],
    A = start_peer(Config, "a", rs, Relaxed),
    B = start_peer(Config, "b", rs, Relaxed),
    ?assertEqual({0, "STOPPED\n"}, epmd_cli(Config, ["-stop", "a"])),
    ?assertEqual(["b"], epmd_cli_names(Config)),
    ok = wait_until(fun() -> epmd_cli_names(Config) =:= ["a", "b"] end, 5000),
    ?assertEqual({0, "Killed\n"}, epmd_cli(Config, ["-kill"])),
    ok = wait_until(fun() -> epmd_cli_names(Config) =:= ["a", "b"] end, 8000),
    Modes = lists:sort([peer:call(P, epmd_rs, mode, []) || P <- [A, B]]),
    ?assert(Modes =:= [client, server]),
    BNode = peer:call(B, erlang, node, []),
    ?assertEqual(pong, peer:call(A, net_adm, ping, [BNode])).

%% The code without its NIF library (a broken install): the node boots, says
%% why, and registers through erl_epmd with the daemon that holds the port.
missing_nif_falls_back_to_erl_epmd(Config) ->
    start_otp_epmd(Config),
    Eval = "io:format(\"mode=~p names=~p~n\", [epmd_rs:mode(), net_adm:names()]), halt(0).",
    {Status, Output} = run_erl(Config, ["-sname", "a" | broken_args(Config)], Eval),
    ?assertEqual(0, Status),
    ?assertMatch({match, _}, re:run(Output, "epmd_rs: the NIF library did not load .*"
                                            "cannot open shared object file.*"
                                            "falling back to erl_epmd", [dotall])),
    ?assertMatch({match, _}, re:run(Output, "mode=fallback names=\\{ok,\\[\\{\"a\",")).

missing_nif_with_fail_refuses_to_boot(Config) ->
    start_otp_epmd(Config),
    Args = ["-sname", "a", "-epmd_rs", "on_nif_error", "fail" | broken_args(Config)],
    {Status, Output} = run_erl(Config, Args),
    ?assertNotEqual(0, Status),
    ?assertMatch({match, _}, re:run(Output, "the NIF library did not load .*on_nif_error = fail",
                                    [dotall])),
    ?assertEqual([], epmd_cli_names(Config)).

%% A VM that is not distributed itself serves the host's EPMD by starting the
%% application, configured through its environment; without `serve' the
%% application starts nothing.
application_serves_epmd(Config) ->
    Idle = start_peer(#{args => ["-pa", ?config(ebin, Config), "-epmd_rs", "port",
                                 port_string(Config)]}),
    ?assertEqual({ok, [epmd_rs]}, peer:call(Idle, application, ensure_all_started, [epmd_rs])),
    ?assertEqual(none, peer:call(Idle, epmd_rs, mode, [])),
    Args = ["-pa", ?config(ebin, Config), "-epmd_rs", "port", port_string(Config),
            "-epmd_rs", "serve", "true"],
    Sup = start_peer(#{args => Args}),
    ?assertEqual({ok, [epmd_rs]}, peer:call(Sup, application, ensure_all_started, [epmd_rs])),
    ?assertEqual(server, peer:call(Sup, epmd_rs, mode, [])),
    A = start_peer(Config, "a", rs),
    C = start_peer(Config, "c", stock),
    ?assertEqual(client, peer:call(A, epmd_rs, mode, [])),
    ?assertEqual(["a", "c"], epmd_cli_names(Config)),
    ?assertEqual(peer:call(C, erl_epmd, names, []), peer:call(Sup, epmd_rs, names, [])),
    ?assertEqual(ok, peer:call(Sup, application, stop, [epmd_rs])),
    %% A takes the port over; C re-registers with it.
    ok = wait_until(fun() -> epmd_cli_names(Config) =:= ["a", "c"] andalso
                                 peer:call(A, epmd_rs, mode, []) =:= server end, 5000).

introspection_and_logging(Config) ->
    %% The server sends events only while logger keeps them: raise the level
    %% from the start.
    A = start_peer(#{name => a, args => rs_args(Config) ++ ["-kernel", "logger_level", "all"],
                     env => [{"ERL_EPMD_PORT", port_string(Config)}]}),
    ok = peer:call(A, epmd_rs_test_lib, start_log_collector, []),
    C = start_peer(Config, "c", stock),
    {ok, [InfoA, InfoC]} = peer:call(A, epmd_rs, info, []),
    Owner = peer:call(A, erlang, whereis, [epmd_rs]),
    ?assertMatch(#{name := <<"a">>, node_type := $M, protocol := 0, highest_version := 6,
                   lowest_version := 5, extra := <<>>, owner := Owner, peer := undefined},
                 InfoA),
    ?assertMatch(#{name := <<"c">>, owner := connection, peer := {{127, 0, 0, 1}, _}}, InfoC),
    %% Each node uses the creation its EPMD gave it.
    ?assertEqual(maps:get(creation, InfoA), peer:call(A, erlang, system_info, [creation])),
    ?assertEqual(maps:get(creation, InfoC), peer:call(C, erlang, system_info, [creation])),
    Now = erlang:system_time(millisecond),
    ?assert(maps:get(registered_at, InfoC) =< Now),
    ?assert(maps:get(registered_at, InfoC) > Now - 60000),
    %% Counters move with requests: a listing, and a garbage request.
    {ok, Before} = peer:call(A, epmd_rs, stats, []),
    _ = epmd_cli_names(Config),
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, ?config(port, Config), [binary, {active, false}]),
    ok = gen_tcp:send(S, <<0, 1, $Q>>),
    {error, closed} = gen_tcp:recv(S, 0, 5000),
    {ok, After} = peer:call(A, epmd_rs, stats, []),
    ?assertEqual(maps:get(names_requests, Before) + 1, maps:get(names_requests, After)),
    ?assertEqual(maps:get(dropped, Before) + 1, maps:get(dropped, After)),
    ?assertEqual(1, maps:get(registered, After)),
    %% The server's events reach logger in domain [epmd_rs].
    kill_peer(C),
    Logged = fun() ->
                     Events = [{L, maps:get(event, E)} || {L, #{domain := [epmd_rs], epmd_rs := E}}
                                                              <- peer:call(A, ets, tab2list,
                                                                           [epmd_rs_test_log])],
                     lists:all(fun(X) -> lists:member(X, Events) end,
                               [{info, registered}, {debug, dropped}, {info, unregistered}])
             end,
    ok = wait_until(Logged, 5000),
    ?assertEqual({error, not_serving},
                 peer:call(start_peer(Config, "b", rs), epmd_rs, info, [])).

%% The test profile's library has a NIF that panics (feature test-hooks).
nif_panic_is_an_erlang_error(Config) ->
    A = start_peer(Config, "a", rs),
    ?assertError(nif_panicked, peer:call(A, epmd_rs_nif, inject_panic, [])),
    %% The VM, its server and its registration live on.
    ?assertEqual(server, peer:call(A, epmd_rs, mode, [])),
    ?assertEqual(["a"], epmd_cli_names(Config)).

%% Under load from several processes, no NIF call keeps a scheduler for more
%% than 1 ms. The monitor measures wall time, so the OS preempting a scheduler
%% thread on a busy machine can trip it now and then; a NIF that really blocks
%% trips it in every run. So: up to three runs, one of them clean.
nifs_never_hold_a_scheduler(Config) ->
    A = start_peer(Config, "a", rs),
    Run = fun() -> peer:call(A, epmd_rs_test_lib, long_schedules_during_nif_load, [4], 120000) end,
    Runs = lists:foldl(fun(_, [[] | _] = Done) -> Done;
                          (_, Acc) -> [Run() | Acc]
                       end, [], lists:seq(1, 3)),
    ct:log("long schedules per run: ~p", [Runs]),
    ?assertEqual([], hd(Runs)).

%% The process that owns the in-VM server crashes (here in a supervisor VM,
%% whose application restarts it). The server stops with it, so the other VMs'
%% registrations end; they register again at once with whoever serves the port
%% next (the restarted owner or a VM that takes over), and stock nodes within
%% erl_epmd's 2 s retry.
owner_crash_loses_nobody_for_long(Config) ->
    Args = ["-pa", ?config(ebin, Config), "-epmd_rs", "port", port_string(Config),
            "-epmd_rs", "serve", "true"],
    Sup = start_peer(#{args => Args}),
    {ok, _} = peer:call(Sup, application, ensure_all_started, [epmd_rs]),
    A = start_peer(Config, "a", rs),
    _C = start_peer(Config, "c", stock),
    ?assertEqual(["a", "c"], epmd_cli_names(Config)),
    Owner = peer:call(Sup, erlang, whereis, [epmd_rs]),
    true = peer:call(Sup, erlang, exit, [Owner, kill]),
    ok = wait_until(fun() -> lists:member("a", epmd_cli_names(Config)) end, 500),
    ok = wait_until(fun() -> epmd_cli_names(Config) =:= ["a", "c"] end, 3000),
    Modes = [peer:call(P, epmd_rs, mode, []) || P <- [Sup, A]],
    ?assertEqual(1, length([M || M <- Modes, M =:= server])),
    ?assertNotEqual(Owner, peer:call(Sup, erlang, whereis, [epmd_rs])).

%% A node killed with SIGKILL loses its name at once: started again right away
%% under the same name, it boots (no "seems to be in use" race,
%% erlang/otp#11083). Both for an epmd_rs client and for a stock node.
killed_node_restarts_at_once_under_its_name(Config) ->
    _A = start_peer(Config, "a", rs),
    Restart = fun(Name, Kind, Old) ->
                      kill_peer(Old),
                      New = start_peer(Config, Name, Kind),
                      ?assertEqual(list_to_atom(Name ++ "@" ++ net_adm:localhost()),
                                   peer:call(New, erlang, node, [])),
                      New
              end,
    [lists:foldl(fun(_, Old) -> Restart(Name, Kind, Old) end, start_peer(Config, Name, Kind),
                 lists:seq(1, 3))
     || {Name, Kind} <- [{"b", rs}, {"c", stock}]],
    ?assertEqual(["a", "b", "c"], epmd_cli_names(Config)).

%% Helper VMs (remote shells, rpc scripts) that inherit -epmd_module epmd_rs
%% through the environment, and erl_call, next to an epmd_rs node: what the
%% README's "Remote shells, rpc and erl_call" says and quotes.
helper_vms_inherit_flags(Config) ->
    Srv = start_peer(Config, "helpers_srv", rs),
    Node = atom_to_list(peer:call(Srv, erlang, node, [])),
    Cookie = atom_to_list(peer:call(Srv, erlang, get_cookie, [])),
    %% The directory that holds this build's epmd_rs/{ebin,priv}.
    Lib = filename:dirname(code:lib_dir(epmd_rs)),
    Dump = filename:join(?config(priv_dir, Config), "helper_crash.dump"),
    Env = fun(Vars) ->
                  Base = #{"ERL_EPMD_PORT" => port_string(Config), "ERL_CRASH_DUMP" => Dump,
                           "ERL_AFLAGS" => false, "ERL_FLAGS" => false, "ERL_ZFLAGS" => false,
                           "ERL_LIBS" => false},
                  maps:to_list(maps:merge(Base, maps:from_list(Vars)))
          end,
    Inherit = {"ERL_FLAGS", "-epmd_module epmd_rs"},
    Helper = fun(Name, Args, Vars, Eval) ->
                     {Status, Raw} = epmd_rs_test_lib:run(
                                       os:find_executable("erl"),
                                       ["-noshell", "-sname", Name, "-setcookie", Cookie,
                                        "-start_epmd", "false" | Args] ++ ["-eval", Eval],
                                       Env(Vars)),
                     %% Reports and the halt message end their lines with \r\n.
                     Out = re:replace(Raw, "\r\n", "\n", [global, unicode, {return, list}]),
                     ct:log("~s ~p ~p: exit status ~b~n~ts", [Name, Vars, Args, Status, Out]),
                     {Status, Out}
             end,
    Reach = lists:flatten(io_lib:format(
                            "io:format(\"mod=~~p ping=~~p rpc=~~p~~n\", [net_kernel:epmd_module(), "
                            "net_adm:ping('~s'), erpc:call('~s', epmd_rs, mode, [])]), halt().",
                            [Node, Node])),
    Reached = "ping=pong rpc=server",
    %% Without the code, the kernel dies with the lines the README quotes.
    %% Each OTP lays them out its own way (line breaks, indentation, a quoted
    %% term from OTP 27 on), so they are compared without white space, quotes
    %% and backslashes.
    {Status1, Out1} = Helper("helper1", [], [Inherit], "halt(0)."),
    ?assertEqual(1, Status1),
    Squash = fun(Text) -> re:replace(Text, "[\\s\"\\\\]+", "", [global, unicode, {return, list}]) end,
    [?assertNotEqual(nomatch, string:find(Squash(Out1), Squash(Line)), Line)
     || Line <- ["    supervisor: {local,net_sup}\n    errorContext: start_error\n"
                 "    reason: {'EXIT',\n                {undef,\n"
                 "                    [{epmd_rs,start_link,[],[]},",
                 "Kernel pid terminated (application_controller) ({application_start_failure,"
                 "kernel,{{shutdown,{failed_to_start_child,net_sup,{shutdown,"
                 "{failed_to_start_child,epmd_rs,{'EXIT',{undef,[{epmd_rs,start_link,[],[]},",
                 "Crash dump is being written to: " ++ Dump ++ "...done"]
                    %% OTP 25 repeats the reason on stdout as a term.
                    ++ ["{\"Kernel pid terminated\",application_controller,"
                        || list_to_integer(erlang:system_info(otp_release)) < 26]],
    %% Without -sname the VM boots; starting distribution returns the undef.
    {0, Out0} = epmd_rs_test_lib:run(os:find_executable("erl"),
                                     ["-noshell", "-start_epmd", "false", "-eval",
                                      "io:format(\"~p~n\", [net_kernel:start(helper0, "
                                      "#{name_domain => shortnames})]), halt(0)."],
                                     Env([Inherit])),
    ?assertMatch({match, _}, re:run(Out0, "^\\{error,.*\\{undef,\\s*"
                                          "\\[\\{epmd_rs,start_link,\\[\\],\\[\\]\\}",
                                    [multiline, dotall])),
    %% ERL_LIBS next to the flag: the helper boots (a client: the node holds
    %% the port) and reaches the node.
    {Status2, Out2} = Helper("helper2", [], [Inherit, {"ERL_LIBS", Lib}], Reach),
    ?assertEqual({0, "mod=epmd_rs " ++ Reached}, {Status2, string:trim(Out2)}),
    %% -pa finds the NIF library next to ebin.
    {Status3, Out3} = Helper("helper3", ["-pa", filename:join([Lib, "epmd_rs", "ebin"])],
                             [Inherit], Reach),
    ?assertEqual({0, "mod=epmd_rs " ++ Reached}, {Status3, string:trim(Out3)}),
    %% The first -epmd_module wins: the helper's own overrides ERL_FLAGS and
    %% ERL_ZFLAGS (appended to its command line), not ERL_AFLAGS (prepended).
    Stock = ["-epmd_module", "erl_epmd"],
    [?assertEqual({0, "mod=erl_epmd " ++ Reached},
                  begin {S, O} = Helper(Name, Stock, [{Var, "-epmd_module epmd_rs"}], Reach),
                        {S, string:trim(O)}
                  end)
     || {Name, Var} <- [{"helper4", "ERL_FLAGS"}, {"helper5", "ERL_ZFLAGS"}]],
    {Status6, Out6} = Helper("helper6", Stock, [{"ERL_AFLAGS", "-epmd_module epmd_rs"}], Reach),
    ?assertNotEqual(0, Status6),
    ?assertNotEqual(nomatch, string:find(Out6, "{undef,[{epmd_rs,start_link,[],[]},")),
    %% erl_call (C, ei's own EPMD client) needs nothing of ours.
    {Status7, Out7} = epmd_rs_test_lib:run(erl_call(), ["-sname", Node, "-c", Cookie,
                                                        "-a", "epmd_rs mode"],
                                           Env([Inherit])),
    ?assertEqual({0, "server"}, {Status7, Out7}),
    %% A remote shell from a helper with the code, reaching the node; and ^G q
    %% ends the helper only.
    Remsh = ["-hidden", "-setcookie", Cookie, "-start_epmd", "false", "-remsh", Node],
    {Tty, _} = start_tty(os:find_executable("erl"), ["-sname", "helper8" | Remsh],
                         Env([Inherit, {"ERL_LIBS", Lib}])),
    _ = expect(Tty, "(" ++ Node ++ ")1> "),
    true = port_command(Tty, "io:format(\"at ~p: ~p~n\", [node(), epmd_rs:mode()]).\r"),
    _ = expect(Tty, "at " ++ Node ++ ": server"),
    _ = expect(Tty, "(" ++ Node ++ ")2> "),
    true = port_command(Tty, [7]),
    _ = expect(Tty, " --> "),
    true = port_command(Tty, "q\r"),
    ?assertMatch({0, _}, tty_exit(Tty)),
    %% Without the code and without -sname (the helper names itself once
    %% booted), the remote shell dies. OTP 25 says it could not connect and
    %% stays up; from OTP 26 the terminal driver itself crashes on the undef.
    {Tty9, OsPid9} = start_tty(os:find_executable("erl"), Remsh, Env([Inherit])),
    case list_to_integer(erlang:system_info(otp_release)) < 26 of
        true ->
            %% The shell's end and the logged reports come in either order.
            Seen = expect(Tty9, "Could not connect to \"" ++ Node ++ "\""),
            ?assertNotEqual(nomatch, string:find(Seen, "[{epmd_rs,start_link,[],[]},")),
            ShellDied = "*** ERROR: Shell process terminated!",
            _ = string:find(Seen, ShellDied) =/= nomatch orelse expect(Tty9, ShellDied);
        false ->
            Seen = expect(Tty9, "** State machine user_drv terminating"),
            ?assertNotEqual(nomatch, string:find(Seen, "[{epmd_rs,start_link,[],[]},"))
    end,
    epmd_rs_test_lib:kill_os_pid(OsPid9),
    _ = tty_exit(Tty9),
    ok = wait_until(fun() -> epmd_cli_names(Config) =:= ["helpers_srv"] end, 5000),
    ?assertEqual(server, peer:call(Srv, epmd_rs, mode, [])).

%% Whichever NIF a VM calls first loads the library, and the call gets its
%% answer: loading rewrites the stubs' code, which once crashed the VM when
%% the first call was to a stub of arity 0 or 1.
nif_loads_on_any_first_call(Config) ->
    [begin
         {Status, Output} = epmd_rs_test_lib:run(
                              os:find_executable("erl"),
                              ["-noshell", "-pa", ?config(ebin, Config), "-eval",
                               "io:format(\"~p~n\", [catch " ++ Call ++ "]), halt()."], []),
         ?assertEqual({0, true}, {Status, lists:prefix(Expected, Output)}, {Call, Output})
     end || {Call, Expected} <- [{"epmd_rs_nif:defaults()", "#{"},
                                 {"epmd_rs_nif:names(make_ref())", "{'EXIT',{badarg,"},
                                 {"epmd_rs_nif:client_names(<<\"127.0.0.1\">>, 1, 100)",
                                  "#Ref<"}]].

%% The library is linked with -z nodelete (by the NIF crate's build script),
%% so that purging the module never unmaps code its runtime thread runs.
nif_library_stays_mapped(_Config) ->
    Readelf = os:find_executable("readelf"),
    ?assertNotEqual(false, Readelf),
    Library = filename:join(code:priv_dir(epmd_rs), "libepmd_nif.so"),
    {0, Dynamic} = epmd_rs_test_lib:run(Readelf, ["-d", Library], []),
    ?assertMatch({match, _}, re:run(Dynamic, "FLAGS_1.*NODELETE")).

%% What an operator sees with ss(8) and ps(1), as the README shows it: the
%% serving VM's own process holds the EPMD port, on every address, and
%% nothing else does (no epmd process); a client VM holds one connection to
%% the port, its registration.
what_the_host_shows(Config) ->
    Port = port_string(Config),
    A = start_peer(Config, "a", rs),
    B = start_peer(Config, "b", rs),
    [PidA, PidB] = [peer:call(P, os, getpid, []) || P <- [A, B]],
    [?assertEqual("beam.smp", string:trim(os:cmd("ps -o comm= -p " ++ Pid)))
     || Pid <- [PidA, PidB]],
    Listeners = lines(os:cmd("ss -Hltnp 'sport = :" ++ Port ++ "'")),
    ?assertMatch([_, _], Listeners),
    [?assertNotEqual(nomatch, string:find(L, "pid=" ++ PidA ++ ",")) || L <- Listeners],
    Connections = [L || L <- lines(os:cmd("ss -Htnp 'dport = :" ++ Port ++ "'")),
                        string:find(L, "ESTAB") =/= nomatch],
    ?assertMatch([_], Connections),
    ?assertNotEqual(nomatch, string:find(hd(Connections), "pid=" ++ PidB ++ ",")).

lines(Text) ->
    string:lexemes(Text, "\n").

%% Loading a module at boot costs time (string and unicode_util together took
%% a node 10 ms, epp a few): a node with epmd_rs loads nothing at boot that a
%% stock node does not, but for epmd_rs's own modules.
boot_loads_only_its_own_modules(Config) ->
    start_otp_epmd(Config),
    Stock = start_peer(Config, "stock", stock),
    Rs = start_peer(#{name => rs, args => rs_args(Config),
                      env => [{"ERL_EPMD_PORT", integer_to_list(epmd_rs_test_lib:free_port())}]}),
    ?assertEqual(server, peer:call(Rs, epmd_rs, mode, [])),
    [StockModules, RsModules] = [[M || {M, _} <- peer:call(P, code, all_loaded, [])]
                                 || P <- [Stock, Rs]],
    Extra = [M || M <- RsModules -- StockModules,
                  not lists:prefix("epmd_rs", atom_to_list(M))],
    ?assertEqual([], lists:sort(Extra)).

%%% Helpers

%% erl_call, which Debian puts on the PATH and OTP's install does not.
erl_call() ->
    case os:find_executable("erl_call") of
        false ->
            [Exec | _] = filelib:wildcard(filename:join([code:root_dir(), "lib", "erl_interface-*",
                                                         "bin", "erl_call"])),
            Exec;
        Exec ->
            Exec
    end.

%% Node arguments with a copy of the code that has no priv/ directory.
broken_args(Config) ->
    Ebin = filename:join([?config(priv_dir, Config), "broken", "epmd_rs", "ebin"]),
    ok = filelib:ensure_dir(filename:join(Ebin, "x")),
    [{ok, _} = file:copy(F, filename:join(Ebin, filename:basename(F)))
     || F <- filelib:wildcard(filename:join(?config(ebin, Config), "*"))],
    ["-epmd_module", "epmd_rs", "-start_epmd", "false", "-pa", Ebin].

start_three(Config) ->
    A = start_peer(Config, "a", rs),
    B = start_peer(Config, "b", rs),
    C = start_peer(Config, "c", stock),
    {A, B, C}.

accept_and_close(L) ->
    case gen_tcp:accept(L) of
        {ok, S} -> gen_tcp:close(S), accept_and_close(L);
        {error, _} -> ok
    end.

