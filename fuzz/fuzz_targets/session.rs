//! The connection state machine under arbitrary traffic: several connections
//! on one registry, interleaved as the server's tasks are, with bytes in
//! arbitrary chunks, EOFs, timeouts and lost writes.
//!
//! Invariants: nothing panics; reads are OTP's (§1); what is dispatched or
//! refused is what the bytes say; every reply is well-formed and is what an
//! independent model of the registry says it must be (§3, §7); the registry
//! always matches the model: a name is live once, held by the connection
//! that registered it, or not at all; and no registration outlives its
//! connection.

#![no_main]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arbitrary::Arbitrary;
use epmd_core::codec::{self, NodeInfo, Request, MAX_NAME_CHARS, MAX_SYMLEN};
use epmd_core::registry::{
    Owner, RegisterError, RegistrationId, Registry, DEBUG_RETIRED_CAP, RETIRED_CAP,
};
use epmd_core::session::{Action, Close, Outcome, Policy, Session};
use libfuzzer_sys::fuzz_target;

const NOW: u32 = 1_795_672_902;
const PORT: u32 = 4369;
const MAX_CONNECTIONS: usize = 16;
/// The holder the model records for a registration made in the VM.
const IN_VM: usize = usize::MAX;

#[derive(Debug, Arbitrary)]
struct Script {
    relaxed: bool,
    /// OTP's `-d` cap on the unregistered list (5), so that recycling is
    /// reached; else the normal 1000.
    debug: bool,
    /// The hardened profile's NAMES for local peers only.
    local_names_only: bool,
    ops: Vec<Op>,
}

#[derive(Debug, Arbitrary)]
enum Op {
    /// A new connection; its writes fail if `lossy`.
    Connect {
        local: bool,
        lossy: bool,
    },
    /// A well-formed request arrives, in two chunks split at `split`.
    Send {
        conn: u8,
        request: FuzzRequest,
        split: u16,
    },
    /// Raw bytes arrive as one chunk.
    Bytes {
        conn: u8,
        bytes: Vec<u8>,
    },
    Eof {
        conn: u8,
    },
    Timeout {
        conn: u8,
    },
    /// A registration made in the VM (as the NIF makes them), with an evict
    /// hook; it lives until STOP, KILL or `InVmEnd`.
    InVm {
        name: FuzzName,
        port: u16,
    },
    /// The VM ends its registration of `name` by the id it was given, as
    /// the NIF does when the owner process goes; a stale id removes nothing.
    InVmEnd {
        name: FuzzName,
    },
    /// The connection's task runs up to `actions % 8 + 1` actions. Nothing
    /// runs otherwise, so connections interleave as tasks do: an eviction,
    /// say, is noticed only when its connection runs.
    Run {
        conn: u8,
        actions: u8,
    },
}

/// Names drawn mostly from a small pool, so that requests meet each other,
/// and long ones cheaply, to reach the limits of §3.1 step 6.
#[derive(Debug, Arbitrary)]
enum FuzzName {
    Pool(u8),
    Raw(Vec<u8>),
    Repeat { unit: char, count: u16 },
}

impl FuzzName {
    fn bytes(&self) -> Vec<u8> {
        const POOL: [&str; 6] = ["foo", "bar", "baz", "😈", "a b", "x\n"];
        match self {
            FuzzName::Pool(i) => POOL[usize::from(*i) % POOL.len()].as_bytes().to_vec(),
            FuzzName::Raw(b) => b.clone(),
            FuzzName::Repeat { unit, count } => unit
                .to_string()
                .repeat(usize::from(*count) % 1100)
                .into_bytes(),
        }
    }
}

/// An extra field, possibly past MAXSYMLEN.
#[derive(Debug, Arbitrary)]
enum FuzzExtra {
    Raw(Vec<u8>),
    Repeat { byte: u8, len: u16 },
}

impl FuzzExtra {
    fn bytes(&self) -> Vec<u8> {
        match self {
            FuzzExtra::Raw(b) => b.clone(),
            FuzzExtra::Repeat { byte, len } => vec![*byte; usize::from(*len) % 1100],
        }
    }
}

#[derive(Debug, Arbitrary)]
enum FuzzRequest {
    Alive2 {
        port: u16,
        node_type: u8,
        protocol: u8,
        highest_version: u16,
        lowest_version: u16,
        name: FuzzName,
        extra: FuzzExtra,
    },
    PortPlease2(FuzzName),
    Names,
    Dump,
    Kill,
    Stop(FuzzName),
}

