%% The Common Test hook of the suites that start real nodes on this host: the
%% suite gets Debian's epmd and this application's paths, each case a free
%% EPMD port, and every peer and OS process a case started is stopped after
%% it, by pid. A suite uses it with `{ct_hooks, [epmd_rs_ct_hook]}'.
-module(epmd_rs_ct_hook).

-export([init/2, pre_init_per_suite/3, pre_init_per_testcase/4, post_end_per_testcase/5]).

init(_Id, _Options) ->
    {ok, no_state}.

pre_init_per_suite(_Suite, Config, State) when is_list(Config) ->
    {epmd_rs_test_lib:init(Config), State};
pre_init_per_suite(_Suite, Skip, State) ->
    {Skip, State}.

pre_init_per_testcase(_Suite, _Case, Config, State) when is_list(Config) ->
    {[{port, epmd_rs_test_lib:free_port()} | Config], State};
pre_init_per_testcase(_Suite, _Case, Skip, State) ->
    {Skip, State}.

post_end_per_testcase(_Suite, _Case, _Config, Return, State) ->
    epmd_rs_test_lib:cleanup(),
    {Return, State}.
