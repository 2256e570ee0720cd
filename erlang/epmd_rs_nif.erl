%% @private
%% The NIF library's module: loads it and holds one stub per NIF. Never reload
%% this module: the library supports no upgrade (see docs/ARCHITECTURE.md).
%%
%% The library is loaded by the first call, not by -on_load: a release boots
%% in embedded mode, where OTP runs on_load functions only after the kernel
%% has started distribution, and so after epmd_rs:start_link/0 needs the NIFs.
-module(epmd_rs_nif).

-export([defaults/0, server_start/3, server_serve/1, server_stop/1, server_events/2,
         register_local/3, unregister_local/1, lookup/2, names/1, info/1, stats/1,
         client_port_please/4, client_names/3, client_register/5,
         client_unregister/1]).

-export([load_error/0]).
%% Only in a library built with the `test-hooks' feature (the test profile).
-export([inject_panic/0]).

%% Handles to native resources; opaque to Erlang code.
-type server() :: reference().
-type registration() :: reference().
-type held() :: reference().
%% {Name, Port, NodeType, Protocol, HighestVersion, LowestVersion, Extra}
-type node_info() :: {binary(), inet:port_number(), byte(), byte(), non_neg_integer(),
                      non_neg_integer(), binary()}.
-type server_options() :: #{addresses := binary(), relaxed := boolean(),
                            packet_timeout := non_neg_integer(),
                            remote_names := boolean(),
                            max_connections := non_neg_integer(),
                            max_connections_per_peer := non_neg_integer(),
                            syslog := boolean(), syslog_facility := binary(),
                            syslog_path := binary()}.
%% The core's defaults, OTP's: EPMD's port, the packet timeout in
%% milliseconds, and the distribution versions erl_epmd registers.
-type defaults() :: #{port := inet:port_number(), packet_timeout := pos_integer(),
                      highest_version := non_neg_integer(),
                      lowest_version := non_neg_integer()}.
%% A registration as PORT2 returns it: {Port, NodeType, Protocol,
%% HighestVersion, LowestVersion, Extra}.
-type found() :: {inet:port_number(), byte(), byte(), non_neg_integer(), non_neg_integer(),
                  binary()}.
-type register_error() :: duplicate_name | name_too_long | invalid_name_encoding
                        | extra_too_long | owner_dead.
%% Every reply of a client call arrives as {epmd_rs_reply, Ref, Reply}.
-type request() :: reference().
-export_type([server/0, registration/0, held/0, server_options/0, node_info/0, defaults/0,
              found/0, request/0]).

%% A stub runs only while the library is not loaded. It hands over to
%% call_loaded/2 with a tail call: loading the library rewrites the stubs'
%% code, and a stub that called load/0 itself would return into rewritten
%% code and crash the VM (seen with stubs of arity 0 and 1).
-define(NIF(Name, Args), call_loaded(Name, Args)).
-define(STATE_KEY, {?MODULE, state}).

%% Loads the library once: `loaded_now' for the call that did, `loaded'
%% afterwards, `{error, Reason}' if it cannot be loaded. A failure is kept,
%% the module stays loaded and its stubs raise nif_not_loaded, so that
%% epmd_rs can report the cause and fall back.
load() ->
    case persistent_term:get(?STATE_KEY, undefined) of
        undefined ->
            case erlang:load_nif(filename:join(priv_dir(), "libepmd_nif"), 0) of
                ok -> persistent_term:put(?STATE_KEY, loaded), loaded_now;
                %% Another process got there first: the NIFs are in place.
                {error, {reload, _}} -> loaded_now;
                {error, Reason} = Error -> persistent_term:put(?STATE_KEY, Error), {error, Reason}
            end;
        State ->
            State
    end.

%% Loads the library, and if this call did, makes the call again, now to the
%% NIF.
call_loaded(Name, Args) ->
    case load() of
        loaded_now -> apply(?MODULE, Name, Args);
        _ -> erlang:nif_error(nif_not_loaded)
    end.

%% Why the NIF library cannot be loaded, or `none'.
-spec load_error() -> none | term().
load_error() ->
    case load() of
        {error, Reason} -> Reason;
        _ -> none
    end.

priv_dir() ->
    case code:priv_dir(epmd_rs) of
        {error, bad_name} ->
            filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "priv");
        Dir ->
            Dir
    end.

-spec defaults() -> defaults().
defaults() -> ?NIF(defaults, []).

%% Binds the port, to be served from server_serve/1 on; the owner gets
%% {epmd_rs_server_stopped, Server, Why} when it ends, and the server's events.
-spec server_start(inet:port_number(), server_options(), pid()) ->
          {ok, server()} | {error, eaddrinuse | {listen | syslog, binary()}}.
server_start(Port, Options, Owner) -> ?NIF(server_start, [Port, Options, Owner]).

-spec server_serve(server()) -> ok.
server_serve(Server) -> ?NIF(server_serve, [Server]).

-spec server_stop(server()) -> ok.
server_stop(Server) -> ?NIF(server_stop, [Server]).

-spec server_events(server(), boolean()) -> ok.
server_events(Server, On) -> ?NIF(server_events, [Server, On]).

-spec register_local(server(), node_info(), pid()) ->
          {ok, {non_neg_integer(), registration()}} | {error, register_error()}.
register_local(Server, Node, Owner) -> ?NIF(register_local, [Server, Node, Owner]).

-spec unregister_local(registration()) -> ok.
unregister_local(Registration) -> ?NIF(unregister_local, [Registration]).

-spec lookup(server(), binary()) -> found() | noport.
lookup(Server, Name) -> ?NIF(lookup, [Server, Name]).

%% Newest registration first, as NAMES lists them.
-spec names(server()) -> [{binary(), inet:port_number()}].
names(Server) -> ?NIF(names, [Server]).

-spec info(server()) -> [epmd_rs:registration_info()].
info(Server) -> ?NIF(info, [Server]).

-spec stats(server()) -> #{atom() => non_neg_integer()}.
stats(Server) -> ?NIF(stats, [Server]).

-spec inject_panic() -> no_return().
inject_panic() -> ?NIF(inject_panic, []).

%% The client calls answer with a message: {epmd_rs_reply, Request, Reply}.
-spec client_port_please(binary(), inet:port_number(), binary(), non_neg_integer()) -> request().
client_port_please(Ip, Port, Name, TimeoutMs) ->
    ?NIF(client_port_please, [Ip, Port, Name, TimeoutMs]).

-spec client_names(binary(), inet:port_number(), non_neg_integer()) -> request().
client_names(Ip, Port, TimeoutMs) -> ?NIF(client_names, [Ip, Port, TimeoutMs]).

%% The registration lasts until client_unregister/1, the owner's death, or the
%% server closing it ({epmd_rs_registration_ended, Held}).
-spec client_register(binary(), inet:port_number(), node_info(), non_neg_integer(), pid()) ->
          held().
client_register(Ip, Port, Node, TimeoutMs, Owner) ->
    ?NIF(client_register, [Ip, Port, Node, TimeoutMs, Owner]).

-spec client_unregister(held()) -> ok.
client_unregister(Handle) -> ?NIF(client_unregister, [Handle]).
