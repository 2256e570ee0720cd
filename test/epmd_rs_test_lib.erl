%% Helpers shared by the Common Test suites: peers that use epmd_rs or stock
%% erl_epmd, Debian's epmd as client and daemon, and polling with deadlines.
%% Every process a test starts is recorded and stopped by cleanup/0, by pid.
-module(epmd_rs_test_lib).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([init/1, cleanup/0, free_port/0, port_string/1, rs_args/1,
         start_peer/1, start_peer/3, start_peer/4, kill_peer/1, kill_os_pid/1,
         listed_names/4, epmd_cli/2, epmd_cli_names/1, start_otp_epmd/1, start_otp_epmd/2, run_erl/2, run_erl/3,
         run/3, start_tty/3, expect/2, tty_exit/1, start_server/2, server_options/1,
         stop_server/1,
         wait_until/2, make_tls_certs/1, write_tls_dist/2]).
%% Run inside peers: a logger handler that keeps events in a table.
-export([start_log_collector/0, log/2, long_schedules_during_nif_load/1]).

%% Suite config: Debian's epmd and this application's ebin directory.
init(Config) ->
    Epmd = os:find_executable("epmd"),
    ?assertNotEqual(false, Epmd),
    Ebin = filename:dirname(code:which(epmd_rs)),
    [{epmd, Epmd}, {ebin, Ebin} | Config].


%% Node arguments for epmd_rs, with this library on the path too (peers run
%% some of its functions).
rs_args(Config) ->
    ["-epmd_module", "epmd_rs", "-start_epmd", "false", "-pa", ?config(ebin, Config),
     "-pa", filename:dirname(code:which(?MODULE))].

start_peer(Config, Name, Kind) ->
    start_peer(Config, Name, Kind, []).

start_peer(Config, Name, Kind, Env) ->
    Args = case Kind of
               rs -> rs_args(Config);
               stock -> ["-start_epmd", "false"]
           end,
    start_peer(#{name => list_to_atom(Name), args => Args,
                 env => [{"ERL_EPMD_PORT", port_string(Config)} | Env]}).

