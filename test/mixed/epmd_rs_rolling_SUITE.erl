%% VMs of OTP 25, 27 and 29 on one host, sharing one EPMD port, as during a
%% rolling upgrade: OTP 25 runs on this host, 27 and 29 in the Debian roots
%% of the version matrix, in the same network namespace. test/otp/matrix.sh
%% runs this suite once every OTP has passed its own checks, with
%% EPMD_RS_OTP_ROOTS naming the roots ("VSN=DIR VSN=DIR"); each root holds
%% this tree, compiled by its own OTP, at /work/epmd_rs.
%%
%% Between epmd_rs VMs the wire is plain EPMD: a client registers with ALIVE2
%% and looks up with PORT2 exactly as erl_epmd does, so VMs of any version,
%% and of any epmd_rs version, understand each other. `wire_is_plain_epmd'
%% holds that in place.
-module(epmd_rs_rolling_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0]).
-export([every_order_of_service/1, takeover_across_versions/1, mesh_across_versions/1,
         rolling_upgrade/1, wire_is_plain_epmd/1]).
%% Run inside a stock VM: the caller that keeps calling every node.
-export([caller_start/1, caller_stop/0]).

-define(RS_DEADLINE_MS, 500).
-define(STOCK_DEADLINE_MS, 3000).
-define(COOKIE, "epmd_rs_rolling").
-define(ROOT_EBIN, "/work/epmd_rs/_build/test/lib/epmd_rs/ebin").


suite() ->
    [{timetrap, {minutes, 5}}, {ct_hooks, [epmd_rs_ct_hook]}].

all() ->
    [every_order_of_service, takeover_across_versions, mesh_across_versions,
     rolling_upgrade, wire_is_plain_epmd].

%% The OTPs of the run: this host's, and each root's from EPMD_RS_OTP_ROOTS.
otps() ->
    Roots = case os:getenv("EPMD_RS_OTP_ROOTS") of
                false -> ct:fail("EPMD_RS_OTP_ROOTS is not set: run this suite through "
                                 "test/otp/matrix.sh (make test), which makes the roots");
                Spec -> [list_to_tuple(string:split(R, "=")) || R <- string:lexemes(Spec, " ")]
            end,
    [ct:fail({no_compiled_epmd_rs_in_root, Dir}) || {_, Dir} <- Roots,
                                                   not filelib:is_dir(Dir ++ ?ROOT_EBIN)],
    [{otp_version(), host} | [{V, {root, Dir}} || {V, Dir} <- Roots]].

%% Each version serves in turn, the other two its clients: every VM's
%% epmd_rs:names() and erl_epmd:names(), and every OTP's `epmd -names', list
%% all three.
every_order_of_service(Config) ->
    Otps = otps(),
    [begin
         Vms = [{Vsn, vm(Config, Vsn, rs, name(rs, Vsn))} || {Vsn, _} <- rotate(First, Otps)],
         [{_, Server} | Clients] = Vms,
         ?assertEqual(server, peer:call(Server, epmd_rs, mode, [])),
         [?assertEqual(client, peer:call(C, epmd_rs, mode, [])) || {_, C} <- Clients],
         Names = lists:sort([name(rs, V) || {V, _} <- Vms]),
         [begin
              ?assertEqual(Names, listed(P, epmd_rs)),
              ?assertEqual(Names, listed(P, erl_epmd))
          end || {_, P} <- Vms],
         [?assertEqual(Names, epmd_names(Config, Otp)) || Otp <- Otps],
         [stop(P) || {_, P} <- Vms],
         await_no_epmd(Config)
     end || {First, _} <- Otps].

