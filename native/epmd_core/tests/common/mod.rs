//! Shared harness: a real server on 127.0.0.1:0 and raw-byte helpers.
#![allow(dead_code, unused_imports)] // each test crate uses a different subset

use epmd_testkit::Alive2;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use epmd_core::config::Config;
use epmd_core::listen::{self, ListenAddr};
use epmd_core::registry::{Registry, RETIRED_CAP};
use epmd_core::server::{self, Exit, Shared};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

/// The registry's clock, so creations are exact: new names get NOW + 1.
pub const NOW: u32 = 1_795_672_902;
/// The configured port NAMES reports (§14's transcript), not the real one.
pub const PORT: u32 = 27311;
/// Upper bound for anything that should happen "soon".
pub const DEADLINE: Duration = Duration::from_secs(5);

pub struct TestServer {
    pub addr: SocketAddr,
    /// The listening socket, which the server owns while it runs.
    listen_fd: RawFd,
    pub shared: Arc<Shared>,
    // Dropping the sender completes the shutdown future too.
    shutdown: Option<oneshot::Sender<()>>,
    run: Option<JoinHandle<Exit>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    pub async fn relaxed() -> Self {
        Self::with(|c| c.relaxed = true).await
    }

    pub async fn with(configure: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::new(PORT);
        configure(&mut config);
        let plan = [ListenAddr {
            ip: Ipv4Addr::LOCALHOST.into(),
            required: true,
        }];
        let bound = listen::bind(&plan, 0).expect("bind 127.0.0.1:0");
        let addr = bound[0].local_addr().unwrap();
        let listen_fd = bound[0].as_raw_fd();
        let listeners = listen::Listeners::new(bound).expect("listeners");
        let registry = Registry::with_clock(RETIRED_CAP, || NOW);
        let shared = Arc::new(Shared::new(config, registry));
        let (tx, rx) = oneshot::channel::<()>();
        let run = tokio::spawn(server::run(listeners, shared.clone(), async {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            listen_fd,
            shared,
            shutdown: Some(tx),
            run: Some(run),
        }
    }

    pub async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.expect("connect")
    }

    /// Whether the kernel holds new connections until their request comes
    /// (`TCP_DEFER_ACCEPT`), as the listening socket says.
    pub fn defers_accept(&self) -> bool {
        assert!(self.run.is_some(), "the server is not running");
        let mut seconds: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: the server keeps the socket open while it runs; the value
        // and its length are locals that outlive the call.
        let rc = unsafe {
            libc::getsockopt(
                self.listen_fd,
                libc::IPPROTO_TCP,
                libc::TCP_DEFER_ACCEPT,
                (&mut seconds as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "getsockopt: {}", io::Error::last_os_error());
        seconds > 0
    }

    /// Connections the server has accepted.
    pub fn accepted(&self) -> u64 {
        self.shared.stats.get("connections").unwrap()
    }

    /// One request on a fresh connection; everything received until EOF.
    pub async fn request(&self, bytes: &[u8]) -> Vec<u8> {
        let mut s = self.connect().await;
        s.write_all(bytes).await.unwrap();
        read_to_eof(&mut s).await
    }

    /// The NAMES listing, after checking the header.
    pub async fn names(&self) -> Vec<u8> {
        let reply = self.request(b"\x00\x01n").await;
        assert_eq!(reply[..4], PORT.to_be_bytes(), "NAMES header");
        reply[4..].to_vec()
    }

    /// Registers over a raw socket; returns it with the ALIVE2 reply.
    pub async fn register(&self, name: &str, port: u16, hv: u16) -> (TcpStream, Vec<u8>) {
        let mut s = self.connect().await;
        s.write_all(&alive2(name, port, hv)).await.unwrap();
        let reply = read_one(&mut s).await;
        (s, reply)
    }

    /// Registers and asserts success.
    pub async fn register_ok(&self, name: &str, port: u16) -> TcpStream {
        let (s, reply) = self.register(name, port, 6).await;
        assert_eq!(reply[..2], *b"v\x00", "registering {name}");
        s
    }

    pub async fn shutdown(mut self) -> Exit {
        drop(self.shutdown.take());
        self.exit().await
    }

    /// How `run` returned; fails if it does not return soon.
    pub async fn exit(&mut self) -> Exit {
        let run = self.run.take().expect("exit awaited once");
        timeout(DEADLINE, run)
            .await
            .expect("run did not return")
            .expect("run panicked")
    }
}

/// An ALIVE2_REQ for a normal TCP node, LowestVersion 5, empty extra.
pub fn alive2(name: &str, port: u16, hv: u16) -> Vec<u8> {
    Alive2 {
        highest_version: hv,
        ..Alive2::erl_epmd(name.as_bytes(), port)
    }
    .bytes()
}

pub use epmd_testkit::{frame as framed, mask_fds};

/// A single read, which must bring data.
pub async fn read_one(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let n = timeout(DEADLINE, s.read(&mut buf))
        .await
        .expect("no reply")
        .expect("read");
    assert!(n > 0, "closed instead of replying");
    buf[..n].to_vec()
}

/// Everything until a clean EOF.
pub async fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    timeout(DEADLINE, s.read_to_end(&mut out))
        .await
        .expect("server did not close")
        .expect("clean close");
    out
}

/// The server closes without sending anything. Unread request bytes make
/// Linux answer with RST instead of FIN, so a reset counts as closed too.
pub async fn assert_dropped(s: &mut TcpStream) {
    let mut buf = [0u8; 64];
    let r = timeout(DEADLINE, s.read(&mut buf))
        .await
        .expect("server did not close");
    match r {
        Ok(0) => {}
        Ok(n) => panic!("expected no reply, got {:02x?}", &buf[..n]),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// The socket neither closes nor receives data for a while. A negative
/// check needs a window; callers also check the server state.
pub async fn assert_open(s: &mut TcpStream) {
    let mut buf = [0u8; 64];
    if let Ok(r) = timeout(Duration::from_millis(300), s.read(&mut buf)).await {
        panic!("socket should stay open, read returned {r:?}");
    }
}

/// TCP segments `s` has received, by its kernel's count (`TCP_INFO`).
pub fn segments_received(s: &TcpStream) -> u32 {
    // SAFETY: tcp_info is plain integers, for which zero is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the socket is open while `s` lives; the value and its length
    // are locals that outlive the call.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt: {}", io::Error::last_os_error());
    info.tcpi_segs_in
}

/// Whether all that `client` sent has reached the server's end of the
/// connection and been read there, as the kernel's table of IPv4 TCP sockets
/// shows: nothing unacknowledged at the client's end, nothing unread at the
/// server's.
pub fn server_has_read_all(client: &TcpStream) -> bool {
    let hex = |a: SocketAddr| match a {
        SocketAddr::V4(a) => format!(
            "{:08X}:{:04X}",
            u32::from_ne_bytes(a.ip().octets()),
            a.port()
        ),
        SocketAddr::V6(_) => panic!("only IPv4 connections are in /proc/net/tcp"),
    };
    let (ours, theirs) = (
        hex(client.local_addr().unwrap()),
        hex(client.peer_addr().unwrap()),
    );
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    // Each line: slot, local address, remote address, state, tx_queue:rx_queue, ...
    let queue = |local: &str, remote: &str| {
        table.lines().find_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.len() > 4 && f[1] == local && f[2] == remote).then(|| f[4].to_string())
        })
    };
    let client_unacked =
        queue(&ours, &theirs).and_then(|q| q.split(':').next().map(str::to_string));
    let server_unread = queue(&theirs, &ours).and_then(|q| q.split(':').nth(1).map(str::to_string));
    let empty = |q: Option<String>| q.is_some_and(|q| u64::from_str_radix(&q, 16) == Ok(0));
    empty(client_unacked) && empty(server_unread)
}

/// Polls `check` until it holds, failing after [`DEADLINE`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = Instant::now() + DEADLINE;
    while !check().await {
        assert!(Instant::now() < end, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
