//! The server over real TCP, byte for byte against docs/PROTOCOL.md.

mod common;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use epmd_core::codec::NodeInfo;
use epmd_core::config::Config;
use epmd_core::listen::{self, ListenAddr, ListenError};
use epmd_core::registry::{creation_for_reply, Evict, Owner, Registry};
use epmd_core::server::{self, Exit, Shared};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const PORT2_FOO: &[u8] = b"\x00\x04zfoo";

#[tokio::test]
async fn names_on_empty_server_is_just_the_header() {
    let server = TestServer::start().await;
    assert_eq!(server.request(b"\x00\x01n").await, [0x00, 0x00, 0x6a, 0xaf]);
}

#[tokio::test]
async fn names_lists_newest_first() {
    let server = TestServer::start().await;
    let _foo = server.register_ok("foo", 1234).await;
    let _bar = server.register_ok("bar", 2345).await;
    assert_eq!(
        server.names().await,
        b"name bar at port 2345\nname foo at port 1234\n"
    );
    // Bytes after `n` are ignored.
    let reply = server.request(b"\x00\x04nxyz").await;
    assert_eq!(
        reply[4..],
        *b"name bar at port 2345\nname foo at port 1234\n"
    );
}

#[tokio::test]
async fn alive2_v6_reply_comes_in_one_read_and_socket_stays_open() {
    let server = TestServer::start().await;
    let (mut s, reply) = server.register("foo", 1234, 6).await;
    // erl_epmd rejects a `v` reply split over two reads (§10.3).
    let mut expected = b"v\x00".to_vec();
    expected.extend_from_slice(&(NOW + 1).to_be_bytes());
    assert_eq!(reply, expected);
    assert_open(&mut s).await;
    assert_eq!(server.names().await, b"name foo at port 1234\n");
}

#[tokio::test]
async fn alive2_v5_gets_short_creation() {
    let server = TestServer::start().await;
    let (mut s, reply) = server.register("foo", 1234, 5).await;
    assert_eq!(reply.len(), 4);
    assert_eq!(reply[..2], *b"y\x00");
    let creation = u16::from_be_bytes([reply[2], reply[3]]);
    assert!((1..=3).contains(&creation), "creation {creation}");
    assert_eq!(u32::from(creation), creation_for_reply(NOW + 1, false));
    assert_open(&mut s).await;
}

#[tokio::test]
async fn reregistration_bumps_creation() {
    let server = TestServer::start().await;
    let first = server.register_ok("foo", 1234).await;
    drop(first);
    eventually("foo unregistered", || async {
        server.names().await.is_empty()
    })
    .await;
    let (_s, reply) = server.register("foo", 1234, 6).await;
    assert_eq!(reply[2..], (NOW + 2).to_be_bytes());
}

#[tokio::test]
async fn duplicate_name_is_refused_and_its_socket_kept_open() {
    let server = TestServer::start().await;
    let _foo = server.register_ok("foo", 1234).await;

    let (mut dup_v, reply) = server.register("foo", 9999, 6).await;
    assert_eq!(reply, b"v\x01\x00\x00\x00\x63");
    let (mut dup_y, reply) = server.register("foo", 9999, 5).await;
    assert_eq!(reply, b"y\x01\x00\x63");
    assert_open(&mut dup_v).await;
    assert_open(&mut dup_y).await;

    // Ending a failed registration's socket must not unregister the live one.
    // The server closes only after its cleanup, so EOF orders the check.
    dup_v.write_all(b"!").await.unwrap();
    assert_eq!(read_to_eof(&mut dup_v).await, b"");
    drop(dup_y);
    let reply = server.request(PORT2_FOO).await;
    assert_eq!(reply[..4], *b"w\x00\x04\xd2", "foo still on port 1234");
}

