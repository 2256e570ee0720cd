#!/bin/sh
# The Debian package's checks, inside the root that test/deb/check.sh made
# (through test/otp/chroot.sh, so /run is a fresh tmpfs and no systemd runs):
#   in_root.sh DEB VERSION PORT FLAG...
# Installs DEB, checks its files, man page and units, runs the daemon as
# epmd-rs.service runs it, on PORT, with a stock node, then removes and purges
# it. FLAG... are the flags the binary accepts, which the man page must show.
# Quiet on success but for one line of figures; on failure, the reason on
# stderr and exit 1.
set -eu
deb=$1 version=$2 port=$3
shift 3
flags=$*
export LC_ALL=C
units=/usr/lib/systemd/system
wants=/etc/systemd/system/sockets.target.wants
tmp=$(mktemp -d)
pids=""

die() {
    echo "deb check: FAILED: $*" >&2
    exit 1
}
cleanup() {
    for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
    # The root is cached: leave it as root.sh made it.
    dpkg --purge epmd-rs >/dev/null 2>&1 || true
    [ -L "$wants/epmd.socket" ] || systemctl enable epmd.socket >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Polls COMMAND every 0.1 s, at most 300 times (30 s).
until_true() {
    n=0
    until "$@"; do
        n=$((n + 1))
        [ "$n" -lt 300 ] || return 1
        sleep 0.1
    done
}

# Everything named epmd-rs that the package or its scripts may leave.
leftovers() {
    find /etc /usr /var/lib/systemd /var/lib/dpkg/info \( -name epmd-rs -o -name 'epmd-rs.*' \) 2>/dev/null
}

# The value of KEY= in a unit; exactly one such line.
unit_value() {
    v=$(sed -n "s/^$2=//p" "$1")
    [ "$(printf '%s\n' "$v" | wc -l)" = 1 ] && [ -n "$v" ] || die "$1: not one $2= line"
    printf '%s\n' "$v"
}

dpkg --purge epmd-rs >/dev/null 2>&1 || true
[ -z "$(leftovers)" ] || die "the root holds epmd-rs files before the install: $(leftovers)"
[ -L "$wants/epmd.socket" ] || die "erlang-base's epmd.socket is not enabled in the root"

# --- Installation next to Debian's enabled epmd.socket: nothing taken from it.
out=$(dpkg -i "$deb" 2>&1) || die "dpkg -i: $out"
case $out in
*"epmd.socket is enabled"*) ;;
*) die "postinst did not say that Debian's epmd.socket keeps the port: $out" ;;
esac
[ ! -e "$wants/epmd-rs.socket" ] || die "postinst enabled epmd-rs.socket beside Debian's epmd.socket"
[ "$(dpkg-query -W -f '${Status} ${Version}' epmd-rs)" = "install ok installed $version" ] ||
    die "dpkg -s: $(dpkg-query -W -f '${Status} ${Version}' epmd-rs), expected version $version"
dpkg-query -W -f '${Conffiles}\n' epmd-rs | grep -q '^ /etc/default/epmd-rs ' ||
    die "/etc/default/epmd-rs is not a conffile"
files="/usr/bin/epmd-rs /usr/share/man/man1/epmd-rs.1.gz $units/epmd-rs.socket
$units/epmd-rs.service /etc/default/epmd-rs /usr/share/doc/epmd-rs/copyright"
for f in $files; do
    [ -f "$f" ] && dpkg -L epmd-rs | grep -qx "$f" || die "$f is not installed by the package"
done
[ -x /usr/bin/epmd-rs ] || die "/usr/bin/epmd-rs is not executable"
# It loads with this Debian's libraries: a bad flag prints the usage.
/usr/bin/epmd-rs -no_such_flag 2>"$tmp/usage" && die "epmd-rs accepted -no_such_flag"
grep -q '^usage: epmd' "$tmp/usage" || die "epmd-rs does not run here: $(cat "$tmp/usage")"

