//! Which sockets an EPMD listens on, binding them as OTP does (§8), and
//! accepting on them.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::epoll::{EpollSet, Trigger};

/// OTP's `MAX_LISTEN_SOCKETS`.
pub const MAX_LISTEN_SOCKETS: usize = 16;

/// A listening address that could not be used.
#[derive(Debug)]
pub enum ListenError {
    /// A token of the address list is not an IP address.
    BadAddress(String),
    /// More addresses than OTP's limit of 16 sockets.
    TooManyAddresses,
    /// Another process holds the port (OTP's epmd then exits quietly).
    InUse(SocketAddr),
    /// Binding failed for another reason.
    Bind(SocketAddr, io::Error),
    /// No socket could be bound at all.
    NothingBound,
}

impl fmt::Display for ListenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenError::BadAddress(a) => write!(f, "cannot parse IP address \"{a}\""),
            ListenError::TooManyAddresses => write!(
                f,
                "cannot listen on more than {MAX_LISTEN_SOCKETS} IP addresses"
            ),
            ListenError::InUse(a) => write!(f, "address {a} is already in use"),
            ListenError::Bind(a, e) => write!(f, "cannot listen on {a}: {e}"),
            ListenError::NothingBound => f.write_str("unable to bind any address"),
        }
    }
}

impl std::error::Error for ListenError {}

/// One socket to bind; `required` ones make a bind error fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddr {
    pub ip: IpAddr,
    pub required: bool,
}

/// The sockets for an address list (`-address` / `ERL_EPMD_ADDRESS`). `None`,
/// or a list of only separators, means every address, IPv4 and IPv6. A list
/// always gets the loopback sockets first, which are allowed to fail.
pub fn plan(list: Option<&str>) -> Result<Vec<ListenAddr>, ListenError> {
    let tokens: Vec<&str> = list
        .unwrap_or_default()
        .split([',', ' '])
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.is_empty() {
        return Ok([
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ]
        .map(|ip| ListenAddr {
            ip,
            required: false,
        })
        .to_vec());
    }
    let mut out: Vec<ListenAddr> = [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ]
    .map(|ip| ListenAddr {
        ip,
        required: false,
    })
    .to_vec();
    for token in tokens {
        let ip: IpAddr = token
            .parse()
            .map_err(|_| ListenError::BadAddress(token.to_string()))?;
        if ip == IpAddr::V4(Ipv4Addr::LOCALHOST) || ip == IpAddr::V6(Ipv6Addr::LOCALHOST) {
            continue;
        }
        // OTP stops at 13 listed addresses besides the two loopback sockets.
        if out.len() + 1 >= MAX_LISTEN_SOCKETS {
            return Err(ListenError::TooManyAddresses);
        }
        out.push(ListenAddr { ip, required: true });
    }
    Ok(out)
}

