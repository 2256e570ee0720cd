#!/usr/bin/env escript
%% -*- erlang -*-
%%
%% `make demo': three nodes share one EPMD that runs inside a BEAM.
%%
%%   demo_a  epmd_rs, started first: binds the EPMD port and serves it in-VM
%%   demo_b  epmd_rs, finds the port taken: registers with demo_a over TCP
%%   demo_c  stock OTP node: registers with demo_a as with OTP's daemon
%%
%% Every claim the demo prints is checked; it exits 1 if any failed.
-mode(compile).

-define(CALL_TIMEOUT, 10000).
-define(GONE_DEADLINE_MS, 5000).

main(_) ->
    Root = filename:dirname(filename:dirname(filename:absname(escript:script_name()))),
    Ebin = filename:join([Root, "_build", "default", "lib", "epmd_rs", "ebin"]),
    filelib:is_regular(filename:join(Ebin, "epmd_rs.beam"))
        orelse abort("no epmd_rs.beam in ~ts: run `rebar3 compile' first", [Ebin]),
    true = code:add_patha(Ebin),
    Epmd = os:find_executable("epmd"),
    Epmd =/= false orelse abort("OTP's `epmd' executable is not on PATH", []),
    put(failures, []),
    put(peers, []),
    try
        run(Ebin, Epmd)
    catch
        Class:Reason:Stack ->
            io:format("~nThe demo stopped early:~n  ~p~n", [Stack]),
            fail("demo stopped early: ~p:~p", [Class, Reason])
    after
        %% Stock node first, server last: nobody loses its EPMD while stopping.
        [stop(Pid) || Pid <- get(peers)]
    end,
    case lists:reverse(get(failures)) of
        [] ->
            io:format("~nAll checks passed.~n"),
            halt(0);
        Failures ->
            io:format("~n~b check(s) FAILED:~n", [length(Failures)]),
            [io:format("  - ~ts~n", [F]) || F <- Failures],
            halt(1)
    end.

run(Ebin, Epmd) ->
    Port = free_port(),
    Env = [{"ERL_EPMD_PORT", integer_to_list(Port)}],
    RsArgs = ["-epmd_module", "epmd_rs", "-start_epmd", "false", "-pa", Ebin],
    Tag = os:getpid(),
    say("EPMD port for this demo: ~b (OTP's usual 4369 is left alone).", [Port]),

    say("Starting demo_a with epmd_rs; nothing holds the port yet."),
    A = start("demo_a_" ++ Tag, RsArgs, Env),
    check_mode(A, server),
    say("Starting demo_b with epmd_rs; demo_a holds the port now."),
    B = start("demo_b_" ++ Tag, RsArgs, Env),
    check_mode(B, client),
    say("Starting demo_c, a stock node with OTP's erl_epmd."),
    C = start("demo_c_" ++ Tag, ["-start_epmd", "false"], Env),
    All = [short(N) || N <- [A, B, C]],

    say("Who is registered? Asked three ways. OTP's own epmd tool says:"),
    {_, EpmdOut} = run_cmd(Epmd, ["-port", integer_to_list(Port), "-names"]),
    [io:format("  | ~ts~n", [L]) || L <- string:split(string:trim(EpmdOut), "\n", all)],
    [check_listing(What, Result, All) || {What, Result} <- listings(A, C, Epmd, Port)],

    say("Distribution: a ping across every pair, then an rpc from the stock node."),
    [check_ping(From, To) || {From, To} <- [{C, A}, {B, C}, {A, B}]],
    BPid = call(B, os, getpid, []),
    Rpc = call(C, erpc, call, [node_of(B), os, getpid, []]),
    check(Rpc =:= BPid, "erpc:call(~s, os, getpid, []) from ~s = ~p (peer control channel says ~p)",
          [short(B), short(C), Rpc, BPid]),

    say("Killing demo_b (OS pid ~s) with SIGKILL: no chance to unregister.", [BPid]),
    is_list(BPid) andalso lists:all(fun(Ch) -> Ch >= $0 andalso Ch =< $9 end, BPid)
        orelse error({bad_os_pid, BPid}),
    _ = os:cmd("kill -9 " ++ BPid),
    T0 = erlang:monotonic_time(millisecond),
    {Gone, Last} = wait_gone(short(B), A, C, Epmd, Port, T0 + ?GONE_DEADLINE_MS),
    Ms = erlang:monotonic_time(millisecond) - T0,
    check(Gone, "~s gone from all three listings (~b ms after the kill)", [short(B), Ms]),
    [check_listing(What, Result, All -- [short(B)]) || {What, Result} <- Last],
    ok.

%%% Nodes

start(Name, Args, Env) ->
    %% standard_io: this VM stays non-distributed and needs no EPMD itself.
    {ok, Pid, Node} = peer:start_link(#{name => Name, args => Args, env => Env,
                                        connection => standard_io, wait_boot => 30000}),
    put(peers, [Pid | get(peers)]),
    io:format("  up: ~s~n", [Node]),
    {Pid, Node}.

