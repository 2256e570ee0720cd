//! The EPMD TCP server: [`run`] with the accept thread it starts (in
//! `accept.rs`, which answers requests and holds registrations), the task for
//! each connection whose reply must wait, and what both share: a session's
//! steps that need no I/O, dispatch with its evict hook, and the events.
//!
//! A connection carries one request and is closed after the reply, except an
//! ALIVE2, whose connection holds the registration for as long as it stays open
//! (§1, §4); the session decides which. [`run`] serves until its shutdown
//! future completes or a KILL is accepted, then closes every connection and
//! waits for their tasks.

use std::future::Future;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, watch};

use crate::codec::Request;
use crate::config::Config;
use crate::events::Event;
use crate::limits::{Admitted, Limits};
use crate::listen::Listeners;
use crate::registry::{Owner, Registry};
use crate::reply;
use crate::report;
use crate::session::{Action, Close, Outcome, Session};
use crate::stats::Stats;

/// State shared by the server's tasks and by in-process callers (the NIF).
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    pub stats: Stats,
    registry: Mutex<Registry>,
    /// The caps on open connections, and what they count.
    limits: Arc<Limits>,
}

/// Poisoning is ignored: every critical section here completes its update
/// before anything can panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub fn new(config: Config, registry: Registry) -> Self {
        Shared {
            stats: Stats::default(),
            limits: Arc::new(Limits::new(
                config.max_connections,
                config.max_connections_per_peer,
            )),
            config,
            registry: Mutex::new(registry),
        }
    }

    /// Counts a new connection from `peer` against the caps (see [`Limits`]).
    pub(crate) fn admit(&self, peer: IpAddr) -> Option<Option<Admitted>> {
        self.limits.admit(peer)
    }

    /// Counts `event` and hands it to the configured sink.
    pub(crate) fn emit(&self, event: Event<'_>) {
        self.stats.record(&event);
        if let Some(sink) = &self.config.events {
            sink.event(&event);
        }
    }

    /// Locks the registry. A panic while it was held cannot leave it half
    /// updated (every mutation completes before it can panic), so poisoning is
    /// ignored rather than taking the whole server down.
    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        lock(&self.registry)
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
/// The listening sockets are served by a thread of their own (`accept.rs`),
/// replies that must wait by tasks on the current runtime. A panic of the
/// accept thread ends the server and is raised here.
pub async fn run(
    listeners: Listeners,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()>,
) -> Exit {
    let (closing_tx, closing_rx) = watch::channel(false);
    let (kill_tx, mut kill_rx) = mpsc::channel::<()>(1);
    // Every connection task and the accept thread hold a clone; recv() yields
    // None once all are gone.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let (evictions, evicted) = Evictions::new().expect("cannot make the eviction socket");
    let ctx = Ctx {
        shared: shared.clone(),
        closing: closing_rx,
        kill: kill_tx,
        evictions: Arc::new(evictions),
        _done: done_tx,
    };
    // Dropping `stop` closes its other end, which the accept thread watches.
    let (stop, stopped) = UnixStream::pair().expect("cannot make the accept thread's stop socket");
    let (ended_tx, mut ended) = oneshot::channel();
    let runtime = Handle::current();
    std::thread::Builder::new()
        .name("epmd_accept".into())
        .spawn(move || {
            // Connections that must wait become the runtime's tasks.
            let _entered = runtime.enter();
            let ran = panic::catch_unwind(AssertUnwindSafe(|| {
                crate::accept::run(listeners, stopped, evicted, ctx)
            }));
            let _ = ended_tx.send(ran);
        })
        .expect("cannot start the accept thread");

    let exit = tokio::select! {
        _ = shutdown => Exit::Shutdown,
        Some(()) = kill_rx.recv() => Exit::Killed,
        Ok(Err(panicked)) = &mut ended => panic::resume_unwind(panicked),
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
    drop(stop);
    if let Ok(Err(panicked)) = ended.await {
        panic::resume_unwind(panicked);
    }
    let _ = closing_tx.send(true);
    let _ = done_rx.recv().await;
    exit
}

/// What each connection task needs; cloning it counts the task as running.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) shared: Arc<Shared>,
    closing: watch::Receiver<bool>,
    kill: mpsc::Sender<()>,
    pub(crate) evictions: Arc<Evictions>,
    _done: mpsc::Sender<()>,
}

/// The registrations that STOP or KILL ended, by their connection's token,
/// for the accept thread to close the connections it holds among them; and
/// a socket to wake it, written when the list stops being empty.
pub(crate) struct Evictions {
    tokens: Mutex<Vec<u64>>,
    wake: UnixStream,
}

