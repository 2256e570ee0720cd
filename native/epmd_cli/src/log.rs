//! Server-mode logging in OTP's shape: `epmd: <ctime>: <message>\r\n` on
//! stderr, or `epmd: <message>` to syslog in daemon mode (§9.3, §9.4). Each
//! message has OTP's debug level; level 0 always shows. The wording and the
//! line shapes are the core's (`otp_log`, `syslog`), shared with the in-VM
//! server.

use std::fmt;
use std::io::Write;

use epmd_core::events::{Event, EventSink};
pub use epmd_core::otp_log::Kind;
use epmd_core::otp_log::{self, Message};
use epmd_core::syslog::{self, Facility, Syslog};

#[derive(Debug)]
enum Destination {
    Stderr,
    /// `None` when no socket could be made: messages are lost, as with C's
    /// syslog when no daemon runs.
    Syslog(Option<Syslog>),
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

    /// Logs to the host's syslog as OTP's epmd does: `LOG_USER`, ident
    /// `epmd` whatever this binary is called, so `!epmd` rules keep matching.
    pub fn syslog(debug: u32) -> Self {
        Log {
            debug,
            destination: Destination::Syslog(
                Syslog::new(syslog::DEFAULT_PATH, Facility::USER).ok(),
            ),
        }
    }

    /// Logs `message` if `-d` was given at least `level` times.
    pub fn log(&self, level: u32, kind: Kind, message: fmt::Arguments<'_>) {
        if level > self.debug {
            return;
        }
        match &self.destination {
            Destination::Stderr => {
                // One write per line, like OTP's fprintf to unbuffered stderr.
                let line = otp_log::stderr_line(message);
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
            Destination::Syslog(Some(syslog)) if kind == Kind::Printf => syslog.send(message),
            Destination::Syslog(_) => {}
        }
    }
}

impl EventSink for Log {
    fn event(&self, event: &Event<'_>) {
        let (level, kind) = otp_log::level(event);
        self.log(level, kind, format_args!("{}", Message(event)));
    }
}
