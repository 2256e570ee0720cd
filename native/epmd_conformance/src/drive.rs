//! Plays an exchange against one server and records what the client saw:
//! per read, the bytes received and how the connection stood afterwards.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout, timeout_at, Instant};

use crate::script::{show_name, Conn, Exchange, Reply, Step, Until};
use crate::wire;

/// How long a read waits for the server to close. OTP, with
/// `-packet_timeout 1`, closes a silent connection within 3 s.
pub const CLOSE_DEADLINE: Duration = Duration::from_secs(6);
/// How long a read waits for an expected number of bytes.
pub const REPLY_DEADLINE: Duration = Duration::from_secs(3);
/// Silence that counts as "the server keeps the connection open".
pub const QUIET: Duration = Duration::from_millis(300);
/// How long an unregistration may take to show in NAMES.
pub const GONE_DEADLINE: Duration = Duration::from_secs(5);
const CONNECT_DEADLINE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(20);

/// How a connection stood after a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Open,
    /// The server closed it (FIN).
    Closed,
    /// The server reset it; OTP closes with plain close(), which Linux turns
    /// into a reset when client data is left unread.
    Reset,
    Failed(io::ErrorKind),
    /// The script read a connection it never opened or already closed.
    NotConnected,
}

/// One thing the client observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    Read {
        conn: Conn,
        bytes: Vec<u8>,
        end: End,
        reply: Reply,
    },
    /// Whether a name left the NAMES listing within [`GONE_DEADLINE`].
    Gone(bool),
    ConnectFailed(io::ErrorKind),
}

/// An observation with the step that made it; cleanup observations come
/// after the last step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub step: usize,
    pub label: String,
    pub observed: Observed,
}

/// Everything observed while playing one exchange against one server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    pub entries: Vec<Entry>,
}

/// Plays `exchange` against `server`, then closes its connections and waits
/// until the server no longer lists the names it registered.
pub async fn drive(server: SocketAddr, exchange: &Exchange) -> Transcript {
    let mut conns: HashMap<Conn, TcpStream> = HashMap::new();
    let mut entries = Vec::new();
    for (step, action) in exchange.steps.iter().enumerate() {
        match action {
            Step::Connect(c) => match connect(server).await {
                Ok(s) => {
                    conns.insert(*c, s);
                }
                Err(kind) => entries.push(Entry {
                    step,
                    label: format!("connect {c}"),
                    observed: Observed::ConnectFailed(kind),
                }),
            },
            Step::Send(c, bytes) => {
                // A write fails once the server has reset the connection;
                // the next read shows what the server did.
                if let Some(s) = conns.get_mut(c) {
                    let _ = s.write_all(bytes).await;
                }
            }
            Step::Pause(d) => sleep(*d).await,
            Step::Read {
                conn,
                label,
                until,
                reply,
            } => {
                let (bytes, end) = match conns.get_mut(conn) {
                    Some(s) => read(s, *until).await,
                    None => (Vec::new(), End::NotConnected),
                };
                entries.push(Entry {
                    step,
                    label: format!("{conn}: {label}"),
                    observed: Observed::Read {
                        conn: *conn,
                        bytes,
                        end,
                        reply: reply.clone(),
                    },
                });
            }
            Step::Shutdown(c) => {
                if let Some(s) = conns.get_mut(c) {
                    let _ = s.shutdown().await;
                }
            }
            Step::Close(c) => {
                conns.remove(c);
            }
            Step::Reset(c) => {
                if let Some(s) = conns.remove(c) {
                    let _ = s.set_zero_linger();
                }
            }
            Step::WaitGone(name) => entries.push(Entry {
                step,
                label: format!("{} unregistered", show_name(name)),
                observed: Observed::Gone(wait_gone(server, name).await),
            }),
        }
    }
    drop(conns);
    let cleanup = exchange.steps.len();
    for name in &exchange.names {
        entries.push(Entry {
            step: cleanup,
            label: format!("cleanup: {} unregistered", show_name(name)),
            observed: Observed::Gone(wait_gone(server, name).await),
        });
    }
    Transcript { entries }
}

async fn connect(server: SocketAddr) -> Result<TcpStream, io::ErrorKind> {
    match timeout(CONNECT_DEADLINE, TcpStream::connect(server)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(e.kind()),
        Err(_) => Err(io::ErrorKind::TimedOut),
    }
}

async fn read(s: &mut TcpStream, until: Until) -> (Vec<u8>, End) {
    let deadline = Instant::now()
        + match until {
            Until::Bytes(_) => REPLY_DEADLINE,
            Until::Closed | Until::Quiet => CLOSE_DEADLINE,
        };
    let mut out = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        if matches!(until, Until::Bytes(n) if out.len() >= n) {
            return (out, End::Open);
        }
        let wait = match until {
            Until::Quiet => deadline.min(Instant::now() + QUIET),
            Until::Closed | Until::Bytes(_) => deadline,
        };
        match timeout_at(wait, s.read(&mut buf)).await {
            Err(_) => return (out, End::Open),
            Ok(Ok(0)) => return (out, End::Closed),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionReset => return (out, End::Reset),
            Ok(Err(e)) => return (out, End::Failed(e.kind())),
        }
    }
}

/// One NAMES request: the listing after its 4-byte header.
pub async fn names(server: SocketAddr) -> io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(server).await?;
    s.write_all(wire::NAMES).await?;
    let (reply, end) = read(&mut s, Until::Closed).await;
    match (end, reply.get(4..)) {
        (End::Closed, Some(text)) => Ok(text.to_vec()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("NAMES reply {reply:02x?} then {end:?}"),
        )),
    }
}

/// Whether a NAMES listing has a line for `name`.
pub fn lists(text: &[u8], name: &[u8]) -> bool {
    let mut line = b"name ".to_vec();
    line.extend_from_slice(name);
    line.extend_from_slice(b" at port ");
    text.split(|&b| b == b'\n').any(|l| l.starts_with(&line))
}

async fn wait_gone(server: SocketAddr, name: &[u8]) -> bool {
    let end = Instant::now() + GONE_DEADLINE;
    loop {
        if matches!(names(server).await, Ok(text) if !lists(&text, name)) {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_lines_match_whole_names() {
        let text = b"name foo bar at port 1\nname  at port 2\n";
        assert!(lists(text, b"foo bar"));
        assert!(!lists(text, b"foo"));
        assert!(lists(text, b""));
        assert!(!lists(b"", b""));
    }
}
