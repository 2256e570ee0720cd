%% @private
%% Requests to an EPMD over TCP through the NIF's client, with the results
%% shaped as erl_epmd shapes them, plus the parsing both share with the
%% in-VM fast path.
-module(epmd_rs_client).

-export([port_please/4, names/3, parse_names/1, format_names/1, best_version/2]).

-type ip() :: inet:ip_address().
-type port_reply() :: {port, inet:port_number(), non_neg_integer()} | noport | closed |
                      {error, term()}.
-export_type([port_reply/0]).

%% How long past the native timeout to wait for its reply before giving up.
-define(GRACE_MS, 1000).

-spec port_please(ip(), inet:port_number(), binary(), non_neg_integer()) -> port_reply().
port_please(Ip, EpmdPort, Name, TimeoutMs) ->
    Ref = epmd_rs_nif:client_port_please(ip_binary(Ip), EpmdPort, Name, TimeoutMs),
    case await(Ref, TimeoutMs) of
        {ok, {Port, _Type, _Proto, High, Low, _Extra}} -> {port, Port, best_version(Low, High)};
        {error, closed} -> closed;
        {error, {garbage, Bytes}} -> {error, {garbage_from_epmd, binary_to_list(Bytes)}};
        %% Unreachable, silent or failing EPMDs: erl_epmd says noport.
        _ -> noport
    end.

-spec names(ip(), inet:port_number(), non_neg_integer()) ->
          {ok, [{string(), inet:port_number()}]} | {error, term()}.
names(Ip, EpmdPort, TimeoutMs) ->
    Ref = epmd_rs_nif:client_names(ip_binary(Ip), EpmdPort, TimeoutMs),
    case await(Ref, TimeoutMs) of
        {ok, EpmdPort, Text} -> {ok, parse_names(Text)};
        %% erl_epmd insists that the EPMD reports the port it asked.
        {ok, _OtherPort, _} -> {error, address};
        {error, closed} -> {ok, []};
        {error, timeout} -> {error, etimedout};
        {error, _} -> {error, address}
    end.

await(Ref, TimeoutMs) ->
    receive
        {epmd_rs_reply, Ref, Result} -> Result
    after TimeoutMs + ?GRACE_MS ->
        {error, timeout}
    end.

ip_binary(Ip) ->
    list_to_binary(inet:ntoa(Ip)).

%% NAMES text to erl_epmd's result: complete lines of the form
%% "name <Name> at port <Port>", oldest registration first, names as byte
%% lists; other lines are skipped.
-spec parse_names(binary()) -> [{string(), integer()}].
parse_names(Text) ->
    Lines = binary:split(Text, <<"\n">>, [global]),
    %% The last element is what follows the last newline: not a line.
    Complete = lists:droplast(Lines),
    lists:foldl(fun(Line, Acc) ->
                        case parse_line(Line) of
                            {ok, Entry} -> [Entry | Acc];
                            error -> Acc
                        end
                end, [], Complete).

parse_line(<<"name ", Rest/binary>>) ->
    case binary:split(Rest, <<" ">>) of
        [Name, <<"at port ", Port/binary>>] ->
            try {ok, {binary_to_list(Name), binary_to_integer(Port)}}
            catch error:badarg -> error
            end;
        _ ->
            error
    end;
parse_line(_) ->
    error.

%% The NAMES text for registry entries given newest first.
-spec format_names([{binary(), inet:port_number()}]) -> binary().
format_names(Entries) ->
    iolist_to_binary([[<<"name ">>, Name, <<" at port ">>, integer_to_binary(Port), $\n]
                      || {Name, Port} <- Entries]).

%% The distribution version to use with a node registered with versions
%% Low..High, as erl_epmd picks it: 0 if the ranges do not meet.
-spec best_version(non_neg_integer(), non_neg_integer()) -> non_neg_integer().
best_version(Low, High) ->
    best_version(epmd_rs_config:dist_versions(), Low, High).

best_version({OurLow, _OurHigh}, _Low, High) when OurLow > High -> 0;
best_version({_OurLow, OurHigh}, Low, _High) when Low > OurHigh -> 0;
best_version({_OurLow, OurHigh}, _Low, High) -> min(OurHigh, High).

-ifdef(TEST).
-include_lib("eunit/include/eunit.hrl").

parse_names_test_() ->
    [?_assertEqual([{"foo", 1234}, {"bar", 2345}],
                   parse_names(<<"name bar at port 2345\nname foo at port 1234\n">>)),
     ?_assertEqual([], parse_names(<<>>)),
     %% An unterminated last line is not a line.
     ?_assertEqual([{"a", 1}], parse_names(<<"name b at port 2">>) ++
                       parse_names(<<"name a at port 1\n">>)),
     %% Names with a space do not survive erl_epmd's parser; nor do junk lines.
     ?_assertEqual([{"c", 3}],
                   parse_names(<<"name a b at port 1\njunk\nname c at port 3\n",
                                 "name d at port x\n">>)),
     %% UTF-8 names come back as byte lists, as erl_epmd returns them.
     ?_assertEqual([{binary_to_list(<<"ø"/utf8>>), 7}],
                   parse_names(<<"name ", <<"ø"/utf8>>/binary, " at port 7\n">>))].

format_names_test() ->
    Entries = [{<<"bar">>, 2345}, {<<"foo">>, 1234}],
    ?assertEqual(<<"name bar at port 2345\nname foo at port 1234\n">>, format_names(Entries)),
    ?assertEqual([{"foo", 1234}, {"bar", 2345}], parse_names(format_names(Entries))).

best_version_test_() ->
    Ours = {5, 6},
    [?_assertEqual(6, best_version(Ours, 5, 6)),
     ?_assertEqual(5, best_version(Ours, 5, 5)),
     ?_assertEqual(6, best_version(Ours, 6, 9)),
     ?_assertEqual(0, best_version(Ours, 7, 9)),
     ?_assertEqual(0, best_version(Ours, 1, 4)),
     ?_assertEqual(0, best_version({6, 6}, 5, 5))].
-endif.
