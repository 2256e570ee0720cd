//! The connection state machine without sockets: OTP's reads, policy and
//! replies, and the property that how the bytes are split does not matter
//! (beyond the one rule of OTP's where it does).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use epmd_core::codec::{
    self, Alive2Reply, FrameError, NodeInfo, Request, RequestError, MAX_REQUEST_LEN,
};
use epmd_core::events::LocalCommand;
use epmd_core::registry::{Evict, Owner, RegisterError, Registry, RETIRED_CAP};
use epmd_core::session::{Action, Close, Outcome, Policy, Session};
use proptest::prelude::*;

/// The registry's clock: new names get NOW + 1.
const NOW: u32 = 1_795_672_902;
const PORT: u32 = 27311;
/// OTP's first read: its buffer size less one.
const FIRST_READ: usize = MAX_REQUEST_LEN + 2;

fn policy(relaxed: bool) -> Policy {
    Policy {
        port: PORT,
        relaxed,
        remote_names: true,
    }
}

fn owner() -> Owner {
    Owner::Connection {
        fd: 7,
        peer: "127.0.0.1:40000".parse().unwrap(),
    }
}

fn node(name: &[u8], port: u16) -> NodeInfo {
    NodeInfo::normal(name, port)
}

fn wire(request: &Request) -> Vec<u8> {
    request.encode().unwrap()
}

/// A registry holding `foo` (port 1234) and `bar` (port 2345), registered in
/// the VM with hooks that count evictions.
fn registry() -> (Registry, Arc<AtomicUsize>) {
    let mut registry = Registry::with_clock(RETIRED_CAP, || NOW);
    let evicted = Arc::new(AtomicUsize::new(0));
    for (name, port) in [(&b"foo"[..], 1234), (b"bar", 2345)] {
        let count = evicted.clone();
        let hook: Evict = Box::new(move || {
            count.fetch_add(1, Ordering::SeqCst);
        });
        registry
            .register(node(name, port), Owner::Local(Arc::new(())), Some(hook))
            .unwrap();
    }
    (registry, evicted)
}

/// What a session did, in a form that can be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Dispatch(Request),
    RefusedNonLocal(LocalCommand),
    Registered(Vec<u8>, u16, u32),
    RegisterRefused(Vec<u8>, RegisterError),
    Replied,
    KillRefused,
    KillAccepted,
    Stopped(Vec<u8>, bool),
    StopRefused(Vec<u8>),
    /// `last`: the connection closes after this reply.
    Send {
        bytes: Vec<u8>,
        last: bool,
    },
    Hold,
    Unregistered(Option<Vec<u8>>),
    Close(Close),
}

fn summary(outcome: Outcome) -> Step {
    match outcome {
        Outcome::RefusedNonLocal(c) => Step::RefusedNonLocal(c),
        Outcome::Registered {
            name,
            port,
            creation,
        } => Step::Registered(name, port, creation),
        Outcome::RegisterRefused { name, reason } => Step::RegisterRefused(name, reason),
        Outcome::Replied => Step::Replied,
        Outcome::KillRefused => Step::KillRefused,
        Outcome::KillAccepted => Step::KillAccepted,
        Outcome::Stopped { name, removed } => {
            let registered = removed.is_some();
            if let Some(evict) = removed.and_then(|mut r| r.take_evict()) {
                evict();
            }
            Step::Stopped(name, registered)
        }
        Outcome::StopRefused { name } => Step::StopRefused(name),
    }
}

/// A peer that sends `chunks`, each arriving on its own, then closes. A read
/// takes at most what the session asks for from the chunk at hand; what it
/// leaves is there for the next read. Writes succeed unless `fail_writes`.
struct Peer<'a> {
    chunks: Vec<&'a [u8]>,
    fail_writes: bool,
}

impl Peer<'_> {
    fn read(&mut self, buf: &mut [u8]) -> usize {
        let Some(chunk) = self.chunks.first_mut() else {
            return 0;
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        *chunk = &chunk[n..];
        if chunk.is_empty() {
            self.chunks.remove(0);
        }
        n
    }
}

