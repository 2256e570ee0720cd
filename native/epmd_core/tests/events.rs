//! The server's event reports and its OTP test delays (`-delay_write`,
//! `-delay_accept`), over real TCP.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use epmd_core::codec::{FrameError, RequestError};
use epmd_core::events::{DropReason, Event, EventSink};
use epmd_core::registry::{creation_for_reply, RegisterError};
use epmd_core::server::Exit;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

/// Events are borrowed; the recorder keeps a plain summary of each.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl EventSink for Recorder {
    fn event(&self, event: &Event<'_>) {
        let name = |n: &[u8]| String::from_utf8_lossy(n).into_owned();
        let line = match *event {
            Event::Received { .. } => return,
            Event::Registered {
                name: n,
                port,
                creation,
            } => format!("registered {} {port} {creation}", name(n)),
            Event::Unregistered {
                name: n,
                port,
                creation,
            } => format!("unregistered {} {port} {creation}", name(n)),
            Event::NameTaken { name: n } => format!("taken {}", name(n)),
            Event::RegisterRefused { name: n, reason } => {
                assert_eq!(*reason, RegisterError::NameTooLong);
                format!("refused {}", n.len())
            }
            Event::Dropped {
                reason: DropReason::Frame(FrameError::BadLength(n)),
                ..
            } => format!("bad length {n}"),
            Event::Dropped {
                reason: DropReason::Request(RequestError::UnknownCommand(c)),
                ..
            } => format!("garbage {}", *c as char),
            Event::Dropped { reason, .. } => format!("dropped {reason}"),
            Event::Incomplete { got, .. } => format!("incomplete {got}"),
            Event::RefusedNonLocal { command, .. } => format!("non-local {command}"),
            Event::Timeout { .. } => "timeout".into(),
            Event::KillRefused => "kill refused".into(),
            Event::Killed => "killed".into(),
            Event::Stopped {
                name: n,
                registered,
            } => format!("stopped {} {registered}", name(n)),
            Event::StopRefused { name: n } => format!("stop refused {}", name(n)),
            Event::AcceptFailed { error } => format!("accept failed {error}"),
            Event::OverLimit { peer } => format!("over limit {}", peer.ip()),
        };
        self.0.lock().unwrap().push(line);
    }
}

impl Recorder {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    async fn wait_for(&self, n: usize) -> Vec<String> {
        eventually("events", || async { self.0.lock().unwrap().len() >= n }).await;
        self.take()
    }
}

async fn recorded(relaxed: bool) -> (TestServer, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let sink: Arc<dyn EventSink> = recorder.clone();
    let server = TestServer::with(|c| {
        c.relaxed = relaxed;
        c.packet_timeout = Duration::from_secs(1);
        c.events = Some(sink);
    })
    .await;
    (server, recorder)
}

#[tokio::test]
async fn registrations_are_reported() {
    let (server, events) = recorded(false).await;
    let foo = server.register_ok("foo", 1234).await;
    let (_dup, _) = server.register("foo", 9, 5).await;
    let (_long, _) = server.register(&"a".repeat(256), 9, 6).await;
    drop(foo);
    assert_eq!(
        events.wait_for(4).await,
        [
            format!("registered foo 1234 {}", NOW + 1),
            "taken foo".into(),
            "refused 256".into(),
            format!("unregistered foo 1234 {}", NOW + 1),
        ]
    );
    // A `y` registration reports the creation its reply carried.
    let (_bar, reply) = server.register("bar", 5, 5).await;
    assert_eq!(reply[..2], *b"y\x00");
    let expected = creation_for_reply(NOW + 1, false);
    assert_eq!(
        events.wait_for(1).await,
        [format!("registered bar 5 {expected}")]
    );
}

#[tokio::test]
async fn dropped_connections_are_reported_with_their_reason() {
    let (server, events) = recorded(false).await;
    for (bytes, expected) in [
        (&b"\x00\x00"[..], "bad length 0"),
        (b"\x00\x01Q", "garbage Q"),
        (b"\x00\x01z", "dropped request without a node name"),
    ] {
        let mut s = server.connect().await;
        s.write_all(bytes).await.unwrap();
        assert_dropped(&mut s).await;
        assert_eq!(events.wait_for(1).await, [expected]);
    }
    // The client gives up after 3 of the 7 bytes it announced.
    let mut s = server.connect().await;
    s.write_all(b"\x00\x05n").await.unwrap();
    drop(s);
    assert_eq!(events.wait_for(1).await, ["incomplete 3"]);
    let _idle = server.connect().await;
    assert_eq!(events.wait_for(1).await, ["timeout"]);
}

#[tokio::test]
async fn kill_and_stop_are_reported() {
    let (mut server, events) = recorded(false).await;
    let _foo = server.register_ok("foo", 1234).await;
    assert_eq!(server.request(b"\x00\x01k").await, b"NO");
    assert_eq!(server.request(b"\x00\x04sfoo").await, b"");
    assert_eq!(
        events.wait_for(3).await[1..],
        ["kill refused", "stop refused foo"]
    );
    drop(_foo);
    assert_eq!(events.wait_for(1).await.len(), 1);
    assert_eq!(server.request(b"\x00\x01k").await, b"OK");
    assert_eq!(server.exit().await, Exit::Killed);
    assert_eq!(events.take(), ["killed"]);

    let (server, events) = recorded(true).await;
    let _foo = server.register_ok("foo", 1234).await;
    assert_eq!(server.request(b"\x00\x04sfoo").await, b"STOPPED");
    assert_eq!(server.request(b"\x00\x04sbar").await, b"NOEXISTSTOPPED");
    // Stopped registrations are not reported again as unregistered.
    assert_eq!(
        events.wait_for(3).await[1..],
        ["stopped foo true", "stopped bar false"]
    );
    assert!(events.take().is_empty());
}

#[tokio::test]
async fn delay_write_pauses_once_per_reply() {
    let delay = Duration::from_millis(400);
    let server = TestServer::with(|c| c.delay_write = Some(delay)).await;
    let _foo = server.register_ok("foo", 1234).await;
    let _bar = server.register_ok("bar", 2345).await;
    let start = Instant::now();
    assert_eq!(
        server.names().await,
        b"name bar at port 2345\nname foo at port 1234\n"
    );
    let took = start.elapsed();
    // OTP would pause three times here (header and two lines).
    assert!(took >= delay && took < delay * 3, "{took:?}");
}

#[tokio::test]
async fn delay_accept_pauses_before_serving() {
    let delay = Duration::from_millis(300);
    let server = TestServer::with(|c| c.delay_accept = Some(delay)).await;
    let start = Instant::now();
    assert!(server.names().await.is_empty());
    assert!(start.elapsed() >= delay);
}