# --- The man page renders without warnings and shows every flag.
zcat /usr/share/man/man1/epmd-rs.1.gz | groff -man -Tutf8 -ww -z >"$tmp/groff" 2>&1 &&
    [ ! -s "$tmp/groff" ] || die "groff warns about the man page: $(cat "$tmp/groff")"
MANWIDTH=80 man -l /usr/share/man/man1/epmd-rs.1.gz >"$tmp/man" 2>&1 || die "man -l failed: $(cat "$tmp/man")"
grep -q "^NAME" "$tmp/man" && grep -q "epmd-rs $version" "$tmp/man" || die "man -l rendered no page"
for flag in $flags; do
    grep -Eq -- "(^|[^-a-z_])$flag([^a-z_]|\$)" "$tmp/man" || die "the man page does not show $flag"
done

# --- The units, as systemd reads them.
systemd-analyze verify "$units/epmd-rs.socket" "$units/epmd-rs.service" >"$tmp/verify" 2>&1 ||
    die "systemd-analyze verify: $(cat "$tmp/verify")"
[ ! -s "$tmp/verify" ] || die "systemd-analyze verify warns: $(cat "$tmp/verify")"
# Exposure 0.0 (everything locked) to 10.0 (nothing); a hardening option lost
# on the way pushes it over the bound.
systemd-analyze security --offline=true --threshold=20 "$units/epmd-rs.service" >"$tmp/security" 2>&1 ||
    die "systemd-analyze security: the service is too exposed: $(tail -n 3 "$tmp/security")"
exposure=$(sed -n 's/.*Overall exposure level for epmd-rs.service: \([0-9.]*\).*/\1/p' "$tmp/security")
[ "$(unit_value "$units/epmd-rs.socket" ListenStream)" = 4369 ] ||
    die "epmd-rs.socket does not listen on 4369"