/// Runs a session to its end against `peer` and `registry`; the trace ends
/// with the close reason.
fn drive(session: &mut Session, registry: &mut Registry, mut peer: Peer<'_>) -> Vec<Step> {
    peer.chunks.retain(|c| !c.is_empty());
    let mut trace = Vec::new();
    loop {
        match session.next_action() {
            Action::Read(buf) => match peer.read(buf) {
                0 => session.peer_closed(),
                n => session.received(n),
            },
            Action::Dispatch(request) => {
                trace.push(Step::Dispatch(request.clone()));
                let outcome = session.dispatch(registry, || Box::new(|| {}));
                trace.push(summary(outcome));
            }
            Action::Send { bytes, last } => {
                trace.push(Step::Send {
                    bytes: bytes.to_vec(),
                    last,
                });
                session.sent(!peer.fail_writes);
            }
            // Whatever is left of the stream, or its end, ends the hold.
            Action::Hold => {
                trace.push(Step::Hold);
                session.hold_ended();
            }
            Action::Unregister => {
                let removed = session.unregister(registry);
                trace.push(Step::Unregistered(removed.map(|r| r.node.name.clone())));
            }
            Action::Close(close) => {
                trace.push(Step::Close(close.clone()));
                return trace;
            }
        }
    }
}

/// Everything a registry shows: NAMES and DUMP as a local relaxed peer sees them.
fn snapshot(registry: &mut Registry) -> Vec<Step> {
    [Request::Names, Request::Dump]
        .iter()
        .flat_map(|r| run_on(registry, policy(false), true, &[&wire(r)]))
        .collect()
}

fn run_on(registry: &mut Registry, policy: Policy, local: bool, chunks: &[&[u8]]) -> Vec<Step> {
    let mut session = Session::new(policy, local, owner());
    let peer = Peer {
        chunks: chunks.to_vec(),
        fail_writes: false,
    };
    drive(&mut session, registry, peer)
}

/// A run on a fresh registry: its trace, then what the registry shows after.
fn run(relaxed: bool, local: bool, chunks: &[&[u8]]) -> Vec<Step> {
    let (mut registry, _) = registry();
    let mut trace = run_on(&mut registry, policy(relaxed), local, chunks);
    trace.extend(snapshot(&mut registry));
    trace
}

fn served(request: &Request, outcome: Step, reply: &[u8]) -> Vec<Step> {
    vec![
        Step::Dispatch(request.clone()),
        outcome,
        Step::Send {
            bytes: reply.to_vec(),
            last: true,
        },
        Step::Close(Close::Done),
    ]
}

#[test]
fn reads_as_otp_reads() {
    let mut session = Session::new(policy(false), true, owner());
    let Action::Read(buf) = session.next_action() else {
        panic!("a new session reads")
    };
    assert_eq!(buf.len(), FIRST_READ);
    buf[0] = 0;
    session.received(1);
    // Asking again without an answer asks the same.
    for _ in 0..2 {
        assert!(matches!(session.next_action(), Action::Read(b) if b.len() == FIRST_READ - 1));
    }
    let Action::Read(buf) = session.next_action() else {
        unreachable!()
    };
    buf[..2].copy_from_slice(&[4, b'z']);
    session.received(2);
    // Length known: exactly the rest of the request.
    assert!(matches!(session.next_action(), Action::Read(b) if b.len() == 3));
}

#[test]
fn requests_are_served_from_the_registry() {
    let port2 = Request::PortPlease2 {
        name: b"foo".to_vec(),
    };
    let found = codec::encode_port2_reply(Some(&node(b"foo", 1234)));
    let (mut registry, _) = registry();
    let trace = run_on(&mut registry, policy(false), false, &[&wire(&port2)]);
    assert_eq!(trace, served(&port2, Step::Replied, &found));

    let mut names = PORT.to_be_bytes().to_vec();
    names.extend_from_slice(b"name bar at port 2345\nname foo at port 1234\n");
    let trace = run_on(&mut registry, policy(false), false, &[b"\x00\x01n"]);
    assert_eq!(trace, served(&Request::Names, Step::Replied, &names));
}

