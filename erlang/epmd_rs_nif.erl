%% @private
%% The NIF library's module: loads it and holds one stub per NIF. Never reload
%% this module: the library supports no upgrade (see docs/ARCHITECTURE.md).
-module(epmd_rs_nif).

-export([server_start/3, server_stop/1, register_local/9, unregister_local/1,
         lookup/2, names/1, info/1, stats/1,
         client_port_please/4, client_names/3, client_register/11,
         client_unregister/1]).

-export([load_error/0]).
%% Only in a library built with the `test-hooks' feature (the test profile).
-export([inject_panic/0]).

-on_load(init/0).

%% Handles to native resources; opaque to Erlang code.
-type server() :: reference().
-type registration() :: reference().
-type held() :: reference().
-type server_options() :: #{addresses := binary(), relaxed := boolean(),
                            packet_timeout := non_neg_integer()}.
-export_type([server/0, registration/0, held/0, server_options/0]).

-define(NOT_LOADED, erlang:nif_error(nif_not_loaded)).

%% A library that fails to load leaves the module loaded, its stubs raising
%% nif_not_loaded, so that epmd_rs can report the cause and fall back.
init() ->
    case erlang:load_nif(filename:join(priv_dir(), "libepmd_nif"), 0) of
        ok -> ok;
        {error, Reason} -> persistent_term:put({?MODULE, load_error}, Reason)
    end.

%% Why the NIF library did not load, or `none'.
-spec load_error() -> none | term().
load_error() ->
    persistent_term:get({?MODULE, load_error}, none).

priv_dir() ->
    case code:priv_dir(epmd_rs) of
        {error, bad_name} ->
            filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "priv");
        Dir ->
            Dir
    end.

server_start(_Port, _Options, _Owner) -> ?NOT_LOADED.
server_stop(_Server) -> ?NOT_LOADED.
register_local(_Server, _Name, _Port, _Type, _Proto, _High, _Low, _Extra, _Owner) -> ?NOT_LOADED.
unregister_local(_Registration) -> ?NOT_LOADED.
lookup(_Server, _Name) -> ?NOT_LOADED.
names(_Server) -> ?NOT_LOADED.
info(_Server) -> ?NOT_LOADED.
stats(_Server) -> ?NOT_LOADED.
inject_panic() -> ?NOT_LOADED.
client_port_please(_Ip, _Port, _Name, _TimeoutMs) -> ?NOT_LOADED.
client_names(_Ip, _Port, _TimeoutMs) -> ?NOT_LOADED.
client_register(_Ip, _Port, _Name, _NodePort, _Type, _Proto, _High, _Low, _Extra, _TimeoutMs, _Owner) -> ?NOT_LOADED.
client_unregister(_Handle) -> ?NOT_LOADED.
