//! The client against our server, and against a server that never answers.

mod common;

use std::time::Duration;

use common::*;
use epmd_core::client::{self, ClientError};
use epmd_core::codec::{NodeInfo, Request};
use tokio::net::TcpListener;
use tokio::time::{timeout, Instant};

const T: Duration = Duration::from_secs(5);

fn node(name: &str, port: u16) -> NodeInfo {
    NodeInfo {
        extra: b"EX\0\x01".to_vec(),
        ..NodeInfo::normal(name, port)
    }
}

#[tokio::test]
async fn register_then_look_up_and_list() {
    let server = TestServer::start().await;
    let (reply, held) = client::register(server.addr, node("foo", 1234), T)
        .await
        .unwrap();
    assert!(reply.ok && reply.extended);
    assert_eq!(reply.creation, NOW + 1);
    assert!(held.is_some());

    let found = client::port_please(server.addr, b"foo", T).await.unwrap();
    assert_eq!(found, Some(node("foo", 1234)));
    assert_eq!(
        client::port_please(server.addr, b"nope", T).await.unwrap(),
        None
    );

    let (port, text) = client::names(server.addr, T).await.unwrap();
    assert_eq!(port, PORT);
    assert_eq!(text, b"name foo at port 1234\n");
}

#[tokio::test]
async fn short_creation_for_old_versions() {
    let server = TestServer::start().await;
    let mut n = node("foo", 1234);
    n.highest_version = 5;
    let (reply, _held) = client::register(server.addr, n, T).await.unwrap();
    assert!(reply.ok && !reply.extended);
    assert!((1..=3).contains(&reply.creation));
}

#[tokio::test]
async fn duplicate_registration_is_refused() {
    let server = TestServer::start().await;
    let (_, _held) = client::register(server.addr, node("foo", 1234), T)
        .await
        .unwrap();
    let (reply, held) = client::register(server.addr, node("foo", 9), T)
        .await
        .unwrap();
    assert!(!reply.ok);
    assert_eq!(reply.creation, 99);
    assert!(held.is_none());
    let found = client::port_please(server.addr, b"foo", T).await.unwrap();
    assert_eq!(found.unwrap().port, 1234);
}

#[tokio::test]
async fn dropping_the_held_registration_unregisters() {
    let server = TestServer::start().await;
    let (_, held) = client::register(server.addr, node("foo", 1234), T)
        .await
        .unwrap();
    drop(held);
    eventually("foo unregistered", || async {
        client::port_please(server.addr, b"foo", T)
            .await
            .unwrap()
            .is_none()
    })
    .await;
}

#[tokio::test]
async fn held_registration_ends_when_the_server_stops_it() {
    let server = TestServer::relaxed().await;
    let (_, held) = client::register(server.addr, node("foo", 1234), T)
        .await
        .unwrap();
    let mut held = held.unwrap();
    let stop = Request::Stop {
        name: b"foo".to_vec(),
    };
    assert_eq!(
        client::exchange(server.addr, &stop, T).await.unwrap(),
        b"STOPPED"
    );
    timeout(DEADLINE, held.ended())
        .await
        .expect("ended() did not complete");
}

#[tokio::test]
async fn held_registration_ends_on_server_shutdown() {
    let server = TestServer::start().await;
    let (_, held) = client::register(server.addr, node("foo", 1234), T)
        .await
        .unwrap();
    let mut held = held.unwrap();
    server.shutdown().await;
    timeout(DEADLINE, held.ended())
        .await
        .expect("ended() did not complete");
}

#[tokio::test]
async fn a_silent_server_times_out() {
    // Accepts and holds connections, never reads or writes.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let bound = Duration::from_millis(300);
    let within = |start: Instant| {
        let e = start.elapsed();
        assert!(e >= bound && e < bound + Duration::from_secs(2), "{e:?}");
    };

    let start = Instant::now();
    let r = client::names(addr, bound).await;
    assert!(matches!(r, Err(ClientError::Timeout)), "{r:?}");
    within(start);

    let start = Instant::now();
    let r = client::port_please(addr, b"foo", bound).await;
    assert!(matches!(r, Err(ClientError::Timeout)), "{r:?}");
    within(start);

    let start = Instant::now();
    let r = client::register(addr, node("foo", 1), bound).await;
    assert!(matches!(r, Err(ClientError::Timeout)), "{r:?}");
    within(start);
}

#[tokio::test]
async fn nobody_listening_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let r = client::names(addr, T).await;
    assert!(matches!(r, Err(ClientError::Connect(_))), "{r:?}");
}

#[tokio::test]
async fn a_closed_connection_is_reported() {
    // An empty PORT2 name is dropped without a reply.
    let server = TestServer::start().await;
    let r = client::port_please(server.addr, b"", T).await;
    assert!(matches!(r, Err(ClientError::Closed)), "{r:?}");
}
