//! The EPMD TCP server: accept loops, one task per connection, OTP's policy.
//!
//! A connection carries one request and is closed after the reply, except an
//! ALIVE2, whose connection holds the registration for as long as it stays open
//! (§1, §4). [`run`] serves until its shutdown future completes or a KILL is
//! accepted, then closes every connection and waits for their tasks.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

use crate::codec::{self, Alive2Reply, FrameError, Request, RequestError};
use crate::events::{DropReason, Event, EventSink, LocalCommand};
use crate::registry::{creation_for_reply, Evict, Owner, RegisterError, Registry};
use crate::stats::Stats;

/// OTP's default `-packet_timeout`, in seconds.
pub const DEFAULT_PACKET_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// served. OTP's single loop stalls every connection meanwhile; here only
    /// the listener that accepted waits.
    pub delay_accept: Option<Duration>,
    /// OTP's `-delay_write`: a pause before every reply write (§6). OTP writes
    /// NAMES, DUMP and NOEXIST+STOPPED in several pieces and pauses before
    /// each; this server writes every reply in one piece, so it pauses once.
    pub delay_write: Option<Duration>,
    /// Where the server reports what it does; `None` costs nothing.
    pub events: Option<Arc<dyn EventSink>>,
}

impl Config {
    pub fn new(port: u32) -> Self {
        Config {
            port,
            relaxed: false,
            packet_timeout: DEFAULT_PACKET_TIMEOUT,
            delay_accept: None,
            delay_write: None,
            events: None,
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
            .field("events", &self.events.is_some())
            .finish()
    }
}

/// State shared by the server's tasks and by in-process callers (the NIF).
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    pub stats: Stats,
    registry: Mutex<Registry>,
}

impl Shared {
    pub fn new(config: Config, registry: Registry) -> Self {
        Shared {
            config,
            stats: Stats::default(),
            registry: Mutex::new(registry),
        }
    }

    /// Counts `event` and hands it to the configured sink.
    fn emit(&self, event: Event<'_>) {
        self.stats.record(&event);
        if let Some(sink) = &self.config.events {
            sink.event(&event);
        }
    }

