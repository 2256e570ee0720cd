//! `-systemd`: socket activation and readiness notification, speaking
//! systemd's protocol directly (what `sd_listen_fds(0)` and `sd_notify` do):
//! `LISTEN_PID` must be this process, `LISTEN_FDS` sockets start at fd 3, and
//! state goes as one datagram to the unix socket named by `NOTIFY_SOCKET`.

use std::fmt;
use std::io;
use std::net::TcpListener;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;

use epmd_core::listen::MAX_LISTEN_SOCKETS;

/// `SD_LISTEN_FDS_START`.
const LISTEN_FDS_START: RawFd = 3;

/// Why no sockets could be taken from systemd; the server exits 1.
#[derive(Debug)]
pub enum SystemdError {
    /// `LISTEN_PID` or `LISTEN_FDS` is not a number.
    Invalid(&'static str),
    /// Not socket-activated (or activated for another process).
    NoSockets,
    /// More sockets than OTP's limit.
    TooMany(usize),
    /// A passed descriptor is not a usable socket.
    Socket(io::Error),
}

impl fmt::Display for SystemdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SystemdError::Invalid(var) => {
                write!(f, "cannot obtain sockets from systemd: invalid {var}")
            }
            SystemdError::NoSockets => f.write_str("systemd provides no sockets"),
            SystemdError::TooMany(n) => write!(
                f,
                "cannot listen on more than {MAX_LISTEN_SOCKETS} IP addresses (systemd passed {n})"
            ),
            SystemdError::Socket(e) => write!(f, "cannot obtain sockets from systemd: {e}"),
        }
    }
}

impl std::error::Error for SystemdError {}

/// How many sockets systemd passed to this process, from the environment.
fn listen_fds_count(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    pid: u32,
) -> Result<usize, SystemdError> {
    let Some(listen_pid) = listen_pid else {
        return Ok(0);
    };
    let listen_pid: u32 = listen_pid
        .parse()
        .map_err(|_| SystemdError::Invalid("LISTEN_PID"))?;
    if listen_pid != pid {
        return Ok(0);
    }
    let Some(listen_fds) = listen_fds else {
        return Ok(0);
    };
    listen_fds
        .parse()
        .map_err(|_| SystemdError::Invalid("LISTEN_FDS"))
}

/// Takes the listening sockets systemd passed, from fd 3 on.
pub fn listeners() -> Result<Vec<TcpListener>, SystemdError> {
    let var = |name| std::env::var(name).ok();
    let n = listen_fds_count(
        var("LISTEN_PID").as_deref(),
        var("LISTEN_FDS").as_deref(),
        std::process::id(),
    )?;
    if n == 0 {
        return Err(SystemdError::NoSockets);
    }
    if n > MAX_LISTEN_SOCKETS {
        return Err(SystemdError::TooMany(n));
    }
    (0..n as RawFd)
        .map(|i| {
            let fd = LISTEN_FDS_START + i;
            // SAFETY: the protocol hands these descriptors to this process;
            // nothing else owns them. Like sd_listen_fds, keep them from
            // leaking into children.
            let listener = unsafe {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                TcpListener::from_raw_fd(fd)
            };
            listener
                .set_nonblocking(true)
                .map_err(SystemdError::Socket)?;
            Ok(listener)
        })
        .collect()
}

/// Sends `state` to the service manager; a no-op outside systemd.
pub fn notify(state: &str) -> io::Result<()> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
    let socket = UnixDatagram::unbound()?;
    let name = path.as_bytes();
    match name.first() {
        Some(b'/') => socket.send_to(state.as_bytes(), &path)?,
        // A name in Linux's abstract namespace.
        #[cfg(target_os = "linux")]
        Some(b'@') => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name[1..])?;
            socket.send_to_addr(state.as_bytes(), &addr)?
        }
        _ => return Err(io::ErrorKind::InvalidInput.into()),
    };
    Ok(())
}

/// The readiness message, as OTP's epmd sends it.
pub fn ready_message() -> String {
    format!(
        "READY=1\nSTATUS=Processing port mapping requests...\nMAINPID={}",
        std::process::id()
    )
}

/// The message OTP's epmd sends when it exits with `code`.
pub fn exit_message(code: i32) -> String {
    format!("STATUS=Exited.\nERRNO={code}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_follows_sd_listen_fds() {
        assert_eq!(listen_fds_count(None, Some("2"), 7).ok(), Some(0));
        assert_eq!(listen_fds_count(Some("8"), Some("2"), 7).ok(), Some(0));
        assert_eq!(listen_fds_count(Some("7"), None, 7).ok(), Some(0));
        assert_eq!(listen_fds_count(Some("7"), Some("2"), 7).ok(), Some(2));
        assert!(matches!(
            listen_fds_count(Some("x"), Some("2"), 7),
            Err(SystemdError::Invalid("LISTEN_PID"))
        ));
        assert!(matches!(
            listen_fds_count(Some("7"), Some("-1"), 7),
            Err(SystemdError::Invalid("LISTEN_FDS"))
        ));
    }
}
