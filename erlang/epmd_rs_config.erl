%% @private
%% Pure readers of epmd_rs's settings: the flags and variables it shares with
%% OTP's erl_epmd and epmd, the kernel parameters, and the epmd_rs
%% application's environment. Each reader has a form that takes what it reads
%% as arguments, which EUnit checks below, and a form that reads the running
%% VM. Defaults that are protocol facts (the EPMD port, the packet timeout,
%% the distribution versions) come from the Rust core, through the NIF.
-module(epmd_rs_config).

-export([epmd_port/0, epmd_port/3,
         dist_versions/0, dist_versions/3,
         server_options/0, server_options/3,
         app_env/2,
         node_listen_port/0, node_listen_port/3,
         kernel_has_parameters/0]).

-type listen_port() :: {ok, inet:port_number()} | undefined
                     | {conflict, inet:port_number(), inet:port_number()}
                     | {invalid, term()}.
-type defaults() :: epmd_rs_nif:defaults().
-export_type([listen_port/0]).

%% @doc The EPMD port: the `-epmd_port' init flag (erlexec sets it from
%% ERL_EPMD_PORT), then the `port' application variable, then EPMD's default.
-spec epmd_port() -> inet:port_number().
epmd_port() ->
    epmd_port(init:get_argument(epmd_port), app_env(port, undefined), defaults()).

-spec epmd_port(error | {ok, [[string()]]}, inet:port_number() | undefined, defaults()) ->
          inet:port_number().