impl Evictions {
    /// The list, and the other end of its wake-up socket.
    fn new() -> io::Result<(Self, UnixStream)> {
        let (wake, woken) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        woken.set_nonblocking(true)?;
        let tokens = Mutex::new(Vec::new());
        Ok((Evictions { tokens, wake }, woken))
    }

    fn push(&self, token: u64) {
        let mut tokens = lock(&self.tokens);
        if tokens.is_empty() {
            // One byte per batch; the thread drains it before taking the list.
            let _ = (&self.wake).write(&[0]);
        }
        tokens.push(token);
    }

    pub(crate) fn take(&self) -> Vec<u64> {
        std::mem::take(&mut *lock(&self.tokens))
    }
}

/// One connection: its [`Session`] and what the server keeps beside it.
pub(crate) struct Conn {
    pub(crate) session: Session,
    pub(crate) peer: SocketAddr,
    /// Its token in the accept thread's epoll set, whether it waits there or not.
    pub(crate) token: u64,
    /// Fires when STOP or KILL ends the registration this connection holds.
    pub(crate) evicted: Option<oneshot::Receiver<()>>,
    /// How much of the pending reply is already written.
    pub(crate) written: usize,
    /// Keeps the connection counted against the caps until it ends.
    pub(crate) _admitted: Option<Admitted>,
}

/// Serves the rest of a connection that had to wait: carries out its
/// session's actions with the socket, the timers and the event reports, until
/// it closes or the server stops.
// An async block rather than an async fn: an async fn moves its arguments into
// locals, and its future keeps room for both copies (rust-lang/rust#62958),
// about 280 bytes for as long as a registration is held.
#[allow(clippy::manual_async_fn)]
pub(crate) fn serve(
    mut stream: TcpStream,
    mut conn: Conn,
    deadline: tokio::time::Instant,
    ctx: Ctx,
) -> impl Future<Output = ()> {
    async move {
        let shared = &*ctx.shared;
        let mut closing = ctx.closing.clone();
        loop {
            match conn.session.next_action() {
                Action::Read(buf) => {
                    // Boxed, as is the write below: the task keeps the room of
                    // its largest wait for as long as it lives, and a held
                    // registration should pay only for its own.
                    let read = Box::pin(async {
                        tokio::select! {
                            r = tokio::time::timeout_at(deadline, stream.read(buf)) => Some(r),
                            _ = closing.wait_for(|c| *c) => None,
                        }
                    });
                    match read.await {
                        None => return,
                        Some(Ok(Ok(n))) if n > 0 => conn.session.received(n),
                        Some(Ok(_)) => conn.session.peer_closed(),
                        Some(Err(_)) => conn.session.timed_out(),
                    }
                }
                Action::Send { bytes, last } => {
                    let rest = &bytes[conn.written..];
                    let written =
                        Box::pin(send(&mut stream, &shared.config, &mut closing, rest, last)).await;
                    conn.written = 0;
                    conn.session.sent(written);
                }
                Action::Hold => {
                    hold(&mut stream, conn.evicted.take(), &mut closing).await;
                    conn.session.hold_ended();
                }
                Action::Dispatch(_) | Action::Unregister | Action::Close(_) => {
                    if !step(&mut conn, &ctx) {
                        return;
                    }
                }
            }
        }
    }
}

/// Carries out an action that needs no I/O, the same way on both paths:
/// dispatches the request, ends the registration, or closes. False once the
/// connection is finished.
pub(crate) fn step(conn: &mut Conn, ctx: &Ctx) -> bool {
    let shared = &*ctx.shared;
    match conn.session.next_action() {
        Action::Dispatch(request) => {
            shared.emit(Event::Received {
                peer: conn.peer,
                request,
            });
            dispatch(conn, ctx);
        }
        Action::Unregister => {
            // Dropped outside the lock: the hook may own resources of its own.
            let removed = conn.session.unregister(&mut shared.registry());
            // None: STOP or KILL ended it first and reported it.
            if let Some(r) = &removed {
                shared.emit(Event::Unregistered {
                    name: &r.node.name,
                    port: r.node.port,
                    creation: r.reply_creation(),
                });
            }
            drop(removed);
        }
        Action::Close(close) => {
            finish(ctx, conn.peer, close);
            return false;
        }
        Action::Read(_) | Action::Send { .. } | Action::Hold => {}
    }
    true
}