%% Chains of kills of whichever VM serves, one chain starting from each
%% version: every survivor is listed again within 500 ms with its creation,
%% there is never more than one server, and stock nodes of every version
%% register again within 3 s.
takeover_across_versions(Config) ->
    Otps = otps(),
    Orders = [begin
                  Rs = [{name(rs, V), vm(Config, V, rs, name(rs, V))} || {V, _} <- rotate(First, Otps)],
                  Stock = [{name(stock, V), vm(Config, V, stock, name(stock, V))} || {V, _} <- Otps],
                  Creations = [{N, creation(P)} || {N, P} <- Rs ++ Stock],
                  Order = chain(Config, Rs, [N || {N, _} <- Stock], []),
                  [?assertEqual(C, creation(P)) || {N, P} <- Rs ++ Stock, {M, C} <- Creations,
                                                   N =:= M, is_process_alive(P)],
                  epmd_rs_test_lib:cleanup(),
                  await_no_epmd(Config),
                  Order
              end || {First, _} <- Otps],
    ct:comment("servers in turn: ~p", [Orders]),
    ct:log("the server passed through these versions, in order: ~p", [Orders]).

chain(_Config, [{Name, _}], _Stock, Order) ->
    lists:reverse([Name | Order]);
chain(Config, Alive, Stock, Order) ->
    [{Name, Server}] = [{N, P} || {N, P} <- Alive, peer:call(P, epmd_rs, mode, []) =:= server],
    Killed = now_ms(),
    epmd_rs_test_lib:kill_peer(Server),
    Survivors = lists:keydelete(Name, 1, Alive),
    Names = [N || {N, _} <- Survivors],
    await_listed(Config, Names, Killed + ?RS_DEADLINE_MS),
    await_listed(Config, Names ++ Stock, Killed + ?STOCK_DEADLINE_MS),
    Modes = [peer:call(P, epmd_rs, mode, []) || {_, P} <- Survivors],
    ?assertEqual(1, length([M || M <- Modes, M =:= server])),
    ?assertEqual(length(Survivors) - 1, length([M || M <- Modes, M =:= client])),
    chain(Config, Survivors, Stock, [Name | Order]).

%% epmd_rs and stock VMs of every version form a full mesh, on inet_tcp and on
%% inet_tls.
mesh_across_versions(Config) ->
    Otps = otps(),
    ok = epmd_rs_test_lib:make_tls_certs(?config(priv_dir, Config)),
    [begin
         %% Every pair is connected below, one by one: global's own meshing
         %% would race with it and cut connections to prevent overlaps.
         Vms = [{name(K, V), vm(Config, V, K, name(K, V), ["-connect_all", "false" | Carrier(Otp)])}
                || {V, _} = Otp <- Otps, K <- [rs, stock]],
         Nodes = [{P, peer:call(P, erlang, node, [])} || {_, P} <- Vms],
         [?assertEqual(pong, peer:call(From, net_adm, ping, [To]))
          || {From, FromNode} <- Nodes, {_, To} <- Nodes, To =/= FromNode],
         [?assertEqual(To, peer:call(From, erpc, call, [To, erlang, node, []]))
          || {From, FromNode} <- Nodes, {_, To} <- Nodes, To =/= FromNode],
         epmd_rs_test_lib:cleanup(),
         await_no_epmd(Config)
     end || Carrier <- [fun(_) -> [] end, fun(Otp) -> tls_args(Config, Otp) end]].