#[test]
fn local_only_requests_from_elsewhere_are_dropped() {
    for (request, command) in [
        (Request::Alive2(node(b"baz", 1)), LocalCommand::Alive2),
        (Request::Dump, LocalCommand::Dump),
        (Request::Kill, LocalCommand::Kill),
        (
            Request::Stop {
                name: b"foo".to_vec(),
            },
            LocalCommand::Stop,
        ),
    ] {
        let trace = run(true, false, &[&wire(&request)]);
        assert_eq!(
            trace[..3],
            [
                Step::Dispatch(request),
                Step::RefusedNonLocal(command),
                Step::Close(Close::Done)
            ]
        );
        assert_eq!(trace[3..], run(true, true, &[])[1..], "registry untouched");
    }
}

/// The hardened profile: NAMES only for local peers; lookups stay open.
#[test]
fn local_names_only_refuses_remote_listings() {
    let hardened = Policy {
        remote_names: false,
        ..policy(false)
    };
    let names = wire(&Request::Names);
    let trace = run_on(&mut registry().0, hardened, false, &[&names]);
    assert_eq!(
        trace,
        [
            Step::Dispatch(Request::Names),
            Step::RefusedNonLocal(LocalCommand::Names),
            Step::Close(Close::Done)
        ]
    );
    let local = run_on(&mut registry().0, hardened, true, &[&names]);
    assert_eq!(local[1], Step::Replied);
    let lookup = Request::PortPlease2 {
        name: b"foo".to_vec(),
    };
    let remote = run_on(&mut registry().0, hardened, false, &[&wire(&lookup)]);
    assert_eq!(remote[1], Step::Replied);
}

#[test]
fn kill_and_stop_follow_relaxed_mode() {
    let kill = wire(&Request::Kill);
    assert_eq!(
        run_on(&mut registry().0, policy(false), true, &[&kill]),
        served(&Request::Kill, Step::KillRefused, b"NO")
    );
    let mut empty = Registry::with_clock(RETIRED_CAP, || NOW);
    let accepted = run_on(&mut empty, policy(false), true, &[&kill]);
    assert_eq!(
        accepted[1..],
        [
            Step::KillAccepted,
            Step::Send {
                bytes: b"OK".to_vec(),
                last: true,
            },
            Step::Close(Close::Kill)
        ]
    );
    assert_eq!(
        run_on(&mut registry().0, policy(true), true, &[&kill])[3],
        Step::Close(Close::Kill)
    );

    let stop = Request::Stop {
        name: b"foo".to_vec(),
    };
    let (mut registry, evicted) = registry();
    let trace = run_on(&mut registry, policy(false), true, &[&wire(&stop)]);
    assert_eq!(
        trace[1..],
        [Step::StopRefused(b"foo".to_vec()), Step::Close(Close::Done)]
    );
    let trace = run_on(&mut registry, policy(true), true, &[&wire(&stop)]);
    assert_eq!(
        trace[1..3],
        [
            Step::Stopped(b"foo".to_vec(), true),
            Step::Send {
                bytes: b"STOPPED".to_vec(),
                last: true,
            }
        ]
    );
    assert_eq!(evicted.load(Ordering::SeqCst), 1);
    assert!(registry.lookup(b"foo").is_none());
    let trace = run_on(&mut registry, policy(true), true, &[&wire(&stop)]);
    assert_eq!(
        trace[2],
        Step::Send {
            bytes: b"NOEXISTSTOPPED".to_vec(),
            last: true,
        }
    );
}

