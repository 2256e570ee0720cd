# Sourced by the examples' test.sh scripts (POSIX sh).

now_ms() { date +%s%3N; }

# A free TCP port for a test's EPMD, printed on stdout. Never 4369 (a real
# epmd, or another VM of this host, may be using it), and below the kernel's
# ephemeral range: a port from there (say, one bound to port 0 and closed)
# can be taken at any time as the local port of some outgoing connection, or
# held by one in TIME_WAIT, and then the VM cannot bind it ("address in use").
# Free means nothing at all uses it on IPv4 or IPv6 (no SO_REUSEADDR in the
# probe), so the VM's bind, which does set SO_REUSEADDR, succeeds.
free_port() {
    erl -noshell -eval '
        Low = case file:read_file("/proc/sys/net/ipv4/ip_local_port_range") of
                  {ok, Range} -> binary_to_integer(hd(string:lexemes(Range, " \t\n")));
                  _ -> 32768
              end,
        {Min, Max} = case Low > 11000 of true -> {10000, Low - 1}; false -> {61001, 65535} end,
        Free = fun(P) ->
                   lists:all(fun(Opts) ->
                                 case gen_tcp:listen(P, [{reuseaddr, false} | Opts]) of
                                     {ok, S} -> gen_tcp:close(S), true;
                                     {error, eaddrinuse} -> false;
                                     {error, _} -> true  % no IPv6 here
                                 end
                             end, [[inet], [inet6, {ipv6_v6only, true}]])
               end,
        Pick = fun Pick(0) -> halt(1);
                   Pick(N) -> P = Min + rand:uniform(Max - Min + 1) - 1,
                              case P =/= 4369 andalso Free(P) of
                                  true -> io:format("~b~n", [P]), halt(0);
                                  false -> Pick(N - 1)
                              end
               end,
        Pick(200).'
}

# Whether nothing listens on port $1 (IPv4 or IPv6). Connections in TIME_WAIT
# are ignored (SO_REUSEADDR), as the VM's own bind ignores them.
port_free() {
    erl -noshell -eval "
        F = fun(Opts) -> case gen_tcp:listen($1, [{reuseaddr, true} | Opts]) of
                             {ok, S} -> gen_tcp:close(S), true;
                             {error, eaddrinuse} -> false;
                             {error, _} -> true  % no IPv6 here
                         end end,
        halt(case F([inet]) andalso F([inet6, {ipv6_v6only, true}]) of true -> 0; false -> 1 end)."
}

# Whether `epmd -port $1 -names' (Debian's epmd, as a client) lists node name
# $2; leaves its output in $names.
epmd_lists() {
    names=$(epmd -port "$1" -names 2>&1) && printf '%s\n' "$names" | grep -q "^name $2 at port "
}

# Whether the only listener on port $1 is process $2 (called $3 in messages),
# as far as ss(8) can tell; what was found is left in $listener_note.
only_listener() {
    if ! command -v ss >/dev/null; then
        listener_note="ss is not installed: the listeners on port $1 were not checked"
        return 0
    fi
    listeners=$(ss -Hltnp "sport = :$1")
    if [ -z "$listeners" ]; then
        listener_note="nothing listens on port $1"
        return 1
    fi
    if printf '%s\n' "$listeners" | grep -qv "pid=$2,"; then
        listener_note="port $1 has a listener other than $3 (pid $2): $listeners"
        return 1
    fi
    listener_note="the only listener on port $1 is $3 (pid $2)"
}
