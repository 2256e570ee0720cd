//! Deferred accepting: the listeners ask the kernel to hold new connections
//! until their request comes while clients overlap, and only then.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::AsyncWriteExt;

/// PORT_PLEASE2 for a name nobody holds, and OTP's reply to it.
const LOOKUP: &[u8] = b"\x00\x02zq";
const NOT_FOUND: &[u8] = b"w\x01";

/// Lookups one after another, each finished before the next connects, and
/// each sent only once the server has accepted its connection: late for the
/// accept, as a lone client's request often is on a quick machine.
async fn lone_lookups(server: &TestServer, n: usize) {
    for _ in 0..n {
        let before = server.accepted();
        let mut s = server.connect().await;
        eventually("the connection accepted", || async {
            server.accepted() > before
        })
        .await;
        s.write_all(LOOKUP).await.unwrap();
        assert_eq!(read_to_eof(&mut s).await, NOT_FOUND);
    }
}

/// Three connections the server has accepted before any of them sends its
/// lookup: the second and third overlap a connection still waiting.
async fn overlapping_lookups(server: &TestServer) {
    let before = server.accepted();
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(server.connect().await);
    }
    eventually("three connections accepted", || async {
        server.accepted() == before + 3
    })
    .await;
    for s in &mut streams {
        s.write_all(LOOKUP).await.unwrap();
    }
    for s in &mut streams {
        assert_eq!(read_to_eof(s).await, NOT_FOUND);
    }
}

#[tokio::test]
async fn a_lone_client_is_not_deferred_even_among_silent_connections() {
    let server = TestServer::start().await;
    let mut silent = Vec::new();
    for i in 0..200 {
        if i % 20 == 0 {
            silent.push(server.connect().await);
        }
        lone_lookups(&server, 1).await;
        assert!(!server.defers_accept(), "deferred after {i} lookups");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn overlapping_clients_defer_accepting_until_a_lone_client_is_left() {
    let server = TestServer::start().await;
    let mut rounds = 0;
    while !server.defers_accept() {
        rounds += 1;
        assert!(rounds <= 64, "not deferred after {rounds} rounds");
        overlapping_lookups(&server).await;
    }
    // Deferred: the kernel accepts a client that is slow to send after a
    // second, and it is served all the same.
    let mut slow = server.connect().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    slow.write_all(LOOKUP).await.unwrap();
    assert_eq!(read_to_eof(&mut slow).await, NOT_FOUND);
    // Soon after deferring began, a lone client's connections are
    // accepted at once again.
    eventually("accepting undeferred", || async {
        lone_lookups(&server, 10).await;
        !server.defers_accept()
    })
    .await;
    server.shutdown().await;
}
