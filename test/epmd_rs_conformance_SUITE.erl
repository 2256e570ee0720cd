%% The differential battery (native/epmd_conformance) against the in-VM server:
%% the same exchanges as against our core in cargo test, now through the NIF,
%% compared byte for byte with Debian's epmd.
-module(epmd_rs_conformance_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([strict_battery/1, relaxed_battery/1]).

suite() ->
    [{timetrap, {minutes, 3}}].

all() ->
    [strict_battery, relaxed_battery].

init_per_suite(Config0) ->
    Config = epmd_rs_test_lib:init(Config0),
    Battery = battery_binary(),
    case filelib:is_regular(Battery) of
        true -> [{battery, Battery} | Config];
        false -> ct:fail({missing, Battery, "run `cargo build -p epmd_conformance` (make test does)"})
    end.

end_per_suite(_Config) ->
    ok.

init_per_testcase(_Case, Config) ->
    Config.

end_per_testcase(_Case, Config) ->
    epmd_rs_test_lib:cleanup(),
    Config.

strict_battery(Config) ->
    run_battery(Config, false).

relaxed_battery(Config) ->
    run_battery(Config, true).

%%% Helpers

run_battery(Config, Relaxed) ->
    Ours = epmd_rs_test_lib:free_port(),
    Theirs = epmd_rs_test_lib:free_port(),
    Server = epmd_rs_test_lib:start_server(Ours, #{relaxed => Relaxed, packet_timeout => 1000}),
    try
        Otp = epmd_rs_test_lib:start_otp_epmd(
                [{port, Theirs} | Config],
                ["-packet_timeout", "1"] ++ [A || Relaxed, A <- ["-relaxed_command_check"]]),
        Args = ["--reference", "127.0.0.1:" ++ integer_to_list(Theirs),
                "--candidate", "127.0.0.1:" ++ integer_to_list(Ours)]
            ++ [A || Relaxed, A <- ["--relaxed"]],
        {Status, Output} = epmd_rs_test_lib:run(?config(battery, Config), Args, []),
        ct:log("~ts", [Output]),
        ?assertEqual(0, Status),
        ?assertMatch({match, _}, re:run(Output, "conformance: \\d+ exchanges, 0 unexplained", [unicode])),
        _ = Otp
    after
        %% The battery ends with an accepted KILL: the server may be gone.
        _ = epmd_rs_test_lib:stop_server(Server)
    end.

%% The battery built by cargo in the workspace's target directory.
battery_binary() ->
    case os:getenv("EPMD_CONFORMANCE") of
        false ->
            Ebin = filename:dirname(code:which(epmd_rs)),
            %% _build/test/lib/epmd_rs/ebin -> the repository root.
            Root = lists:foldl(fun(_, D) -> filename:dirname(D) end, Ebin, lists:seq(1, 5)),
            filename:join([Root, "target", "debug", "epmd-conformance"]);
        Path ->
            Path
    end.
