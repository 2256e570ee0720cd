#!/usr/bin/env escript
%% -*- erlang -*-
%% What a lookup and a listing of this host cost inside a node, in
%% microseconds per call: `Module:port_please(Name, Ip)' of the node itself
%% (the call the distribution makes, with the address it resolved) and
%% `Module:names()'. Module is epmd_rs or erl_epmd; the node's flags come
%% from ERL_FLAGS (epmd-bench sets them). Prints `port_please US' and
%% `names US', each the median of several timed batches.
-mode(compile).

-define(BATCHES, 7).
%% Each batch runs about this long.
-define(BATCH_US, 150000).

main([ModuleName]) ->
    Module = list_to_atom(ModuleName),
    [Name, Host] = string:split(atom_to_list(node()), "@"),
    {ok, Ip} = inet:getaddr(Host, inet),
    PortPlease = fun() -> {port, _, _} = Module:port_please(Name, Ip) end,
    Names = fun() -> {ok, [_ | _]} = Module:names() end,
    io:format("port_please ~.3f~nnames ~.3f~n", [per_call_us(PortPlease), per_call_us(Names)]);
main(_) ->
    io:format(standard_error, "usage: vm_calls.escript epmd_rs | erl_epmd~n", []),
    halt(2).

%% Calibrates a batch size, then returns the median time per call.
per_call_us(Call) ->
    Call(),
    {Probe, ok} = timer:tc(fun() -> repeat(Call, 10) end),
    N = max(10, ?BATCH_US * 10 div max(Probe, 1)),
    Batches = [element(1, timer:tc(fun() -> repeat(Call, N) end)) / N
               || _ <- lists:seq(1, ?BATCHES)],
    lists:nth(?BATCHES div 2 + 1, lists:sort(Batches)).

repeat(_Call, 0) -> ok;
repeat(Call, N) -> Call(), repeat(Call, N - 1).
