%% The in-VM server's syslog (`{syslog, true}'): what `epmd -daemon' writes
%% there reaches a syslog socket that each case makes itself, in OTP's shape
%% and under the ident `epmd'; and a socket that is missing or full costs
%% messages, never service.
-module(epmd_rs_syslog_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(epmd_rs_test_lib, [epmd_cli_names/1, start_server/2, stop_server/1]).

-export([all/0, suite/0, init_per_testcase/2, end_per_testcase/2]).
-export([messages_arrive/1, missing_socket/1, full_socket/1, unknown_facility/1]).

suite() ->
    [{timetrap, {minutes, 2}}, {ct_hooks, [epmd_rs_ct_hook]}].

all() ->
    [messages_arrive, missing_socket, full_socket, unknown_facility].

%% A path short enough for a Unix socket (CT's directories may not be).
init_per_testcase(Case, Config) ->
    Dir = filename:join("/tmp", "epmd_rs_syslog_" ++ os:getpid() ++ "_" ++ atom_to_list(Case)),
    ok = filelib:ensure_path(Dir),
    [{syslog_path, filename:join(Dir, "log")}, {syslog_dir, Dir} | Config].

end_per_testcase(_Case, Config) ->
    ok = file:del_dir_r(?config(syslog_dir, Config)).

%% A node configured through its application variables: a refused duplicate
%% name, which OTP's epmd logs at level 0, arrives as one datagram in the
%% shape of C's syslog(3) (facility local3, severity err: <155>).
messages_arrive(Config) ->
    Reader = reader(Config),
    Path = ?config(syslog_path, Config),
    Peer = epmd_rs_test_lib:start_peer(
             #{name => a,
               args => epmd_rs_test_lib:rs_args(Config)
                   ++ ["-epmd_rs", "syslog", "true", "-epmd_rs", "syslog_facility", "local3",
                       "-epmd_rs", "syslog_path", lists:flatten(io_lib:format("~p", [Path]))],
               env => [{"ERL_EPMD_PORT", epmd_rs_test_lib:port_string(Config)}]}),
    ?assertEqual(server, peer:call(Peer, epmd_rs, mode, [])),
    ?assertEqual(refused, alive2(Config, <<"a">>)),
    {ok, {_, _, Datagram}} = gen_udp:recv(Reader, 0, 5000),
    %% "<155>Dec  2 11:50:00 epmd: epmd: ..." (the stamp is 15 characters).
    <<"<155>", _Stamp:15/binary, Rest/binary>> = Datagram,
    ?assertEqual(<<" epmd: epmd: node name already occupied a">>, Rest),
    %% Level-1 messages (the registration itself) stay out, as with -daemon.
    ?assertEqual({error, timeout}, gen_udp:recv(Reader, 0, 200)).

%% No syslog daemon: the messages are lost, the server is not.
missing_socket(Config) ->
    Server = start_server(?config(port, Config), syslog_options(Config)),
    {ok, {_, Reg}} = register_local(Server, <<"a">>),
    [?assertEqual(refused, alive2(Config, <<"a">>)) || _ <- lists:seq(1, 20)],
    ?assertEqual(["a"], epmd_cli_names(Config)),
    ok = epmd_rs_nif:unregister_local(Reg),
    shutdown = stop_server(Server).

%% A reader that never reads: once its queue is full, the rest of the
%% messages are dropped and the server goes on answering at once.
full_socket(Config) ->
    Reader = reader(Config),
    Server = start_server(?config(port, Config), syslog_options(Config)),
    {ok, {_, _}} = register_local(Server, <<"a">>),
    {ok, QueueText} = file:read_file("/proc/sys/net/unix/max_dgram_qlen"),
    Sent = binary_to_integer(string:trim(QueueText)) + 50,
    [?assertEqual(refused, alive2(Config, <<"a">>)) || _ <- lists:seq(1, Sent)],
    ?assertEqual(["a"], epmd_cli_names(Config)),
    {ok, {_, _}} = register_local(Server, <<"b">>),
    ?assertEqual(["a", "b"], epmd_cli_names(Config)),
    Received = drain(Reader, 0),
    ?assert(Received > 0 andalso Received < Sent, {Received, Sent}),
    shutdown = stop_server(Server).

%% A facility syslog does not know is a setting to fix: the server does not
%% start, and says which names there are.
unknown_facility(Config) ->
    Options = (syslog_options(Config))#{syslog_facility => <<"bogus">>},
    {error, {syslog, Message}} =
        epmd_rs_nif:server_start(?config(port, Config), epmd_rs_test_lib:server_options(Options),
                                 self()),
    ?assertMatch({match, _}, re:run(Message, "unknown syslog facility \"bogus\" \\(one of user,")).

reader(Config) ->
    {ok, Reader} = gen_udp:open(0, [local, binary, {active, false},
                                    {ifaddr, {local, ?config(syslog_path, Config)}}]),
    Reader.

drain(Reader, N) ->
    case gen_udp:recv(Reader, 0, 200) of
        {ok, _} -> drain(Reader, N + 1);
        {error, timeout} -> N
    end.

syslog_options(Config) ->
    #{syslog => true, syslog_path => list_to_binary(?config(syslog_path, Config))}.

register_local(Server, Name) ->
    epmd_rs_nif:register_local(Server, {Name, 4321, $M, 0, 6, 5, <<>>}, self()).

%% ALIVE2 of `Name' over TCP (highest version 6, so the reply is
%% ALIVE2_X_RESP): `refused' when the reply's result is 1.
alive2(Config, Name) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, ?config(port, Config), [binary, {active, false}]),
    Request = <<$x, 4322:16, $M, 0, 6:16, 5:16, (byte_size(Name)):16, Name/binary, 0:16>>,
    ok = gen_tcp:send(S, <<(byte_size(Request)):16, Request/binary>>),
    {ok, Reply} = gen_tcp:recv(S, 2, 5000),
    ok = gen_tcp:close(S),
    case Reply of
        <<$v, 1>> -> refused;
        <<$v, 0>> -> registered
    end.
