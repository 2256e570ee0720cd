//! Exchanges: scripted conversations with one EPMD over one or more
//! connections, and the builder the battery writes them with.
//!
//! A script only says what the client does and where it looks; what came back
//! is recorded by [`crate::drive`] and judged by comparing two servers, never
//! against expectations written here.

use std::fmt;
use std::time::Duration;

use crate::wire::{self, Alive2};

/// A connection of an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Conn(pub u8);

pub const A: Conn = Conn(0);
pub const B: Conn = Conn(1);
pub const C: Conn = Conn(2);

/// Connections the builder opens for one-shot requests are numbered from here.
const FIRST_ONE_SHOT: u8 = 10;

impl fmt::Display for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            n @ 0..FIRST_ONE_SHOT => write!(f, "{}", char::from(b'A' + n)),
            n => write!(f, "#{}", n - FIRST_ONE_SHOT + 1),
        }
    }
}

/// When a read stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// The server closes the connection (or a generous deadline passes).
    Closed,
    /// The server closes the connection or sends nothing for a short while.
    Quiet,
    /// This many bytes have arrived, or the server closed the connection.
    Bytes(usize),
}

/// What a read expects, which decides how its bytes are masked
/// ([`crate::mask`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Raw,
    /// An ALIVE2 reply to a registration of this name: creations are masked.
    Alive2(Vec<u8>),
    /// A NAMES reply: the port header is masked.
    Names,
    /// A DUMP reply: port header and fds are masked, and names this exchange
    /// did not register are left out of the old/unused list.
    Dump,
}

#[derive(Debug, Clone)]
pub enum Step {
    Connect(Conn),
    Send(Conn, Vec<u8>),
    Pause(Duration),
    Read {
        conn: Conn,
        label: String,
        until: Until,
        reply: Reply,
    },
    /// Half-close: no more data from the client.
    Shutdown(Conn),
    Close(Conn),
    /// Close with `SO_LINGER` 0, so the server sees a reset.
    Reset(Conn),
    /// Poll NAMES until the name is no longer listed.
    WaitGone(Vec<u8>),
}

/// Which servers an exchange is for: OTP's `-relaxed_command_check` changes
/// what KILL and STOP do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Any,
    Strict,
    Relaxed,
}

/// A server option an exchange needs to be deterministic: OTP's
/// `-delay_write 1` or `-delay_accept 1` (and the same delay in ours). Such
/// exchanges are left out of the standard battery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delay {
    Write,
    Accept,
}

/// One exchange of the battery.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Unique, `group/what`.
    pub name: String,
    pub about: &'static str,
    pub mode: Mode,
    /// Needs the server to itself: it reads NAMES or DUMP, which list every
    /// exchange's nodes.
    pub isolated: bool,
    pub delay: Option<Delay>,
    pub steps: Vec<Step>,
    /// Names the exchange registers; after it, the runner waits until the
    /// server no longer lists them.
    pub names: Vec<Vec<u8>>,
    next_one_shot: u8,
}

impl Exchange {
    pub fn new(name: impl Into<String>, about: &'static str) -> Self {
        Exchange {
            name: name.into(),
            about,
            mode: Mode::Any,
            isolated: false,
            delay: None,
            steps: Vec::new(),
            names: Vec::new(),
            next_one_shot: FIRST_ONE_SHOT,
        }
    }

    pub fn isolated(mut self) -> Self {
        self.isolated = true;
        self
    }

    pub fn needs(mut self, delay: Delay) -> Self {
        self.delay = Some(delay);
        self
    }

    pub fn strict_only(mut self) -> Self {
        self.mode = Mode::Strict;
        self
    }

    pub fn relaxed_only(mut self) -> Self {
        self.mode = Mode::Relaxed;
        self
    }

    fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    pub fn connect(self, c: Conn) -> Self {
        self.step(Step::Connect(c))
    }

    pub fn send(self, c: Conn, bytes: impl AsRef<[u8]>) -> Self {
        self.step(Step::Send(c, bytes.as_ref().to_vec()))
    }

    pub fn pause_ms(self, ms: u64) -> Self {
        self.step(Step::Pause(Duration::from_millis(ms)))
    }

    pub fn read(self, c: Conn, label: impl Into<String>, until: Until, reply: Reply) -> Self {
        self.step(Step::Read {
            conn: c,
            label: label.into(),
            until,
            reply,
        })
    }

    /// Everything until the server closes `c`.
    pub fn read_to_close(self, c: Conn, label: impl Into<String>) -> Self {
        self.read(c, label, Until::Closed, Reply::Raw)
    }

    /// Whether the server keeps `c` open (and silent) for a moment.
    pub fn check_open(self, c: Conn, label: impl Into<String>) -> Self {
        self.read(c, label, Until::Quiet, Reply::Raw)
    }