impl FuzzRequest {
    fn wire(&self) -> Option<Vec<u8>> {
        let request = match self {
            FuzzRequest::Alive2 {
                port,
                node_type,
                protocol,
                highest_version,
                lowest_version,
                name,
                extra,
            } => Request::Alive2(NodeInfo {
                port: *port,
                node_type: *node_type,
                protocol: *protocol,
                highest_version: *highest_version,
                lowest_version: *lowest_version,
                name: name.bytes(),
                extra: extra.bytes(),
            }),
            FuzzRequest::PortPlease2(name) => Request::PortPlease2 { name: name.bytes() },
            FuzzRequest::Names => Request::Names,
            FuzzRequest::Dump => Request::Dump,
            FuzzRequest::Kill => Request::Kill,
            FuzzRequest::Stop(name) => Request::Stop { name: name.bytes() },
        };
        request.encode().ok()
    }
}

/// A reply as the model says it must be, decided at dispatch.
#[derive(Debug)]
enum Expect {
    Exactly(Vec<u8>),
    /// DUMP: the live nodes; the unregistered list after them is not modeled.
    StartsWith(Vec<u8>),
    Alive2 {
        extended: bool,
        ok: bool,
    },
}

/// One connection: its session, what its peer sent that was not read yet,
/// and what the harness knows of it.
struct Conn {
    session: Session,
    local: bool,
    lossy: bool,
    /// Chunks not read yet; a read takes from the first one only.
    pending: Vec<Vec<u8>>,
    eof: bool,
    timed_out: bool,
    /// The bytes read so far, until dispatch.
    read: Vec<u8>,
    serving: Option<Request>,
    expect: Option<Expect>,
    /// The name this connection registered, until it unregisters.
    registered: Option<Vec<u8>>,
    evicted: Arc<AtomicBool>,
    closed: bool,
}

/// The registry as the harness believes it is.
#[derive(Default)]
struct Model {
    /// Live nodes, oldest first, with the connection that holds each.
    live: Vec<(NodeInfo, usize)>,
    /// Registrations STOP removed, by name and holder, until the holder
    /// unregisters.
    stopped: HashSet<(Vec<u8>, usize)>,
}

impl Model {
    fn find(&self, name: &[u8]) -> Option<&(NodeInfo, usize)> {
        self.live.iter().find(|(n, _)| n.name == name)
    }

    fn remove(&mut self, name: &[u8]) -> Option<(NodeInfo, usize)> {
        let at = self.live.iter().position(|(n, _)| n.name == name)?;
        Some(self.live.remove(at))
    }
}

/// §3.1 step 6, written again from the protocol document.
fn refusal(node: &NodeInfo, model: &Model) -> Option<RegisterError> {
    if node.name.len() > MAX_SYMLEN {
        return Some(RegisterError::NameTooLong);
    }
    let Ok(name) = std::str::from_utf8(&node.name) else {
        return Some(RegisterError::InvalidNameEncoding);
    };
    if name.chars().count() > MAX_NAME_CHARS {
        return Some(RegisterError::NameTooLong);
    }
    if node.extra.len() > MAX_SYMLEN {
        return Some(RegisterError::ExtraTooLong);
    }
    if model.find(&node.name).is_some() {
        return Some(RegisterError::NameTaken);
    }
    None
}

/// The descriptor DUMP shows for a holder: the connection's index, or -1.
fn fd(holder: usize) -> i32 {
    if holder == IN_VM {
        -1
    } else {
        holder as i32
    }
}

struct Harness {
    relaxed: bool,
    local_names_only: bool,
    /// The ids of the VM's registrations, kept after STOP or KILL.
    in_vm_ids: HashMap<Vec<u8>, RegistrationId>,
    registry: Registry,
    model: Model,
    conns: Vec<Conn>,
    killed: bool,
}

fuzz_target!(|script: Script| {
    let mut h = Harness {
        relaxed: script.relaxed,
        local_names_only: script.local_names_only,
        in_vm_ids: HashMap::new(),
        registry: Registry::with_clock(
            if script.debug {
                DEBUG_RETIRED_CAP
            } else {
                RETIRED_CAP
            },
            || NOW,
        ),
        model: Model::default(),
        conns: Vec::new(),
        killed: false,
    };
    for op in &script.ops {
        h.apply(op);
        h.check_registry();
        if h.killed {
            return;
        }
    }
    // Every peer goes away: every connection ends, and every registration.
    for c in &mut h.conns {
        c.eof = true;
    }
    for i in 0..h.conns.len() {
        while !h.killed && h.step(i) {}
        assert!(h.killed || h.conns[i].closed, "connection {i} never closed");
    }
    h.check_registry();
    assert!(
        h.model.live.iter().all(|(_, holder)| *holder == IN_VM),
        "a registration outlived its connection"
    );
});