/// Answers [`Action::Dispatch`] and reports what the request did.
fn dispatch(conn: &mut Conn, ctx: &Ctx) {
    let shared = &*ctx.shared;
    if let Action::Dispatch(Request::Alive2(node)) = conn.session.next_action() {
        let name = node.name.clone();
        release_if_left(shared, &name);
    }
    let evicted = &mut conn.evicted;
    let token = conn.token;
    let outcome = conn.session.dispatch(&mut shared.registry(), || {
        // Whoever holds the connection by then hears of it: a task by the
        // channel, the accept thread by the list.
        let (tx, rx) = oneshot::channel::<()>();
        *evicted = Some(rx);
        let evictions = ctx.evictions.clone();
        Box::new(move || {
            let _ = tx.send(());
            evictions.push(token);
        })
    });
    report(shared, conn.peer, outcome);
}

/// Ends the registration of `name` if its node has closed its connection
/// already. Its holder ends it when the close is reported, but the ALIVE2 of
/// a node restarting under the same name can come first in the same report,
/// and must find the name free (OTP's epmd refuses it now and then, by the
/// order in which it happens to read).
fn release_if_left(shared: &Shared, name: &[u8]) {
    let removed = {
        let mut registry = shared.registry();
        match registry.owner(name) {
            // A holder ends its registration before it closes the socket, so
            // while the registration is live `fd` is still that socket.
            Some(Owner::Connection { fd, .. }) if peer_left(*fd) => registry.remove(name),
            _ => None,
        }
    };
    if let Some(mut r) = removed {
        shared.emit(Event::Unregistered {
            name: &r.node.name,
            port: r.node.port,
            creation: r.reply_creation(),
        });
        // Its task ends as after a STOP, finding nothing left to unregister.
        if let Some(evict) = r.take_evict() {
            evict();
        }
    }
}

/// Whether `name` is held by a connection whose node has not, as far as the
/// kernel has told, left.
pub(crate) fn held_by_live_connection(shared: &Shared, name: &[u8]) -> bool {
    matches!(
        shared.registry().owner(name),
        Some(Owner::Connection { fd, .. }) if !peer_left(*fd)
    )
}

/// True when the peer of socket `fd` has closed or reset it; reads nothing.
fn peer_left(fd: RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: `fd` is an open socket and the buffer holds the one byte asked
    // for; MSG_PEEK leaves it in the socket.
    let n = unsafe {
        libc::recv(
            fd,
            (&raw mut byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match n {
        0 => true,
        -1 => !matches!(
            io::Error::last_os_error().kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
        ),
        _ => false,
    }
}

/// Reports why a connection closes, and stops the server after a KILL.
fn finish(ctx: &Ctx, peer: SocketAddr, close: &Close) {
    if report_close(&ctx.shared, peer, close) {
        let _ = ctx.kill.try_send(());
    }
}

/// Reports what a dispatched request did, after the registry's lock is
/// released; runs the evict hook of a registration STOP removed.
fn report(shared: &Shared, peer: SocketAddr, outcome: Outcome) {
    if let Some(event) = report::outcome_event(peer, &outcome) {
        shared.emit(event);
    }
    if let Outcome::Stopped {
        removed: Some(mut registration),
        ..
    } = outcome
    {
        if let Some(evict) = registration.take_evict() {
            evict();
        }
    }
}

/// Reports why a connection closes; true when the server must stop (KILL).
fn report_close(shared: &Shared, peer: SocketAddr, close: &Close) -> bool {
    if let Some(event) = report::close_event(peer, close) {
        shared.emit(event);
    }
    matches!(close, Close::Kill)
}

/// Writes a reply in one piece, after the `-delay_write` pause. A peer that
/// does not read gets as long as the packet timeout, and no longer than the
/// server runs.
async fn send(
    stream: &mut TcpStream,
    config: &Config,
    closing: &mut watch::Receiver<bool>,
    bytes: &[u8],
    last: bool,
) -> bool {
    let write = async {
        if let Some(delay) = config.delay_write {
            tokio::time::sleep(delay).await;
        }
        let write = reply::write_all(stream, bytes, last);
        tokio::time::timeout(config.packet_timeout, write).await
    };
    tokio::select! {
        r = write => matches!(r, Ok(Ok(()))),
        _ = closing.wait_for(|c| *c) => false,
    }
}

/// Waits until a registration ends: any data, EOF or error from the peer,
/// eviction by STOP/KILL, or server shutdown (§3.1 step 10).
async fn hold(
    stream: &mut TcpStream,
    evicted: Option<oneshot::Receiver<()>>,
    closing: &mut watch::Receiver<bool>,
) {
    let evicted = async {
        let sent = match evicted {
            Some(rx) => rx.await.is_ok(),
            None => false,
        };
        // A dropped hook (failed registration) is not an eviction.
        if !sent {
            std::future::pending::<()>().await;
        }
    };
    let mut byte = [0u8; 1];
    tokio::select! {
        _ = stream.read(&mut byte) => {}
        _ = evicted => {}
        _ = closing.wait_for(|c| *c) => {}
    }
}