%% Three OTP 25 VMs, replaced one by one by OTP 29 VMs of the same name (the
%% first stopped cleanly, the second killed, the third stopped cleanly) while
%% a stock VM calls each of them every few milliseconds. Only calls to the
%% VM that is down at that moment may fail; the host's listing is never
%% empty and never holds a name twice.
rolling_upgrade(Config) ->
    [{Old, _} | _] = Otps = otps(),
    {New, _} = lists:last(Otps),
    Names = ["r1", "r2", "r3"],
    %% The watcher connects to each VM itself. global's own meshing would
    %% also connect the VMs to each other, and, when one comes back under
    %% its old name, cut connections to prevent overlapping partitions:
    %% failures that have nothing to do with the EPMD.
    Solo = ["-connect_all", "false"],
    Vms0 = [{N, vm(Config, Old, rs, N, Solo)} || N <- Names],
    Watcher = vm(Config, Old, stock, "watch", Solo),
    Host = host(),
    Targets = [list_to_atom(N ++ "@" ++ Host) || N <- Names],
    true = peer:call(Watcher, code, add_pathz, [filename:dirname(code:which(?MODULE))]),
    %% Connected to every VM before the first one goes: a node is looked up
    %% (through the EPMD, which may be moving) only to connect.
    [?assertEqual(pong, peer:call(Watcher, net_adm, ping, [T])) || T <- Targets],
    ok = peer:call(Watcher, ?MODULE, caller_start, [Targets]),
    Windows = lists:map(
                fun({{N, Vm}, How}) ->
                        Down = erlang:system_time(millisecond),
                        case How of
                            clean -> stop(Vm);
                            kill -> epmd_rs_test_lib:kill_peer(Vm)
                        end,
                        Up = vm(Config, New, rs, N, Solo),
                        ok = wait_answers(Watcher, list_to_atom(N ++ "@" ++ Host)),
                        {N, Down, erlang:system_time(millisecond), Up}
                end, lists:zip(Vms0, [clean, kill, clean])),
    %% A last round in which everybody answers.
    timer:sleep(200),
    {Failures, Listings, Calls} = peer:call(Watcher, ?MODULE, caller_stop, [], 30000),
    ct:log("~b calls, ~b failed; ~b listings; windows ~p",
           [Calls, length(Failures), length(Listings), [{N, D, U} || {N, D, U, _} <- Windows]]),
    ?assert(Calls > 100),
    %% Each failure is a call to the VM being replaced, inside its window.
    InWindow = fun({Start, End}, Which) ->
                       lists:any(fun({N, D, U, _}) ->
                                         Which(list_to_atom(N ++ "@" ++ Host)) andalso
                                             End >= D andalso Start =< U
                                 end, Windows)
               end,
    [?assert(InWindow(When, fun(N) -> N =:= Target end), {unexpected_failure, Target, When, Why})
     || {Target, When, Why} <- Failures],
    %% The listing: when the serving VM goes, the host has no EPMD until a
    %% survivor takes the port, so a listing may fail then, and only then.
    [case Listing of
         [_ | _] ->
             ?assertEqual(length(Listing), length(lists:usort(Listing)), {duplicate, At, Listing});
         [] ->
             ct:fail({empty_listing, At});
         Error ->
             ?assert(InWindow({At, At}, fun(_) -> true end), {no_listing, At, Error})
     end || {At, Listing} <- Listings],
    [?assertEqual(server_or_client, case peer:call(P, epmd_rs, mode, []) of
                                        M when M =:= server; M =:= client -> server_or_client;
                                        M -> M
                                    end) || {_, _, _, P} <- Windows],
    %% The stock watcher lost its registration with each server that went,
    %% and registers again on its own.
    await_listed(Config, Names ++ ["watch"], now_ms() + ?STOCK_DEADLINE_MS),
    ct:comment("~b calls, ~b failed, all to the VM being replaced", [Calls, length(Failures)]).

%% What an epmd_rs client sends its server is what erl_epmd sends: the same
%% ALIVE2 fields, no extra data. The server's view of both is the proof.
wire_is_plain_epmd(Config) ->
    Otps = otps(),
    [{First, _} | Rest] = Otps,
    Server = vm(Config, First, rs, name(rs, First)),
    [begin
         vm(Config, V, rs, name(rs, V)),
         vm(Config, V, stock, name(stock, V))
     end || {V, _} <- Rest],
    {ok, Info} = peer:call(Server, epmd_rs, info, []),
    Fields = fun(#{node_type := T, protocol := P, highest_version := H, lowest_version := L,
                   extra := E}) -> {T, P, H, L, E} end,
    ByName = maps:from_list([{binary_to_list(maps:get(name, I)), Fields(I)} || I <- Info]),
    [?assertEqual(maps:get(name(stock, V), ByName), maps:get(name(rs, V), ByName))
     || {V, _} <- Rest],
    ?assertEqual({$M, 0, 6, 5, <<>>}, maps:get(name(rs, First), ByName)).

