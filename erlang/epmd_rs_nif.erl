%% @private
%% The NIF library's module: loads it and holds one stub per NIF. Never reload
%% this module: the library supports no upgrade (see docs/ARCHITECTURE.md).
%%
%% The library is loaded by the first call, not by -on_load: a release boots
%% in embedded mode, where OTP runs on_load functions only after the kernel
%% has started distribution, and so after epmd_rs:start_link/0 needs the NIFs.
-module(epmd_rs_nif).

-export([server_start/3, server_stop/1, server_events/2, register_local/3, unregister_local/1,
         lookup/2, names/1, info/1, stats/1,
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
                            max_connections_per_peer := non_neg_integer()}.
-export_type([server/0, registration/0, held/0, server_options/0, node_info/0]).

%% A stub runs only while the library is not loaded: load it, and if this
%% call did, make the call again, now to the NIF.
-define(NIF(Call), case load() of
                       loaded_now -> Call;
                       _ -> erlang:nif_error(nif_not_loaded)
                   end).
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

server_start(Port, Options, Owner) -> ?NIF(server_start(Port, Options, Owner)).
server_stop(Server) -> ?NIF(server_stop(Server)).
server_events(Server, On) -> ?NIF(server_events(Server, On)).
register_local(Server, Node, Owner) -> ?NIF(register_local(Server, Node, Owner)).
unregister_local(Registration) -> ?NIF(unregister_local(Registration)).
lookup(Server, Name) -> ?NIF(lookup(Server, Name)).
names(Server) -> ?NIF(names(Server)).
info(Server) -> ?NIF(info(Server)).
stats(Server) -> ?NIF(stats(Server)).
inject_panic() -> ?NIF(inject_panic()).
client_port_please(Ip, Port, Name, TimeoutMs) ->
    ?NIF(client_port_please(Ip, Port, Name, TimeoutMs)).
client_names(Ip, Port, TimeoutMs) -> ?NIF(client_names(Ip, Port, TimeoutMs)).
client_register(Ip, Port, Node, TimeoutMs, Owner) ->
    ?NIF(client_register(Ip, Port, Node, TimeoutMs, Owner)).
client_unregister(Handle) -> ?NIF(client_unregister(Handle)).
