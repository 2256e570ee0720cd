//! The accept thread: serves the listening sockets, blocked in one
//! `epoll_wait` between reports as OTP's epmd is in `select`. It accepts
//! connections, answers those whose request is there, keeps the ones still
//! waiting for it until it comes or their deadline passes, and holds the
//! registrations they make, all in the listeners' epoll set. Only a reply the
//! socket will not take at once and `-delay_write` go on in a task (see
//! [`crate::server`]): a request costs no wake-up of the runtime's thread,
//! which on a virtual machine costs more than the request itself. While
//! clients overlap, the kernel is asked to hand connections over only with
//! their request (see [`crate::deferral`]).

use std::io::{self, Read};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::codec::Request;
use crate::deferral::Deferral;
use crate::events::Event;
use crate::listen::{self, Listeners, FIRST_FREE};
use crate::registry::Owner;
use crate::reply;
use crate::server::{held_by_live_connection, is_local_peer, serve, step, Conn, Ctx};
use crate::session::{Action, Session};
use crate::waiting::Waiting;

/// The thread's own tokens: its stop socket, and the eviction list's.
const STOP: u64 = FIRST_FREE;
const EVICTED: u64 = FIRST_FREE + 1;

/// Serves `listeners` until `stop` reports (its other end was dropped), then
/// ends the registrations it holds. `evicted` is the other end of
/// `ctx.evictions`'s wake-up socket.
pub(crate) fn run(listeners: Listeners, stop: UnixStream, evicted: UnixStream, ctx: Ctx) {
    for (socket, token) in [(&stop, STOP), (&evicted, EVICTED)] {
        listeners
            .watch(socket, token)
            .expect("cannot watch the accept thread's own sockets");
    }
    let mut acceptor = Acceptor {
        listeners,
        ctx,
        waiting: Waiting::new(EVICTED + 1),
        deferred: Vec::new(),
        released: false,
        backoff: Duration::from_millis(10),
        retry_at: None,
        deferral: Deferral::default(),
        awaited: None,
    };
    let mut tokens = Vec::new();
    loop {
        acceptor.wait(&mut tokens);
        for token in tokens.drain(..) {
            match token {
                STOP => return acceptor.stop(),
                EVICTED => acceptor.evicted(&evicted),
                token => acceptor.reported(token),
            }
        }
        acceptor.tick();
    }
}

struct Acceptor {
    listeners: Listeners,
    ctx: Ctx,
    waiting: Waiting<Parked>,
    /// The tokens of ALIVE2s held back for a name whose holder may be leaving.
    deferred: Vec<u64>,
    /// A registration held here ended since they were last tried.
    released: bool,
    backoff: Duration,
    /// When to switch the listeners back on after accept failed.
    retry_at: Option<Instant>,
    deferral: Deferral,
    /// The connection accepted last, if its request had not come yet, until
    /// it reports: the next connection, accepted meanwhile, overlaps it.
    awaited: Option<u64>,
}

/// A connection the accept thread carries: waiting in its epoll set for its
/// request, holding a registration, or holding back an ALIVE2.
struct Parked {
    stream: std::net::TcpStream,
    conn: Conn,
    /// When the whole request must be there.
    deadline: Instant,
    /// When an ALIVE2 held back for its name stops waiting.
    handover: Option<Instant>,
}

impl Acceptor {
    /// Waits for reports until the earliest deadline, if there is one.
    fn wait(&mut self, tokens: &mut Vec<u64>) {
        // A connection waits from its accept for the same timeout as the
        // others before it, so the earliest deadline is the only one to wake
        // for; most requests come within microseconds, long before it.
        let wake_at = self
            .waiting
            .next_deadline()
            .into_iter()
            .chain(self.retry_at)
            .min();
        let timeout = wake_at.map(|at| at.saturating_duration_since(Instant::now()));
        if let Err(error) = self.listeners.wait(tokens, timeout) {
            self.ctx.shared.emit(Event::AcceptFailed { error: &error });
            std::thread::sleep(self.backoff);
        }
    }

    /// A listener has a connection queued, or a parked one something to read.
    fn reported(&mut self, token: u64) {
        if self.listeners.listening(token).is_some() {
            if self.retry_at.is_none() {
                self.accept(token);
            }
        } else if let Some(parked) = self.waiting.take(token) {
            if self.awaited == Some(token) {
                self.awaited = None;
            }
            self.resume(parked);
        }
    }

