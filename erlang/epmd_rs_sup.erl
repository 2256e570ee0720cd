%% @private
-module(epmd_rs_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    Server = #{id => epmd_rs_server,
               start => {epmd_rs_server, start_unless_running, []},
               shutdown => 10000},
    {ok, {#{strategy => one_for_one, intensity => 5, period => 10}, [Server]}}.