%% Any peer, driven over standard I/O so that this node needs no EPMD.
start_peer(Options) ->
    Peer = case peer:start_link(Options#{connection => standard_io, wait_boot => 30000}) of
               {ok, Pid, _Node} -> Pid;
               {ok, Pid} -> Pid
           end,
    put(peers, [Peer | get_peers()]),
    Peer.

get_peers() -> case get(peers) of undefined -> []; Ps -> Ps end.
get_os_pids() -> case get(os_pids) of undefined -> []; Ps -> Ps end.

%% Stops every peer and OS process the calling test started. A peer is halted
%% and waited for: peer:stop/1 returns before a standard_io peer has exited.
cleanup() ->
    [stop_peer(Peer) || Peer <- get_peers()],
    [kill_os_pid(Pid) || Pid <- get_os_pids()],
    erase(peers),
    erase(os_pids),
    ok.

stop_peer(Peer) ->
    unlink(Peer),
    Ref = monitor(process, Peer),
    ok = peer:cast(Peer, erlang, halt, []),
    receive {'DOWN', Ref, process, Peer, _} -> ok
    after 5000 -> try peer:stop(Peer) catch exit:_ -> ok end
    end.

kill_peer(Peer) ->
    OsPid = peer:call(Peer, os, getpid, []),
    unlink(Peer),
    kill_os_pid(OsPid).

kill_os_pid(OsPid) ->
    _ = os:cmd("kill -9 " ++ OsPid),
    ok.

port_string(Config) ->
    integer_to_list(?config(port, Config)).

listed_names(Peer, M, F, A) ->
    {ok, Names} = peer:call(Peer, M, F, A),
    lists:sort([N || {N, _Port} <- Names]).

%% Debian's epmd client: exit status and output.
epmd_cli(Config, Args) ->
    run(?config(epmd, Config), ["-port", port_string(Config) | Args], []).

%% Names as Debian's epmd client lists them.
epmd_cli_names(Config) ->
    Out = os:cmd(?config(epmd, Config) ++ " -port " ++ port_string(Config) ++ " -names"),
    case re:run(Out, "^name (\\S+) at port \\d+$",
                [multiline, global, {capture, all_but_first, list}]) of
        {match, Names} -> lists:sort(lists:append(Names));
        nomatch -> []
    end.

%% Starts OTP's daemon in the foreground, waits until it answers, and returns
%% its OS pid.
start_otp_epmd(Config) ->
    start_otp_epmd(Config, []).

%% The same with more arguments, listening on loopback only. Its log lines (on
%% stderr) are dropped; `exec' keeps the OS pid the daemon's.
start_otp_epmd(Config, Args) ->
    Port = open_port({spawn_executable, "/bin/sh"},
                     [{args, ["-c", "exec \"$0\" \"$@\" 2>/dev/null", ?config(epmd, Config),
                              "-port", port_string(Config) | Args]},
                      {env, [{"ERL_EPMD_ADDRESS", "127.0.0.1"}]}, exit_status]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    put(os_pids, [integer_to_list(OsPid) | get_os_pids()]),
    ok = wait_until(fun() -> cli_answers(Config) end, 5000),
    integer_to_list(OsPid).

cli_answers(Config) ->
    Out = os:cmd(?config(epmd, Config) ++ " -port " ++ port_string(Config) ++ " -names"),
    lists:prefix("epmd: up and running", Out).

%% Runs `erl' to completion (a node expected to fail at boot) and returns its
%% exit status and output.
run_erl(Config, Args) ->
    run_erl(Config, Args, "timer:sleep(60000), halt(0).").

%% The same, evaluating `Eval' once booted.
run_erl(Config, Args, Eval) ->
    run(os:find_executable("erl"), ["-noshell" | Args] ++ ["-eval", Eval],
        [{"ERL_EPMD_PORT", port_string(Config)}]).

%% Runs a program to completion: its exit status and output (stderr included).
run(Exec, Args, Env) ->
    Port = open_port({spawn_executable, Exec},
                     [{args, Args}, {env, Env}, exit_status, stderr_to_stdout, binary]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    put(os_pids, [integer_to_list(OsPid) | get_os_pids()]),
    collect(Port, []).

%% Starts a program on a terminal of its own, through script(1) (util-linux),
%% for what a pipe will not do: with stdin a pipe, or TERM unset, OTP 25's
%% `erl -remsh' runs a local shell instead. Returns the port, which delivers
%% the program's output, and the program's OS pid; cleanup/0 kills both.
start_tty(Exec, Args, Env) ->
    Cmd = lists:flatten(["echo tty_pid=$$; exec", [[" ", sh_quote(A)] || A <- [Exec | Args]]]),
    Port = open_port({spawn_executable, os:find_executable("script")},
                     [{args, ["-qec", Cmd, "/dev/null"]}, {env, [{"TERM", "vt100"} | Env]},
                      exit_status, stderr_to_stdout, binary]),
    {os_pid, ScriptPid} = erlang:port_info(Port, os_pid),
    put(os_pids, [integer_to_list(ScriptPid) | get_os_pids()]),
    {match, [OsPid]} = re:run(expect(Port, "\n"), "tty_pid=(\\d+)",
                              [{capture, all_but_first, list}]),
    put(os_pids, [OsPid | get_os_pids()]),
    {Port, OsPid}.

sh_quote(Arg) ->
    "'" ++ lists:flatten(string:replace(Arg, "'", "'\\''", all)) ++ "'".

%% Waits for `Text' in a port's output and returns the output up to its end;
%% what follows stays for the next call.
expect(Port, Text) ->
    Buffer = case get({tty, Port}) of undefined -> <<>>; B -> B end,
    case binary:match(Buffer, unicode:characters_to_binary(Text)) of
        {At, Len} ->
            put({tty, Port}, binary:part(Buffer, At + Len, byte_size(Buffer) - At - Len)),
            binary_to_list(binary:part(Buffer, 0, At + Len));
        nomatch ->
            receive
                {Port, {data, Data}} ->
                    put({tty, Port}, <<Buffer/binary, Data/binary>>),
                    expect(Port, Text);
                {Port, {exit_status, Status}} ->
                    ct:fail({exited, Status, {expected, Text}, Buffer})
            after 30000 ->
                ct:fail({timeout, {expected, Text}, Buffer})
            end
    end.

%% Waits for the program to exit: its exit status and the output not yet read.
tty_exit(Port) ->
    Buffer = case erase({tty, Port}) of undefined -> <<>>; B -> B end,
    {Status, Rest} = collect(Port, []),
    {Status, binary_to_list(Buffer) ++ Rest}.

collect(Port, Acc) ->
    receive
        {Port, {data, Data}} -> collect(Port, [Data | Acc]);
        {Port, {exit_status, Status}} -> {Status, unicode:characters_to_list(lists:reverse(Acc))}
    after 120000 ->
        ct:fail({did_not_exit, iolist_to_binary(lists:reverse(Acc))})
    end.

free_port() ->
    {ok, L} = gen_tcp:listen(0, [{reuseaddr, true}]),
    {ok, Port} = inet:port(L),
    ok = gen_tcp:close(L),
    Port.

wait_until(Fun, TimeoutMs) ->
    Deadline = erlang:monotonic_time(millisecond) + TimeoutMs,
    wait_until_deadline(Fun, Deadline).

wait_until_deadline(Fun, Deadline) ->
    case Fun() of
        true -> ok;
        false ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> {error, timeout};
                false -> receive after 20 -> wait_until_deadline(Fun, Deadline) end
            end
    end.

%% Creates a public table, owned by a process that outlives the call, and a
%% logger handler that appends every event to it; lowers the primary level so
%% that debug events reach it.
start_log_collector() ->
    Self = self(),
    spawn(fun() ->
                  ets:new(epmd_rs_test_log, [named_table, public, duplicate_bag]),
                  Self ! ready,
                  receive stop -> ok end
          end),
    receive ready -> ok end,
    ok = logger:set_primary_config(level, all),
    logger:add_handler(epmd_rs_test_log, ?MODULE, #{level => all, filter_default => log}).

%% logger handler callback.
log(#{level := Level, meta := Meta}, _Config) ->
    ets:insert(epmd_rs_test_log, {Level, Meta}).

%% Runs `Workers' processes that hammer the in-VM server's NIFs (register,
%% look up, list, introspect, unregister) while the system monitor reports
%% every process scheduled for more than 1 ms; returns those reports that name
%% an epmd_rs_nif function.
long_schedules_during_nif_load(Workers) ->
    {server, Server} = epmd_rs_server:mode(),
    Collector = spawn(fun() -> collect_monitor([]) end),
    erlang:system_monitor(Collector, [{long_schedule, 1}]),
    Parent = self(),
    Pids = [spawn_link(fun() -> nif_load(Server, W), Parent ! {done, self()} end)
            || W <- lists:seq(1, Workers)],
    [receive {done, P} -> ok end || P <- Pids],
    erlang:system_monitor(undefined),
    Collector ! {report, self()},
    receive {reports, Reports} -> Reports end.

nif_load(Server, Worker) ->
    Names = [iolist_to_binary(["load", integer_to_list(Worker), "_", integer_to_list(I)])
             || I <- lists:seq(1, 200)],
    Regs = [begin
                {ok, {_, Reg}} =
                    epmd_rs_nif:register_local(Server, {N, 1000, $M, 0, 6, 5, <<>>}, self()),
                Reg
            end || N <- Names],
    _ = [{epmd_rs_nif:lookup(Server, N), epmd_rs:port_please(binary_to_list(N), {127, 0, 0, 1})}
         || _ <- lists:seq(1, 20), N <- Names],
    _ = [{epmd_rs:names(), epmd_rs:info(), epmd_rs:stats()} || _ <- lists:seq(1, 200)],
    [ok = epmd_rs_nif:unregister_local(R) || R <- Regs].

collect_monitor(Acc) ->
    receive
        {monitor, _, long_schedule, Info} = Report ->
            Nif = [X || {K, {epmd_rs_nif, _, _} = X} <- Info, K =:= in orelse K =:= out],
            collect_monitor(case Nif of [] -> Acc; _ -> [Report | Acc] end);
        {report, From} ->
            From ! {reports, Acc}
    end.

%% An in-VM server of this (the test) VM, through the NIF, on loopback; the
%% options default to OTP's behaviour.
start_server(Port, Options) ->
    {ok, Server} = epmd_rs_nif:server_start(Port, server_options(Options), self()),
    ok = epmd_rs_nif:server_serve(Server),
    Server.

%% Every option server_start/3 takes: OTP's behaviour, on loopback, with
%% `Options' over it.
server_options(Options) ->
    maps:merge(#{addresses => <<"127.0.0.1">>, relaxed => false, packet_timeout => 60000,
                 remote_names => true, max_connections => 0, max_connections_per_peer => 0,
                 syslog => false, syslog_facility => <<"user">>, syslog_path => <<>>},
               Options).

%% Stops it and waits until it has stopped; returns why it stopped.
stop_server(Server) ->
    ok = epmd_rs_nif:server_stop(Server),
    receive {epmd_rs_server_stopped, Server, Why} -> Why
    after 5000 -> ct:fail(server_did_not_stop)
    end.

%% Certificates for TLS distribution, made with openssl(1) in `Dir': a CA
%% and one P-256 certificate it signed, for this host's name, which every
%% node presents and checks.
%% openssl's certificates carry the extensions that every supported OTP's
%% ssl accepts, whichever OTP reads them.
make_tls_certs(Dir) ->
    Openssl = os:find_executable("openssl"),
    ?assertNotEqual(false, Openssl),
    In = fun(F) -> filename:join(Dir, F) end,
    Ext = In("node.ext"),
    {ok, Host} = inet:gethostname(),
    ok = file:write_file(Ext, ["basicConstraints=CA:FALSE\n"
                               "keyUsage=digitalSignature,keyAgreement\n"
                               "extendedKeyUsage=serverAuth,clientAuth\n"
                               "subjectAltName=DNS:", Host, ",DNS:localhost\n"]),
    Key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
    [{0, _} = run(Openssl, Args, []) || Args <- [
        ["req", "-x509" | Key] ++ ["-keyout", In("ca.key"), "-out", In("ca.pem"), "-days", "7",
                                   "-subj", "/CN=epmd_rs test CA"],
        ["req" | Key] ++ ["-keyout", In("node.key"), "-out", In("node.csr"),
                          "-subj", "/CN=epmd_rs test node"],
        ["x509", "-req", "-in", In("node.csr"), "-CA", In("ca.pem"), "-CAkey", In("ca.key"),
         "-CAcreateserial", "-out", In("node.pem"), "-days", "7", "-extfile", Ext]]],
    ok.

%% Writes an ssl_dist options file into `Dir', where make_tls_certs/1 (or a
%% copy) left the certificates, naming them as a VM that sees `Dir' at
%% `SeenAs' finds them (a VM in an OTP root sees another file system);
%% returns the options file's path as that VM sees it.
write_tls_dist(Dir, SeenAs) ->
    Files = [{certfile, filename:join(SeenAs, "node.pem")},
             {keyfile, filename:join(SeenAs, "node.key")},
             {cacertfile, filename:join(SeenAs, "ca.pem")},
             {verify, verify_peer}],
    Options = [{server, [{fail_if_no_peer_cert, true} | Files]}, {client, Files}],
    ok = file:write_file(filename:join(Dir, "ssl_dist.conf"), io_lib:format("~p.~n", [Options])),
    filename:join(SeenAs, "ssl_dist.conf").
