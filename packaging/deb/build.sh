#!/bin/sh
# Builds the Debian package of the epmd-rs daemon with dpkg-deb alone, from
# target/release/epmd-rs (`make deb` runs cargo first):
#   packaging/deb/build.sh      prints the path of the .deb
# The version is the crate's, the architecture dpkg's, and Depends is what
# dpkg-shlibdeps finds the binary needs. Everything is made under target/deb.
#   EPMD_RS_DEB_MAINTAINER="Name <address>"   the Maintainer field (default:
#                                             the author of the last commit)
set -eu
cd "$(dirname "$0")/../.."
here=packaging/deb
bin=target/release/epmd-rs
die() { echo "packaging/deb/build.sh: $*" >&2; exit 1; }

[ -x "$bin" ] || die "$bin is missing: cargo build --release --locked -p epmd_cli"
# cargo's id ends with the version (…#epmd_cli@0.1.0). Debian sorts a
# pre-release (1.0.0-rc.1) before its release only when it is written 1.0.0~rc.1.
id=$(cargo pkgid --locked -p epmd_cli) || die "cargo cannot read the crate's version"
version=$(printf '%s\n' "${id##*[#@]}" | sed 's/-/~/')
arch=$(dpkg --print-architecture)
maintainer=${EPMD_RS_DEB_MAINTAINER:-$(git log -1 --format='%an <%ae>' 2>/dev/null)}
[ -n "$maintainer" ] || die "no git history to name the maintainer: set EPMD_RS_DEB_MAINTAINER"
out=target/deb
work=$out/build
# dpkg-shlibdeps expects the package's files in debian/PACKAGE.
pkg=$work/debian/epmd-rs
deb=$out/epmd-rs_${version}_$arch.deb

rm -rf "$work" "$deb"
umask 022
install -d "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/share/man/man1" \
    "$pkg/usr/lib/systemd/system" "$pkg/etc/default" "$pkg/usr/share/doc/epmd-rs"
install -m 755 -s "$bin" "$pkg/usr/bin/epmd-rs"
sed "s/@VERSION@/$version/" "$here/epmd-rs.1" | gzip -9n >"$pkg/usr/share/man/man1/epmd-rs.1.gz"
install -m 644 "$here/epmd-rs.socket" "$here/epmd-rs.service" "$pkg/usr/lib/systemd/system/"
install -m 644 "$here/default" "$pkg/etc/default/epmd-rs"
install -m 644 LICENSE "$pkg/usr/share/doc/epmd-rs/copyright"
install -m 755 "$here/postinst" "$here/prerm" "$here/postrm" "$pkg/DEBIAN/"
echo /etc/default/epmd-rs >"$pkg/DEBIAN/conffiles"
# md5sums leaves out conffiles, whose sums dpkg keeps itself.
(cd "$pkg" && find usr -type f | LC_ALL=C sort | xargs md5sum) >"$pkg/DEBIAN/md5sums"

printf 'Source: epmd-rs\n\nPackage: epmd-rs\nArchitecture: any\n' >"$work/debian/control"
depends=$(cd "$work" && dpkg-shlibdeps -O debian/epmd-rs/usr/bin/epmd-rs) ||
    die "dpkg-shlibdeps failed"
depends=${depends#shlibs:Depends=}
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: epmd-rs
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: $depends
Section: net
Priority: optional
Description: Erlang Port Mapper Daemon, a drop-in epmd written in Rust
 epmd-rs maps the names of the host's Erlang nodes to their distribution
 ports on TCP port 4369, as OTP's epmd does, byte for byte: nodes, epmd
 -names and erl_epmd work with it unchanged. Unlike OTP's daemon it is not
 limited to about a thousand registered nodes, keeps its registrations when
 it runs out of file descriptors, and has optional hardening: listings for
 local peers only, and caps on open connections.
 .
 The package installs the daemon as /usr/bin/epmd-rs, with the systemd units
 epmd-rs.socket and epmd-rs.service (socket activation on port 4369, in a
 hardened sandbox) and its options in /etc/default/epmd-rs. Debian's epmd,
 in erlang-base, stays installed; epmd-rs(1) tells how to switch between
 the two.
CONTROL
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