impl Harness {
    fn conn(&mut self, i: u8) -> Option<&mut Conn> {
        let n = self.conns.len();
        self.conns.get_mut(usize::from(i) % n.max(1))
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Connect { local, lossy } => {
                if self.conns.len() < MAX_CONNECTIONS {
                    self.connect(*local, *lossy);
                }
            }
            Op::Send {
                conn,
                request,
                split,
            } => {
                if let (Some(c), Some(wire)) = (self.conn(*conn), request.wire()) {
                    let at = usize::from(*split) % (wire.len() + 1);
                    c.pending.push(wire[..at].to_vec());
                    c.pending.push(wire[at..].to_vec());
                    c.pending.retain(|b| !b.is_empty());
                }
            }
            Op::Bytes { conn, bytes } => {
                if let Some(c) = self.conn(*conn) {
                    if !bytes.is_empty() {
                        c.pending.push(bytes.clone());
                    }
                }
            }
            Op::Eof { conn } => {
                if let Some(c) = self.conn(*conn) {
                    c.eof = true;
                }
            }
            Op::Timeout { conn } => {
                if let Some(c) = self.conn(*conn) {
                    c.timed_out = true;
                }
            }
            Op::InVm { name, port } => self.register_in_vm(name.bytes(), *port),
            Op::InVmEnd { name } => self.unregister_in_vm(&name.bytes()),
            Op::Run { conn, actions } => {
                if !self.conns.is_empty() {
                    let i = usize::from(*conn) % self.conns.len();
                    for _ in 0..=actions % 8 {
                        if self.killed || !self.step(i) {
                            break;
                        }
                    }
                }
            }
        }
    }

    fn connect(&mut self, local: bool, lossy: bool) {
        // The descriptor DUMP shows is the connection's index.
        let owner = Owner::Connection {
            fd: self.conns.len() as i32,
            peer: "127.0.0.1:1".parse().unwrap(),
        };
        let policy = Policy {
            port: PORT,
            relaxed: self.relaxed,
            remote_names: !self.local_names_only,
        };
        self.conns.push(Conn {
            session: Session::new(policy, local, owner),
            local,
            lossy,
            pending: Vec::new(),
            eof: false,
            timed_out: false,
            read: Vec::new(),
            serving: None,
            expect: None,
            registered: None,
            evicted: Arc::new(AtomicBool::new(false)),
            closed: false,
        });
    }

    /// What the NIF does for a node of its own VM.
    fn register_in_vm(&mut self, name: Vec<u8>, port: u16) {
        let node = NodeInfo {
            port,
            node_type: 77,
            protocol: 0,
            highest_version: 6,
            lowest_version: 5,
            name,
            extra: Vec::new(),
        };
        let refused = refusal(&node, &self.model);
        let result = self
            .registry
            .register(node.clone(), Owner::Local, Some(Box::new(|| {})));
        assert_eq!(result.as_ref().err(), refused.as_ref());
        if let Ok((id, _)) = result {
            self.in_vm_ids.insert(node.name.clone(), id);
            self.model.live.push((node, IN_VM));
        }
    }

    fn unregister_in_vm(&mut self, name: &[u8]) {
        let Some(id) = self.in_vm_ids.remove(name) else {
            return;
        };
        let removed = self.registry.unregister(name, id);
        let ours = self.model.find(name).is_some_and(|(_, h)| *h == IN_VM);
        assert_eq!(
            removed.is_some(),
            ours,
            "only the VM's own registration ends"
        );
        if let Some(r) = removed {
            let (node, _) = self.model.remove(name).unwrap();
            assert_eq!(r.node, node);
        }
    }

    /// Carries out connection `i`'s next action if it can; false if it waits.
    fn step(&mut self, i: usize) -> bool {
        let c = &mut self.conns[i];
        if c.closed {
            return false;
        }
        match c.session.next_action() {
            Action::Read(buf) => {
                assert_eq!(buf.len(), codec::next_read_len(&c.read), "OTP's read size");
                if let Some(chunk) = c.pending.first_mut() {
                    let n = chunk.len().min(buf.len());
                    buf[..n].copy_from_slice(&chunk[..n]);
                    c.read.extend_from_slice(&chunk[..n]);
                    chunk.drain(..n);
                    if chunk.is_empty() {
                        c.pending.remove(0);
                    }
                    c.session.received(n);
                } else if c.timed_out {
                    c.session.timed_out();
                } else if c.eof {
                    c.session.peer_closed();
                } else {
                    return false;
                }
            }
            Action::Dispatch(request) => {
                let body = codec::check_frame(&c.read)
                    .expect("dispatched bytes are a frame")
                    .expect("a whole one");
                assert_eq!(codec::parse_request(body).as_ref(), Ok(request));
                let request = request.clone();
                let flag = c.evicted.clone();
                let outcome = c.session.dispatch(&mut self.registry, move || {
                    Box::new(move || flag.store(true, Ordering::SeqCst))
                });
                self.check_outcome(i, &request, outcome);
                self.conns[i].serving = Some(request);
            }
            Action::Send(reply) => {
                let reply = reply.to_vec();
                let written = !c.lossy;
                self.check_reply(i, &reply);
                self.conns[i].session.sent(written);
            }
            Action::Hold => {
                assert!(matches!(c.serving, Some(Request::Alive2(_))));
                if c.pending.is_empty() && !c.eof && !c.evicted.load(Ordering::SeqCst) {
                    return false;
                }
                c.session.hold_ended();
            }
            Action::Unregister => {
                let name = c.registered.take().expect("only a registration ends");
                let evicted = c.evicted.load(Ordering::SeqCst);
                match c.session.unregister(&mut self.registry) {
                    Some(r) => {
                        assert!(!evicted, "a stopped registration was still live");
                        let (node, holder) = self.model.remove(&name).expect("the model agrees");
                        assert_eq!((r.node, holder), (node, i));
                    }
                    None => {
                        assert!(evicted, "a live registration was not removed");
                        assert!(self.model.stopped.remove(&(name, i)));
                    }
                }
            }
            Action::Close(close) => {
                let close = close.clone();
                self.check_close(i, &close);
                self.conns[i].closed = true;
                if close == Close::Kill {
                    self.kill();
                }
            }
        }
        true
    }

    /// What the server does on an accepted KILL (§3.5).
    fn kill(&mut self) {
        for mut r in self.registry.remove_all() {
            if let Some(evict) = r.take_evict() {
                evict();
            }
        }
        self.model.live.clear();
        self.killed = true;
    }

    fn check_close(&self, i: usize, close: &Close) {
        let c = &self.conns[i];
        match close {
            Close::Frame(e) => assert_eq!(codec::check_frame(&c.read).as_ref(), Err(e)),
            Close::Request(e) => {
                let body = codec::check_frame(&c.read).unwrap().unwrap();
                assert_eq!(codec::parse_request(body).as_ref(), Err(e));
            }
            Close::Incomplete(got) => {
                assert!(c.eof);
                assert_eq!(*got, c.read.len());
                assert_eq!(codec::check_frame(&c.read), Ok(None));
            }
            Close::Timeout => assert!(c.timed_out),
            Close::Kill => assert_eq!(c.serving, Some(Request::Kill)),
            Close::Done => assert!(c.serving.is_some()),
        }
        assert!(
            c.registered.is_none(),
            "closed while holding a registration"
        );
    }

    /// §7's policy, and the registry changes each request makes; sets what
    /// the reply must be.
    fn check_outcome(&mut self, i: usize, request: &Request, outcome: Outcome) {
        let relaxed = self.relaxed;
        let local_only = match request {
            Request::PortPlease2 { .. } => false,
            Request::Names => self.local_names_only,
            _ => true,
        };
        if local_only && !self.conns[i].local {
            assert!(
                matches!(outcome, Outcome::RefusedNonLocal(_)),
                "{outcome:?}"
            );
            return;
        }
        let expect = match (request, outcome) {
            (Request::Alive2(node), Outcome::Registered { name, port, .. }) => {
                assert_eq!(refusal(node, &self.model), None);
                assert_eq!((&name, port), (&node.name, node.port));
                self.model.live.push((node.clone(), i));
                self.conns[i].registered = Some(name);
                Expect::Alive2 {
                    extended: node.highest_version >= 6,
                    ok: true,
                }
            }
            (Request::Alive2(node), Outcome::RegisterRefused { name, reason }) => {
                assert_eq!(name, node.name);
                assert_eq!(refusal(node, &self.model), Some(reason));
                Expect::Alive2 {
                    extended: node.highest_version >= 6,
                    ok: false,
                }
            }
            (Request::PortPlease2 { name }, Outcome::Replied) => {
                let found = self.model.find(name).map(|(n, _)| n);
                Expect::Exactly(codec::encode_port2_reply(found))
            }
            (Request::Names, Outcome::Replied) => {
                let mut expected = codec::encode_port_header(PORT).to_vec();
                for (n, _) in self.model.live.iter().rev() {
                    codec::encode_names_line(&mut expected, &n.name, n.port);
                }
                Expect::Exactly(expected)
            }
            (Request::Dump, Outcome::Replied) => {
                let mut expected = codec::encode_port_header(PORT).to_vec();
                for (n, holder) in self.model.live.iter().rev() {
                    codec::encode_dump_active_line(&mut expected, &n.name, n.port, fd(*holder));
                }
                Expect::StartsWith(expected)
            }
            (Request::Kill, Outcome::KillRefused) => {
                assert!(!relaxed && !self.model.live.is_empty());
                Expect::Exactly(codec::KILL_REFUSED.to_vec())
            }
            (Request::Kill, Outcome::KillAccepted) => {
                assert!(relaxed || self.model.live.is_empty());
                Expect::Exactly(codec::KILL_OK.to_vec())
            }
            (Request::Stop { name }, Outcome::Stopped { name: n, removed }) => {
                assert!(relaxed);
                assert_eq!(&n, name);
                let holder = self.model.remove(name);
                assert_eq!(removed.is_some(), holder.is_some());
                if let (Some(mut r), Some((node, holder))) = (removed, holder) {
                    assert_eq!((&r.node, r.owner.fd()), (&node, fd(holder)));
                    if holder != IN_VM {
                        self.model.stopped.insert((name.clone(), holder));
                    }
                    r.take_evict().expect("every registration here has a hook")();
                    Expect::Exactly(codec::STOPPED.to_vec())
                } else {
                    Expect::Exactly([codec::NOEXIST, codec::STOPPED].concat())
                }
            }
            (Request::Stop { name }, Outcome::StopRefused { name: n }) => {
                assert!(!relaxed);
                assert_eq!(&n, name);
                return;
            }
            (request, outcome) => panic!("{request:?} gave {outcome:?}"),
        };
        self.conns[i].expect = Some(expect);
    }

    /// The reply is well-formed for its request and is what the model said
    /// at dispatch.
    fn check_reply(&self, i: usize, reply: &[u8]) {
        let c = &self.conns[i];
        let request = c.serving.as_ref().expect("a reply answers a request");
        match request {
            Request::PortPlease2 { .. } => {
                codec::decode_port2_reply(reply).expect("a well-formed PORT2 reply");
            }
            Request::Names | Request::Dump => {
                let (port, _) = codec::decode_names_reply(reply).expect("a port header");
                assert_eq!(port, PORT);
            }
            Request::Alive2(_) | Request::Kill | Request::Stop { .. } => {}
        }
        match c.expect.as_ref().expect("an expected reply") {
            Expect::Exactly(expected) => assert_eq!(reply, &expected[..]),
            Expect::StartsWith(expected) => {
                assert!(reply.starts_with(expected));
                assert!(reply.len() == expected.len() || reply.ends_with(b"\n\0"));
            }
            Expect::Alive2 { extended, ok } => {
                let r = codec::decode_alive2_reply(reply)
                    .expect("a well-formed ALIVE2 reply")
                    .expect("a complete one");
                assert_eq!((r.extended, r.ok), (*extended, *ok));
                if !r.ok {
                    assert_eq!(r.creation, codec::FAILED_CREATION);
                } else if r.extended {
                    assert!(r.creation >= 4);
                } else {
                    assert!((1..=3).contains(&r.creation));
                }
            }
        }
    }

    /// The registry and the model agree, and each live name is held by the
    /// connection that registered it, exactly once.
    fn check_registry(&self) {
        if self.killed {
            assert!(self.registry.is_empty());
            return;
        }
        let listed: Vec<_> = self
            .registry
            .iter()
            .map(|r| (&r.node, r.owner.fd()))
            .collect();
        let expected: Vec<_> = self
            .model
            .live
            .iter()
            .rev()
            .map(|(n, holder)| (n, fd(*holder)))
            .collect();
        assert_eq!(listed, expected);
        assert_eq!(self.registry.len(), expected.len());
        for (n, holder) in &self.model.live {
            assert_eq!(self.registry.lookup(&n.name), Some(n));
            if *holder != IN_VM {
                assert_eq!(self.conns[*holder].registered.as_ref(), Some(&n.name));
            }
        }
        for (i, c) in self.conns.iter().enumerate() {
            if let Some(name) = &c.registered {
                let live = self.model.find(name).is_some_and(|(_, h)| *h == i);
                let stopped = self.model.stopped.contains(&(name.clone(), i));
                assert!(live != stopped, "{name:?} is held once, or was stopped");
            }
        }
    }
}
