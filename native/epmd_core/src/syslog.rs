//! Messages to the local syslog socket, as OTP's epmd sends them in daemon
//! mode (§9.4): `<PRI>Mmm dd hh:mm:ss epmd: epmd: <message>` in one datagram,
//! at severity `LOG_ERR`, under the ident `epmd` whatever the program is
//! called, so that `!epmd` rules keep collecting them.
//!
//! Unlike C's `syslog(3)`, a send never waits: a message the socket cannot
//! take at once (no syslog daemon, a full queue) is dropped and counted, and
//! the server goes on serving.

use std::fmt;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::otp_log::LocalTime;

/// Where C's `syslog(3)` sends on Linux.
pub const DEFAULT_PATH: &str = "/dev/log";

/// `LOG_ERR`, the only severity OTP's epmd uses.
const SEVERITY_ERR: u8 = 3;

/// A syslog facility, by its name in `syslog.conf` (`user`, `daemon`,
/// `local0`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facility(u8);

impl Facility {
    /// `LOG_USER`, where OTP's epmd logs (it never calls `openlog`).
    pub const USER: Facility = Facility(1);

    const NAMES: [(&'static str, u8); 19] = [
        ("user", 1),
        ("mail", 2),
        ("daemon", 3),
        ("auth", 4),
        ("syslog", 5),
        ("lpr", 6),
        ("news", 7),
        ("uucp", 8),
        ("cron", 9),
        ("authpriv", 10),
        ("ftp", 11),
        ("local0", 16),
        ("local1", 17),
        ("local2", 18),
        ("local3", 19),
        ("local4", 20),
        ("local5", 21),
        ("local6", 22),
        ("local7", 23),
    ];

    pub fn from_name(name: &str) -> Option<Facility> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, code)| Facility(code))
    }

    /// The names `from_name` accepts, for error messages.
    pub fn names() -> impl Iterator<Item = &'static str> {
        Self::NAMES.iter().map(|(n, _)| *n)
    }
}

/// A sender of epmd's messages to one syslog socket.
#[derive(Debug)]
pub struct Syslog {
    socket: UnixDatagram,
    path: PathBuf,
    facility: Facility,
    dropped: AtomicU64,
}

impl Syslog {
    /// A sender to the socket at `path`, which need not exist yet: each
    /// message is addressed anew, so a syslog daemon that restarts is found
    /// again.
    pub fn new(path: impl AsRef<Path>, facility: Facility) -> io::Result<Self> {
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        Ok(Syslog {
            socket,
            path: path.as_ref().to_owned(),
            facility,
            dropped: AtomicU64::new(0),
        })
    }

    /// Sends one message; a message that cannot go at once is dropped.
    pub fn send(&self, message: fmt::Arguments<'_>) {
        let datagram = self.datagram(message);
        if self
            .socket
            .send_to(datagram.as_bytes(), &self.path)
            .is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many messages could not be sent.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn datagram(&self, message: fmt::Arguments<'_>) -> String {
        let t = LocalTime::now();
        let priority = self.facility.0 * 8 + SEVERITY_ERR;
        // NULs would end the message early for a C reader.
        let text = message.to_string().replace('\0', " ");
        format!(
            "<{priority}>{} {:2} {:02}:{:02}:{:02} epmd: epmd: {text}",
            t.month(),
            t.0.tm_mday,
            t.0.tm_hour,
            t.0.tm_min,
            t.0.tm_sec,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(dir: &Path) -> UnixDatagram {
        UnixDatagram::bind(dir.join("log")).unwrap()
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("epmd_syslog_{name}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_message_arrives_in_c_syslog_shape() {
        let dir = scratch("shape");
        let reader = reader(&dir);
        let log = Syslog::new(dir.join("log"), Facility::from_name("local3").unwrap()).unwrap();
        log.send(format_args!("got partial\0packet"));
        let mut buf = [0u8; 512];
        let n = reader.recv(&mut buf).unwrap();
        let got = std::str::from_utf8(&buf[..n]).unwrap();
        // local3 (19) * 8 + LOG_ERR (3) = 155; "Dec  2 11:50:00 " is 16 bytes.
        assert!(got.starts_with("<155>"), "{got}");
        assert_eq!(&got[5 + 15..], " epmd: epmd: got partial packet", "{got}");
        assert_eq!(log.dropped(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_or_full_socket_drops_without_waiting() {
        let dir = scratch("full");
        let log = Syslog::new(dir.join("log"), Facility::USER).unwrap();
        log.send(format_args!("nobody listens"));
        assert_eq!(log.dropped(), 1);
        let _reader = reader(&dir);
        // Nobody reads: the queue fills, and sends are dropped, not blocked.
        for _ in 0..10_000 {
            log.send(format_args!("{}", "x".repeat(200)));
        }
        assert!(log.dropped() > 1, "dropped {}", log.dropped());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn facilities_by_name() {
        assert_eq!(Facility::from_name("user"), Some(Facility::USER));
        assert_eq!(Facility::from_name("local7"), Some(Facility(23)));
        assert_eq!(Facility::from_name("kernel"), None);
        assert!(Facility::names().any(|n| n == "daemon"));
    }
}