#[test]
fn a_registration_lives_until_the_hold_ends() {
    let (mut registry, _) = registry();
    let alive = Request::Alive2(node(b"baz", 99));
    let bytes = wire(&alive);
    let mut session = Session::new(policy(false), true, owner());
    let mut peer = Peer {
        chunks: vec![&bytes],
        fail_writes: false,
    };
    let Action::Read(buf) = session.next_action() else {
        unreachable!()
    };
    let n = peer.read(buf);
    session.received(n);
    assert_eq!(session.next_action(), Action::Dispatch(&alive));
    let outcome = session.dispatch(&mut registry, || Box::new(|| {}));
    assert_eq!(
        summary(outcome),
        Step::Registered(b"baz".to_vec(), 99, NOW + 1)
    );
    let reply = Alive2Reply {
        extended: true,
        ok: true,
        creation: NOW + 1,
    };
    assert_eq!(
        session.next_action(),
        Action::Send {
            bytes: &reply.encode(),
            last: false,
        }
    );
    session.sent(true);
    assert_eq!(session.next_action(), Action::Hold);
    assert_eq!(registry.lookup(b"baz"), Some(&node(b"baz", 99)));
    session.hold_ended();
    assert_eq!(session.next_action(), Action::Unregister);
    assert!(session.unregister(&mut registry).is_some());
    assert_eq!(session.next_action(), Action::Close(&Close::Done));
    assert!(registry.lookup(b"baz").is_none());
}

#[test]
fn a_lost_alive2_reply_undoes_only_its_own_registration() {
    let (mut registry, _) = registry();
    for (name, expected) in [
        (&b"baz"[..], Step::Unregistered(Some(b"baz".to_vec()))),
        // A duplicate: the live foo stays (deviation D1).
        (b"foo", Step::Close(Close::Done)),
    ] {
        let bytes = wire(&Request::Alive2(node(name, 1)));
        let mut session = Session::new(policy(false), true, owner());
        let peer = Peer {
            chunks: vec![&bytes],
            fail_writes: true,
        };
        let trace = drive(&mut session, &mut registry, peer);
        assert_eq!(trace[3], expected);
    }
    assert_eq!(registry.lookup(b"foo").unwrap().port, 1234);
    assert!(registry.lookup(b"baz").is_none());
}

#[test]
fn a_refused_alive2_is_held_without_a_registration() {
    let trace = run(false, true, &[&wire(&Request::Alive2(node(b"foo", 1)))]);
    assert_eq!(
        trace[1..5],
        [
            Step::RegisterRefused(b"foo".to_vec(), RegisterError::NameTaken),
            Step::Send {
                bytes: b"v\x01\x00\x00\x00\x63".to_vec(),
                last: false,
            },
            Step::Hold,
            Step::Close(Close::Done),
        ]
    );
}

#[test]
fn bad_frames_and_requests_close_with_their_reason() {
    for (bytes, close) in [
        (&b"\x00\x00"[..], Close::Frame(FrameError::BadLength(0))),
        (b"\x0b\xf2", Close::Frame(FrameError::BadLength(3058))),
        (
            b"\x00\x01n\x00",
            Close::Frame(FrameError::TrailingBytes {
                got: 4,
                expected: 3,
            }),
        ),
        (
            b"\x00\x01Q",
            Close::Request(RequestError::UnknownCommand(b'Q')),
        ),
        (b"\x00\x05n", Close::Incomplete(3)),
        (b"", Close::Incomplete(0)),
    ] {
        assert_eq!(run(false, true, &[bytes])[0], Step::Close(close));
    }
    let mut session = Session::new(policy(false), true, owner());
    let _ = session.next_action();
    session.timed_out();
    assert_eq!(session.next_action(), Action::Close(&Close::Timeout));
}

#[test]
#[should_panic(expected = "does not answer the pending action")]
fn answering_the_wrong_action_is_a_bug() {
    let mut session = Session::new(policy(false), true, owner());
    session.sent(true);
}

// ---------------------------------------------------------------------------
// Properties.
//
// OTP reads up to 3059 bytes while the length is unknown and exactly the rest
// of the request once it is known (§1); bytes beyond Length that arrive in the
// read that completed the length close the connection, bytes that come later
// are never read. So a stream of more than one request is legitimately served
// or refused depending on where it is split, and the properties say exactly
// how far splitting may matter:
//
// 1. A stream that is at most one request (a prefix of one frame) gets the
//    same trace however it is split as when it arrives whole.
// 2. A complete request followed by anything, arriving whole, is refused:
//    closed for trailing bytes, nothing dispatched or sent.
// 3. For any stream and any split, only the end of the read that completes
//    the length matters: the trace equals that of the stream split there
//    alone.
//
// Reads never take more than the session asks for (the peer model above), and
// a trace includes the registry's NAMES and DUMP after the run.

