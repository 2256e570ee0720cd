//! Server-mode logging in OTP's shape: `epmd: <ctime>: <message>\r\n` on
//! stderr, or `epmd: <message>` to syslog at LOG_ERR in daemon mode (§9.3,
//! §9.4). Each message has OTP's debug level; level 0 always shows.

use std::ffi::CString;
use std::fmt;
use std::io::Write;

use epmd_core::events::{Event, EventSink};

/// OTP has two kinds of message: "printf" ones may go to syslog, "tty" ones
/// (tracing) are only ever shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Printf,
    Tty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Destination {
    Stderr,
    Syslog,
}

/// The server's log: the `-d` count and where lines go.
#[derive(Debug)]
pub struct Log {
    debug: u32,
    destination: Destination,
}

impl Log {
    pub fn stderr(debug: u32) -> Self {
        Log {
            debug,
            destination: Destination::Stderr,
        }
    }

    /// Logs to syslog as "epmd" (LOG_USER), whatever this binary is called,
    /// so that existing `!epmd` syslog rules keep matching.
    pub fn syslog(debug: u32) -> Self {
        // SAFETY: the ident is a static C string, as openlog requires.
        unsafe { libc::openlog(c"epmd".as_ptr(), 0, libc::LOG_USER) };
        Log {
            debug,
            destination: Destination::Syslog,
        }
    }

    /// Logs `message` if `-d` was given at least `level` times.
    pub fn log(&self, level: u32, kind: Kind, message: fmt::Arguments<'_>) {
        if level > self.debug {
            return;
        }
        match self.destination {
            Destination::Stderr => {
                let line = format!("epmd: {}: {message}\r\n", ctime_now());
                // One write per line, like OTP's fprintf to unbuffered stderr.
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
            Destination::Syslog if kind == Kind::Printf => {
                let text = message.to_string().replace('\0', " ");
                let text = CString::new(text).expect("NULs were replaced");
                // SAFETY: a constant format with one C-string argument.
                unsafe { libc::syslog(libc::LOG_ERR, c"epmd: %s".as_ptr(), text.as_ptr()) };
            }
            Destination::Syslog => {}
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

impl EventSink for Log {
    /// Levels and wording follow OTP 25's `epmd_srv.c`.
    fn event(&self, event: &Event<'_>) {
        use Kind::{Printf, Tty};
        match *event {
            Event::Received { request, .. } => {
                self.log(1, Printf, format_args!("** got {}", request.otp_name()))
            }
            Event::Registered {
                name,
                port,
                creation,
            } => self.log(
                1,
                Tty,
                format_args!("registering '{}:{creation}', port {port}", Name(name)),
            ),
            Event::Unregistered {
                name,
                port,
                creation,
            } => self.log(
                1,
                Tty,
                format_args!("unregistering '{}:{creation}', port {port}", Name(name)),
            ),
            Event::NameTaken { name } => self.log(
                0,
                Printf,
                format_args!("node name already occupied {}", Name(name)),
            ),
            Event::RegisterRefused { name, reason } => {
                self.log(0, Printf, format_args!("{reason} {}", Name(name)))
            }
            Event::Dropped { reason, .. } => self.log(0, Printf, format_args!("{reason}")),
            Event::Incomplete { peer, got } => self.log(
                0,
                Printf,
                format_args!("got partial packet only from {peer} ({got})"),
            ),
            Event::RefusedNonLocal { peer, command } => self.log(
                0,
                Printf,
                format_args!("{command} from non local address {}", peer.ip()),
            ),
            Event::Timeout { .. } => {
                self.log(1, Tty, format_args!("closing because timed out on receive"))
            }
            Event::KillRefused => {
                self.log(0, Printf, format_args!("Disallowed KILL_REQ, live nodes"))
            }
            Event::Killed => self.log(0, Printf, format_args!("got KILL_REQ - terminates normal")),
            Event::Stopped {
                name,
                registered: true,
            } => self.log(1, Tty, format_args!("stopped node {}", Name(name))),
            Event::Stopped {
                name,
                registered: false,
            } => self.log(
                1,
                Tty,
                format_args!("trying to unregister node with unknown name {}", Name(name)),
            ),
            Event::StopRefused { .. } => self.log(
                0,
                Printf,
                format_args!("Disallowed STOP_REQ, no relaxed_command_check"),
            ),
            Event::AcceptFailed { error } => {
                self.log(0, Printf, format_args!("error in accept: {error}"))
            }
            Event::OverLimit { peer } => self.log(
                0,
                Printf,
                format_args!("too many connections, closed one from {}", peer.ip()),
            ),
        }
    }
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `ctime(3)` of now, without its newline: `Thu Nov 26 07:05:04 2026`.
fn ctime_now() -> String {
    // SAFETY: time and localtime_r only write to the locals passed in.
    let tm = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&now, &mut tm);
        tm
    };
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[tm.tm_wday.rem_euclid(7) as usize],
        MONTHS[tm.tm_mon.rem_euclid(12) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        1900 + tm.tm_year
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_has_the_c_shape() {
        let t = ctime_now();
        assert_eq!(t.len(), 24, "{t}");
        assert!(DAYS.contains(&&t[..3]) && MONTHS.contains(&&t[4..7]), "{t}");
    }
}