/// An ALIVE2 can arrive before the close of the connection that holds its
/// name (a node restarting at once). The server holds it back for a moment
/// (here longer than the test's deadline) rather than refuse it, and the name
/// passes on when the close comes.
#[tokio::test]
async fn alive2_waits_briefly_for_a_holder_that_is_leaving() {
    let server = TestServer::with(|c| c.handover = 2 * DEADLINE).await;
    let foo = server.register_ok("foo", 1234).await;
    let mut next = server.connect().await;
    next.write_all(&alive2("foo", 2345, 6)).await.unwrap();
    assert_open(&mut next).await;
    drop(foo);
    let reply = read_one(&mut next).await;
    assert_eq!(reply[..2], *b"v\x00", "the name passed on");
    assert_eq!(server.request(PORT2_FOO).await[..4], *b"w\x00\x09\x29");
}

/// A duplicate held back and then refused is done with: the holder leaving
/// afterwards neither registers it nor closes its connection, which stays
/// open as OTP keeps it.
#[tokio::test]
async fn a_refused_duplicate_is_not_revived_when_the_holder_leaves() {
    let server = TestServer::start().await;
    let foo = server.register_ok("foo", 1234).await;
    let (mut dup, reply) = server.register("foo", 2345, 6).await;
    assert_eq!(reply, b"v\x01\x00\x00\x00\x63");
    drop(foo);
    eventually("foo unregistered", || async {
        server.names().await.is_empty()
    })
    .await;
    assert_open(&mut dup).await;
    assert!(server.names().await.is_empty());
}

#[tokio::test]
async fn closing_the_registration_socket_unregisters() {
    let server = TestServer::start().await;
    let foo = server.register_ok("foo", 1234).await;
    let _bar = server.register_ok("bar", 2345).await;
    drop(foo);
    eventually("foo gone from NAMES", || async {
        server.names().await == b"name bar at port 2345\n"
    })
    .await;
    eventually("foo gone from PORT2", || async {
        server.request(PORT2_FOO).await == b"w\x01"
    })
    .await;
}

#[tokio::test]
async fn data_on_a_registered_socket_unregisters_and_closes_it() {
    let server = TestServer::start().await;
    let mut foo = server.register_ok("foo", 1234).await;
    foo.write_all(b"?").await.unwrap();
    assert_eq!(read_to_eof(&mut foo).await, b"");
    eventually("foo unregistered", || async {
        server.names().await.is_empty()
    })
    .await;
}

#[tokio::test]
async fn port_please2_replies() {
    let server = TestServer::start().await;
    let _foo = server.register_ok("foo", 1234).await;
    let found = [
        0x77, 0x00, 0x04, 0xd2, 0x4d, 0x00, 0x00, 0x06, 0x00, 0x05, 0x00, 0x03, 0x66, 0x6f, 0x6f,
        0x00, 0x00,
    ];
    // `request` reads to a clean EOF: the server closes after the reply.
    assert_eq!(server.request(PORT2_FOO).await, found);
    assert_eq!(server.request(b"\x00\x05zfoo\x00").await, found);
    assert_eq!(server.request(b"\x00\x05znope").await, b"w\x01");
    // Case-sensitive.
    assert_eq!(server.request(b"\x00\x04zFOO").await, b"w\x01");
}

#[tokio::test]
async fn port_please2_echoes_type_protocol_and_extra() {
    let server = TestServer::start().await;
    // Port 2345, type 200, protocol 7, hv 5 lv 5, extra "EX\0\1".
    let body = b"x\x09\x29\xc8\x07\x00\x05\x00\x05\x00\x03bar\x00\x04EX\x00\x01";
    let mut s = server.connect().await;
    s.write_all(&framed(body)).await.unwrap();
    assert_eq!(read_one(&mut s).await[..2], *b"y\x00");
    assert_eq!(
        server.request(b"\x00\x05zbar\x00").await,
        b"w\x00\x09\x29\xc8\x07\x00\x05\x00\x05\x00\x03bar\x00\x04EX\x00\x01"
    );
}

#[tokio::test]
async fn malformed_port_please2_is_dropped() {
    let server = TestServer::start().await;
    for req in [
        &b"\x00\x01z"[..],
        b"\x00\x02z\x00",
        b"\x00\x05zh0\x00\x00",
        b"\x00\x02z\xff",
    ] {
        let mut s = server.connect().await;
        s.write_all(req).await.unwrap();
        assert_dropped(&mut s).await;
    }
}