    pub fn shutdown(self, c: Conn) -> Self {
        self.step(Step::Shutdown(c))
    }

    pub fn close(self, c: Conn) -> Self {
        self.step(Step::Close(c))
    }

    pub fn reset(self, c: Conn) -> Self {
        self.step(Step::Reset(c))
    }

    pub fn wait_gone(self, name: impl AsRef<[u8]>) -> Self {
        self.step(Step::WaitGone(name.as_ref().to_vec()))
    }

    /// Closes the registration on `c` and waits until `name` is unlisted.
    pub fn unregister(self, c: Conn, name: impl AsRef<[u8]>) -> Self {
        self.close(c).wait_gone(name)
    }

    /// Sends an ALIVE2 on a new connection `c` and reads its reply, leaving
    /// the connection open.
    pub fn register(self, c: Conn, req: &Alive2) -> Self {
        self.connect(c)
            .send(c, req.bytes())
            .alive2_reply(c, req, Until::Bytes(req.reply_len()))
    }

    /// Reads the reply to `req`, sent on `c` by other steps; the name is
    /// cleaned up after the exchange.
    pub fn alive2_reply(mut self, c: Conn, req: &Alive2, until: Until) -> Self {
        if !self.names.contains(&req.name) {
            self.names.push(req.name.clone());
        }
        let label = format!("ALIVE2 reply for {}", show_name(&req.name));
        self.read(c, label, until, Reply::Alive2(req.name.clone()))
    }

    /// Sends `pieces` on `c` as separate writes, `gap_ms` apart.
    pub fn send_pieces<P: AsRef<[u8]>>(self, c: Conn, gap_ms: u64, pieces: &[P]) -> Self {
        let mut e = self;
        for (i, piece) in pieces.iter().enumerate() {
            if i > 0 {
                e = e.pause_ms(gap_ms);
            }
            e = e.send(c, piece);
        }
        e
    }

    /// Sends `bytes` one at a time, `gap_ms` apart, on connection `c`, then
    /// reads until the server closes it.
    pub fn dribble(self, c: Conn, label: &str, bytes: &[u8], gap_ms: u64) -> Self {
        let singles: Vec<[u8; 1]> = bytes.iter().map(|b| [*b]).collect();
        self.connect(c)
            .send_pieces(c, gap_ms, &singles)
            .pause_ms(gap_ms)
            .read_to_close(c, label)
    }

    /// One request on a connection of its own; everything until the server
    /// closes it.
    pub fn request(self, label: impl Into<String>, bytes: impl AsRef<[u8]>) -> Self {
        self.request_as(label, bytes, Reply::Raw)
    }

    /// As [`Exchange::request`], for a reply masked as `reply`.
    pub fn request_as(
        mut self,
        label: impl Into<String>,
        bytes: impl AsRef<[u8]>,
        reply: Reply,
    ) -> Self {
        let c = Conn(self.next_one_shot);
        self.next_one_shot += 1;
        self.connect(c)
            .send(c, bytes)
            .read(c, label, Until::Closed, reply)
    }

    pub fn port_please(self, name: impl AsRef<[u8]>) -> Self {
        let name = name.as_ref();
        self.request(
            format!("PORT2 {}", show_name(name)),
            wire::port_please(name),
        )
    }

    /// NAMES (only in isolated exchanges).
    pub fn names(self, label: impl Into<String>) -> Self {
        self.request_as(label, wire::NAMES, Reply::Names)
    }

    /// DUMP (only in isolated exchanges).
    pub fn dump(self, label: impl Into<String>) -> Self {
        self.request_as(label, wire::DUMP, Reply::Dump)
    }
}

/// A node name for labels: text when it is short UTF-8, else its length.
pub fn show_name(name: &[u8]) -> String {
    match std::str::from_utf8(name) {
        Ok(s) if s.chars().count() <= 24 => format!("{s:?}"),
        _ => format!("<{} bytes>", name.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_numbers_one_shot_connections_and_collects_names() {
        let e = Exchange::new("t/x", "test")
            .register(A, &Alive2::new("foo", 1))
            .port_please("foo")
            .port_please("bar");
        assert_eq!(e.names, [b"foo".to_vec()]);
        let conns: Vec<String> = e
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Connect(c) => Some(c.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(conns, ["A", "#1", "#2"]);
    }

    #[test]
    fn names_in_labels() {
        assert_eq!(show_name(b"foo"), "\"foo\"");
        assert_eq!(show_name(&[0xff]), "<1 bytes>");
        assert_eq!(show_name(&[b'a'; 30]), "<30 bytes>");
    }
}
