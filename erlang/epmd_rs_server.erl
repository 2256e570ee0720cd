%% @private
%% The process that owns epmd_rs's native side in a VM: it serves the host's
%% EPMD port from this VM ("server" mode) or, when another EPMD already holds
%% the port, keeps this node registered with it over TCP ("client" mode).
%%
%% Lookups never pass through this process: it publishes the current mode in a
%% persistent_term that epmd_rs reads directly.
-module(epmd_rs_server).
-behaviour(gen_server).

-export([start_link/0, start_unless_running/0, register_node/3, mode/0, epmd_port/0,
         is_local_address/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(MODE_KEY, {?MODULE, mode}).
-define(PORT_KEY, {?MODULE, port}).
-define(LOCAL_IPS_KEY, {?MODULE, local_ips}).
%% After a STOP, register again in 2 s, as erl_epmd does.
-define(REREGISTER_MS, 2000).
%% After losing the EPMD, try at once to serve the port or reach its new
%% server, then back off from 50 ms up to erl_epmd's 2 s.
-define(FIRST_BACKOFF_MS, 50).
-define(MAX_BACKOFF_MS, 2000).
-define(REGISTER_TIMEOUT_MS, 10000).
-define(PROBE_TIMEOUT_MS, 5000).
-define(EVENTS_REFRESH_MS, 5000).

-type mode() :: {server, epmd_rs_nif:server()} | client | none.
-type registration() :: #{name := binary(), port := inet:port_number(),
                          family := inet | inet6}.

-record(state, {
    port :: inet:port_number(),
    mode = none :: mode(),
    registration :: registration() | undefined,
    %% What keeps the registration alive: in our server, or held over TCP.
    handle :: {local, epmd_rs_nif:registration()} | {remote, epmd_rs_nif:held()} | undefined,
    %% The pending retry, and the delay of the one after it if that fails too.
    retry_timer :: reference() | undefined,
    backoff = ?FIRST_BACKOFF_MS :: pos_integer()
}).

-export_type([mode/0]).

-spec start_link() -> {ok, pid()} | ignore | {error, term()}.
start_link() ->
    gen_server:start_link({local, epmd_rs}, ?MODULE, [], []).

%% Whoever starts first owns the server: the kernel (distribution with
%% `-epmd_module epmd_rs') or the epmd_rs application. The other gets `ignore'
%% and uses it.
-spec start_unless_running() -> {ok, pid()} | ignore | {error, term()}.
start_unless_running() ->
    case whereis(epmd_rs) of
        undefined -> start_link();
        _ -> ignore
    end.

-spec register_node(string() | atom(), inet:port_number(), inet | inet6) ->
          {ok, integer()} | {error, term()}.
register_node(Name, Port, Family) ->
    gen_server:call(epmd_rs, {register, Name, Port, Family}, infinity).

%% The current mode, read without a call.
-spec mode() -> mode().
mode() ->
    persistent_term:get(?MODE_KEY, none).

%% The EPMD port (see epmd_rs_config:epmd_port/0), as this VM uses it.
-spec epmd_port() -> inet:port_number().
epmd_port() ->
    case persistent_term:get(?PORT_KEY, undefined) of
        undefined -> epmd_rs_config:epmd_port();
        Port -> Port
    end.

%% Whether an EPMD at `Ip' is the one this host runs, reached on loopback or
%% on one of the host's own addresses.
-spec is_local_address(inet:ip_address()) -> boolean().
is_local_address({127, _, _, _}) -> true;
is_local_address({0, 0, 0, 0, 0, 0, 0, 1}) -> true;
is_local_address(Ip) ->
    %% Read at the first lookup that needs them rather than at boot, which
    %% the call made about 1.5% slower (BENCHMARKS.md).
    Ips = case persistent_term:get(?LOCAL_IPS_KEY, undefined) of
              undefined ->
                  Found = host_addresses(),
                  persistent_term:put(?LOCAL_IPS_KEY, Found),
                  Found;
              Found ->
                  Found
          end,
    lists:member(Ip, Ips).

%%% gen_server

init([]) ->
    process_flag(trap_exit, true),
    Port = epmd_rs_config:epmd_port(),
    persistent_term:put(?PORT_KEY, Port),
    case acquire(Port) of
        {ok, Mode} ->
            %% Nothing is registered yet: serve at once.
            ok = serve(Mode),
            {ok, set_mode(#state{port = Port}, Mode)};
        {error, Reason} ->
            epmd_rs_log:boot_failed(Reason, Port),
            {stop, {epmd_rs, lists:flatten(Reason)}}
    end.

handle_call({register, _, _, _}, _From, #state{registration = #{}} = State) ->
    {reply, {error, already_registered}, State};
handle_call({register, Name, Port, Family}, _From, State) ->
    Reg = #{name => unicode:characters_to_binary(to_string(Name)),
            port => Port, family => Family},
    case do_register(Reg, State) of
        {ok, Creation, Handle} ->
            {reply, {ok, Creation}, State#state{registration = Reg, handle = Handle}};
        {error, _} = Error ->
            {reply, Error, State}
    end.

handle_cast(_Msg, State) ->
    {noreply, State}.

handle_info({epmd_rs_server_stopped, Server, Why}, #state{mode = {server, Server}} = State) ->
    epmd_rs_log:server_stopped(Why, State#state.port),
    {noreply, lost(State)};
handle_info({epmd_rs_evicted, Handle}, #state{handle = {local, Handle}} = State) ->
    %% A STOP removed this node from our own server: register again, as
    %% erl_epmd does when its EPMD connection closes.
    {noreply, schedule_retry(State#state{handle = undefined}, ?REREGISTER_MS)};
handle_info({epmd_rs_registration_ended, Handle}, #state{handle = {remote, Handle}} = State) ->
    {noreply, lost(State)};
handle_info({refresh_events, Server}, #state{mode = {server, Server} = Mode} = State) ->
    refresh_events(Mode),
    {noreply, State};
handle_info({epmd_rs_event, Kind, Meta}, State) ->
    epmd_rs_log:event(Kind, Meta),
    {noreply, State};
handle_info({retry, Timer}, #state{retry_timer = Timer} = State) ->
    {noreply, retry(State#state{retry_timer = undefined})};
handle_info(_Msg, State) ->
    {noreply, State}.

terminate(_Reason, #state{mode = Mode, handle = Handle}) ->
    ok = release(Handle),
    case Mode of
        {server, Server} ->
            ok = epmd_rs_nif:server_stop(Server),
            receive {epmd_rs_server_stopped, Server, _} -> ok
            after 5000 -> ok
            end;
        _ ->
            ok
    end,
    _ = [persistent_term:erase(K) || K <- [?MODE_KEY, ?PORT_KEY, ?LOCAL_IPS_KEY]],
    ok.

%%% Internal

to_string(Name) when is_atom(Name) -> atom_to_list(Name);
to_string(Name) -> Name.

host_addresses() ->
    case inet:getifaddrs() of
        {ok, Ifs} -> [Addr || {_, Opts} <- Ifs, {addr, Addr} <- Opts];
        {error, _} -> []
    end.

set_mode(#state{mode = Mode} = State, Mode) ->
    State;
set_mode(State, Mode) ->
    persistent_term:put(?MODE_KEY, Mode),
    epmd_rs_log:mode(Mode, State#state.port),
    refresh_events(Mode),
    State#state{mode = Mode}.

%% The server sends its events only while logger would keep them; the check
%% is repeated, so that a level raised at run time takes effect within
%% ?EVENTS_REFRESH_MS.
refresh_events({server, Server}) ->
    ok = epmd_rs_nif:server_events(Server, epmd_rs_log:events_wanted()),
    erlang:send_after(?EVENTS_REFRESH_MS, self(), {refresh_events, Server}),
    ok;
refresh_events(_) ->
    ok.

%% A server that acquire/1 bound answers from now on.
serve({server, Server}) -> epmd_rs_nif:server_serve(Server);
serve(client) -> ok.

%% Bind the port in this VM (serve/1 then opens it), or else use the EPMD
%% that holds it.
acquire(Port) ->
    case epmd_rs_nif:server_start(Port, epmd_rs_config:server_options(), self()) of
        {ok, Server} ->
            {ok, {server, Server}};
        {error, {syslog, Message}} ->
            %% A setting to fix, not a port held by somebody else.
            {error, io_lib:format("cannot log to syslog: ~ts", [Message])};
        {error, BindError} ->
            case probe(Port) of
                ok ->
                    {ok, client};
                {error, ProbeError} ->
                    {error, io_lib:format(
                              "cannot serve EPMD port ~b (~ts) nor use an EPMD there (~ts)",
                              [Port, bind_reason(BindError), probe_reason(ProbeError)])}
            end
    end.

%% Is the process holding the port an EPMD? It must answer NAMES.
probe(Port) ->
    Ref = epmd_rs_nif:client_names(<<"127.0.0.1">>, Port, ?PROBE_TIMEOUT_MS),
    receive
        {epmd_rs_reply, Ref, {ok, _HeaderPort, _Text}} -> ok;
        {epmd_rs_reply, Ref, {error, Reason}} -> {error, Reason}
    after ?PROBE_TIMEOUT_MS + 1000 ->
        {error, timeout}
    end.

bind_reason(eaddrinuse) -> "address in use";
bind_reason({listen, Message}) -> Message.

probe_reason(connect) -> "connection refused";
probe_reason(closed) -> "it closed the connection without answering NAMES";
probe_reason(timeout) -> "no answer to NAMES in time";
probe_reason(Other) -> io_lib:format("~p", [Other]).

do_register(#{name := Name, port := Port, family := Family}, #state{mode = Mode, port = EpmdPort}) ->
    {Low, High} = epmd_rs_config:dist_versions(),
    %% As erl_epmd registers: a normal node ($M) over TCP/IP (0), no extra.
    Node = {Name, Port, $M, 0, High, Low, <<>>},
    case Mode of
        {server, Server} ->
            case epmd_rs_nif:register_local(Server, Node, self()) of
                {ok, {Creation, Registration}} -> {ok, Creation, {local, Registration}};
                {error, _} = Error -> Error
            end;
        client ->
            Loopback = case Family of inet -> <<"127.0.0.1">>; inet6 -> <<"::1">> end,
            Handle = epmd_rs_nif:client_register(Loopback, EpmdPort, Node, ?REGISTER_TIMEOUT_MS,
                                                 self()),
            receive
                {epmd_rs_reply, Handle, {ok, Creation}} -> {ok, Creation, {remote, Handle}};
                {epmd_rs_reply, Handle, {error, _} = Error} -> Error
            after ?REGISTER_TIMEOUT_MS + 1000 ->
                ok = epmd_rs_nif:client_unregister(Handle),
                {error, no_reg_reply_from_epmd}
            end;
        none ->
            {error, no_epmd}
    end.

release(undefined) -> ok;
release({local, Registration}) -> ok = epmd_rs_nif:unregister_local(Registration);
release({remote, Handle}) -> ok = epmd_rs_nif:client_unregister(Handle).

%% The server or the EPMD we registered with is gone: serve the port or find
%% whoever serves it now, and register again. Every VM that lost it races to
%% bind; the kernel lets exactly one win and the others become its clients.
lost(State) ->
    ok = release(State#state.handle),
    schedule_retry(set_mode(State#state{handle = undefined}, none), 0).

schedule_retry(#state{retry_timer = undefined} = State, Delay) ->
    Timer = make_ref(),
    erlang:send_after(Delay, self(), {retry, Timer}),
    State#state{retry_timer = Timer};
schedule_retry(State, _Delay) ->
    State.

retry_failed(#state{backoff = Backoff} = State) ->
    Next = min(Backoff * 2, ?MAX_BACKOFF_MS),
    schedule_retry(State#state{backoff = Next}, Backoff).

retry(#state{mode = none, port = Port} = State) ->
    case acquire(Port) of
        {ok, Mode} ->
            %% A VM that takes the port over registers its own node before
            %% it answers anyone: the host's listing is never empty.
            Registered = reregister(set_mode(State, Mode)),
            ok = serve(Mode),
            Registered;
        {error, _} ->
            retry_failed(State)
    end;
retry(State) ->
    reregister(State).

%% Like erl_epmd, a node that registers again keeps its first creation.
reregister(#state{registration = Reg, handle = undefined} = State) when Reg =/= undefined ->
    case do_register(Reg, State) of
        {ok, _Creation, Handle} ->
            State#state{handle = Handle, backoff = ?FIRST_BACKOFF_MS};
        {error, _} ->
            retry_failed(State)
    end;
reregister(State) ->
    State#state{backoff = ?FIRST_BACKOFF_MS}.