    /// Locks the registry. A panic while it was held cannot leave it half
    /// updated (every mutation completes before it can panic), so poisoning is
    /// ignored rather than taking the whole server down.
    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Why [`run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The shutdown future completed.
    Shutdown,
    /// A local client sent an accepted KILL.
    Killed,
}

/// A connection is local when its peer is on loopback or is this host's own
/// address on the accepting socket (§7).
pub fn is_local_peer(peer: SocketAddr, local: SocketAddr) -> bool {
    match peer.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => true,
        IpAddr::V6(ip) if ip.is_loopback() => true,
        ip => ip == local.ip(),
    }
}

/// Serves EPMD on `listeners` until `shutdown` completes or a KILL is accepted.
pub async fn run(
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()>,
) -> Exit {
    let (closing_tx, closing_rx) = watch::channel(false);
    let (kill_tx, mut kill_rx) = mpsc::channel::<()>(1);
    // Every connection task holds a clone; recv() yields None once all are gone.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let ctx = Ctx {
        shared: shared.clone(),
        closing: closing_rx,
        kill: kill_tx,
        _done: done_tx,
    };
    let accepts: Vec<_> = listeners
        .into_iter()
        .map(|l| tokio::spawn(accept_loop(l, ctx.clone())))
        .collect();
    drop(ctx);

    let exit = tokio::select! {
        _ = shutdown => Exit::Shutdown,
        // None (no listeners, so no sender) is not a KILL.
        Some(()) = kill_rx.recv() => Exit::Killed,
    };
    if exit == Exit::Killed {
        // KILL ends every registration, in-process ones included (§3.5).
        let removed = shared.registry().remove_all();
        for mut reg in removed {
            if let Some(evict) = reg.take_evict() {
                evict();
            }
        }
    }
    for a in &accepts {
        a.abort();
    }
    for a in accepts {
        let _ = a.await;
    }
    let _ = closing_tx.send(true);
    let _ = done_rx.recv().await;
    exit
}

/// What each connection task needs; cloning it counts the task as running.
#[derive(Clone)]
struct Ctx {
    shared: Arc<Shared>,
    closing: watch::Receiver<bool>,
    kill: mpsc::Sender<()>,
    _done: mpsc::Sender<()>,
}

async fn accept_loop(listener: TcpListener, ctx: Ctx) {
    let mut backoff = Duration::from_millis(10);
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(10);
                if let Some(delay) = ctx.shared.config.delay_accept {
                    tokio::time::sleep(delay).await;
                }
                // getpeername(), as OTP asks: it fails once the client has
                // reset, and OTP then counts the connection as non-local (§7).
                let local = match (stream.peer_addr(), stream.local_addr()) {
                    (Ok(p), Ok(l)) => is_local_peer(p, l),
                    _ => false,
                };
                ctx.shared.stats.connection_accepted();
                tokio::spawn(Connection::new(stream, peer, local, ctx.clone()).serve());
            }
            // Out of descriptors or similar: keep serving the connections we
            // have and retry, where OTP 25's epmd exits.
            Err(error) => {
                ctx.shared.emit(Event::AcceptFailed { error: &error });
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Why a connection is closed before its request is served (§1, §4).
enum Unserved {
    /// EOF or a read error after this many bytes.
    Incomplete(usize),
    Timeout,
    Frame(FrameError),
    Request(RequestError),
}

/// The local-only command a request is, if it is one (§7).
fn local_only(request: &Request) -> Option<LocalCommand> {
    match request {
        Request::Alive2(_) => Some(LocalCommand::Alive2),
        Request::Dump => Some(LocalCommand::Dump),
        Request::Kill => Some(LocalCommand::Kill),
        Request::Stop { .. } => Some(LocalCommand::Stop),
        Request::PortPlease2 { .. } | Request::Names => None,
    }
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    local: bool,
    ctx: Ctx,
}

impl Connection {
    fn new(stream: TcpStream, peer: SocketAddr, local: bool, ctx: Ctx) -> Self {
        Connection {
            stream,
            peer,
            local,
            ctx,
        }
    }

    async fn serve(mut self) {
        let mut closing = self.ctx.closing.clone();
        let request = tokio::select! {
            r = self.read_request() => r,
            _ = closing.wait_for(|c| *c) => return,
        };
        match request {
            Ok(request) => self.dispatch(request).await,
            Err(why) => self.report_unserved(&why),
        }
    }

    fn report_unserved(&self, why: &Unserved) {
        let peer = self.peer;
        self.ctx.shared.emit(match why {
            Unserved::Incomplete(got) => Event::Incomplete { peer, got: *got },
            Unserved::Timeout => Event::Timeout { peer },
            Unserved::Frame(e) => Event::Dropped {
                peer,
                reason: DropReason::Frame(e),
            },
            Unserved::Request(e) => Event::Dropped {
                peer,
                reason: DropReason::Request(e),
            },
        });
    }

    /// Reads one framed request. An error closes the connection without a
    /// reply: EOF, error, silence beyond the packet timeout, or a bad frame.
    async fn read_request(&mut self) -> Result<Request, Unserved> {
        // OTP checks in whole seconds (closes when last_read + T < now), so a
        // connection survives between T and T+1 seconds of silence; T+1 keeps
        // every client that OTP would serve.
        let limit = self.ctx.shared.config.packet_timeout + Duration::from_secs(1);
        // On the heap, and only while reading: a connection task that holds a
        // registration keeps none of it.
        let mut buf = Vec::new();
        loop {
            let got = buf.len();
            buf.resize(got + codec::next_read_len(&buf), 0);
            let read = tokio::time::timeout(limit, self.stream.read(&mut buf[got..])).await;
            let n = match read {
                Ok(Ok(n)) if n > 0 => n,
                Ok(_) => return Err(Unserved::Incomplete(got)),
                Err(_) => return Err(Unserved::Timeout),
            };
            buf.truncate(got + n);
            match codec::check_frame(&buf) {
                Ok(None) => continue,
                Ok(Some(body)) => return codec::parse_request(body).map_err(Unserved::Request),
                Err(e) => return Err(Unserved::Frame(e)),
            }
        }
    }

    async fn dispatch(mut self, request: Request) {
        let shared = self.ctx.shared.clone();
        let config = &shared.config;
        let peer = self.peer;
        shared.emit(Event::Received {
            peer,
            request: &request,
        });
        if let Some(command) = local_only(&request).filter(|_| !self.local) {
            shared.emit(Event::RefusedNonLocal { peer, command });
            return;
        }
        let reply = match request {
            Request::Alive2(node) => return self.register(node).await,
            Request::PortPlease2 { name } => {
                codec::encode_port2_reply(shared.registry().lookup(&name))
            }
            Request::Names => names_reply(&shared),
            Request::Dump => dump_reply(&shared),
            Request::Kill => return self.kill().await,
            Request::Stop { name } if config.relaxed => stop_reply(&shared, &name),
            Request::Stop { name } => {
                shared.emit(Event::StopRefused { name: &name });
                return;
            }
        };
        self.send(&reply).await;
    }

    /// Writes a reply in one piece, after the `-delay_write` pause. A peer
    /// that does not read gets as long as the packet timeout, and no longer
    /// than the server runs.
    async fn send(&mut self, bytes: &[u8]) -> bool {
        let config = &self.ctx.shared.config;
        let (delay, limit) = (config.delay_write, config.packet_timeout);
        let mut closing = self.ctx.closing.clone();
        let write = async {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            tokio::time::timeout(limit, self.stream.write_all(bytes)).await
        };
        tokio::select! {
            r = write => matches!(r, Ok(Ok(()))),
            _ = closing.wait_for(|c| *c) => false,
        }
    }

    async fn register(mut self, node: codec::NodeInfo) {
        let name = node.name.clone();
        let port = node.port;
        let extended = node.highest_version >= 6;
        let (evicted_tx, evicted_rx) = oneshot::channel::<()>();
        let evict: Evict = Box::new(move || {
            let _ = evicted_tx.send(());
        });
        let owner = Owner::Connection {
            fd: raw_fd(&self.stream),
            peer: self.peer,
        };
        let registered = self
            .ctx
            .shared
            .registry()
            .register(node, owner, Some(evict));
        let shared = &self.ctx.shared;
        match &registered {
            Ok((_, counter)) => shared.emit(Event::Registered {
                name: &name,
                port,
                creation: creation_for_reply(*counter, extended),
            }),
            Err(RegisterError::NameTaken) => shared.emit(Event::NameTaken { name: &name }),
            Err(reason) => shared.emit(Event::RegisterRefused {
                name: &name,
                reason,
            }),
        }
        let reply = Alive2Reply {
            extended,
            ok: registered.is_ok(),
            creation: registered
                .as_ref()
                .map_or(codec::FAILED_CREATION, |&(_, c)| {
                    creation_for_reply(c, extended)
                }),
        };
        let written = self.send(&reply.encode()).await;
        // A failed registration keeps its socket open too, until the peer acts.
        if written {
            self.hold(evicted_rx).await;
        }
        if let Ok((id, counter)) = registered {
            // Dropped outside the lock: the hook may own resources of its own.
            let removed = self.ctx.shared.registry().unregister(&name, id);
            // None: STOP or KILL ended it first and reported it.
            if removed.is_some() {
                self.ctx.shared.emit(Event::Unregistered {
                    name: &name,
                    port,
                    creation: creation_for_reply(counter, extended),
                });
            }
            drop(removed);
        }
    }

    /// Waits until the registration ends: any data, EOF or error from the peer,
    /// eviction by STOP/KILL, or server shutdown (§3.1 step 10).
    async fn hold(&mut self, evicted: oneshot::Receiver<()>) {
        let mut closing = self.ctx.closing.clone();
        let mut byte = [0u8; 1];
        tokio::select! {
            _ = self.stream.read(&mut byte) => {}
            // A dropped hook (failed registration) is not an eviction.
            Ok(()) = evicted => {}
            _ = closing.wait_for(|c| *c) => {}
        }
    }

    async fn kill(mut self) {
        let shared = &self.ctx.shared;
        let accepted = shared.config.relaxed || shared.registry().is_empty();
        if !accepted {
            shared.emit(Event::KillRefused);
            self.send(codec::KILL_REFUSED).await;
            return;
        }
        self.send(codec::KILL_OK).await;
        self.ctx.shared.emit(Event::Killed);
        let _ = self.ctx.kill.try_send(());
    }
}

fn names_reply(shared: &Shared) -> Vec<u8> {
    let registry = shared.registry();
    let mut out = Vec::with_capacity(4 + registry.len() * 32);
    out.extend_from_slice(&codec::encode_port_header(shared.config.port));
    for r in registry.iter() {
        codec::encode_names_line(&mut out, &r.node.name, r.node.port);
    }
    out
}

fn dump_reply(shared: &Shared) -> Vec<u8> {
    let registry = shared.registry();
    let mut out = codec::encode_port_header(shared.config.port).to_vec();
    for r in registry.iter() {
        codec::encode_dump_active_line(&mut out, &r.node.name, r.node.port, r.owner.fd());
    }
    for (name, port, fd) in registry.retired() {
        codec::encode_dump_old_line(&mut out, name, port, fd);
    }
    out
}

fn stop_reply(shared: &Shared, name: &[u8]) -> Vec<u8> {
    let removed = shared.registry().remove(name);
    shared.emit(Event::Stopped {
        name,
        registered: removed.is_some(),
    });
    match removed {
        Some(mut reg) => {
            if let Some(evict) = reg.take_evict() {
                evict();
            }
            codec::STOPPED.to_vec()
        }
        None => [codec::NOEXIST, codec::STOPPED].concat(),
    }
}

#[cfg(unix)]
fn raw_fd(stream: &TcpStream) -> i32 {
    use std::os::fd::AsRawFd;
    stream.as_raw_fd()
}

#[cfg(not(unix))]
fn raw_fd(_: &TcpStream) -> i32 {
    -1
}