# --- The daemon as systemd starts it: the socket passed as LISTEN_FDS (on PORT
# in place of 4369, every address as the unit's), the environment of the
# EnvironmentFile only, and the service's ExecStart. The service runs as a
# dynamic user without privileges; setpriv does the same here. strace records
# the system calls, for the service's filters below.
execstart=$(unit_value "$units/epmd-rs.service" ExecStart)
envfile=$(unit_value "$units/epmd-rs.service" EnvironmentFile)
envfile=${envfile#-}
[ "$envfile" = /etc/default/epmd-rs ] || die "EnvironmentFile is $envfile"
for setting in DynamicUser=yes NoNewPrivileges=yes CapabilityBoundingSet= Type=notify; do
    grep -qx "$setting" "$units/epmd-rs.service" || die "epmd-rs.service lacks $setting, which the check mimics"
done
# The NOTIFY_SOCKET systemd gives a Type=notify service: it takes two
# messages, readiness and the exit status.
notify=/run/epmd-rs-check.notify
systemd-socket-activate --datagram -l "$notify" -- \
    sh -c 'exec dd bs=4096 count=2 of="$1" <&3 2>/dev/null' sh "$tmp/notified" 2>"$tmp/notify.log" &
pids="$pids $!"
notifier=$!
until_true test -S "$notify" || die "no notify socket: $(cat "$tmp/notify.log")"
chmod 666 "$notify"
# The EnvironmentFile's settings, read by the shell (the file keeps to the
# syntax both read alike), passed to the daemon as systemd would, and nothing
# else of this shell's environment; and ERL_EPMD_PORT, as the file says to
# set it for a socket on another port than 4369.
# shellcheck disable=SC1090
. "$envfile"
set -- -E ERL_EPMD_PORT="$port"
for name in $(sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' "$envfile"); do
    eval "set -- \"\$@\" -E \"$name=\${$name}\""
done
# systemd splits an unbraced $VAR of ExecStart into words, as eval does.
eval "set -- \"\$@\" -- setpriv --reuid=65534 --regid=65534 --clear-groups \
    --no-new-privs --bounding-set=-all --inh-caps=-all $execstart"
strace -f -qq -e signal=none -o "$tmp/trace" \
    systemd-socket-activate -l "$port" -E NOTIFY_SOCKET="$notify" "$@" 2>"$tmp/daemon.log" &
pids="$pids $!"
tracer=$!
# The traced process becomes the daemon at the first connection. Its pid is
# needed for cleaning up: a tracer killed leaves its tracee running.
until_true test -s "$tmp/trace" || die "strace did not start: $(cat "$tmp/daemon.log")"
daemon=$(awk '{ print $1; exit }' "$tmp/trace")
pids="$pids $daemon"
export ERL_EPMD_PORT="$port"
until_true epmd -names >"$tmp/names" 2>&1 || die "the daemon does not answer: $(cat "$tmp/daemon.log")"
grep -qx "epmd: up and running on port $port with data:" "$tmp/names" ||
    die "epmd -names: $(cat "$tmp/names")"
# The example of the default file is a command line the binary takes.
example=$(sed -n 's/^#EPMD_RS_OPTS="\(.*\)"$/\1/p' "$envfile")
[ -n "$example" ] || die "$envfile has no example of EPMD_RS_OPTS"
# shellcheck disable=SC2086
/usr/bin/epmd-rs $example -started || die "epmd-rs does not take $envfile's example: $example"

# A stock node registers; Debian's epmd and erl_epmd list it.
erl -sname deb_check -noshell -start_epmd false >"$tmp/node.log" 2>&1 &
pids="$pids $!"
node=$!
listed() { epmd -names 2>&1 | grep -q '^name deb_check at port [0-9]'; }
until_true listed || die "the stock node is not listed: $(epmd -names 2>&1) $(cat "$tmp/node.log")"
erl -noshell -start_epmd false -eval 'io:format("~p~n", [erl_epmd:names()]), halt().' >"$tmp/erl_epmd" 2>&1
grep -q '{ok,\[{"deb_check",[0-9]*}\]}' "$tmp/erl_epmd" || die "erl_epmd:names(): $(cat "$tmp/erl_epmd")"
kill "$node"
unlisted() { ! listed; }
until_true unlisted || die "the stopped node is still listed"
wait "$node" || true
# KILL is accepted once no node is registered; the daemon exits 0.
[ "$(epmd -kill 2>&1)" = Killed ] || die "epmd -kill was refused"
gone() { ! kill -0 "$daemon" 2>/dev/null; }
until_true gone || die "the daemon did not exit after KILL"
wait "$tracer" || die "the daemon exited with status $?: $(cat "$tmp/daemon.log")"
told() { grep -q ERRNO= "$tmp/notified" 2>/dev/null; }
until_true told || die "systemd was not told that the daemon exited: $(cat "$tmp/notified" "$tmp/notify.log")"
wait "$notifier" || die "the notify listener failed: $(cat "$tmp/notify.log")"
for line in READY=1 "MAINPID=$daemon" "STATUS=Exited." ERRNO=0; do
    grep -q "$line" "$tmp/notified" || die "systemd was not told $line: $(cat "$tmp/notified")"
done

# --- What the daemon did, against the service's filters as the unit states
# them (with bookworm's system call sets): every system call allowed by
# SystemCallFilter=, no socket outside RestrictAddressFamilies=, and no
# memory both writable and executable, nor made executable
# (MemoryDenyWriteExecute=).
expand() {
    for entry in "$@"; do
        case $entry in
        @*) systemd-analyze syscall-filter "$entry" | sed '1d; s/^ *//; /^#/d; /^$/d' | while read -r s; do
            expand "$s"
        done ;;
        *) echo "$entry" ;;
        esac
    done
}
filters=$(sed -n 's/^SystemCallFilter=//p' "$units/epmd-rs.service")
[ -n "$filters" ] && [ "${filters#\~}" = "$filters" ] || die "SystemCallFilter= does not start with an allow list"
# shellcheck disable=SC2046
expand $(printf '%s\n' "$filters" | grep -v '^~') | sort -u >"$tmp/allowed"
# shellcheck disable=SC2046
expand $(printf '%s\n' "$filters" | sed -n 's/^~//p') | sort -u >"$tmp/denied"
# The daemon's part of the trace: from the execve of the binary on.
sed -n '\|execve("/usr/bin/epmd-rs"|,$p' "$tmp/trace" >"$tmp/daemon.trace"
awk 'match($2, /^[a-z0-9_]+\(/) { print substr($2, 1, RLENGTH - 1) }' "$tmp/daemon.trace" |
    sort -u >"$tmp/used"
