%% The two forms of configuration that OTP gives an epmd module, on the OTP
%% that runs the suite: the flags (-epmd_module, -erl_epmd_port) on every
%% version, and the kernel parameters (epmd_module, erl_epmd_node_listen_port)
%% from OTP 27.2, on the command line and in sys.config. epmd_rs must read
%% them as erl_epmd does: where the kernel has no parameters (OTP 25), both
%% ignore them, and a case says so in its comment.
-module(epmd_rs_config_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(epmd_rs_test_lib, [port_string/1, rs_args/1, start_peer/1, start_otp_epmd/1,
                           run_erl/2]).

-export([all/0, suite/0]).
-export([listen_port_flag/1,
         listen_port_parameter_on_command_line/1,
         listen_port_parameter_in_sys_config/1,
         listen_port_parameter_as_erl_epmd/1,
         epmd_module_parameter/1,
         both_listen_port_forms_refused/1,
         both_epmd_module_forms_refused/1]).

suite() ->
    [{timetrap, {minutes, 2}}, {ct_hooks, [epmd_rs_ct_hook]}].

all() ->
    [listen_port_flag,
     listen_port_parameter_on_command_line,
     listen_port_parameter_in_sys_config,
     listen_port_parameter_as_erl_epmd,
     epmd_module_parameter,
     both_listen_port_forms_refused,
     both_epmd_module_forms_refused].

-define(NOT_APPLICABLE,
        "not applicable: this OTP's kernel has no such parameter (it came with 27.2), "
        "and epmd_rs ignores it as erl_epmd does").

listen_port_flag(Config) ->
    Listen = epmd_rs_test_lib:free_port(),
    rs_node(Config, "a", ["-erl_epmd_port", integer_to_list(Listen)]),
    ?assertEqual(Listen, registered_port(Config, "a")).

listen_port_parameter_on_command_line(Config) ->
    Listen = epmd_rs_test_lib:free_port(),
    rs_node(Config, "a", ["-kernel", "erl_epmd_node_listen_port", integer_to_list(Listen)]),
    expect_listen_port(Listen, registered_port(Config, "a")).

listen_port_parameter_in_sys_config(Config) ->
    Listen = epmd_rs_test_lib:free_port(),
    SysConfig = sys_config(Config, [{kernel, [{erl_epmd_node_listen_port, Listen}]}]),
    rs_node(Config, "a", ["-config", SysConfig]),
    expect_listen_port(Listen, registered_port(Config, "a")).

%% A stock node and an epmd_rs node (a client of OTP's daemon here) given the
%% parameter: both listen where it says, or, on OTP 25, both ignore it.
listen_port_parameter_as_erl_epmd(Config) ->
    start_otp_epmd(Config),
    [StockPort, RsPort] = [epmd_rs_test_lib:free_port() || _ <- [1, 2]],
    start_peer(#{name => s,
                 args => ["-start_epmd", "false",
                          "-kernel", "erl_epmd_node_listen_port", integer_to_list(StockPort)],
                 env => [{"ERL_EPMD_PORT", port_string(Config)}]}),
    Rs = rs_node(Config, "r", ["-kernel", "erl_epmd_node_listen_port", integer_to_list(RsPort)]),
    ?assertEqual(client, peer:call(Rs, epmd_rs, mode, [])),
    expect_listen_port(StockPort, registered_port(Config, "s")),
    expect_listen_port(RsPort, registered_port(Config, "r")).

%% `-kernel epmd_module epmd_rs', and the same in sys.config, make the node use
%% the in-VM mapper. On OTP 25 the kernel ignores it and would use erl_epmd.
epmd_module_parameter(Config) ->
    case epmd_rs_config:kernel_has_parameters() of
        false ->
            {comment, ?NOT_APPLICABLE};
        true ->
            Paths = code_paths(Config),
            A = start_peer(#{name => a,
                             args => ["-kernel", "epmd_module", "epmd_rs", "-start_epmd", "false"
                                      | Paths],
                             env => [{"ERL_EPMD_PORT", port_string(Config)}]}),
            ?assertEqual(server, peer:call(A, epmd_rs, mode, [])),
            SysConfig = sys_config(Config, [{kernel, [{epmd_module, epmd_rs}]}]),
            B = start_peer(#{name => b,
                             args => ["-config", SysConfig, "-start_epmd", "false" | Paths],
                             env => [{"ERL_EPMD_PORT", port_string(Config)}]}),
            ?assertEqual(client, peer:call(B, epmd_rs, mode, [])),
            ?assertEqual(["a", "b"], epmd_rs_test_lib:epmd_cli_names(Config))
    end.

%% The flag and the parameter both set: distribution fails as with erl_epmd,
%% and epmd_rs's log names the two settings. On OTP 25 the parameter does not
%% exist and the flag alone counts.
both_listen_port_forms_refused(Config) ->
    [FlagPort, ParameterPort] = [integer_to_list(epmd_rs_test_lib:free_port()) || _ <- [1, 2]],
    Both = ["-erl_epmd_port", FlagPort, "-kernel", "erl_epmd_node_listen_port", ParameterPort],
    case epmd_rs_config:kernel_has_parameters() of
        false ->
            rs_node(Config, "a", Both),
            ?assertEqual(list_to_integer(FlagPort), registered_port(Config, "a")),
            {comment, ?NOT_APPLICABLE};
        true ->
            {Status, Output} = run_erl(Config, ["-sname", "a" | rs_args(Config)] ++ Both),
            ct:log("~ts", [Output]),
            ?assertNotEqual(0, Status),
            Logged = "the distribution port is set twice, by the flag -erl_epmd_port " ++ FlagPort
                ++ " and by the kernel parameter erl_epmd_node_listen_port " ++ ParameterPort,
            ?assertNotEqual(nomatch, string:find(Output, Logged)),
            ?assertNotEqual(nomatch, string:find(Output, "invalid_configuration")),
            %% erl_epmd refuses the same settings in the same words.
            {StockStatus, StockOutput} = run_erl(Config, ["-sname", "s", "-start_epmd", "false"
                                                          | Both]),
            ?assertNotEqual(0, StockStatus),
            ?assertNotEqual(nomatch, string:find(StockOutput,
                                                 "either -erl_epmd_port or kernel erl_epmd_node_"
                                                 "listen_port should be specified, not both"))
    end.

%% The same for the module itself: the kernel refuses it before epmd_rs runs,
%% with its own message, which says which settings collide.
both_epmd_module_forms_refused(Config) ->
    case epmd_rs_config:kernel_has_parameters() of
        false ->
            {comment, ?NOT_APPLICABLE};
        true ->
            {Status, Output} = run_erl(Config, ["-sname", "a", "-kernel", "epmd_module", "epmd_rs"
                                                | rs_args(Config)]),
            ?assertNotEqual(0, Status),
            ?assertNotEqual(nomatch, string:find(Output, "either -epmd_module or kernel "
                                                 "epmd_module should be specified, not both"))
    end.

%%% Helpers

rs_node(Config, Name, Args) ->
    Peer = start_peer(#{name => list_to_atom(Name), args => rs_args(Config) ++ Args,
                        env => [{"ERL_EPMD_PORT", port_string(Config)}]}),
    ?assertEqual(Name ++ "@" ++ hostname(), atom_to_list(peer:call(Peer, erlang, node, []))),
    Peer.

%% The node's code path, without the -epmd_module flag of rs_args/1.
code_paths(Config) ->
    ["-pa", ?config(ebin, Config), "-pa", filename:dirname(code:which(epmd_rs_test_lib))].

%% The distribution port that node `Name' registered, as Debian's epmd lists it.
registered_port(Config, Name) ->
    {0, Out} = epmd_rs_test_lib:epmd_cli(Config, ["-names"]),
    {match, [Port]} = re:run(Out, "^name " ++ Name ++ " at port (\\d+)$",
                             [multiline, {capture, all_but_first, list}]),
    list_to_integer(Port).

%% The node listens on `Listen' where the kernel has the parameter; elsewhere
%% the parameter is ignored and the port is one the OS picked.
expect_listen_port(Listen, Registered) ->
    case epmd_rs_config:kernel_has_parameters() of
        true ->
            ?assertEqual(Listen, Registered);
        false ->
            ?assertNotEqual(Listen, Registered),
            {comment, ?NOT_APPLICABLE}
    end.

sys_config(Config, Terms) ->
    Path = filename:join(?config(priv_dir, Config),
                         "sys" ++ integer_to_list(erlang:unique_integer([positive])) ++ ".config"),
    ok = file:write_file(Path, io_lib:format("~p.~n", [Terms])),
    filename:rootname(Path).

hostname() ->
    {ok, Host} = inet:gethostname(),
    Host.
