%% @doc epmd_rs: the Erlang Port Mapper Daemon inside the VM.
%%
%% Start a node with `-epmd_module epmd_rs -start_epmd false' and it needs no
%% `epmd' daemon: the first such VM on a host serves the EPMD port itself, and
%% stock nodes and tools (`epmd -names', `erl_epmd') talk to it as to OTP's
%% daemon. When another EPMD already holds the port, the node registers with it
%% instead.
%%
%% This module is the `-epmd_module' callback module; every function returns
%% what `erl_epmd' returns. Lookups and listings of this host are answered from
%% the in-VM registry without a network round trip.
-module(epmd_rs).

-export([start_link/0,
         register_node/2, register_node/3,
         port_please/2, port_please/3,
         address_please/3,
         listen_port_please/2,
         names/0, names/1,
         mode/0, info/0, stats/0]).

-include_lib("kernel/include/inet.hrl").

-type host() :: atom() | string() | inet:ip_address().
-type node_name() :: atom() | string().
-type mode() :: server | client | none | fallback.
-type registration_info() ::
        #{name := binary(), port := inet:port_number(), node_type := byte(),
          protocol := byte(), highest_version := non_neg_integer(),
          lowest_version := non_neg_integer(), extra := binary(),
          creation := non_neg_integer(), registered_at := non_neg_integer(),
          owner := pid() | connection | undefined,
          peer := {inet:ip_address(), inet:port_number()} | undefined}.
-export_type([mode/0, registration_info/0]).

%% Replies from an EPMD we connect to are awaited this long when the caller
%% gives no timeout: erl_epmd would wait forever on a silent server.
-define(DEFAULT_TIMEOUT_MS, 10000).
%% Set when the NIF did not load and erl_epmd does the work.
-define(FALLBACK_KEY, {?MODULE, fallback}).
-define(NOT_CACHED, '$epmd_rs_not_cached').

