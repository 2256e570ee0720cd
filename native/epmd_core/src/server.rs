//! The EPMD TCP server: accept loops, which answer the requests that are there
//! at accept; a task for each connection that must wait; and the I/O, timers
//! and event reports around each connection's [`Session`].
//!
//! A connection carries one request and is closed after the reply, except an
//! ALIVE2, whose connection holds the registration for as long as it stays open
//! (§1, §4); the session decides which. [`run`] serves until its shutdown
//! future completes or a KILL is accepted, then closes every connection and
//! waits for their tasks.

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::codec::Request;
use crate::config::Config;
use crate::events::Event;
use crate::limits::{Admitted, Limits};
use crate::listen::{Listener, LISTENING};
use crate::registry::{Owner, Registry};
use crate::report;
use crate::session::{Action, Close, Outcome, Session};
use crate::stats::Stats;
use crate::waiting::Waiting;

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
    fn admit(&self, peer: IpAddr) -> Option<Option<Admitted>> {
        self.limits.admit(peer)
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
pub async fn run(
    listeners: Vec<Listener>,
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

/// Serves one listening socket: accepts its connections and answers those
/// whose request is there, and keeps the ones still waiting for it until it
/// comes or their deadline passes.
async fn accept_loop(listener: Listener, ctx: Ctx) {
    let mut waiting = Waiting::new(LISTENING + 1);
    let mut tokens = Vec::new();
    let mut backoff = Duration::from_millis(10);
    let mut retry_at = None;
    // One timer for every waiting connection, set to the earliest deadline.
    // A connection waits from its accept for the same timeout as the others
    // before it, so a later one never needs the timer sooner; it fires, finds
    // what is due (often nothing: most requests come within microseconds) and
    // is set again for what is left.
    let timer = tokio::time::sleep_until(Instant::now());
    tokio::pin!(timer);
    let mut timer_set = false;
    loop {
        if !timer_set {
            if let Some(deadline) = waiting.next_deadline() {
                timer.as_mut().reset(deadline);
                timer_set = true;
            }
        }
        tokio::select! {
            ready = listener.ready(&mut tokens) => {
                if let Err(error) = ready {
                    ctx.shared.emit(Event::AcceptFailed { error: &error });
                    tokio::time::sleep(backoff).await;
                }
                for token in tokens.drain(..) {
                    if token != LISTENING {
                        if let Some((deadline, parked)) = waiting.take(token) {
                            resume(parked, deadline, &ctx, &listener, &mut waiting);
                        }
                    } else if retry_at.is_none() {
                        retry_at = accept(&listener, &ctx, &mut waiting, &mut backoff).await;
                    }
                }
            },
            () = sleep_until(retry_at) => {
                retry_at = None;
                let _ = listener.listen(true);
            },
            () = &mut timer, if timer_set => {
                timer_set = false;
                while let Some(mut parked) = waiting.expired(Instant::now()) {
                    parked.conn.session.timed_out();
                    advance(&mut parked.conn, &mut parked.stream, &ctx);
                }
            },
        }
    }
}

/// Accepts one queued connection and starts it. When accept fails (out of
/// descriptors or similar), the listener is switched off and the time to
/// switch it on again returned: the connections we have keep being served,
/// where OTP 25's epmd exits.
async fn accept(
    listener: &Listener,
    ctx: &Ctx,
    waiting: &mut Waiting<Parked>,
    backoff: &mut Duration,
) -> Option<Instant> {
    match listener.accept() {
        Ok((stream, peer)) => {
            *backoff = Duration::from_millis(10);
            if let Some(delay) = ctx.shared.config.delay_accept {
                tokio::time::sleep(delay).await;
            }
            start(stream, peer, ctx, listener, waiting);
            None
        }
        // Gone before it was accepted.
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        Err(error) => {
            ctx.shared.emit(Event::AcceptFailed { error: &error });
            let _ = listener.listen(false);
            let retry = Instant::now() + *backoff;
            *backoff = (*backoff * 2).min(Duration::from_secs(1));
            Some(retry)
        }
    }
}

/// Sleeps until `deadline`, or for ever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// One connection: its [`Session`] and what the server keeps beside it.
struct Conn {
    session: Session,
    peer: SocketAddr,
    /// Fires when STOP or KILL ends the registration this connection holds.
    evicted: Option<oneshot::Receiver<()>>,
    /// How much of the pending reply is already written.
    written: usize,
    /// Keeps the connection counted against the caps until it ends.
    _admitted: Option<Admitted>,
}

/// A connection accepted before its request arrived, waiting for it in its
/// listener's epoll set.
struct Parked {
    stream: std::net::TcpStream,
    conn: Conn,
}

/// Takes a new connection as far as it goes without waiting: a lookup whose
/// request has arrived (the usual case with one client: it writes while the
/// server wakes) is answered and closed right here, with no task and no
/// reactor registration. Whatever must wait is parked or goes on in a task.
fn start(
    stream: std::net::TcpStream,
    peer: SocketAddr,
    ctx: &Ctx,
    listener: &Listener,
    waiting: &mut Waiting<Parked>,
) {
    let shared = &*ctx.shared;
    // getpeername(), as OTP asks: it fails once the client has reset, and OTP
    // then counts the connection as non-local (§7). The local address is
    // needed only for a peer off loopback.
    let local = match stream.peer_addr() {
        Ok(p) if p.ip().is_loopback() => true,
        Ok(p) => stream.local_addr().is_ok_and(|l| is_local_peer(p, l)),
        Err(_) => false,
    };
    shared.stats.connection_accepted();
    let Some(admitted) = ctx.shared.admit(peer.ip()) else {
        shared.emit(Event::OverLimit { peer });
        return;
    };
    let owner = Owner::Connection {
        fd: stream.as_raw_fd(),
        peer,
    };
    let conn = Conn {
        session: Session::new(shared.config.policy(), local, owner),
        peer,
        evicted: None,
        written: 0,
        _admitted: admitted,
    };
    // The whole request must arrive within the packet timeout of the accept,
    // as from OTP 27 (§6). OTP checks in whole seconds, so it closes between
    // T and T+1 seconds; T+1 keeps every client that OTP would serve.
    let deadline = Instant::now() + shared.config.packet_timeout + Duration::from_secs(1);
    resume(Parked { stream, conn }, deadline, ctx, listener, waiting);
}

/// Takes a connection as far as it goes without waiting, then hands it on:
/// one still reading its request waits in the listener's set; the rest (an
/// ALIVE2 to serve and hold, a reply to finish writing) go on in a task.
fn resume(
    mut parked: Parked,
    deadline: Instant,
    ctx: &Ctx,
    listener: &Listener,
    waiting: &mut Waiting<Parked>,
) {
    if !advance(&mut parked.conn, &mut parked.stream, ctx) {
        return;
    }
    if matches!(parked.conn.session.next_action(), Action::Read(_)) {
        match waiting.park(parked, deadline, |p, token| {
            listener.watch(&p.stream, token)
        }) {
            Ok(_) => return,
            Err(refused) => parked = refused,
        }
    }
    // Nothing is registered yet (ALIVE2 is served by the task), so a
    // connection the reactor cannot take is closed with nothing lost.
    match TcpStream::from_std(parked.stream) {
        Ok(stream) => {
            tokio::spawn(serve(stream, parked.conn, deadline, ctx.clone()));
        }
        Err(error) => ctx.shared.emit(Event::AcceptFailed { error: &error }),
    }
}

/// Carries out the session's actions for as long as none has to wait; false
/// once the connection is finished. Stops before an ALIVE2 is served: its
/// registration belongs to the task that will hold it.
fn advance(conn: &mut Conn, stream: &mut std::net::TcpStream, ctx: &Ctx) -> bool {
    loop {
        match conn.session.next_action() {
            Action::Read(buf) => match stream.read(buf) {
                Ok(0) => conn.session.peer_closed(),
                Ok(n) => conn.session.received(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => conn.session.peer_closed(),
            },
            Action::Dispatch(Request::Alive2(_)) => return true,
            Action::Send(_) if ctx.shared.config.delay_write.is_some() => return true,
            Action::Send(bytes) => match stream.write(&bytes[conn.written..]) {
                Ok(n) => {
                    conn.written += n;
                    if conn.written == bytes.len() {
                        conn.written = 0;
                        conn.session.sent(true);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    conn.written = 0;
                    conn.session.sent(false);
                }
            },
            Action::Hold => return true,
            Action::Dispatch(_) | Action::Unregister | Action::Close(_) => {
                if !step(conn, ctx) {
                    return false;
                }
            }
        }
    }
}

/// Serves the rest of a connection that had to wait: carries out its
/// session's actions with the socket, the timers and the event reports, until
/// it closes or the server stops.
// An async block rather than an async fn: an async fn moves its arguments into
// locals, and its future keeps room for both copies (rust-lang/rust#62958),
// about 280 bytes for as long as a registration is held.
#[allow(clippy::manual_async_fn)]
fn serve(
    mut stream: TcpStream,
    mut conn: Conn,
    deadline: Instant,
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
                Action::Send(bytes) => {
                    let rest = &bytes[conn.written..];
                    let written =
                        Box::pin(send(&mut stream, &shared.config, &mut closing, rest)).await;
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
fn step(conn: &mut Conn, ctx: &Ctx) -> bool {
    let shared = &*ctx.shared;
    match conn.session.next_action() {
        Action::Dispatch(request) => {
            shared.emit(Event::Received {
                peer: conn.peer,
                request,
            });
            dispatch(conn, shared);
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
        Action::Read(_) | Action::Send(_) | Action::Hold => {}
    }
    true
}

/// Answers [`Action::Dispatch`] and reports what the request did.
fn dispatch(conn: &mut Conn, shared: &Shared) {
    let evicted = &mut conn.evicted;
    let outcome = conn.session.dispatch(&mut shared.registry(), || {
        let (tx, rx) = oneshot::channel::<()>();
        *evicted = Some(rx);
        Box::new(move || {
            let _ = tx.send(());
        })
    });
    report(shared, conn.peer, outcome);
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
) -> bool {
    let write = async {
        if let Some(delay) = config.delay_write {
            tokio::time::sleep(delay).await;
        }
        tokio::time::timeout(config.packet_timeout, stream.write_all(bytes)).await
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
