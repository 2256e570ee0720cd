#!/usr/bin/env escript
%% -*- erlang -*-
%%
%% remote_console.escript BIN: drives `BIN remote_console' on a terminal, the
%% way a person would, and checks that the shell it opens runs on the release's
%% node and sees epmd_rs serving the EPMD. A remote shell needs a terminal (on
%% a pipe, OTP 25's shell ignores -remsh), so it runs under script(1), which
%% gives it a pty. Expect-style: every step waits for the text it needs, with a
%% deadline. Leaves with ^G q, which ends the helper VM alone.
%%
%% Prints the line the remote node printed, exits 1 on any failure.
-mode(compile).

-define(STEP_MS, 30000).

main([Bin]) ->
    Script = os:find_executable("script"),
    Script =/= false orelse fail("script(1) is not on PATH (Debian: bsdutils)", []),
    Port = open_port({spawn_executable, Script},
                     [{args, ["-qec", "'" ++ Bin ++ "' remote_console", "/dev/null"]},
                      binary, exit_status, stderr_to_stdout, use_stdio]),
    try
        _ = expect(Port, "\\(hello@"),
        port_command(Port, <<"io:format(\"remote:~s:~s~n\", [node(), epmd_rs:mode()]).\r">>),
        Line = expect(Port, "(remote:hello@[^\r\n]*)\r?\n"),
        port_command(Port, <<7>>),
        _ = expect(Port, "-->"),
        port_command(Port, <<"q\r">>),
        wait_exit(Port),
        io:format("~ts~n", [Line]),
        halt(0)
    catch
        throw:{fail, Fmt, Args} ->
            kill(Port),
            fail(Fmt, Args);
        Class:Reason:Stack ->
            kill(Port),
            fail("~p:~p ~p", [Class, Reason, Stack])
    end;
main(_) ->
    fail("usage: remote_console.escript BIN", []).

%% Reads until the output matches Re; returns the match (its first group, if
%% it has one). Each step only sees the output that came after the last match.
expect(Port, Re) ->
    Rest = case get(rest) of undefined -> <<>>; R -> R end,
    expect(Port, Re, Rest).

expect(Port, Re, Acc) ->
    case re:run(Acc, Re) of
        {match, [{Pos, Len} | Groups]} ->
            put(rest, binary:part(Acc, Pos + Len, byte_size(Acc) - Pos - Len)),
            {P, L} = case Groups of [G | _] -> G; [] -> {Pos, Len} end,
            binary:part(Acc, P, L);
        nomatch ->
            receive
                {Port, {data, Data}} ->
                    expect(Port, Re, <<Acc/binary, Data/binary>>);
                {Port, {exit_status, Status}} ->
                    throw({fail, "remote_console exited (~b) before printing ~ts; output:~n~ts",
                           [Status, Re, Acc]})
            after ?STEP_MS ->
                throw({fail, "no ~ts from remote_console in ~b ms; output:~n~ts",
                       [Re, ?STEP_MS, Acc]})
            end
    end.

wait_exit(Port) ->
    receive
        {Port, {data, _}} -> wait_exit(Port);
        {Port, {exit_status, _}} -> ok
    after ?STEP_MS ->
        throw({fail, "remote_console did not exit after ^G q", []})
    end.

%% script(1), and the relx script and helper VM under it.
kill(Port) ->
    case erlang:port_info(Port, os_pid) of
        {os_pid, Pid} -> kill_tree(integer_to_list(Pid));
        undefined -> ok
    end.

kill_tree(Pid) ->
    Children = string:lexemes(os:cmd("ps -o pid= --ppid " ++ Pid), " \n"),
    _ = os:cmd("kill -9 " ++ Pid),
    lists:foreach(fun kill_tree/1, Children).

fail(Fmt, Args) ->
    io:format(standard_error, "remote_console.escript: " ++ Fmt ++ "~n", Args),
    halt(1).