#[tokio::test]
async fn bad_lengths_close_without_data() {
    let server = TestServer::start().await;
    let mut zero = server.connect().await;
    zero.write_all(&[0; 10]).await.unwrap();
    assert_dropped(&mut zero).await;

    let mut too_large = server.connect().await;
    let mut req = 3058u16.to_be_bytes().to_vec();
    req.push(b'n');
    req.resize(3060, b'.');
    too_large.write_all(&req).await.unwrap();
    assert_dropped(&mut too_large).await;

    // 3057 is the largest Length served.
    let mut req = 3057u16.to_be_bytes().to_vec();
    req.push(b'n');
    req.resize(3059, b'.');
    assert_eq!(server.request(&req).await, PORT.to_be_bytes());
}

#[tokio::test]
async fn pipelined_requests_close_without_data() {
    let server = TestServer::start().await;
    let mut s = server.connect().await;
    s.write_all(b"\x00\x01n\x00\x01n").await.unwrap();
    assert_dropped(&mut s).await;
}

/// A reply leaves with the connection's end, in one segment where OTP's epmd
/// sends two. A client that sent more than its request gets its reply and a
/// clean end of file, where OTP's close resets the connection.
#[tokio::test]
async fn a_reply_leaves_with_the_close() {
    let server = TestServer::start().await;
    let mut s = server.connect().await;
    s.write_all(b"\x00\x05znope").await.unwrap();
    assert_eq!(read_to_eof(&mut s).await, b"w\x01");
    // The SYN-ACK, the acknowledgement of the request if it came on its
    // own, and the reply with the FIN.
    let received = segments_received(&s);
    assert!(received <= 3, "reply and FIN apart: {received} segments");

    // The length first, read on its own, so that the server then reads
    // exactly the rest of the request and leaves what follows it unread. A
    // task writes the reply under `-delay_write`, the accept thread without.
    let delayed = TestServer::with(|c| c.delay_write = Some(Duration::from_millis(1))).await;
    for server in [&server, &delayed] {
        let mut s = server.connect().await;
        s.write_all(b"\x00\x05").await.unwrap();
        eventually("the length read", || async { server_has_read_all(&s) }).await;
        s.write_all(b"znope, and more").await.unwrap();
        assert_eq!(read_to_eof(&mut s).await, b"w\x01");
    }
}