%% @doc Starts the process that serves or reaches this host's EPMD. Called by
%% the kernel when distribution starts.
%%
%% If the NIF library cannot be loaded, the node logs why and behaves as with
%% `erl_epmd' (an EPMD daemon must then hold the port), unless the application
%% variable `on_nif_error' is `fail': then distribution, and the boot, fail.
-spec start_link() -> {ok, pid()} | ignore | {error, term()}.
start_link() ->
    %% Loaded as one batch where the VM loads on demand: each module loaded
    %% alone waits for every scheduler to pass a code barrier.
    _ = code:ensure_modules_loaded([epmd_rs_nif, epmd_rs_server, epmd_rs_config, epmd_rs_log]),
    case epmd_rs_nif:load_error() of
        none ->
            epmd_rs_server:start_unless_running();
        Reason ->
            Fail = epmd_rs_config:app_env(on_nif_error, fallback) =:= fail,
            logger:error("epmd_rs: the NIF library did not load (~p); ~ts", [Reason,
                         case Fail of
                             true -> "refusing to start distribution (on_nif_error = fail)";
                             false -> "falling back to erl_epmd, which needs an EPMD daemon"
                         end], #{epmd_rs => #{event => nif_not_loaded, reason => Reason}}),
            case Fail of
                true ->
                    {error, {epmd_rs_nif_not_loaded, Reason}};
                false ->
                    persistent_term:put(?FALLBACK_KEY, true),
                    erl_epmd:start_link()
            end
    end.

%% @equiv register_node(Name, Port, inet)
-spec register_node(node_name(), inet:port_number()) -> {ok, integer()} | {error, term()}.
register_node(Name, Port) ->
    register_node(Name, Port, inet).

%% @doc Registers this node's name and distribution port. Fails with
%% `{error, duplicate_name}' when the name is taken on this host.
-spec register_node(node_name(), inet:port_number(), inet_tcp | inet6_tcp | inet | inet6) ->
          {ok, integer()} | {error, term()}.
register_node(Name, Port, inet_tcp) ->
    register_node(Name, Port, inet);
register_node(Name, Port, inet6_tcp) ->
    register_node(Name, Port, inet6);
register_node(Name, Port, Family) ->
    case fallback() orelse epmd_rs_server:register_node(Name, Port, Family) of
        true ->
            erl_epmd:register_node(Name, Port, Family);
        {error, _} = Error ->
            %% As erl_epmd: with a fixed distribution port, registering is
            %% optional and a random creation will do.
            case node_listen_port() of
                {ok, _} -> {ok, -1};
                undefined -> Error
            end;
        Ok ->
            Ok
    end.

%% @equiv port_please(Name, Host, infinity)
-spec port_please(node_name(), host()) -> epmd_rs_client:port_reply().
port_please(Name, Host) ->
    port_please(Name, Host, infinity).

%% @doc The distribution port of node `Name' on `Host':
%% `{port, Port, Version}', `noport', `closed' or `{error, Reason}'.
-spec port_please(node_name(), host(), timeout()) -> epmd_rs_client:port_reply().
port_please(Name, Host, Timeout) ->
    case fallback() of
        true -> erl_epmd:port_please(Name, Host, Timeout);
        false -> rs_port_please(Name, Host, Timeout)
    end.

rs_port_please(Name, Host, Timeout) ->
    case listen_port_please(Name, Host) of
        {ok, 0} ->
            case resolve(Host, Timeout) of
                {ok, Ip} -> lookup(name_binary(Name), Ip, Timeout);
                _ -> noport
            end;
        {ok, Port} ->
            %% The peer's versions are unknown here: assume the lowest, as erl_epmd does.
            {Low, _High} = epmd_rs_config:dist_versions(),
            {port, Port, Low}
    end.

%% @doc The address of `Host' in `Family', as erl_epmd resolves it.
-spec address_please(node_name(), host(), inet | inet6) ->
          {ok, inet:ip_address()} | {error, term()}.
address_please(_Name, Host, Family) ->
    inet:getaddr(Host, Family).

%% @doc The port this node's distribution listens on: the kernel parameter
%% `erl_epmd_node_listen_port' (OTP 27.2 and later) or the `-erl_epmd_port'
%% flag, or 0 for any port in `inet_dist_listen_min'..`max'. Both set is an
%% error, as with erl_epmd.
-spec listen_port_please(node_name(), host()) -> {ok, inet:port_number()}.
listen_port_please(_Name, _Host) ->
    case node_listen_port() of
        {ok, Port} -> {ok, Port};
        undefined -> {ok, 0}
    end.

%% @doc The nodes registered on this host: `{ok, [{Name, Port}]}', oldest
%% registration first, exactly as `erl_epmd:names()' lists them.
-spec names() -> {ok, [{string(), inet:port_number()}]} | {error, term()}.
names() ->
    case fallback() orelse epmd_rs_server:mode() of
        true ->
            erl_epmd:names();
        {server, Server} ->
            {ok, local_names(Server)};
        _ ->
            {ok, Host} = inet:gethostname(),
            names(Host)
    end.

%% @doc The nodes registered with the EPMD on `Host'.
-spec names(host()) -> {ok, [{string(), inet:port_number()}]} | {error, term()}.
names(Host) ->
    case fallback() of
        true -> erl_epmd:names(Host);
        false -> rs_names(Host)
    end.

rs_names(Host) ->
    case resolve(Host, infinity) of
        {ok, Ip} ->
            case local_server(Ip) of
                {ok, Server} -> {ok, local_names(Server)};
                none -> epmd_rs_client:names(Ip, epmd_rs_server:epmd_port(), ?DEFAULT_TIMEOUT_MS)
            end;
        Error ->
            Error
    end.

%% @doc How this VM reaches its host's EPMD: `server' when it serves the port
%% itself, `client' when it is registered with another EPMD, `none' while it
%% has neither (distribution not started, or between two attempts), and
%% `fallback' when the NIF did not load and erl_epmd does the work.
-spec mode() -> mode().
mode() ->
    case fallback() orelse epmd_rs_server:mode() of
        true -> fallback;
        {server, _} -> server;
        Mode -> Mode
    end.

%% @doc Every registration of the in-VM server, oldest first: name, port,
%% node type, protocol, versions, extra, creation (as the node received it),
%% `registered_at' (Unix milliseconds), `owner' (the process of this VM that
%% holds it, or `connection') and `peer' (`{Ip, Port}' of a TCP registration).
%% `{error, not_serving}' when this VM does not serve the EPMD port.
-spec info() -> {ok, [registration_info()]} | {error, not_serving}.
info() ->
    case epmd_rs_server:mode() of
        {server, Server} -> {ok, epmd_rs_nif:info(Server)};
        _ -> {error, not_serving}
    end.

%% @doc Counters of the in-VM server since it started: connections, requests
%% by type, registrations, refusals, drops and timeouts. `{error,
%% not_serving}' when this VM does not serve the EPMD port.
-spec stats() -> {ok, #{atom() => non_neg_integer()}} | {error, not_serving}.
stats() ->
    case epmd_rs_server:mode() of
        {server, Server} -> {ok, epmd_rs_nif:stats(Server)};
        _ -> {error, not_serving}
    end.

%%% Internal

fallback() ->
    persistent_term:get(?FALLBACK_KEY, false).

%% A value that never changes in the life of the VM, computed once: lookups
%% run in the caller's process and must not redo this work.
cached(Key, Compute) ->
    case persistent_term:get({?MODULE, Key}, ?NOT_CACHED) of
        ?NOT_CACHED ->
            Value = Compute(),
            persistent_term:put({?MODULE, Key}, Value),
            Value;
        Value ->
            Value
    end.

%% The fixed listen port, if any. A setting that OTP refuses fails the same
%% way, every time it is asked for (nothing is cached), and the log names the
%% two settings that collide.
node_listen_port() ->
    cached(node_listen_port,
           fun() ->
                   case epmd_rs_config:node_listen_port() of
                       {conflict, FlagPort, ParameterPort} ->
                           Message = io_lib:format(
                                       "epmd_rs: the distribution port is set twice, by the flag "
                                       "-erl_epmd_port ~b and by the kernel parameter "
                                       "erl_epmd_node_listen_port ~b; set only one of them",
                                       [FlagPort, ParameterPort]),
                           logger:error("~ts", [Message],
                                        #{epmd_rs => #{event => config_conflict,
                                                       settings => [erl_epmd_port,
                                                                    erl_epmd_node_listen_port]}}),
                           %% Early in boot (OTP 26 on) only logger's simple handler
                           %% is there, and the kernel stops before it prints: say it
                           %% on stderr too, as net_kernel does for the error below.
                           _ = logger:get_handler_ids() =:= [simple]
                               andalso erlang:display_string(lists:flatten([Message, $\n])),
                           error({invalid_configuration,
                                  "either -erl_epmd_port or kernel erl_epmd_node_listen_port "
                                  "should be specified, not both"});
                       {invalid, Value} ->
                           error({invalid_parameter_value, erl_epmd_node_listen_port, Value});
                       Port ->
                           Port
                   end
           end).