%%% The caller, run in a stock VM

%% Starts a process that calls every target in turn, and lists the host's
%% EPMD, until caller_stop/0; each failure and each listing is kept with the
%% time it was asked.
caller_start(Targets) ->
    Starter = self(),
    Pid = spawn(fun() ->
                        register(rolling_caller, self()),
                        Starter ! {started, self()},
                        call_loop(Targets, [], [], 0)
                end),
    receive {started, Pid} -> ok end.

caller_stop() ->
    rolling_caller ! {stop, self()},
    receive {caller_done, Result} -> Result end.

call_loop(Targets, Failures, Listings, Calls) ->
    New = lists:filtermap(fun call/1, Targets),
    At = erlang:system_time(millisecond),
    Listing = {At, listing()},
    Done = {lists:reverse(New ++ Failures), [Listing | Listings], Calls + length(Targets)},
    receive
        {stop, From} -> From ! {caller_done, Done}
    after 10 ->
        call_loop(Targets, New ++ Failures, [Listing | Listings], Calls + length(Targets))
    end.

%% The host's listing, by a NAMES request of our own: erl_epmd:names() would
%% report a server that closes without answering (one that is going away)
%% as an empty listing.
listing() ->
    {ok, [[Port]]} = init:get_argument(epmd_port),
    case gen_tcp:connect({127, 0, 0, 1}, list_to_integer(Port), [binary, {active, false}], 1000) of
        {ok, Socket} ->
            ok = gen_tcp:send(Socket, <<1:16, $n>>),
            Reply = receive_all(Socket, <<>>),
            ok = gen_tcp:close(Socket),
            case Reply of
                <<_Port:32, Text/binary>> ->
                    lists:sort([binary_to_list(Name)
                                || {match, [Name]} <- [re:run(Line, "^name (.*) at port \\d+$",
                                                              [{capture, all_but_first, binary}])
                                                       || Line <- binary:split(Text, <<"\n">>,
                                                                               [global, trim])]]);
                _ -> {error, no_answer}
            end;
        {error, Reason} ->
            {error, Reason}
    end.

receive_all(Socket, Acc) ->
    case gen_tcp:recv(Socket, 0, 1000) of
        {ok, Data} -> receive_all(Socket, <<Acc/binary, Data/binary>>);
        {error, _} -> Acc
    end.

%% A failed call, with the times it started and ended.
call(Target) ->
    Start = erlang:system_time(millisecond),
    Why = try erpc:call(Target, erlang, node, [], 1000) of
              Target -> ok;
              Other -> {wrong_node, Other}
          catch
              Class:Reason -> {Class, Reason}
          end,
    Why =/= ok andalso {true, {Target, {Start, erlang:system_time(millisecond)}, Why}}.

%%% Helpers

%% A VM of OTP `Vsn': with epmd_rs (`rs') or stock erl_epmd, on this host or
%% in its root, on the suite's EPMD port, with one cookie for all.
vm(Config, Vsn, Kind, Name) ->
    vm(Config, Vsn, Kind, Name, []).

vm(Config, Vsn, Kind, Name, Extra) ->
    {Vsn, Where} = lists:keyfind(Vsn, 1, otps()),
    Code = case {Kind, Where} of
               {stock, _} -> [];
               {rs, host} -> ["-epmd_module", "epmd_rs", "-pa", ?config(ebin, Config)];
               {rs, {root, _}} -> ["-epmd_module", "epmd_rs", "-pa", ?ROOT_EBIN]
           end,
    Exec = case Where of
               host -> #{};
               {root, Dir} -> #{exec => {chroot(), [Dir, "erl"]}}
           end,
    epmd_rs_test_lib:start_peer(
      Exec#{name => list_to_atom(Name),
            args => ["-start_epmd", "false", "-setcookie", ?COOKIE | Code ++ Extra],
            env => [{"ERL_EPMD_PORT", integer_to_list(?config(port, Config))}]}).