    /// After each batch of reports: listeners back on after a failed accept,
    /// ALIVE2s held back tried again, silent connections timed out.
    fn tick(&mut self) {
        let now = Instant::now();
        if self.retry_at.is_some_and(|at| at <= now) {
            self.retry_at = None;
            let _ = self.listeners.listen(true);
        }
        if std::mem::take(&mut self.released) {
            for token in std::mem::take(&mut self.deferred) {
                if let Some(parked) = self.waiting.take(token) {
                    self.resume(parked);
                }
            }
        }
        while let Some(mut parked) = self.waiting.expired(now) {
            if self.awaited == Some(parked.conn.token) {
                self.awaited = None;
            }
            if matches!(parked.conn.session.next_action(), Action::Dispatch(_)) {
                // A held-back ALIVE2 whose pause is over: served or refused now.
                let token = parked.conn.token;
                self.deferred.retain(|&t| t != token);
                self.resume(parked);
            } else {
                parked.conn.session.timed_out();
                advance(&mut parked, &self.ctx);
            }
        }
    }

    /// Ends the registrations STOP or KILL ended elsewhere that are held here.
    fn evicted(&mut self, evicted: &UnixStream) {
        // Drained before the list is taken: a push after the take writes
        // again, and the re-armed watch reports it.
        while (&*evicted).read(&mut [0; 16]).is_ok_and(|n| n > 0) {}
        for token in self.ctx.evictions.take() {
            if let Some(mut parked) = self.waiting.take(token) {
                end_hold(&mut parked, &self.ctx);
                self.released = true;
            }
        }
        let _ = self.listeners.watch(evicted, EVICTED);
    }

    /// The server stops: registrations held here end as their connections
    /// close, as a task's do; connections still reading are dropped.
    fn stop(mut self) {
        for mut parked in self.waiting.drain() {
            end_hold(&mut parked, &self.ctx);
        }
    }

    /// Accepts one queued connection and starts it. When accept fails (out of
    /// descriptors or similar), the listeners are switched off until a retry:
    /// the connections we have keep being served, where OTP 25's epmd exits.
    fn accept(&mut self, token: u64) {
        let Some(socket) = self.listeners.listening(token) else {
            return;
        };
        match listen::accept(socket) {
            Ok((stream, peer)) => {
                self.backoff = Duration::from_millis(10);
                if let Some(delay) = self.ctx.shared.config.delay_accept {
                    std::thread::sleep(delay);
                }
                self.start(stream, peer);
            }
            // Gone before it was accepted.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(error) => {
                self.ctx.shared.emit(Event::AcceptFailed { error: &error });
                let _ = self.listeners.listen(false);
                self.retry_at = Some(Instant::now() + self.backoff);
                self.backoff = (self.backoff * 2).min(Duration::from_secs(1));
            }
        }
    }

    /// Takes a new connection as far as it goes without waiting: a lookup
    /// whose request has arrived (the usual case with one client: it writes
    /// while the server wakes) is answered and closed right here.
    fn start(&mut self, stream: std::net::TcpStream, peer: SocketAddr) {
        let shared = &*self.ctx.shared;
        // getpeername(), as OTP asks: it fails once the client has reset, and
        // OTP then counts the connection as non-local (§7). The local address
        // is needed only for a peer off loopback.
        let local = match stream.peer_addr() {
            Ok(p) if p.ip().is_loopback() => true,
            Ok(p) => stream.local_addr().is_ok_and(|l| is_local_peer(p, l)),
            Err(_) => false,
        };
        shared.stats.connection_accepted();
        let Some(admitted) = shared.admit(peer.ip()) else {
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
            token: self.waiting.token(),
            evicted: None,
            written: 0,
            _admitted: admitted,
        };
        // The whole request must arrive within the packet timeout of the
        // accept, as from OTP 27 (§6). OTP checks in whole seconds, so it
        // closes between T and T+1 seconds; T+1 keeps every client that OTP
        // would serve.
        let now = Instant::now();
        let deadline = now + shared.config.packet_timeout + Duration::from_secs(1);
        let token = conn.token;
        let overlapping = self.awaited.is_some();
        let late = self.resume(Parked {
            stream,
            conn,
            deadline,
            handover: None,
        });
        self.awaited = late.then_some(token);
        if let Some(on) = self.deferral.accepted(overlapping, now) {
            // Failing leaves accepting as it was, which serves all the same.
            let _ = self.listeners.defer_accept(on);
        }
    }

    /// Takes a connection as far as it goes without waiting, then parks it:
    /// to wait for the rest of its request, to hold the registration it
    /// made, or to hold back its ALIVE2 for a name that may be freed. What
    /// must wait for anything else goes on in a task. True when it waits
    /// for (the rest of) its request.
    fn resume(&mut self, mut parked: Parked) -> bool {
        if matches!(parked.conn.session.next_action(), Action::Hold) {
            // Reported while holding: its node sent something, closed or
            // failed, any of which ends the registration (§3.1 step 10). A
            // byte read, as a task reads it, closes with FIN, not a reset.
            let _ = parked.stream.read(&mut [0; 1]);
            parked.conn.session.hold_ended();
            self.released = true;
        }
        if !advance(&mut parked, &self.ctx) {
            return false;
        }
        let deadline = match parked.conn.session.next_action() {
            Action::Read(_) => Some(Some(parked.deadline)),
            Action::Hold => Some(None),
            Action::Dispatch(_) => {
                self.deferred.push(parked.conn.token);
                Some(parked.handover)
            }
            _ => None,
        };
        if let Some(deadline) = deadline {
            let token = parked.conn.token;
            let listeners = &self.listeners;
            // A held-back ALIVE2 waits for a report of its holder's, not its own.
            let watch = !matches!(parked.conn.session.next_action(), Action::Dispatch(_));
            let reading = matches!(parked.conn.session.next_action(), Action::Read(_));
            match self.waiting.park(token, parked, deadline, |p| match watch {
                true => listeners.watch(&p.stream, token),
                false => Ok(()),
            }) {
                Ok(()) => return reading,
                Err(refused) => parked = refused,
            }
        }
        let Parked {
            stream,
            conn,
            deadline,
            ..
        } = parked;
        match TcpStream::from_std(stream) {
            Ok(stream) => {
                let deadline = tokio::time::Instant::from_std(deadline);
                tokio::spawn(serve(stream, conn, deadline, self.ctx.clone()));
            }
            Err(error) => {
                self.ctx.shared.emit(Event::AcceptFailed { error: &error });
                abandon(conn, &self.ctx);
            }
        }
        false
    }
}

