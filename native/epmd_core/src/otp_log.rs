//! What OTP's epmd says about each [`Event`], and how it shapes a line
//! (§9.3, §9.4): the `-d` level at which a message shows, whether it may go
//! to syslog, and its wording, after OTP 25's `epmd_srv.c`. The `epmd-rs`
//! binary and the in-VM server's syslog both ask here.

use std::fmt;

use crate::events::Event;

/// OTP has two kinds of message: "printf" ones may go to syslog, "tty" ones
/// (tracing) are only ever shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Printf,
    Tty,
}

/// The `-d` count from which OTP shows `event`, and its kind.
pub fn level(event: &Event<'_>) -> (u32, Kind) {
    use Kind::{Printf, Tty};
    match event {
        Event::Received { .. } => (1, Printf),
        Event::Registered { .. } | Event::Unregistered { .. } => (1, Tty),
        Event::NameTaken { .. }
        | Event::RegisterRefused { .. }
        | Event::Dropped { .. }
        | Event::Incomplete { .. }
        | Event::RefusedNonLocal { .. }
        | Event::KillRefused
        | Event::Killed
        | Event::StopRefused { .. }
        | Event::AcceptFailed { .. }
        | Event::OverLimit { .. } => (0, Printf),
        Event::Timeout { .. } | Event::Stopped { .. } => (1, Tty),
    }
}

/// An event in OTP's words, without the `epmd: ` prefix.
pub struct Message<'a, 'e>(pub &'a Event<'e>);

impl fmt::Display for Message<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self.0 {
            Event::Received { request, .. } => write!(f, "** got {}", request.otp_name()),
            Event::Registered {
                name,
                port,
                creation,
            } => write!(f, "registering '{}:{creation}', port {port}", Name(name)),
            Event::Unregistered {
                name,
                port,
                creation,
            } => write!(f, "unregistering '{}:{creation}', port {port}", Name(name)),
            Event::NameTaken { name } => write!(f, "node name already occupied {}", Name(name)),
            Event::RegisterRefused { name, reason } => write!(f, "{reason} {}", Name(name)),
            Event::Dropped { reason, .. } => write!(f, "{reason}"),
            Event::Incomplete { peer, got } => {
                write!(f, "got partial packet only from {peer} ({got})")
            }
            Event::RefusedNonLocal { peer, command } => {
                write!(f, "{command} from non local address {}", peer.ip())
            }
            Event::Timeout { .. } => f.write_str("closing because timed out on receive"),
            Event::KillRefused => f.write_str("Disallowed KILL_REQ, live nodes"),
            Event::Killed => f.write_str("got KILL_REQ - terminates normal"),
            Event::Stopped {
                name,
                registered: true,
            } => write!(f, "stopped node {}", Name(name)),
            Event::Stopped {
                name,
                registered: false,
            } => write!(
                f,
                "trying to unregister node with unknown name {}",
                Name(name)
            ),
            Event::StopRefused { .. } => {
                f.write_str("Disallowed STOP_REQ, no relaxed_command_check")
            }
            Event::AcceptFailed { error } => write!(f, "error in accept: {error}"),
            Event::OverLimit { peer } => {
                write!(f, "too many connections, closed one from {}", peer.ip())
            }
        }
    }
}

/// A node name in a log line (names are bytes, usually UTF-8).
struct Name<'a>(&'a [u8]);

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.0))
    }
}

/// A line as OTP writes it to stderr: `epmd: <ctime>: <message>\r\n`.
pub fn stderr_line(message: fmt::Arguments<'_>) -> String {
    let t = LocalTime::now();
    format!(
        "epmd: {} {} {:2} {:02}:{:02}:{:02} {}: {message}\r\n",
        t.weekday(),
        t.month(),
        t.0.tm_mday,
        t.0.tm_hour,
        t.0.tm_min,
        t.0.tm_sec,
        1900 + t.0.tm_year
    )
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The wall clock in the host's time zone, as C's `localtime_r` gives it.
pub(crate) struct LocalTime(pub(crate) libc::tm);

impl LocalTime {
    pub(crate) fn now() -> Self {
        // SAFETY: time and localtime_r only write to the locals passed in.
        unsafe {
            let now = libc::time(std::ptr::null_mut());
            let mut tm: libc::tm = std::mem::zeroed();
            libc::localtime_r(&now, &mut tm);
            LocalTime(tm)
        }
    }

    pub(crate) fn weekday(&self) -> &'static str {
        DAYS[self.0.tm_wday.rem_euclid(7) as usize]
    }

    pub(crate) fn month(&self) -> &'static str {
        MONTHS[self.0.tm_mon.rem_euclid(12) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::RegisterError;

    #[test]
    fn stderr_lines_have_the_ctime_shape() {
        let line = stderr_line(format_args!("hello"));
        // "epmd: Thu Nov 26 07:05:04 2026: hello\r\n"
        let stamp = &line["epmd: ".len()..line.len() - ": hello\r\n".len()];
        assert_eq!(stamp.len(), 24, "{line:?}");
        assert!(DAYS.contains(&&stamp[..3]) && MONTHS.contains(&&stamp[4..7]));
        assert!(line.starts_with("epmd: ") && line.ends_with(": hello\r\n"));
    }

    #[test]
    fn refusals_are_worded_and_levelled_as_otp() {
        let refused = Event::RegisterRefused {
            name: b"n\xffx",
            reason: &RegisterError::NameTooLong,
        };
        assert_eq!(level(&refused), (0, Kind::Printf));
        assert_eq!(
            Message(&refused).to_string(),
            "node name is too long n\u{fffd}x"
        );
        let registered = Event::Registered {
            name: b"a",
            port: 5,
            creation: 7,
        };
        assert_eq!(level(&registered), (1, Kind::Tty));
        assert_eq!(
            Message(&registered).to_string(),
            "registering 'a:7', port 5"
        );
    }
}