[ -s "$tmp/used" ] || die "strace recorded nothing of the daemon"
bad=$({ comm -23 "$tmp/used" "$tmp/allowed"; comm -12 "$tmp/used" "$tmp/denied"; } | tr '\n' ' ')
[ -z "$bad" ] || die "the daemon makes system calls that SystemCallFilter= refuses: $bad"
families=" $(unit_value "$units/epmd-rs.service" RestrictAddressFamilies) "
for f in $(sed -n 's/.* socket(\(AF_[A-Z0-9]*\),.*/\1/p' "$tmp/daemon.trace" | sort -u); do
    case $families in *" $f "*) ;; *) die "the daemon opens an $f socket, which RestrictAddressFamilies= refuses" ;; esac
done
grep -qx MemoryDenyWriteExecute=yes "$units/epmd-rs.service" || die "MemoryDenyWriteExecute= is not set"
! grep -Eq ' (mprotect|pkey_mprotect)\([^)]*PROT_EXEC| mmap\([^)]*PROT_WRITE\|PROT_EXEC' "$tmp/daemon.trace" ||
    die "the daemon maps memory writable and executable: $(grep PROT_EXEC "$tmp/daemon.trace" | head -n 3)"
calls=$(wc -l <"$tmp/used")

# --- Removal keeps the conffile, purge leaves nothing.
dpkg -r epmd-rs >"$tmp/dpkg" 2>&1 || die "dpkg -r: $(cat "$tmp/dpkg")"
[ ! -e /usr/bin/epmd-rs ] || die "dpkg -r left /usr/bin/epmd-rs"
[ -f /etc/default/epmd-rs ] || die "dpkg -r removed the conffile"
[ "$(dpkg-query -W -f '${Status}' epmd-rs)" = "deinstall ok config-files" ] || die "dpkg -r: wrong status"
dpkg --purge epmd-rs >"$tmp/dpkg" 2>&1 || die "dpkg --purge: $(cat "$tmp/dpkg")"
! dpkg -L epmd-rs >/dev/null 2>&1 || die "dpkg -L still lists epmd-rs after purge"
[ -z "$(leftovers)" ] || die "purge left: $(leftovers)"

# --- Without Debian's epmd.socket enabled, installing enables epmd-rs.socket,
# and purging takes the link away.
systemctl disable epmd.socket >/dev/null 2>&1 || die "cannot disable epmd.socket in the root"
dpkg -i "$deb" >"$tmp/dpkg" 2>&1 || die "dpkg -i: $(cat "$tmp/dpkg")"
[ "$(readlink -f "$wants/epmd-rs.socket")" = "$(readlink -f "$units/epmd-rs.socket")" ] ||
    die "postinst did not enable epmd-rs.socket where Debian's epmd.socket is disabled"
dpkg --purge epmd-rs >"$tmp/dpkg" 2>&1 || die "dpkg --purge: $(cat "$tmp/dpkg")"
[ -z "$(leftovers)" ] || die "purge left: $(leftovers)"

echo "exposure $exposure, all $calls system calls allowed"