#[tokio::test]
async fn request_split_into_single_bytes_is_served() {
    let server = TestServer::start().await;
    let _foo = server.register_ok("foo", 1234).await;
    let mut s = server.connect().await;
    for b in PORT2_FOO {
        s.write_all(&[*b]).await.unwrap();
        s.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reply = read_to_eof(&mut s).await;
    assert_eq!(reply[..4], *b"w\x00\x04\xd2");
}

/// The packet timeout of the tests that wait for it: short, in whole seconds
/// as OTP counts it.
const PACKET_TIMEOUT: Duration = Duration::from_secs(1);

/// A server with [`PACKET_TIMEOUT`] and `foo` registered at 1234, with the
/// socket that holds the registration.
async fn with_foo_and_packet_timeout() -> (TestServer, TcpStream) {
    let server = TestServer::with(|c| c.packet_timeout = PACKET_TIMEOUT).await;
    let held = server.register_ok("foo", 1234).await;
    (server, held)
}

#[tokio::test]
async fn idle_and_partial_connections_time_out_but_registrations_do_not() {
    let (server, _foo) = with_foo_and_packet_timeout().await;
    let start = Instant::now();
    let mut idle = server.connect().await;
    let mut partial = server.connect().await;
    partial.write_all(b"\x00\x64zfoo").await.unwrap();
    let (a, b) = tokio::join!(
        async {
            assert_dropped(&mut idle).await;
            start.elapsed()
        },
        async {
            assert_dropped(&mut partial).await;
            start.elapsed()
        },
    );
    // OTP closes after packet_timeout..packet_timeout+1 s of silence.
    assert!(
        a >= PACKET_TIMEOUT && b >= PACKET_TIMEOUT,
        "closed too early: {a:?} {b:?}"
    );
    // The registration is older than both and has been silent longer.
    assert_eq!(server.names().await, b"name foo at port 1234\n");
}

/// Connections accepted before their request comes wait for it in the
/// listener's epoll set: late lookups and a late ALIVE2 (handed on to hold its
/// registration) are served, while silent neighbours are closed at their
/// deadline, none sooner.
#[tokio::test]
async fn requests_that_arrive_after_the_accept_are_served() {
    let (server, _foo) = with_foo_and_packet_timeout().await;
    let start = Instant::now();
    let mut late = Vec::new();
    let mut silent = Vec::new();
    for _ in 0..20 {
        late.push(server.connect().await);
        silent.push(server.connect().await);
    }
    let mut alive = server.connect().await;
    eventually("every connection accepted", || async {
        server.accepted() == 1 + 41
    })
    .await;
    for s in &mut late {
        s.write_all(PORT2_FOO).await.unwrap();
    }
    for s in &mut late {
        assert_eq!(read_to_eof(s).await[..4], *b"w\x00\x04\xd2");
    }
    alive.write_all(&alive2("bar", 4321, 6)).await.unwrap();
    assert_eq!(read_one(&mut alive).await[..2], *b"v\x00");
    assert_eq!(
        server.names().await,
        b"name bar at port 4321\nname foo at port 1234\n"
    );
    for s in &mut silent {
        assert_dropped(s).await;
    }
    assert!(start.elapsed() >= PACKET_TIMEOUT, "closed too early");
    drop(alive);
    eventually("bar unregistered", || async {
        server.names().await == b"name foo at port 1234\n"
    })
    .await;
}

#[tokio::test]
async fn packet_timeout_bounds_the_whole_request() {
    // Since the CVE-2026-42792 mitigation (OTP 27 on): the request as a whole
    // must arrive in time, however short each gap (deviation D3 from 25.2.3).
    let (server, _foo) = with_foo_and_packet_timeout().await;
    let mut s = server.connect().await;
    let started = Instant::now();
    s.write_all(b"\x00\x04z").await.unwrap();
    for b in b"fo" {
        tokio::time::sleep(Duration::from_millis(700)).await;
        s.write_all(&[*b]).await.unwrap();
    }
    // 1.4 s in: within T+1, the request is still being read.
    tokio::time::sleep(Duration::from_millis(1400)).await;
    let _ = s.write_all(b"o").await;
    assert_dropped(&mut s).await;
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[tokio::test]
async fn a_dribbled_request_within_the_timeout_is_served() {
    let (server, _foo) = with_foo_and_packet_timeout().await;
    let mut s = server.connect().await;
    s.write_all(b"\x00\x04z").await.unwrap();
    for b in b"foo" {
        tokio::time::sleep(Duration::from_millis(250)).await;
        s.write_all(&[*b]).await.unwrap();
    }
    let reply = read_to_eof(&mut s).await;
    assert_eq!(reply[..4], *b"w\x00\x04\xd2");
}

#[tokio::test]
async fn unknown_and_legacy_commands_are_dropped() {
    let server = TestServer::start().await;
    for code in [b'Q', b'a', b'p', b'y', 0] {
        let mut s = server.connect().await;
        s.write_all(&[0, 1, code]).await.unwrap();
        assert_dropped(&mut s).await;
    }
}

#[tokio::test]
async fn malformed_alive2_is_dropped() {
    let server = TestServer::start().await;
    // Body of 11 bytes (no Elen), 9 bytes, and exactly 13 (empty name and extra).
    let too_small_1 = framed(b"x\x04\xd2\x4d\x00\x00\x05\x00\x05\x00\x00");
    let too_small_2 = framed(b"x\x04\xd2\x4d\x00\x00\x05\x00\x05");
    let thirteen = framed(b"x\x04\xd2\x4d\x00\x00\x05\x00\x05\x00\x00\x00\x00");
    // Elen points past the body; name with a NUL inside.
    let mut truncated = alive2("gurka", 1, 6);
    *truncated.last_mut().unwrap() = 5;
    let nul = alive2("foo\0bar", 1, 6);
    for req in [too_small_1, too_small_2, thirteen, truncated, nul] {
        let mut s = server.connect().await;
        s.write_all(&req).await.unwrap();
        assert_dropped(&mut s).await;
    }
    assert!(server.names().await.is_empty());
}

#[tokio::test]
async fn kill_is_refused_while_nodes_live_then_accepted() {
    let mut server = TestServer::start().await;
    let foo = server.register_ok("foo", 1234).await;
    assert_eq!(server.request(b"\x00\x01k").await, b"NO");
    // Still serving, registration intact.
    assert_eq!(server.names().await, b"name foo at port 1234\n");

    drop(foo);
    eventually("foo unregistered", || async {
        server.names().await.is_empty()
    })
    .await;
    assert_eq!(server.request(b"\x00\x01k").await, b"OK");
    assert_eq!(server.exit().await, Exit::Killed);
    // The listener is gone with the server.
    assert!(TcpStream::connect(server.addr).await.is_err());
}

#[tokio::test]
async fn relaxed_kill_ends_live_registrations() {
    let mut server = TestServer::relaxed().await;
    let mut foo = server.register_ok("foo", 1234).await;
    assert_eq!(server.request(b"\x00\x01k").await, b"OK");
    assert_eq!(server.exit().await, Exit::Killed);
    assert_eq!(read_to_eof(&mut foo).await, b"");
    assert!(server.shared.registry().is_empty());
}

/// An in-process registration (as the NIF makes) with a counting evict hook.
fn register_in_vm(shared: &Shared, name: &str) -> Arc<AtomicUsize> {
    let evicted = Arc::new(AtomicUsize::new(0));
    let count = evicted.clone();
    let hook: Evict = Box::new(move || {
        count.fetch_add(1, Ordering::SeqCst);
    });
    let node = NodeInfo::normal(name, 4242);
    shared
        .registry()
        .register(node, Owner::Local(Arc::new(())), Some(hook))
        .unwrap();
    evicted
}

#[tokio::test]
async fn relaxed_kill_evicts_in_process_registrations() {
    let mut server = TestServer::relaxed().await;
    let evicted = register_in_vm(&server.shared, "vm");
    assert_eq!(server.names().await, b"name vm at port 4242\n");
    assert_eq!(server.request(b"\x00\x01k").await, b"OK");
    assert_eq!(server.exit().await, Exit::Killed);
    assert_eq!(evicted.load(Ordering::SeqCst), 1);
    assert!(server.shared.registry().is_empty());
}

#[tokio::test]
async fn in_process_registration_blocks_strict_kill() {
    let server = TestServer::start().await;
    let _evicted = register_in_vm(&server.shared, "vm");
    assert_eq!(server.request(b"\x00\x01k").await, b"NO");
}

#[tokio::test]
async fn stop_without_relaxed_is_dropped() {
    let server = TestServer::start().await;
    let mut foo = server.register_ok("foo", 1234).await;
    let mut s = server.connect().await;
    s.write_all(b"\x00\x04sfoo").await.unwrap();
    assert_dropped(&mut s).await;
    assert_eq!(server.names().await, b"name foo at port 1234\n");
    assert_open(&mut foo).await;
}

#[tokio::test]
async fn relaxed_stop_closes_the_node_socket() {
    let server = TestServer::relaxed().await;
    let mut foo = server.register_ok("foo", 1234).await;
    assert_eq!(server.request(b"\x00\x04sfoo").await, b"STOPPED");
    assert_eq!(read_to_eof(&mut foo).await, b"");
    assert!(server.names().await.is_empty());
    assert_eq!(server.request(b"\x00\x06sxxx42").await, b"NOEXISTSTOPPED");
    // Empty name: dropped.
    let mut s = server.connect().await;
    s.write_all(b"\x00\x01s").await.unwrap();
    assert_dropped(&mut s).await;
}

#[tokio::test]
async fn relaxed_stop_evicts_in_process_registration() {
    let server = TestServer::relaxed().await;
    let evicted = register_in_vm(&server.shared, "vm");
    assert_eq!(server.request(b"\x00\x03svm").await, b"STOPPED");
    assert_eq!(evicted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn dump_lists_active_then_unused_names() {
    let server = TestServer::start().await;
    let foo = server.register_ok("foo", 1234).await;
    let _bar = server.register_ok("bar", 2345).await;
    drop(foo);
    eventually("foo unregistered", || async {
        server.names().await == b"name bar at port 2345\n"
    })
    .await;
    let reply = server.request(b"\x00\x01d").await;
    assert_eq!(reply[..4], PORT.to_be_bytes());
    assert_eq!(
        mask_fds(&reply[4..]),
        b"active name     <bar> at port 2345, fd = #\n\0\
          old/unused name <foo>, port = 1234, fd = # \n\0"
    );
}

#[tokio::test]
async fn shutdown_returns_and_closes_registrations() {
    let server = TestServer::start().await;
    let mut foo = server.register_ok("foo", 1234).await;
    let (mut dup, _) = server.register("foo", 1, 6).await;
    let mut idle = server.connect().await;
    let addr = server.addr;
    assert_eq!(server.shutdown().await, Exit::Shutdown);
    assert_eq!(read_to_eof(&mut foo).await, b"");
    assert_eq!(read_to_eof(&mut dup).await, b"");
    assert_dropped(&mut idle).await;
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn run_without_listeners_waits_for_shutdown() {
    let shared = Arc::new(Shared::new(Config::new(PORT), Registry::default()));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(server::run(
        listen::Listeners::new(Vec::new()).unwrap(),
        shared,
        async {
            let _ = rx.await;
        },
    ));
    // Nothing can send KILL, so only the shutdown future may end it.
    tokio::task::yield_now().await;
    assert!(!run.is_finished());
    tx.send(()).unwrap();
    assert_eq!(run.await.unwrap(), Exit::Shutdown);
}

#[tokio::test]
async fn bind_reports_a_held_port_as_in_use() {
    let plan = [ListenAddr {
        ip: Ipv4Addr::LOCALHOST.into(),
        required: false,
    }];
    let held = listen::bind(&plan, 0).unwrap();
    let port = held[0].local_addr().unwrap().port();
    match listen::bind(&plan, port) {
        Err(ListenError::InUse(addr)) => assert_eq!(addr.port(), port),
        other => panic!("expected InUse, got {other:?}"),
    }
}

/// The hardened profile's caps: a connection beyond them is closed at once,
/// and a freed slot is usable again.
#[tokio::test]
async fn connection_caps_close_the_excess_at_once() {
    for per_peer in [false, true] {
        let server = TestServer::with(|c| {
            if per_peer {
                c.max_connections_per_peer = Some(2);
            } else {
                c.max_connections = Some(2);
            }
        })
        .await;
        let first = server.connect().await;
        let _second = server.connect().await;
        let mut third = server.connect().await;
        assert_dropped(&mut third).await;
        drop(first);
        // Until the server has seen the close, a new connection is still
        // over the cap and may be reset: only a served NAMES counts.
        eventually("a slot frees up", || async {
            let mut s = server.connect().await;
            let mut reply = Vec::new();
            s.write_all(b"\x00\x01n").await.is_ok()
                && s.read_to_end(&mut reply).await.is_ok()
                && reply.len() == 4
        })
        .await;
        assert!(server.shared.stats.get("over_limit").unwrap() >= 1);
    }
}

#[tokio::test]
async fn names_larger_than_the_socket_buffers_arrive_whole() {
    // Over 5 MB of listing, more than Linux lets a socket queue (tcp_wmem's
    // 4 MB at most), to a client whose receive window is small: the first
    // write cannot take it all, and the rest must follow.
    let server = TestServer::start().await;
    let mut lines = Vec::new();
    for i in 0..20_000u16 {
        let name = format!("{i:0>250}");
        let node = NodeInfo::normal(name.as_str(), i);
        server
            .shared
            .registry()
            .register(node, Owner::Local(Arc::new(())), None)
            .unwrap();
        lines.push(format!("name {name} at port {i}\n"));
    }
    // Newest first.
    let expected: Vec<u8> = lines.iter().rev().flat_map(|l| l.bytes()).collect();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&server.addr.into()).unwrap();
    socket.set_nonblocking(true).unwrap();
    let mut s = TcpStream::from_std(socket.into()).unwrap();
    s.write_all(b"\x00\x01n").await.unwrap();
    let reply = read_to_eof(&mut s).await;
    assert_eq!(reply[..4], PORT.to_be_bytes());
    assert!(reply[4..] == expected[..], "the listing arrived incomplete");
}
