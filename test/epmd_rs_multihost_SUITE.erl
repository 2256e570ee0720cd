%% Three hosts, each a network namespace with its own in-VM mapper, joined by
%% veth pairs to a bridge that lives in a fourth namespace (nothing is added to
%% the namespace the tests run in). Nodes use long names on 10.77.H.1.
%% All traffic stays inside these namespaces.
-module(epmd_rs_multihost_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(epmd_rs_test_lib, [wait_until/2]).

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([full_mesh_across_hosts/1, remote_peers_get_only_lookups/1,
         hardened_in_vm/1, hardened_binary/1]).
%% Run inside peers.
-export([exchange/3, hold_connections/3]).

-define(HOSTS, [1, 2, 3]).

suite() ->
    [{timetrap, {minutes, 3}}].

all() ->
    [full_mesh_across_hosts, remote_peers_get_only_lookups, hardened_in_vm, hardened_binary].

init_per_suite(Config0) ->
    Config = epmd_rs_test_lib:init(Config0),
    Tag = os:getpid(),
    case make_network(Tag) of
        ok ->
            [{tag, Tag}, {port, epmd_rs_test_lib:free_port()} | Config];
        {error, Why} ->
            %% Without root there are no namespaces; CI runs as root and must
            %% run this suite.
            case os:getenv("CI") of
                false -> {skip, "cannot create network namespaces: " ++ Why};
                _ -> ct:fail({cannot_create_network_namespaces, Why})
            end
    end.

end_per_suite(Config) ->
    delete_network(?config(tag, Config)).

init_per_testcase(_Case, Config) ->
    Config.

end_per_testcase(_Case, Config) ->
    epmd_rs_test_lib:cleanup(),
    Config.

%%% Cases

full_mesh_across_hosts(Config) ->
    Nodes = [{H, N, start_node(Config, H, N)} || H <- ?HOSTS, N <- ["a", "b"]],
    NodeNames = [node_name(H, N) || {H, N, _} <- Nodes],
    [?assertEqual(pong, peer:call(P, net_adm, ping, [To]))
     || {_, _, P} <- Nodes, To <- NodeNames],
    [?assertEqual(lists:sort(NodeNames),
                  lists:sort([peer:call(P, erlang, node, []) | peer:call(P, erlang, nodes, [])]))
     || {_, _, P} <- Nodes],
    %% Each host's own epmd lists only its own nodes.
    [?assertEqual(["a", "b"], host_epmd_names(Config, H)) || H <- ?HOSTS],
    %% Remote listings and lookups go over TCP and match erl_epmd's shapes.
    {_, _, A1} = hd(Nodes),
    [begin
         {ok, Names} = peer:call(A1, epmd_rs, names, [ip_string(H)]),
         ?assertEqual(["a", "b"], lists:sort([N || {N, _} <- Names])),
         ?assertMatch({port, _, 6}, peer:call(A1, epmd_rs, port_please, ["b", ip(H)]))
     end || H <- ?HOSTS].

remote_peers_get_only_lookups(Config) ->
    %% Relaxed mode: a local STOP or KILL would be obeyed, a remote one must not.
    Relaxed = [{"ERL_EPMD_RELAXED_COMMAND_CHECK", "1"}],
    _A1 = start_node(Config, 1, "a", Relaxed),
    A2 = start_node(Config, 2, "a", Relaxed),
    Port = ?config(port, Config),
    Target = ip(1),
    Alive2 = frame([$x, <<4321:16, $M, 0, 6:16, 5:16, 5:16>>, "intru", <<0:16>>]),
    [?assertEqual({closed, <<>>}, peer:call(A2, ?MODULE, exchange, [Target, Port, Request]))
     || Request <- [Alive2, frame("k"), frame("sa"), frame("d")]],
    %% Lookups are for everybody.
    {closed, <<$w, 0, _/binary>>} = peer:call(A2, ?MODULE, exchange, [Target, Port, frame("za")]),
    {closed, <<Port:32, Lines/binary>>} = peer:call(A2, ?MODULE, exchange,
                                                    [Target, Port, frame("n")]),
    ?assertMatch({match, _}, re:run(Lines, "^name a at port \\d+\n$")),
    %% Still serving, with its node still registered and nothing added.
    ?assertEqual(["a"], host_epmd_names(Config, 1)).

%% The hardened profile in the VM, configured by the application
%% environment, seen from other hosts: no listings for remote peers, a cap per
%% peer address, and a server that listens on loopback only.
hardened_in_vm(Config) ->
    Hardened = ["-epmd_rs", "local_names_only", "true",
                "-epmd_rs", "max_connections_per_peer", "3"],
    _A1 = start_node(Config, 1, "a", [], Hardened),
    A2 = start_node(Config, 2, "a"),
    _A3 = start_node(Config, 3, "a", [], ["-epmd_rs", "loopback_only", "true"]),
    Port = ?config(port, Config),
    Ask = fun(Peer, Host, Body) -> peer:call(Peer, ?MODULE, exchange, [ip(Host), Port, frame(Body)]) end,
    ?assertEqual({closed, <<>>}, Ask(A2, 1, "n")),
    ?assertMatch({closed, <<$w, 0, _/binary>>}, Ask(A2, 1, "za")),
    %% Three connections from host 2 are all it may hold open at once.
    Holder = peer:call(A2, ?MODULE, hold_connections, [ip(1), Port, 3]),
    ?assertEqual({closed, <<>>}, Ask(A2, 1, "za")),
    true = peer:call(A2, erlang, exit, [Holder, kill]),
    ok = wait_until(fun() -> case Ask(A2, 1, "za") of
                                 {closed, <<$w, 0, _/binary>>} -> true;
                                 _ -> false
                             end end, 5000),
    %% Host 3 listens on loopback only: other hosts cannot connect; its own
    %% node registered locally.
    ?assertEqual({error, econnrefused},
                 peer:call(A2, gen_tcp, connect, [ip(3), Port, [], 2000])),
    ?assertEqual(["a"], host_epmd_names(Config, 3)).

%% The same options as flags of the epmd-rs binary, run on host 3.
hardened_binary(Config) ->
    Bin = filename:join([repo_root(), "target", "debug", "epmd-rs"]),
    ?assert(filelib:is_regular(Bin)),
    Port = epmd_rs_test_lib:free_port(),
    Server = open_port({spawn_executable, ip_command()},
                       [{args, ["netns", "exec", host_ns(Config, 3), "/bin/sh", "-c",
                                %% Its log (stderr) is not this test's output.
                                "exec \"$0\" \"$@\" 2>/dev/null", Bin, "-port",
                                integer_to_list(Port), "-local_names_only",
                                "-max_connections", "2"]}, exit_status]),
    {os_pid, OsPid} = erlang:port_info(Server, os_pid),
    try
        A2 = start_node(Config, 2, "a"),
        Ask = fun(Body) -> peer:call(A2, ?MODULE, exchange, [ip(3), Port, frame(Body)]) end,
        ok = wait_until(fun() -> try element(1, Ask("za")) =:= closed catch _:_ -> false end end, 5000),
        ?assertEqual({closed, <<$w, 1>>}, Ask("za")),
        ?assertEqual({closed, <<>>}, Ask("n")),
        Holder = peer:call(A2, ?MODULE, hold_connections, [ip(3), Port, 2]),
        ?assertEqual({closed, <<>>}, Ask("za")),
        true = peer:call(A2, erlang, exit, [Holder, kill]),
        ok = wait_until(fun() -> Ask("za") =:= {closed, <<$w, 1>>} end, 5000)
    after
        epmd_rs_test_lib:kill_os_pid(integer_to_list(OsPid))
    end.

%%% Peers and requests

start_node(Config, Host, Name) ->
    start_node(Config, Host, Name, []).

start_node(Config, Host, Name, Env) ->
    start_node(Config, Host, Name, Env, []).

start_node(Config, Host, Name, Env, Args) ->
    Erl = os:find_executable("erl"),
    epmd_rs_test_lib:start_peer(
      #{exec => {ip_command(), ["netns", "exec", host_ns(Config, Host), Erl]},
        name => list_to_atom(Name), host => ip_string(Host), longnames => true,
        args => epmd_rs_test_lib:rs_args(Config) ++ Args,
        env => [{"ERL_EPMD_PORT", epmd_rs_test_lib:port_string(Config)} | Env]}).

