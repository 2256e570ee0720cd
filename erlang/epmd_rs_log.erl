%% @private
%% How epmd_rs speaks through logger. The in-VM server's events go to domain
%% [epmd_rs] at info or debug, quiet under OTP's default configuration;
%% errors and warnings carry no domain, so that the default handler shows
%% them. Every event has the details in the `epmd_rs' metadata key.
-module(epmd_rs_log).

-export([events_wanted/0, event/2, mode/2, boot_failed/2, server_stopped/2]).

%% @doc Whether logger would keep the server's events: the server sends them
%% to the VM only then.
-spec events_wanted() -> boolean().
events_wanted() ->
    logger:allow(info, ?MODULE).

%% @doc An event the in-VM server reported. A failing accept() is a warning.
-spec event(atom(), map()) -> ok.
event(accept_failed, Meta) ->
    logger:warning("epmd_rs: accept failed (~ts); retrying", [maps:get(reason, Meta)],
                   #{epmd_rs => Meta#{event => accept_failed}});
event(Kind, Meta) ->
    Level = case Kind of
                dropped -> debug;
                incomplete -> debug;
                timeout -> debug;
                _ -> info
            end,
    logger:log(Level, "epmd_rs: ~ts ~0p", [Kind, Meta],
               #{domain => [epmd_rs], epmd_rs => Meta#{event => Kind}}).

%% @doc How this VM reaches the EPMD now.
-spec mode(epmd_rs_server:mode(), inet:port_number()) -> ok.
mode(Mode, Port) ->
    {Format, Name} = case Mode of
                         {server, _} -> {"serving EPMD port ~b in this VM", server};
                         client -> {"registered with the EPMD on port ~b", client};
                         none -> {"lost the EPMD on port ~b; retrying", none}
                     end,
    logger:info("epmd_rs: " ++ Format, [Port],
                #{domain => [epmd_rs], epmd_rs => #{event => mode, mode => Name, port => Port}}).

%% @doc The VM can neither serve the EPMD port nor use an EPMD there.
-spec boot_failed(iodata(), inet:port_number()) -> ok.
boot_failed(Reason, Port) ->
    logger:error("epmd_rs: ~ts", [Reason], #{epmd_rs => #{event => boot_failed, port => Port}}).

%% @doc The in-VM server stopped; the VM will serve or reach the port again.
-spec server_stopped(term(), inet:port_number()) -> ok.
server_stopped(Why, Port) ->
    logger:warning("epmd_rs: the in-VM EPMD on port ~b stopped (~p); trying to "
                   "serve or reach the port again", [Port, Why],
                   #{epmd_rs => #{event => server_stopped, reason => Why}}).
