//! What the server reports about itself: one typed [`Event`] per thing OTP's
//! epmd would log, handed to an optional [`EventSink`].
//!
//! Events borrow from the server's state and carry data, not text; the sink
//! decides how to render them (the `epmd-rs` binary writes OTP-shaped lines,
//! the BEAM side maps them to logger events).

use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::codec::{otp_names, FrameError, Request, RequestError};
use crate::registry::RegisterError;

/// The requests only a local peer may send (§7), and NAMES when the hardened
/// profile keeps listings local.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalCommand {
    Alive2,
    Names,
    Dump,
    Kill,
    Stop,
}

impl fmt::Display for LocalCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LocalCommand::Alive2 => otp_names::ALIVE2,
            LocalCommand::Names => otp_names::NAMES,
            LocalCommand::Dump => otp_names::DUMP,
            LocalCommand::Kill => otp_names::KILL,
            LocalCommand::Stop => otp_names::STOP,
        })
    }
}

/// Why a connection was closed without a reply before its request was served.
#[derive(Debug, Clone, Copy)]
pub enum DropReason<'a> {
    /// The length prefix or the byte count is wrong (§1).
    Frame(&'a FrameError),
    /// A complete frame that is not a valid request, unknown commands included.
    Request(&'a RequestError),
}

impl fmt::Display for DropReason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::Frame(e) => e.fmt(f),
            DropReason::Request(e) => e.fmt(f),
        }
    }
}

/// Something the server did or refused to do.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A complete, well-formed request arrived (before any policy check).
    Received {
        peer: SocketAddr,
        request: &'a Request,
    },
    /// ALIVE2 succeeded; `creation` is the value sent in the reply.
    Registered {
        name: &'a [u8],
        port: u16,
        creation: u32,
    },
    /// A node's own connection ended its registration (EOF, error or data).
    Unregistered {
        name: &'a [u8],
        port: u16,
        creation: u32,
    },
    /// ALIVE2 for a name that is already live; the client got creation 99.
    NameTaken { name: &'a [u8] },
    /// ALIVE2 refused for a reason other than a live duplicate.
    RegisterRefused {
        name: &'a [u8],
        reason: &'a RegisterError,
    },
    /// The connection was closed without a reply: bad frame or bad request.
    Dropped {
        peer: SocketAddr,
        reason: DropReason<'a>,
    },
    /// The peer closed, or the connection failed, after `got` bytes of an
    /// incomplete request.
    Incomplete { peer: SocketAddr, got: usize },
    /// A remote peer sent a request reserved for local peers.
    RefusedNonLocal {
        peer: SocketAddr,
        command: LocalCommand,
    },
    /// A connection stayed silent longer than the packet timeout.
    Timeout { peer: SocketAddr },
    /// KILL refused: nodes are registered and relaxed mode is off.
    KillRefused,
    /// KILL accepted: the server is about to stop.
    Killed,
    /// STOP served; `registered` says whether the name was live.
    Stopped { name: &'a [u8], registered: bool },
    /// STOP from a local peer without relaxed mode.
    StopRefused { name: &'a [u8] },
    /// `accept()` failed; the server retries.
    AcceptFailed { error: &'a io::Error },
    /// A connection beyond the configured limits, closed at once.
    OverLimit { peer: SocketAddr },
}

/// Receives the server's events. Called from the server's tasks, never while
/// the registry is locked, so it may be slow but should not block for long.
pub trait EventSink: Send + Sync {
    fn event(&self, event: &Event<'_>);
}
