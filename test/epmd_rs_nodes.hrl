%% Common Test callbacks of the suites that start real nodes on this host:
%% each case gets a free EPMD port, and every peer and OS process it started
%% is stopped after it, by pid.
-export([init_per_suite/1, end_per_suite/1, init_per_testcase/2, end_per_testcase/2]).

init_per_suite(Config) ->
    epmd_rs_test_lib:init(Config).

end_per_suite(_Config) ->
    ok.

init_per_testcase(_Case, Config) ->
    [{port, epmd_rs_test_lib:free_port()} | Config].

end_per_testcase(_Case, Config) ->
    epmd_rs_test_lib:cleanup(),
    Config.