%% peer:stop returns before the peer's VM has exited. Halting it through the
%% control channel and waiting for the controller, which stops once it sees the
%% exit status, leaves no VM behind this script.
stop(Pid) ->
    Ref = monitor(process, Pid),
    ok = peer:cast(Pid, erlang, halt, []),
    receive
        {'DOWN', Ref, process, Pid, _} -> ok
    after 5000 ->
        try peer:stop(Pid) catch exit:_ -> ok end,
        fail("a peer VM was still running 5 s after erlang:halt()", [])
    end.

node_of({_Pid, Node}) -> Node.

short({_Pid, Node}) -> hd(string:split(atom_to_list(Node), "@")).

%% A failed call becomes a value that fails its check, not a crash.
call({Pid, _Node}, M, F, A) ->
    try peer:call(Pid, M, F, A, ?CALL_TIMEOUT)
    catch Class:Reason -> {call_failed, Class, Reason}
    end.

%%% Checks

check_mode(Peer, Expected) ->
    Mode = call(Peer, epmd_rs, mode, []),
    check(Mode =:= Expected, "~s: epmd_rs:mode() = ~p (expected ~p)",
          [short(Peer), Mode, Expected]).

check_ping(From, To) ->
    Reply = call(From, net_adm, ping, [node_of(To)]),
    check(Reply =:= pong, "~s -> net_adm:ping(~s) = ~p", [short(From), short(To), Reply]).

check_listing(What, {ok, Names}, Expected) ->
    check(lists:sort(Names) =:= lists:sort(Expected), "~ts lists ~ts",
          [What, lists:join(", ", Names)]);
check_listing(What, Error, _Expected) ->
    check(false, "~ts failed: ~p", [What, Error]).

check(Ok, Format, Args) ->
    Text = lists:flatten(io_lib:format(Format, Args)),
    io:format("  [~s] ~ts~n", [case Ok of true -> "ok"; false -> "FAIL" end, Text]),
    Ok orelse put(failures, [Text | get(failures)]),
    ok.

fail(Format, Args) ->
    check(false, Format, Args).

%%% Listings

%% The registered names as seen by the in-VM server, by a stock node's
%% erl_epmd, and by OTP's own `epmd' tool.
listings(A, C, Epmd, Port) ->
    [{"epmd_rs:names() on demo_a", names(A, epmd_rs)},
     {"erl_epmd:names() on demo_c", names(C, erl_epmd)},
     {"`epmd -port " ++ integer_to_list(Port) ++ " -names`", epmd_names(Epmd, Port)}].

names(Peer, Module) ->
    case call(Peer, Module, names, []) of
        {ok, Entries} -> {ok, [Name || {Name, _Port} <- Entries]};
        Other -> Other
    end.

epmd_names(Epmd, Port) ->
    case run_cmd(Epmd, ["-port", integer_to_list(Port), "-names"]) of
        {0, Out} ->
            Match = re:run(Out, "^name (\\S+) at port \\d+", [global, multiline, {capture, [1], list}]),
            {ok, case Match of {match, Names} -> [N || [N] <- Names]; nomatch -> [] end};
        {Status, Out} ->
            {error, {exit_status, Status, Out}}
    end.

%% Poll until Name is missing from every listing; the deadline is the check.
wait_gone(Name, A, C, Epmd, Port, Deadline) ->
    Listings = listings(A, C, Epmd, Port),
    Gone = lists:all(fun({_, {ok, Names}}) -> not lists:member(Name, Names);
                        (_) -> false
                     end, Listings),
    case Gone orelse erlang:monotonic_time(millisecond) >= Deadline of
        true -> {Gone, Listings};
        false -> timer:sleep(50), wait_gone(Name, A, C, Epmd, Port, Deadline)
    end.

%%% Helpers

free_port() ->
    {ok, Socket} = gen_tcp:listen(0, [{ip, loopback}]),
    {ok, Port} = inet:port(Socket),
    ok = gen_tcp:close(Socket),
    case Port of
        4369 -> free_port();
        _ -> Port
    end.

run_cmd(Exe, Args) ->
    Port = open_port({spawn_executable, Exe},
                     [{args, Args}, exit_status, stderr_to_stdout, binary, hide]),
    collect(Port, <<>>).

collect(Port, Acc) ->
    receive
        {Port, {data, Data}} -> collect(Port, <<Acc/binary, Data/binary>>);
        {Port, {exit_status, Status}} -> {Status, binary_to_list(Acc)}
    after ?CALL_TIMEOUT ->
        try port_close(Port) catch error:badarg -> ok end,
        {timeout, binary_to_list(Acc)}
    end.

say(Text) -> say(Text, []).

say(Format, Args) -> io:format("~n" ++ Format ++ "~n", Args).

abort(Format, Args) ->
    io:format(standard_error, "demo: " ++ Format ++ "~n", Args),
    halt(1).