stop(Peer) ->
    Ref = monitor(process, Peer),
    unlink(Peer),
    ok = peer:cast(Peer, erlang, halt, []),
    receive {'DOWN', Ref, process, Peer, _} -> ok after 10000 -> ct:fail(peer_did_not_stop) end.

name(Kind, Vsn) ->
    [Major | _] = string:split(Vsn, "."),
    atom_to_list(Kind) ++ Major.

rotate(First, Otps) ->
    {Before, After} = lists:splitwith(fun({V, _}) -> V =/= First end, Otps),
    After ++ Before.

listed(Peer, Module) ->
    {ok, Names} = peer:call(Peer, Module, names, []),
    lists:sort([N || {N, _} <- Names]).

%% `epmd -names' of one OTP, against the suite's port.
epmd_names(Config, {_, host}) ->
    epmd_rs_test_lib:epmd_cli_names(Config);
epmd_names(Config, {_, {root, Dir}}) ->
    {0, Out} = epmd_rs_test_lib:run(chroot(),
                                    [Dir, "epmd", "-port", integer_to_list(?config(port, Config)),
                                     "-names"], []),
    {match, Names} = re:run(Out, "^name (\\S+) at port \\d+$",
                            [multiline, global, {capture, all_but_first, list}]),
    lists:sort(lists:append(Names)).

wait_answers(Watcher, Node) ->
    epmd_rs_test_lib:wait_until(
      fun() -> peer:call(Watcher, net_adm, ping, [Node]) =:= pong end, 10000).

await_listed(Config, Names, Deadline) ->
    Listed = fun() -> Names -- epmd_rs_test_lib:epmd_cli_names(Config) =:= [] end,
    case epmd_rs_test_lib:wait_until(Listed, max(0, Deadline - now_ms())) of
        ok -> ok;
        {error, timeout} -> ct:fail({not_listed_in_time, Names,
                                     epmd_rs_test_lib:epmd_cli_names(Config)})
    end.

creation(Peer) ->
    peer:call(Peer, erlang, system_info, [creation]).

%% Every VM of the round has gone, and the port with them.
await_no_epmd(Config) ->
    ok = epmd_rs_test_lib:wait_until(
           fun() -> element(1, epmd_rs_test_lib:epmd_cli(Config, ["-names"])) =/= 0 end, 10000).

now_ms() ->
    erlang:monotonic_time(millisecond).

host() ->
    {ok, Host} = inet:gethostname(),
    Host.

otp_version() ->
    {ok, Vsn} = file:read_file(filename:join([code:root_dir(), "releases",
                                              erlang:system_info(otp_release), "OTP_VERSION"])),
    string:trim(binary_to_list(Vsn)).

chroot() ->
    %% _build/test/lib/epmd_rs -> the repository root.
    Repo = lists:foldl(fun(_, D) -> filename:dirname(D) end, code:lib_dir(epmd_rs), lists:seq(1, 4)),
    filename:join([Repo, "test", "otp", "chroot.sh"]).

%% TLS distribution for a VM of `Otp', with the certificates of this run
%% (made in priv_dir) where that VM sees them: a root gets a copy in /work/tls.
tls_args(Config, {_, Where}) ->
    Dir = ?config(priv_dir, Config),
    Options = case Where of
                  host ->
                      epmd_rs_test_lib:write_tls_dist(Dir, Dir);
                  {root, Root} ->
                      Copy = filename:join(Root, "work/tls"),
                      ok = filelib:ensure_path(Copy),
                      [{ok, _} = file:copy(filename:join(Dir, F), filename:join(Copy, F))
                       || F <- ["node.pem", "node.key", "ca.pem"]],
                      epmd_rs_test_lib:write_tls_dist(Copy, "/work/tls")
              end,
    ["-proto_dist", "inet_tls", "-ssl_dist_optfile", Options].