node_name(Host, Name) ->
    list_to_atom(Name ++ "@" ++ ip_string(Host)).

%% One request on a fresh connection: what came back, and whether the server
%% closed the connection (within 2 s) or left it open.
exchange(Ip, Port, Request) ->
    {ok, S} = gen_tcp:connect(Ip, Port, [binary, {active, false}], 2000),
    %% A server that refuses the connection may have closed it already.
    _ = gen_tcp:send(S, Request),
    read_all(S, <<>>).

%% Opens `N' connections and keeps them, idle, in a new process (returned)
%% until it is killed.
hold_connections(Ip, Port, N) ->
    Parent = self(),
    Pid = spawn(fun() ->
                        Sockets = [element(2, {ok, _} = gen_tcp:connect(Ip, Port, [], 2000))
                                   || _ <- lists:seq(1, N)],
                        Parent ! {holding, self()},
                        receive never -> Sockets end
                end),
    receive {holding, Pid} -> Pid end.

read_all(S, Acc) ->
    case gen_tcp:recv(S, 0, 2000) of
        {ok, Data} -> read_all(S, <<Acc/binary, Data/binary>>);
        {error, timeout} -> gen_tcp:close(S), {open, Acc};
        {error, _} -> {closed, Acc}
    end.

frame(Body) ->
    Bin = iolist_to_binary(Body),
    <<(byte_size(Bin)):16, Bin/binary>>.

host_epmd_names(Config, Host) ->
    Out = os:cmd(lists:join(" ", [ip_command(), "netns", "exec", host_ns(Config, Host),
                                  ?config(epmd, Config), "-port",
                                  epmd_rs_test_lib:port_string(Config), "-names"])),
    case re:run(Out, "^name (\\S+) at port \\d+$",
                [multiline, global, {capture, all_but_first, list}]) of
        {match, Names} -> lists:sort(lists:append(Names));
        nomatch -> []
    end.

%%% The network

ip(Host) -> {10, 77, Host, 1}.
ip_string(Host) -> inet:ntoa(ip(Host)).

host_ns(Config, Host) -> netns(?config(tag, Config), Host).

%% The repository: _build/test/lib/epmd_rs/ebin is five levels below it.
repo_root() ->
    lists:foldl(fun(_, D) -> filename:dirname(D) end, filename:dirname(code:which(epmd_rs)),
                lists:seq(1, 5)).

netns(Tag, Host) -> "epmdrs-" ++ Tag ++ "-h" ++ integer_to_list(Host).

switch_ns(Tag) -> "epmdrs-" ++ Tag ++ "-sw".

ip_command() ->
    case os:find_executable("ip") of
        false -> "/usr/sbin/ip";
        Ip -> Ip
    end.

%% Each host gets 10.77.H.1/16 on a veth whose other end joins the bridge.
make_network(Tag) ->
    Sw = switch_ns(Tag),
    Steps = [["netns", "add", Sw],
             ["-n", Sw, "link", "add", "br0", "type", "bridge"],
             ["-n", Sw, "link", "set", "br0", "up"]]
        ++ lists:append([host_steps(Tag, H) || H <- ?HOSTS]),
    run_steps(Steps).

host_steps(Tag, H) ->
    Ns = netns(Tag, H),
    Sw = switch_ns(Tag),
    Port = "p" ++ integer_to_list(H),
    [["netns", "add", Ns],
     ["-n", Ns, "link", "set", "lo", "up"],
     ["-n", Ns, "link", "add", "eth0", "type", "veth", "peer", "name", Port, "netns", Sw],
     ["-n", Ns, "addr", "add", ip_string(H) ++ "/16", "dev", "eth0"],
     ["-n", Ns, "link", "set", "eth0", "up"],
     ["-n", Sw, "link", "set", Port, "master", "br0"],
     ["-n", Sw, "link", "set", Port, "up"]].

run_steps([]) ->
    ok;
run_steps([Args | Rest]) ->
    case run_ip(Args) of
        {0, _} -> run_steps(Rest);
        {_, Out} -> {error, lists:flatten(io_lib:format("ip ~ts: ~ts", [lists:join(" ", Args), Out]))}
    end.

delete_network(Tag) ->
    [run_ip(["netns", "delete", Ns]) || Ns <- [switch_ns(Tag) | [netns(Tag, H) || H <- ?HOSTS]]],
    ok.

run_ip(Args) ->
    Port = open_port({spawn_executable, ip_command()},
                     [{args, Args}, exit_status, stderr_to_stdout]),
    ip_output(Port, []).

ip_output(Port, Acc) ->
    receive
        {Port, {data, D}} -> ip_output(Port, [Acc, D]);
        {Port, {exit_status, S}} -> {S, lists:flatten(Acc)}
    end.