epmd_port({ok, [[Port | _] | _]}, _AppPort, _Defaults) -> list_to_integer(Port);
epmd_port(error, undefined, #{port := Default}) -> Default;
epmd_port(error, AppPort, _Defaults) -> AppPort.

%% @doc The distribution versions this node registers, as erl_epmd computes
%% them: `{Low, High}', each narrowed by ERL_EPMD_DIST_LOW / _HIGH when that
%% is a number within the default range.
-spec dist_versions() -> {non_neg_integer(), non_neg_integer()}.
dist_versions() ->
    dist_versions(os:getenv("ERL_EPMD_DIST_LOW"), os:getenv("ERL_EPMD_DIST_HIGH"),
                  defaults()).

-spec dist_versions(string() | false, string() | false, defaults()) ->
          {non_neg_integer(), non_neg_integer()}.
dist_versions(LowVar, HighVar, #{lowest_version := Low, highest_version := High}) ->
    {version(LowVar, Low, fun(N) -> N > Low end),
     version(HighVar, High, fun(N) -> N < High end)}.

version(false, Default, _Accept) ->
    Default;
version(Value, Default, Accept) ->
    case string:to_integer(Value) of
        {N, []} -> case Accept(N) of true -> N; false -> Default end;
        _ -> Default
    end.

%% @doc The in-VM server's options: where to listen (the `address' variable,
%% as OTP's -address list, then ERL_EPMD_ADDRESS; `loopback_only' for
%% 127.0.0.1 and ::1; empty for every address), relaxed mode (the variable
%% ERL_EPMD_RELAXED_COMMAND_CHECK set at all, or `relaxed_command_check'),
%% the hardened profile's `local_names_only' and connection caps (0 is none),
%% the packet timeout (`packet_timeout' in seconds, as OTP's -packet_timeout;
%% OTP's default otherwise), and whether events go to syslog too (`syslog',
%% `syslog_facility' by its syslog.conf name, `syslog_path'; an empty path is
%% the usual /dev/log).
-spec server_options() -> epmd_rs_nif:server_options().
server_options() ->
    ok = load(),
    server_options(maps:from_list(application:get_all_env(epmd_rs)),
                   maps:from_list(lists:filtermap(
                                    fun(Var) ->
                                            case os:getenv(Var) of
                                                false -> false;
                                                Value -> {true, {Var, Value}}
                                            end
                                    end, ["ERL_EPMD_ADDRESS", "ERL_EPMD_RELAXED_COMMAND_CHECK"])),
                   defaults()).

-spec server_options(#{atom() => term()}, #{string() => string()}, defaults()) ->
          epmd_rs_nif:server_options().
server_options(App, Os, #{packet_timeout := PacketTimeout}) ->
    Addresses = case maps:get(loopback_only, App, false) of
                    true -> "127.0.0.1";
                    false -> maps:get(address, App, maps:get("ERL_EPMD_ADDRESS", Os, ""))
                end,
    #{addresses => text(address, Addresses),
      relaxed => maps:is_key("ERL_EPMD_RELAXED_COMMAND_CHECK", Os)
          orelse maps:get(relaxed_command_check, App, false) =:= true,
      packet_timeout => case maps:get(packet_timeout, App, default) of
                            default -> PacketTimeout;
                            Seconds when is_integer(Seconds), Seconds > 0 -> Seconds * 1000;
                            Other -> invalid(packet_timeout, Other)
                        end,
      remote_names => not maps:get(local_names_only, App, false),
      max_connections => cap(max_connections, App),
      max_connections_per_peer => cap(max_connections_per_peer, App),
      syslog => maps:get(syslog, App, false) =:= true,
      syslog_facility => case maps:get(syslog_facility, App, user) of
                             Facility when is_atom(Facility) -> atom_to_binary(Facility);
                             Other -> invalid(syslog_facility, Other)
                         end,
      syslog_path => text(syslog_path, maps:get(syslog_path, App, ""))}.

%% A cap on connections: `infinity' (0 to the NIF) or a positive count.
cap(Key, App) ->
    case maps:get(Key, App, infinity) of
        infinity -> 0;
        N when is_integer(N), N > 0 -> N;
        Other -> invalid(Key, Other)
    end.

%% Characters, as a binary for the NIF.
text(Key, Value) ->
    try unicode:characters_to_binary(Value) of
        Text when is_binary(Text) -> Text;
        _ -> invalid(Key, Value)
    catch
        error:badarg -> invalid(Key, Value)
    end.

%% A setting the server cannot use stops it from starting, and the boot
%% failure names the setting and its value.
-spec invalid(atom(), term()) -> no_return().
invalid(Key, Value) ->
    erlang:error({invalid_setting, {epmd_rs, Key, Value}}).

%% The core's defaults, asked of the NIF once: they never change in the life
%% of the VM, and lookups read the distribution versions on every call.
defaults() ->
    case persistent_term:get({?MODULE, defaults}, undefined) of
        undefined ->
            Defaults = epmd_rs_nif:defaults(),
            persistent_term:put({?MODULE, defaults}, Defaults),
            Defaults;
        Defaults ->
            Defaults
    end.

%% @doc An epmd_rs application variable. Distribution starts before any
%% application, so the application is loaded here, which applies sys.config
%% and `-epmd_rs' flags.
-spec app_env(atom(), term()) -> term().
app_env(Key, Default) ->
    ok = load(),
    application:get_env(epmd_rs, Key, Default).

%% Loads the application, which applies sys.config and `-epmd_rs' flags,
%% unless it is loaded (a release's boot script loads it first) or nothing
%% sets its variables (every reader here has the .app's defaults). Loading
%% by name searches the code path and reads the .app with epp: both, and the
%% scanner, cost a node milliseconds of its boot. So a node configured by
%% neither loads nothing, and one that is reads the .app beside this module
%% with the scanner and parser only.
load() ->
    case application:get_key(epmd_rs, vsn) =:= undefined andalso configured() of
        true -> _ = application:load(app_spec()), ok;
        false -> ok
    end.

configured() ->
    init:get_argument(config) =/= error orelse init:get_argument(epmd_rs) =/= error.

app_spec() ->
    File = filename:join(filename:dirname(code:which(?MODULE)), "epmd_rs.app"),
    %% The file server does not run yet when distribution starts at boot.
    Parsed = case erl_prim_loader:get_file(File) of
                 {ok, Text, _} ->
                     case erl_scan:string(unicode:characters_to_list(Text)) of
                         {ok, Tokens, _} -> erl_parse:parse_term(Tokens);
                         Error -> Error
                     end;
                 Error -> Error
             end,
    case Parsed of
        {ok, {application, epmd_rs, _} = Spec} -> Spec;
        _ -> epmd_rs
    end.

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

%% Without the string module: this runs as distribution starts, where loading
%% string and unicode_util (700 KB) cost a node 10 ms of its boot.
kernel_has_parameters(Vsn) ->
    {Major, Rest} = lists:splitwith(fun(C) -> C =/= $. end, Vsn),
    Minor = lists:takewhile(fun(C) -> C =/= $. end, tl(Rest ++ ".0")),
    {list_to_integer(Major), list_to_integer(Minor)} >= {10, 2}.

-ifdef(TEST).
-include_lib("eunit/include/eunit.hrl").

-define(DEFAULTS, #{port => 4369, packet_timeout => 60000,
                    highest_version => 6, lowest_version => 5}).

epmd_port_test_() ->
    [?_assertEqual(4369, epmd_port(error, undefined, ?DEFAULTS)),
     ?_assertEqual(4370, epmd_port(error, 4370, ?DEFAULTS)),
     %% The flag (ERL_EPMD_PORT) wins over the application variable.
     ?_assertEqual(5000, epmd_port({ok, [["5000"]]}, 4370, ?DEFAULTS)),
     ?_assertEqual(5000, epmd_port({ok, [["5000"], ["6000"]]}, undefined, ?DEFAULTS))].

dist_versions_test_() ->
    [?_assertEqual({5, 6}, dist_versions(false, false, ?DEFAULTS)),
     ?_assertEqual({6, 6}, dist_versions("6", false, ?DEFAULTS)),
     ?_assertEqual({5, 5}, dist_versions(false, "5", ?DEFAULTS)),
     %% Only narrowing counts, as in erl_epmd.
     ?_assertEqual({5, 6}, dist_versions("4", "7", ?DEFAULTS)),
     ?_assertEqual({5, 6}, dist_versions("x", "6x", ?DEFAULTS))].

server_options_test_() ->
    Default = server_options(#{}, #{}, ?DEFAULTS),
    [?_assertEqual(#{addresses => <<>>, relaxed => false, packet_timeout => 60000,
                     remote_names => true, max_connections => 0,
                     max_connections_per_peer => 0, syslog => false,
                     syslog_facility => <<"user">>, syslog_path => <<>>}, Default),
     ?_assertMatch(#{packet_timeout := 5000},
                   server_options(#{packet_timeout => 5}, #{}, ?DEFAULTS)),
     ?_assertError({invalid_setting, {epmd_rs, packet_timeout, 0}},
                   server_options(#{packet_timeout => 0}, #{}, ?DEFAULTS)),
     ?_assertMatch(#{syslog := true, syslog_facility := <<"local3">>,
                     syslog_path := <<"/run/log.sock">>},
                   server_options(#{syslog => true, syslog_facility => local3,
                                    syslog_path => "/run/log.sock"}, #{}, ?DEFAULTS)),
     ?_assertMatch(#{addresses := <<"10.0.0.5">>},
                   server_options(#{}, #{"ERL_EPMD_ADDRESS" => "10.0.0.5"}, ?DEFAULTS)),
     ?_assertMatch(#{addresses := <<"::1">>},
                   server_options(#{address => "::1"}, #{"ERL_EPMD_ADDRESS" => "10.0.0.5"},
                                  ?DEFAULTS)),
     ?_assertMatch(#{addresses := <<"127.0.0.1">>},
                   server_options(#{loopback_only => true, address => "::1"}, #{}, ?DEFAULTS)),
     %% Set at all, even empty, as for OTP's epmd.
     ?_assertMatch(#{relaxed := true},
                   server_options(#{}, #{"ERL_EPMD_RELAXED_COMMAND_CHECK" => ""}, ?DEFAULTS)),
     ?_assertMatch(#{relaxed := true},
                   server_options(#{relaxed_command_check => true}, #{}, ?DEFAULTS)),
     ?_assertMatch(#{remote_names := false, max_connections := 4096,
                     max_connections_per_peer := 64},
                   server_options(#{local_names_only => true, max_connections => 4096,
                                    max_connections_per_peer => 64}, #{}, ?DEFAULTS)),
     ?_assertError({invalid_setting, {epmd_rs, max_connections, 0}},
                   server_options(#{max_connections => 0}, #{}, ?DEFAULTS)),
     ?_assertError({invalid_setting, {epmd_rs, max_connections_per_peer, "64"}},
                   server_options(#{max_connections_per_peer => "64"}, #{}, ?DEFAULTS)),
     ?_assertError({invalid_setting, {epmd_rs, syslog_facility, "local3"}},
                   server_options(#{syslog_facility => "local3"}, #{}, ?DEFAULTS)),
     ?_assertError({invalid_setting, {epmd_rs, syslog_path, 17}},
                   server_options(#{syslog_path => 17}, #{}, ?DEFAULTS))].

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