/// Names that meet the registry's (foo is live), and any bytes.
fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"foo".to_vec()),
        Just(b"baz".to_vec()),
        "[a-z😈]{1,6}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..8),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    let alive2 = (
        any::<u16>(),
        any::<u8>(),
        0u16..8,
        name(),
        prop::collection::vec(any::<u8>(), 0..4),
    )
        .prop_map(|(port, node_type, highest_version, name, extra)| {
            Request::Alive2(NodeInfo {
                port,
                node_type,
                protocol: 0,
                highest_version,
                lowest_version: 5,
                name,
                extra,
            })
        });
    prop_oneof![
        alive2,
        name().prop_map(|name| Request::PortPlease2 { name }),
        Just(Request::Names),
        Just(Request::Dump),
        Just(Request::Kill),
        name().prop_map(|name| Request::Stop { name }),
    ]
}

/// Requests, damaged requests, pipelined ones, and junk with a small length.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let junk = || prop::collection::vec(any::<u8>(), 0..12);
    prop_oneof![
        request().prop_map(|r| wire(&r)),
        (request(), junk()).prop_map(|(r, j)| [wire(&r), j].concat()),
        (request(), request()).prop_map(|(a, b)| [wire(&a), wire(&b)].concat()),
        (request(), any::<prop::sample::Index>()).prop_map(|(r, at)| {
            let w = wire(&r);
            w[..at.index(w.len() + 1)].to_vec()
        }),
        (0u16..24, prop::sample::select(&b"xzndksQ"[..]), junk()).prop_map(|(len, code, body)| [
            &len.to_be_bytes()[..],
            &[code],
            &body
        ]
        .concat()),
        junk(),
    ]
}

/// Splits `bytes` before each of `cuts` (indexes into it, in any order).
fn split<'a>(bytes: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
    at.extend([0, bytes.len()]);
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

/// Where the read that completes the length ends, for a stream arriving in
/// `chunks`: the end of the chunk holding byte 1, or of OTP's first read.
fn length_read_end(chunks: &[&[u8]]) -> Option<usize> {
    let mut end = 0;
    for c in chunks {
        end += c.len();
        if end >= 2 {
            return Some(end.min(FIRST_READ));
        }
    }
    None
}

/// The bytes of `stream` that can belong to its first request.
fn first_frame(stream: &[u8]) -> &[u8] {
    match stream {
        [a, b, ..] => {
            let len = usize::from(u16::from_be_bytes([*a, *b]));
            &stream[..stream.len().min(len + 2)]
        }
        _ => stream,
    }
}

proptest! {
    #[test]
    fn at_most_one_request_is_served_however_it_is_split(
        stream in stream(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        relaxed: bool,
        local: bool,
    ) {
        let one = first_frame(&stream);
        let whole = run(relaxed, local, &[one]);
        prop_assert_eq!(run(relaxed, local, &split(one, &cuts)), whole);
    }

    #[test]
    fn trailing_bytes_in_the_first_read_are_refused(
        request in request(),
        trailing in prop::collection::vec(any::<u8>(), 1..4000),
        relaxed: bool,
    ) {
        let frame = wire(&request);
        let stream = [&frame[..], &trailing].concat();
        let mut expected = vec![Step::Close(Close::Frame(FrameError::TrailingBytes {
            got: stream.len().min(FIRST_READ),
            expected: frame.len(),
        }))];
        expected.extend(run(relaxed, true, &[]).into_iter().skip(1));
        prop_assert_eq!(run(relaxed, true, &[&stream]), expected);
    }

    #[test]
    fn only_the_read_that_completes_the_length_matters(
        stream in stream(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        relaxed: bool,
        local: bool,
    ) {
        let chunks = split(&stream, &cuts);
        let canonical = match length_read_end(&chunks) {
            Some(m) => vec![&stream[..m], &stream[m..]],
            None => vec![&stream[..]],
        };
        prop_assert_eq!(run(relaxed, local, &chunks), run(relaxed, local, &canonical));
    }
}
