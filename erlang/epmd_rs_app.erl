%% @private
%% The epmd_rs application: with `{serve, true}' in its environment it serves
%% the host's EPMD from a VM that does not use epmd_rs as its own
%% `-epmd_module' (a supervisor VM, say). In a VM that does, the kernel has
%% already started the server and the application adds nothing.
-module(epmd_rs_app).
-behaviour(application).

-export([start/2, stop/1]).

start(_Type, _Args) ->
    epmd_rs_sup:start_link().

stop(_State) ->
    ok.
