#!/bin/sh
# Runs a command inside an OTP root made by root.sh:
#   test/otp/chroot.sh ROOT COMMAND [ARG...]
# in a private mount namespace, so that every mount made here, and any that
# the tests make (network namespaces), vanishes when the command ends. The
# root is bound onto itself so that "/" is a mount point inside it, as
# `ip netns exec` needs. The command gets a clean environment, but for
# ERL_EPMD_PORT: VMs in roots and on the host share one EPMD port.
set -eu
root=$1
shift
cp /etc/hosts "$root/etc/hosts"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
exec unshare --mount --propagation private sh -eu -c '
    root=$1; shift
    mount --bind "$root" "$root"
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount --rbind /sys "$root/sys"
    mount -t tmpfs tmpfs "$root/run"
    mkdir -p "$root/run/netns"
    exec chroot "$root" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM="${TERM:-dumb}" \
        ${ERL_EPMD_PORT:+ERL_EPMD_PORT="$ERL_EPMD_PORT"} "$@"
' sh "$root" "$@"
