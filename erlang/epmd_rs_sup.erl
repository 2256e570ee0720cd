%% @private
-module(epmd_rs_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

%% The server only with `{serve, true}': a project that merely depends on
%% epmd_rs (and starts every dependency, as `mix run' does) must not take the
%% host's EPMD port.
init([]) ->
    Server = #{id => epmd_rs_server,
               start => {epmd_rs_server, start_unless_running, []},
               shutdown => 10000},
    Children = case application:get_env(epmd_rs, serve, false) of
                   true -> [Server];
                   false -> []
               end,
    {ok, {#{strategy => one_for_one, intensity => 5, period => 10}, Children}}.