fn bind_one(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // The IPv4 socket serves IPv4; without this the two would collide.
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Linux's `SOMAXCONN`, the backlog OTP asks for; the kernel caps it anyway.
const BACKLOG: i32 = 4096;

/// Binds every planned socket on `port`. An address family the host lacks is
/// skipped; a port held by someone else is [`ListenError::InUse`] on any socket.
pub fn bind(plan: &[ListenAddr], port: u16) -> Result<Vec<std::net::TcpListener>, ListenError> {
    let mut bound = Vec::with_capacity(plan.len());
    for l in plan {
        let addr = SocketAddr::new(l.ip, port);
        match bind_one(addr) {
            Ok(s) => bound.push(s),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Err(ListenError::InUse(addr)),
            Err(e) if is_unsupported_family(&e) => {}
            Err(e) if l.required => return Err(ListenError::Bind(addr, e)),
            Err(_) => {}
        }
    }
    if bound.is_empty() {
        return Err(ListenError::NothingBound);
    }
    Ok(bound)
}

fn is_unsupported_family(e: &io::Error) -> bool {
    // EAFNOSUPPORT (97), EPROTONOSUPPORT (93), EADDRNOTAVAIL for a missing ::1 (99).
    matches!(e.raw_os_error(), Some(97 | 93 | 99))
}

/// The listening sockets, level-triggered in an epoll set of their own that
/// the accept thread waits on. The set also watches the connections accepted
/// here whose request has not arrived yet, so that one wait covers them all,
/// as OTP's single `select` does.
pub struct Listeners {
    sockets: Vec<std::net::TcpListener>,
    set: EpollSet,
}

/// Tokens from here up are free for the owner; those below are the
/// listening sockets' (the socket's index in the list).
pub(crate) const FIRST_FREE: u64 = MAX_LISTEN_SOCKETS as u64;

impl Listeners {
    /// Puts `sockets` (at most [`MAX_LISTEN_SOCKETS`]) in a new set.
    pub fn new(sockets: Vec<std::net::TcpListener>) -> io::Result<Self> {
        if sockets.len() > MAX_LISTEN_SOCKETS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("more than {MAX_LISTEN_SOCKETS} listening sockets"),
            ));
        }
        let listeners = Listeners {
            sockets,
            set: EpollSet::new()?,
        };
        for socket in &listeners.sockets {
            socket.set_nonblocking(true)?;
        }
        listeners.listen(true)?;
        Ok(listeners)
    }

    /// The listening socket a token stands for, if it stands for one.
    pub(crate) fn listening(&self, token: u64) -> Option<&std::net::TcpListener> {
        usize::try_from(token)
            .ok()
            .and_then(|i| self.sockets.get(i))
    }

    /// Stops reporting queued connections, or starts again.
    pub(crate) fn listen(&self, on: bool) -> io::Result<()> {
        let trigger = if on { Trigger::Level } else { Trigger::Off };
        for (token, socket) in (0..).zip(&self.sockets) {
            self.set.set(socket.as_raw_fd(), token, trigger)?;
        }
        Ok(())
    }

    /// Has the kernel hold new connections until their first bytes arrive,
    /// or until a second passes without any, or stops doing so.
    pub(crate) fn defer_accept(&self, on: bool) -> io::Result<()> {
        let seconds: libc::c_int = on.into();
        for socket in &self.sockets {
            // SAFETY: the option's value is a c_int that outlives the call.
            let rc = unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    libc::IPPROTO_TCP,
                    libc::TCP_DEFER_ACCEPT,
                    (&seconds as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc == -1 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Reports, once, when `stream` has something to read, under `token`.
    pub(crate) fn watch(&self, stream: &impl AsRawFd, token: u64) -> io::Result<()> {
        self.set.set(stream.as_raw_fd(), token, Trigger::Once)
    }

    /// Waits until a connection is queued or watched ones have something to
    /// read, or until `timeout` passes, and appends their tokens to `out`.
    pub(crate) fn wait(&self, out: &mut Vec<u64>, timeout: Option<Duration>) -> io::Result<()> {
        self.set.wait(out, timeout)
    }
}

/// `accept4` with `SOCK_NONBLOCK`, which std's `accept` does not set: the new
/// socket can be read and written without waiting from the start, at no extra
/// system call.
pub(crate) fn accept(
    listener: &std::net::TcpListener,
) -> io::Result<(std::net::TcpStream, SocketAddr)> {
    let listener = listener.as_raw_fd();
    // SAFETY: accept4 writes at most `len` bytes of address into the storage
    // socket2 hands it, and returns a descriptor that nothing else owns.
    let (stream, addr) = unsafe {
        SockAddr::try_init(|storage, len| {
            let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
            match libc::accept4(listener, storage.cast(), len, flags) {
                -1 => Err(io::Error::last_os_error()),
                fd => Ok(std::net::TcpStream::from_raw_fd(fd)),
            }
        })
    }?;
    let peer = addr.as_socket().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, "accepted a non-IP connection")
    })?;
    Ok((stream, peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(p: &[ListenAddr]) -> Vec<String> {
        p.iter().map(|l| l.ip.to_string()).collect()
    }

    #[test]
    fn default_is_any_address() {
        assert_eq!(ips(&plan(None).unwrap()), ["0.0.0.0", "::"]);
        assert_eq!(ips(&plan(Some(" , ")).unwrap()), ["0.0.0.0", "::"]);
    }

    #[test]
    fn lists_get_loopback_first_and_skip_duplicates_of_it() {
        assert_eq!(
            ips(&plan(Some("127.0.0.2")).unwrap()),
            ["127.0.0.1", "::1", "127.0.0.2"]
        );
        assert_eq!(ips(&plan(Some("::1")).unwrap()), ["127.0.0.1", "::1"]);
        let p = plan(Some("10.0.0.1, ::2")).unwrap();
        assert_eq!(p.iter().filter(|l| l.required).count(), 2);
    }

    #[test]
    fn bad_lists_are_refused() {
        assert!(matches!(
            plan(Some("localhost")),
            Err(ListenError::BadAddress(_))
        ));
        assert!(matches!(
            plan(Some("999.1.1.1")),
            Err(ListenError::BadAddress(_))
        ));
        let many: Vec<String> = (2..=15).map(|i| format!("127.0.0.{i}")).collect();
        assert!(matches!(
            plan(Some(&many.join(","))),
            Err(ListenError::TooManyAddresses)
        ));
        assert_eq!(plan(Some(&many[..13].join(","))).unwrap().len(), 15);
    }
}