/// Carries out the session's actions for as long as none has to wait; false
/// once the connection is finished.
fn advance(parked: &mut Parked, ctx: &Ctx) -> bool {
    let Parked {
        stream,
        conn,
        handover,
        ..
    } = parked;
    loop {
        match conn.session.next_action() {
            Action::Read(buf) => match stream.read(buf) {
                Ok(0) => conn.session.peer_closed(),
                Ok(n) => conn.session.received(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => conn.session.peer_closed(),
            },
            Action::Dispatch(Request::Alive2(node))
                if handover.is_none_or(|until| Instant::now() < until)
                    && held_by_live_connection(&ctx.shared, &node.name) =>
            {
                handover.get_or_insert_with(|| Instant::now() + ctx.shared.config.handover);
                return true;
            }
            Action::Send { .. } if ctx.shared.config.delay_write.is_some() => return true,
            Action::Send { bytes, last } => {
                match reply::write(stream, &bytes[conn.written..], last) {
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
                }
            }
            Action::Hold => return true,
            Action::Dispatch(_) | Action::Unregister | Action::Close(_) => {
                if !step(conn, ctx) {
                    return false;
                }
            }
        }
    }
}

/// Ends the registration a parked connection holds, if it holds one, and
/// closes it (the server stops, or STOP or KILL ended the registration).
fn end_hold(parked: &mut Parked, ctx: &Ctx) {
    if matches!(parked.conn.session.next_action(), Action::Hold) {
        parked.conn.session.hold_ended();
        advance(parked, ctx);
    }
}

/// Finishes a connection whose socket is gone before it could be handed on,
/// as if the socket had failed: a registration it made is undone.
fn abandon(mut conn: Conn, ctx: &Ctx) {
    loop {
        match conn.session.next_action() {
            Action::Read(_) => conn.session.peer_closed(),
            Action::Send { .. } => {
                conn.written = 0;
                conn.session.sent(false);
            }
            Action::Hold => conn.session.hold_ended(),
            Action::Dispatch(_) | Action::Unregister | Action::Close(_) => {
                if !step(&mut conn, ctx) {
                    return;
                }
            }
        }
    }
}
