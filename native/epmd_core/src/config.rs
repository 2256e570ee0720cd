//! The server's settings and their defaults, which are OTP's: the one place
//! that knows EPMD's port and packet timeout.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::events::EventSink;
use crate::session::Policy;

/// EPMD's port when nothing else is configured (§1).
pub const DEFAULT_PORT: u16 = 4369;

/// OTP's default `-packet_timeout` (§6).
pub const DEFAULT_PACKET_TIMEOUT: Duration = Duration::from_secs(60);

/// How long an ALIVE2 waits for its name by default when a connection holds
/// it: a close is delivered within microseconds to milliseconds.
pub const DEFAULT_HANDOVER: Duration = Duration::from_millis(100);

/// How the server behaves; defaults are OTP's.
#[derive(Clone)]
pub struct Config {
    /// The port NAMES and DUMP report: the configured one, as OTP does, even
    /// when the socket came from elsewhere.
    pub port: u32,
    /// Allow STOP, and KILL while nodes are registered (§7).
    pub relaxed: bool,
    /// How long a connection may stay silent before its request is complete.
    pub packet_timeout: Duration,
    /// OTP's `-delay_accept`: a pause before each accepted connection is
    /// served. The accept thread sleeps, as OTP's single loop does; only
    /// replies already handed to tasks go on meanwhile.
    pub delay_accept: Option<Duration>,
    /// OTP's `-delay_write`: a pause before every reply write (§6). OTP writes
    /// NAMES, DUMP and NOEXIST+STOPPED in several pieces and pauses before
    /// each; this server writes every reply in one piece, so it pauses once.
    pub delay_write: Option<Duration>,
    /// How long an ALIVE2 for a name that a connection holds waits for that
    /// connection's close before it is refused. A node that closes its
    /// registration and registers again at once must get its name back, but
    /// the kernel can deliver the new request before the old close (each
    /// CPU has its own queue of loopback packets). OTP's epmd refuses at
    /// once, and so refuses some of these.
    pub handover: Duration,
    /// Where the server reports what it does; `None` costs nothing.
    pub events: Option<Arc<dyn EventSink>>,
    /// The hardened profile (all off by default, as in OTP): answer NAMES
    /// only to local peers, so that scanners learn nothing ...
    pub remote_names: bool,
    /// ... and cap the connections open at once, overall and per peer
    /// address; a connection beyond a cap is closed at once, with no reply.
    pub max_connections: Option<usize>,
    pub max_connections_per_peer: Option<usize>,
}

impl Config {
    pub fn new(port: u32) -> Self {
        Config {
            port,
            relaxed: false,
            packet_timeout: DEFAULT_PACKET_TIMEOUT,
            delay_accept: None,
            delay_write: None,
            handover: DEFAULT_HANDOVER,
            events: None,
            remote_names: true,
            max_connections: None,
            max_connections_per_peer: None,
        }
    }

    /// What each connection's [`Session`](crate::session::Session) needs to know.
    pub fn policy(&self) -> Policy {
        Policy {
            port: self.port,
            relaxed: self.relaxed,
            remote_names: self.remote_names,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("port", &self.port)
            .field("relaxed", &self.relaxed)
            .field("packet_timeout", &self.packet_timeout)
            .field("delay_accept", &self.delay_accept)
            .field("delay_write", &self.delay_write)
            .field("handover", &self.handover)
            .field("events", &self.events.is_some())
            .field("remote_names", &self.remote_names)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_peer", &self.max_connections_per_peer)
            .finish()
    }
}
