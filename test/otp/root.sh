#!/bin/sh
# Makes (or reuses) a Debian root for one OTP version of the test matrix:
#   test/otp/root.sh SUITE       prints the root's directory on stdout
# SUITE is a Debian suite (trixie for OTP 27, sid for OTP 29). Other tests
# give their root a name of its own and their own packages:
#   test/otp/root.sh SUITE NAME PACKAGE...
# Roots are built only from Debian's packages, with debootstrap, and cached
# outside the clone in $EPMD_RS_ROOTS (default /var/cache/epmd_rs/roots); a
# cached root is reused as long as it was finished with the same package set.
# Needs root.
set -eu
suite=$1
name=${2:-$suite}
cache=${EPMD_RS_ROOTS:-/var/cache/epmd_rs/roots}
root=$cache/$name
mirror=${EPMD_RS_MIRROR:-http://deb.debian.org/debian}
# What the matrix runs inside a root: the OTP pieces of the build, EUnit, CT,
# dialyzer and xref, TLS distribution, rebar3 and Elixir for the examples, and
# ps, ss, ip, python3, openssl and readelf for the tests. erlang-common-test
# is installed with apt inside the root, not by debootstrap: on sid,
# debootstrap's own ordering fails to configure the GUI packages it pulls in.
packages="erlang-base erlang-dev erlang-common-test erlang-eunit erlang-dialyzer
erlang-tools erlang-syntax-tools erlang-parsetools erlang-ssl erlang-crypto
erlang-public-key erlang-edoc rebar3 elixir procps iproute2 python3 openssl
ca-certificates binutils"
if [ $# -gt 2 ]; then
    shift 2
    packages=$*
fi
stamp=$root/.epmd_rs-root
want=$(printf '%s %s\n' "$suite" "$packages" | tr -s ' \n' '  ')

say() { printf 'otp root %s: %s\n' "$name" "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "making a root needs root (debootstrap, chroot)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$root"
    exit 0
fi
command -v debootstrap >/dev/null || {
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >&2 ||
        die "cannot install debootstrap"
}
mkdir -p "$cache"
if [ ! -x "$root/usr/bin/apt-get" ]; then
    rm -rf "$root"
    say "debootstrap into $root (a few minutes)"
    debootstrap --variant=minbase --include=erlang-base,procps,iproute2 \
        "$suite" "$root.partial" "$mirror" >"$cache/$name.debootstrap.log" 2>&1 ||
        die "debootstrap failed (is $mirror reachable?); see $cache/$name.debootstrap.log"
    mv "$root.partial" "$root"
fi
say "installing the test packages"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
# A mirror that serves a frozen snapshot has Release files past their
# Valid-Until date; debootstrap ignores that, and so does apt here.
echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99epmd-rs"
# Packages must not start services in the root.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
# A private mount namespace: the bind mounts vanish with it.
# shellcheck disable=SC2086
unshare --mount --propagation private sh -eu -c '
    root=$1; shift
    mount --bind /proc "$root/proc"
    mount --bind /dev "$root/dev"
    mount --bind /sys "$root/sys"
    chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 sh -eu -c "
        apt-get update -q
        apt-get -f install -y -q
        apt-get install -y -q --no-install-recommends $*
        apt-get clean"
' sh "$root" $packages >"$cache/$name.apt.log" 2>&1 ||
    die "apt-get in the root failed; see $cache/$name.apt.log"
printf '%s' "$want" >"$stamp"
say "ready"
echo "$root"
