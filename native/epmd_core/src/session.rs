//! One connection's protocol without I/O: bytes in, actions out.
//!
//! A [`Session`] says what its connection must do next ([`Session::next_action`]):
//! read (no more than OTP reads, §1), dispatch a complete request against the
//! registry under OTP's policy (§7), send a reply in one write, hold a
//! registration, unregister it, or close with a typed reason. The caller
//! answers each action with the matching method; the server adds sockets,
//! timers, shutdown and event reports around it. Answering an action other
//! than the one asked for is a bug and panics.

use crate::codec::{self, Alive2Reply, FrameError, NodeInfo, Request, RequestError};
use crate::events::LocalCommand;
use crate::registry::{
    creation_for_reply, Evict, Owner, RegisterError, Registration, RegistrationId, Registry,
};

/// What a session needs to know of its server's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The port NAMES and DUMP report: the configured one (§3.3).
    pub port: u32,
    /// Allow STOP, and KILL while nodes are registered (§7).
    pub relaxed: bool,
    /// Answer NAMES from any peer, as OTP does; `false` keeps listings for
    /// local peers (the hardened profile).
    pub remote_names: bool,
}

/// What the connection must do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Action<'a> {
    /// Read at most `buf.len()` bytes into `buf`, then call
    /// [`Session::received`], [`Session::peer_closed`] (EOF or error) or
    /// [`Session::timed_out`].
    Read(&'a mut [u8]),
    /// A complete, well-formed request: report it if wanted, then call
    /// [`Session::dispatch`] with the registry.
    Dispatch(&'a Request),
    /// Write these bytes in one piece (§1), then call [`Session::sent`].
    /// `last`: the connection closes once they are written, so they may go
    /// out together with its end.
    Send { bytes: &'a [u8], last: bool },
    /// Keep the connection open until the peer sends anything, closes or
    /// fails, the registration is evicted or the server stops (§3.1 step 10),
    /// then call [`Session::hold_ended`].
    Hold,
    /// The registration is over: call [`Session::unregister`] with the registry.
    Unregister,
    /// Close the connection; the session is finished.
    Close(&'a Close),
}

/// Why a connection is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Close {
    /// The request was handled: answered, refused by policy (its [`Outcome`]
    /// says so), or its registration ended.
    Done,
    /// KILL was accepted and answered: the server must stop (§3.5).
    Kill,
    /// EOF or a read error after this many bytes of an incomplete request.
    Incomplete(usize),
    /// No bytes within the packet timeout.
    Timeout,
    /// The length prefix or the byte count is wrong (§1).
    Frame(FrameError),
    /// A complete frame that is not a valid request (§4).
    Request(RequestError),
}

/// What dispatching a request did, for the caller to report. A registration
/// handed back must be dropped, and its evict hook run, outside the
/// registry's lock.
#[derive(Debug)]
pub enum Outcome {
    /// A request reserved for local peers came from elsewhere: closed, no reply.
    RefusedNonLocal(LocalCommand),
    /// ALIVE2 succeeded; `creation` is the value the reply carries.
    Registered {
        name: Vec<u8>,
        port: u16,
        creation: u32,
    },
    /// ALIVE2 refused, a live duplicate included: creation 99 is sent and the
    /// connection kept (§3.1 steps 6–8).
    RegisterRefused {
        name: Vec<u8>,
        reason: RegisterError,
    },
    /// PORT2, NAMES or DUMP: the reply is ready to send.
    Replied,
    /// KILL while nodes live and relaxed mode is off: `NO`.
    KillRefused,
    /// KILL accepted: `OK`, then [`Close::Kill`].
    KillAccepted,
    /// STOP served; `removed` is the registration it ended, if the name was live.
    Stopped {
        name: Vec<u8>,
        removed: Option<Registration>,
    },
    /// STOP without relaxed mode: closed, no reply.
    StopRefused { name: Vec<u8> },
}

/// The registration a connection holds, by name and id so that a stale
/// connection never removes a newer registration of the same name.
#[derive(Debug)]
struct Held {
    name: Vec<u8>,
    id: RegistrationId,
}

/// What follows a reply once it is written, or failed to be.
#[derive(Debug)]
enum After {
    Close(Close),
    /// An ALIVE2 reply: the connection is kept, holding the registration if
    /// it succeeded (§3.1 step 8).
    Hold(Option<Held>),
}

#[derive(Debug)]
enum State {
    /// `buf[..got]` has arrived; the rest of `buf` is where the next read goes.
    Reading {
        buf: Vec<u8>,
        got: usize,
    },
    Ready(Request),
    Replying {
        reply: Vec<u8>,
        after: After,
    },
    Holding(Option<Held>),
    Unregistering(Held),
    Closed(Close),
}

/// The protocol state of one server connection.
#[derive(Debug)]
pub struct Session {
    policy: Policy,
    local: bool,
    owner: Owner,
    state: State,
}

/// The local-only command a request is, if it is one (§7).
fn local_only(request: &Request, policy: &Policy) -> Option<LocalCommand> {
    match request {
        Request::Alive2(_) => Some(LocalCommand::Alive2),
        Request::Names if !policy.remote_names => Some(LocalCommand::Names),
        Request::Dump => Some(LocalCommand::Dump),
        Request::Kill => Some(LocalCommand::Kill),
        Request::Stop { .. } => Some(LocalCommand::Stop),
        Request::PortPlease2 { .. } | Request::Names => None,
    }
}

impl Session {
    /// A new connection. `local` is decided once, at accept (§7); `owner` is
    /// what a registration made on this connection records.
    pub fn new(policy: Policy, local: bool, owner: Owner) -> Self {
        Session {
            policy,
            local,
            owner,
            state: State::Reading {
                buf: Vec::new(),
                got: 0,
            },
        }
    }

    /// What to do next. Asking again without answering asks the same.
    pub fn next_action(&mut self) -> Action<'_> {
        match &mut self.state {
            State::Reading { buf, got } => {
                // OTP's reads (§1): up to its buffer size until the length is
                // known, then exactly the rest of the request.
                let want = codec::next_read_len(&buf[..*got]);
                buf.resize(*got + want, 0);
                Action::Read(&mut buf[*got..])
            }
            State::Ready(request) => Action::Dispatch(request),
            State::Replying { reply, after } => Action::Send {
                bytes: reply,
                last: matches!(after, After::Close(_)),
            },
            State::Holding(_) => Action::Hold,
            State::Unregistering(_) => Action::Unregister,
            State::Closed(close) => Action::Close(close),
        }
    }

    /// Answers [`Action::Read`]: `n` bytes (at least one) were read into its
    /// buffer.
    pub fn received(&mut self, n: usize) {
        let State::Reading { buf, got } = &mut self.state else {
            misuse("received", &self.state)
        };
        assert!(
            *got + n <= buf.len(),
            "session: read {n} bytes into a buffer of {}",
            buf.len() - *got
        );
        *got += n;
        self.state = match codec::check_frame(&buf[..*got]) {
            Ok(None) => return,
            Ok(Some(body)) => match codec::parse_request(body) {
                Ok(request) => State::Ready(request),
                Err(e) => State::Closed(Close::Request(e)),
            },
            Err(e) => State::Closed(Close::Frame(e)),
        };
    }

    /// Answers [`Action::Read`]: the peer closed, or the read failed.
    pub fn peer_closed(&mut self) {
        let State::Reading { got, .. } = &self.state else {
            misuse("peer_closed", &self.state)
        };
        self.state = State::Closed(Close::Incomplete(*got));
    }

    /// Answers [`Action::Read`]: nothing arrived within the packet timeout.
    pub fn timed_out(&mut self) {
        if !matches!(self.state, State::Reading { .. }) {
            misuse("timed_out", &self.state)
        }
        self.state = State::Closed(Close::Timeout);
    }

    /// Answers [`Action::Dispatch`]: applies OTP's policy and serves the
    /// request against `registry`. `evict` makes the hook by which the
    /// registry tells this connection that STOP or KILL removed its
    /// registration; it is called only for ALIVE2.
    pub fn dispatch(&mut self, registry: &mut Registry, evict: impl FnOnce() -> Evict) -> Outcome {
        let request = match self.take_state() {
            State::Ready(request) => request,
            other => misuse("dispatch", &other),
        };
        if let Some(command) = local_only(&request, &self.policy).filter(|_| !self.local) {
            return Outcome::RefusedNonLocal(command);
        }
        match request {
            Request::Alive2(node) => self.register(node, registry, evict),
            Request::PortPlease2 { name } => {
                self.reply(codec::encode_port2_reply(registry.lookup(&name)));
                Outcome::Replied
            }
            Request::Names => {
                self.reply(names_reply(registry, self.policy.port));
                Outcome::Replied
            }
            Request::Dump => {
                self.reply(dump_reply(registry, self.policy.port));
                Outcome::Replied
            }
            Request::Kill if self.policy.relaxed || registry.is_empty() => {
                self.state = State::Replying {
                    reply: codec::KILL_OK.to_vec(),
                    after: After::Close(Close::Kill),
                };
                Outcome::KillAccepted
            }
            Request::Kill => {
                self.reply(codec::KILL_REFUSED.to_vec());
                Outcome::KillRefused
            }
            Request::Stop { name } if self.policy.relaxed => {
                let removed = registry.remove(&name);
                self.reply(match removed {
                    Some(_) => codec::STOPPED.to_vec(),
                    None => [codec::NOEXIST, codec::STOPPED].concat(),
                });
                Outcome::Stopped { name, removed }
            }
            Request::Stop { name } => Outcome::StopRefused { name },
        }
    }

    /// The current state, leaving the session closed until it is replaced.
    fn take_state(&mut self) -> State {
        std::mem::replace(&mut self.state, State::Closed(Close::Done))
    }

    /// Sends `reply`, then closes.
    fn reply(&mut self, reply: Vec<u8>) {
        self.state = State::Replying {
            reply,
            after: After::Close(Close::Done),
        };
    }

    fn register(
        &mut self,
        node: NodeInfo,
        registry: &mut Registry,
        evict: impl FnOnce() -> Evict,
    ) -> Outcome {
        let name = node.name.clone();
        let port = node.port;
        let extended = node.wants_extended_creation();
        let (outcome, held, creation) =
            match registry.register(node, self.owner.clone(), Some(evict())) {
                Ok((id, counter)) => {
                    let creation = creation_for_reply(counter, extended);
                    let outcome = Outcome::Registered {
                        name: name.clone(),
                        port,
                        creation,
                    };
                    (outcome, Some(Held { name, id }), creation)
                }
                Err(reason) => (
                    Outcome::RegisterRefused { name, reason },
                    None,
                    codec::FAILED_CREATION,
                ),
            };
        let reply = Alive2Reply {
            extended,
            ok: held.is_some(),
            creation,
        };
        self.state = State::Replying {
            reply: reply.encode(),
            after: After::Hold(held),
        };
        outcome
    }

    /// Answers [`Action::Send`]: whether the whole reply was written.
    pub fn sent(&mut self, written: bool) {
        let after = match self.take_state() {
            State::Replying { after, .. } => after,
            other => misuse("sent", &other),
        };
        self.state = match after {
            After::Close(close) => State::Closed(close),
            After::Hold(held) if written => State::Holding(held),
            // The client never got its creation: undo the registration this
            // connection made, and only that one (deviation D1).
            After::Hold(Some(held)) => State::Unregistering(held),
            After::Hold(None) => State::Closed(Close::Done),
        };
    }

    /// Answers [`Action::Hold`]: the connection is to be closed.
    pub fn hold_ended(&mut self) {
        let held = match self.take_state() {
            State::Holding(held) => held,
            other => misuse("hold_ended", &other),
        };
        if let Some(held) = held {
            self.state = State::Unregistering(held);
        }
    }

    /// Answers [`Action::Unregister`]: ends this connection's registration
    /// unless STOP or KILL already did. The registration comes back to be
    /// reported and dropped outside the registry's lock.
    pub fn unregister(&mut self, registry: &mut Registry) -> Option<Registration> {
        let held = match self.take_state() {
            State::Unregistering(held) => held,
            other => misuse("unregister", &other),
        };
        registry.unregister(&held.name, held.id)
    }
}

fn misuse(answer: &str, state: &State) -> ! {
    panic!("session: {answer} does not answer the pending action ({state:?})")
}

/// NAMES (§3.3): the configured port, then one line per node, newest first.
fn names_reply(registry: &mut Registry, port: u32) -> Vec<u8> {
    let lines = registry.listing(|registry| {
        let mut lines = Vec::with_capacity(registry.len() * 32);
        for r in registry.iter() {
            codec::encode_names_line(&mut lines, &r.node.name, r.node.port);
        }
        lines
    });
    [&codec::encode_port_header(port)[..], lines].concat()
}

/// DUMP (§3.4): live nodes newest first, then the unregistered list.
fn dump_reply(registry: &Registry, port: u32) -> Vec<u8> {
    let mut out = codec::encode_port_header(port).to_vec();
    for r in registry.iter() {
        codec::encode_dump_active_line(&mut out, &r.node.name, r.node.port, r.owner.fd());
    }
    for (name, port, fd) in registry.retired() {
        codec::encode_dump_old_line(&mut out, name, port, fd);
    }
    out
}
