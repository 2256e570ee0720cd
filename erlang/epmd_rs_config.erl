%% @private
%% Pure readers of the settings that epmd_rs shares with OTP's erl_epmd. Each
%% takes what init, the kernel's environment and the OTP version say, so that
%% EUnit can check every combination without starting a node.
-module(epmd_rs_config).

-export([node_listen_port/0, node_listen_port/3, kernel_has_parameters/0]).

-type listen_port() :: {ok, inet:port_number()} | undefined
                     | {conflict, inet:port_number(), inet:port_number()}
                     | {invalid, term()}.
-export_type([listen_port/0]).

%% @doc The fixed port of this node's distribution listener, if one is set,
%% read as this OTP's erl_epmd reads it: the `-erl_epmd_port' flag on every
%% OTP, and the kernel parameter `erl_epmd_node_listen_port' where the kernel
%% has it (OTP 27.2 and later; older kernels ignore it). Both set is a
%% conflict, and a parameter that is not a port is invalid, as for OTP.
-spec node_listen_port() -> listen_port().
node_listen_port() ->
    node_listen_port(init:get_argument(erl_epmd_port),
                     application:get_env(kernel, erl_epmd_node_listen_port),
                     kernel_has_parameters()).

-spec node_listen_port(error | {ok, [[string()]]}, undefined | {ok, term()}, boolean()) ->
          listen_port().
node_listen_port(Flag, Parameter, KernelHasParameters) ->
    FromFlag = flag_port(Flag),
    case KernelHasParameters of
        false -> FromFlag;
        true -> combine(FromFlag, Parameter)
    end.

%% erl_epmd takes the flag only when it is given once, as a whole integer.
flag_port({ok, [[String]]}) ->
    try list_to_integer(String) of
        Port -> {ok, Port}
    catch
        error:badarg -> undefined
    end;
flag_port(_) ->
    undefined.

combine(FromFlag, undefined) ->
    FromFlag;
combine(undefined, {ok, Port}) when is_integer(Port), Port >= 0 ->
    {ok, Port};
combine({ok, FlagPort}, {ok, Port}) when is_integer(Port), Port >= 0 ->
    {conflict, FlagPort, Port};
combine(_, {ok, Invalid}) ->
    {invalid, Invalid}.

%% @doc Whether this OTP's kernel has the parameters `epmd_module' and
%% `erl_epmd_node_listen_port': they came with OTP 27.2, whose kernel is 10.2.
-spec kernel_has_parameters() -> boolean().
kernel_has_parameters() ->
    {ok, Vsn} = application:get_key(kernel, vsn),
    kernel_has_parameters(Vsn).

kernel_has_parameters(Vsn) ->
    [Major, Minor | _] = [list_to_integer(P) || P <- string:lexemes(Vsn, ".") ++ ["0"]],
    {Major, Minor} >= {10, 2}.

-ifdef(TEST).
-include_lib("eunit/include/eunit.hrl").

flag(Port) -> {ok, [[Port]]}.

listen_port_test_() ->
    [?_assertEqual(undefined, node_listen_port(error, undefined, true)),
     ?_assertEqual({ok, 45999}, node_listen_port(flag("45999"), undefined, true)),
     ?_assertEqual({ok, 45999}, node_listen_port(flag("45999"), undefined, false)),
     ?_assertEqual({ok, 45999}, node_listen_port(error, {ok, 45999}, true)),
     ?_assertEqual({ok, 0}, node_listen_port(error, {ok, 0}, true)),
     %% Before OTP 27.2 the parameter is not the kernel's, and erl_epmd ignores it.
     ?_assertEqual(undefined, node_listen_port(error, {ok, 45999}, false)),
     ?_assertEqual({ok, 1}, node_listen_port(flag("1"), {ok, 45999}, false)),
     ?_assertEqual({conflict, 1, 45999}, node_listen_port(flag("1"), {ok, 45999}, true)),
     ?_assertEqual({invalid, "45999"}, node_listen_port(error, {ok, "45999"}, true)),
     ?_assertEqual({invalid, -1}, node_listen_port(flag("1"), {ok, -1}, true)),
     %% The flag counts only given once, as a whole number.
     ?_assertEqual(undefined, node_listen_port({ok, [["1"], ["2"]]}, undefined, true)),
     ?_assertEqual(undefined, node_listen_port(flag("12x"), undefined, false)),
     ?_assertEqual({ok, 45999}, node_listen_port(flag("12x"), {ok, 45999}, true))].

kernel_version_test_() ->
    [?_assertNot(kernel_has_parameters("8.5.3")),       % OTP 25.2.3
     ?_assertNot(kernel_has_parameters("10.1.2")),      % OTP 27.1
     ?_assertNot(kernel_has_parameters("10")),
     ?_assert(kernel_has_parameters("10.2")),           % OTP 27.2
     ?_assert(kernel_has_parameters("10.2.7.1")),       % OTP 27.3.4.1
     ?_assert(kernel_has_parameters("11.0"))].          % OTP 29
-endif.