lookup(Name, Ip, Timeout) ->
    case local_server(Ip) of
        {ok, Server} ->
            case epmd_rs_nif:lookup(Server, Name) of
                {Port, _Type, _Proto, High, Low, _Extra} ->
                    {port, Port, epmd_rs_client:best_version(Low, High)};
                noport ->
                    noport
            end;
        none ->
            epmd_rs_client:port_please(Ip, epmd_rs_server:epmd_port(), Name,
                                       timeout_ms(Timeout))
    end.

%% The in-VM server, when it is the EPMD at `Ip'.
local_server(Ip) ->
    case epmd_rs_server:mode() of
        {server, Server} ->
            case epmd_rs_server:is_local_address(Ip) of
                true -> {ok, Server};
                false -> none
            end;
        _ ->
            none
    end.

local_names(Server) ->
    Entries = epmd_rs_nif:names(Server),
    Odd = cached(odd_name_bytes, fun() -> binary:compile_pattern([<<" ">>, <<"\n">>]) end),
    case lists:any(fun({Name, _}) -> binary:match(Name, Odd) =/= nomatch end, Entries) of
        %% The common case, without formatting and parsing text.
        false -> lists:reverse([{binary_to_list(Name), Port} || {Name, Port} <- Entries]);
        %% A name erl_epmd's parser would mangle gets exactly its treatment.
        true -> epmd_rs_client:parse_names(epmd_rs_client:format_names(Entries))
    end.

%% Host to EPMD address, as erl_epmd resolves it.
resolve(Host, Timeout) when is_atom(Host) ->
    resolve(atom_to_list(Host), Timeout);
resolve(Host, Timeout) when is_list(Host) ->
    Family = case inet_db:res_option(inet6) of
                 true -> inet6;
                 false -> inet
             end,
    case inet:gethostbyname(Host, Family, Timeout) of
        {ok, #hostent{h_addr_list = [Ip | _]}} -> {ok, Ip};
        Else -> Else
    end;
resolve(Ip, _Timeout) ->
    {ok, Ip}.

name_binary(Name) when is_atom(Name) -> atom_to_binary(Name, utf8);
name_binary(Name) -> unicode:characters_to_binary(Name).

timeout_ms(infinity) -> ?DEFAULT_TIMEOUT_MS;
timeout_ms(Ms) -> Ms.
