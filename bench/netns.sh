#!/bin/sh
# Runs a command in a network namespace of its own, with loopback up, a
# TIME_WAIT table of 4,096 and ports 1024-65535 to connect from, when this
# user may make one (root); otherwise in the host's, as it is.
#
# Why: the server closes each connection first, so every lookup leaves a
# connection in TIME_WAIT for 60 s, and at 18,000 lookups/s the host's
# 28,000 ports to connect from are all taken within two seconds. From then
# on every connect lands on one of them, as many as the measurements before
# left: a point's conditions would depend on the order of the points and on
# the rest of the host. The report says which namespace it ran in.
set -eu
if [ "$(id -u)" = 0 ] && unshare --net true 2>/dev/null; then
	exec unshare --net sh -c '
		ip link set lo up &&
		sysctl -qw net.ipv4.tcp_max_tw_buckets=4096 "net.ipv4.ip_local_port_range=1024 65535" &&
		exec "$@"' netns "$@"
fi
echo "bench/netns.sh: cannot make a network namespace; measuring in the host's" >&2
exec "$@"
