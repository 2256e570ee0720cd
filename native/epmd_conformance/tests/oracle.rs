//! The battery against Debian's OTP 25 `epmd` (the oracle) and our server,
//! side by side: no unexplained difference, every deliberate deviation shown,
//! and the binary's interface as Common Test uses it.

use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use epmd_conformance::deviations::DEVIATIONS;
use epmd_conformance::report::Report;
use epmd_conformance::runner::{self, Servers};
use epmd_conformance::script::Delay;
use epmd_conformance::{battery, wire};
use epmd_core::client;
use epmd_core::codec::Request;
use epmd_core::config::Config;
use epmd_core::listen::{self, ListenAddr};
use epmd_core::registry::Registry;
use epmd_core::server::{self, Exit, Shared};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout, Instant};

const EPMD: &str = "/usr/bin/epmd";
const T: Duration = Duration::from_secs(5);

/// Debian's epmd on a free loopback port, `-packet_timeout 1`.
struct Otp {
    child: Child,
    addr: SocketAddr,
}

impl Otp {
    async fn start(extra: &[&str]) -> Otp {
        assert!(
            Path::new(EPMD).exists(),
            "{EPMD} is missing: run `make deps` (Debian's erlang-base) to install the oracle"
        );
        for _ in 0..5 {
            // A port free on 127.0.0.1 now; if someone takes it first, epmd
            // exits 0 quietly and we try another.
            let port = StdListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let child = Command::new(EPMD)
                .args(["-port", &port.to_string(), "-packet_timeout", "1"])
                .args(extra)
                .env("ERL_EPMD_ADDRESS", "127.0.0.1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn epmd");
            let mut otp = Otp {
                child,
                addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            };
            if otp.answers().await {
                return otp;
            }
        }
        panic!("{EPMD} did not start");
    }

    /// Waits until the child answers NAMES with its own port.
    async fn answers(&mut self) -> bool {
        let end = Instant::now() + T;
        while Instant::now() < end {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return false;
            }
            if let Ok((port, _)) = client::names(self.addr, T).await {
                return port == u32::from(self.addr.port());
            }
            sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Stops epmd with KILL, as OTP's own suite does; kills the process by
    /// its pid only if that fails. Returns the KILL reply.
    async fn stop(mut self) -> Vec<u8> {
        let reply = client::exchange(self.addr, &Request::Kill, T)
            .await
            .unwrap_or_default();
        let end = Instant::now() + T;
        while Instant::now() < end {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "epmd exited with {status}");
                return reply;
            }
            sleep(Duration::from_millis(20)).await;
        }
        panic!("epmd did not exit after KILL (reply {reply:?})");
    }
}

impl Drop for Otp {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Our server, in-process, as OTP's: `-packet_timeout 1`.
struct Ours {
    addr: SocketAddr,
    run: JoinHandle<Exit>,
    _shutdown: oneshot::Sender<()>,
}

impl Ours {
    fn start(relaxed: bool) -> Ours {
        Ours::with(|c| c.relaxed = relaxed)
    }

    fn with(configure: impl FnOnce(&mut Config)) -> Ours {
        let plan = [ListenAddr {
            ip: Ipv4Addr::LOCALHOST.into(),
            required: true,
        }];
        let bound = listen::bind(&plan, 0).expect("bind 127.0.0.1:0");
        let addr = bound[0].local_addr().expect("bound address");
        let listeners = listen::Listeners::new(bound).expect("listeners");
        let mut config = Config::new(u32::from(addr.port()));
        config.packet_timeout = Duration::from_secs(1);
        configure(&mut config);
        let shared = Arc::new(Shared::new(config, Registry::default()));
        let (tx, rx) = oneshot::channel::<()>();
        let run = tokio::spawn(server::run(listeners, shared, async {
            let _ = rx.await;
        }));
        Ours {
            addr,
            run,
            _shutdown: tx,
        }
    }

    /// Stops the server with KILL. Returns the KILL reply.
    async fn stop(self) -> Vec<u8> {
        let reply = client::exchange(self.addr, &Request::Kill, T)
            .await
            .unwrap_or_default();
        let exit = timeout(T, self.run)
            .await
            .expect("run returns")
            .expect("run");
        assert_eq!(exit, Exit::Killed);
        reply
    }
}

fn assert_conforms(report: &Report) {
    assert_eq!(report.unexplained(), 0, "\n{report}");
}

/// Every deviation that one of `exchanges` can show is shown in `report`:
/// the table lists real differences, not hopes.
fn assert_deviations_shown(report: &Report, exchanges: &[epmd_conformance::script::Exchange]) {
    for d in DEVIATIONS {
        let here = d
            .shows
            .iter()
            .any(|(name, _)| exchanges.iter().any(|e| e.name == *name));
        let shown = report
            .differences
            .iter()
            .any(|diff| diff.explained_by.is_some_and(|e| e.id == d.id));
        assert!(!here || shown, "{} not observed:\n{report}", d.id);
    }
}

/// Registers a node, then KILLs (relaxed): the reply and what the node's
/// socket saw afterwards.
async fn relaxed_kill_with_a_node(addr: SocketAddr) -> (Vec<u8>, Vec<u8>) {
    let mut node = TcpStream::connect(addr).await.expect("connect");
    node.write_all(&wire::Alive2::new("final-node", 4999).bytes())
        .await
        .expect("send ALIVE2");
    let mut reply = [0u8; 6];
    node.read_exact(&mut reply).await.expect("ALIVE2 reply");
    assert_eq!(reply[..2], *b"v\x00");
    let kill = client::exchange(addr, &Request::Kill, T)
        .await
        .unwrap_or_default();
    let mut after = Vec::new();
    timeout(T, node.read_to_end(&mut after))
        .await
        .expect("KILL closes the node's socket")
        .expect("clean close");
    (kill, after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_battery_matches_otp() {
    let otp = Otp::start(&[]).await;
    let ours = Ours::start(false);
    let servers = Servers {
        reference: otp.addr,
        candidate: ours.addr,
    };
    let exchanges = battery::for_mode(false);
    let report = runner::run(servers, exchanges.clone())
        .await
        .expect("battery runs");
    println!("{report}");
    assert_conforms(&report);
    assert_deviations_shown(&report, &exchanges);
    assert!(report.exchanges >= 80);
    // An accepted KILL, with no node left: `OK`, then both exit.
    assert_eq!(otp.stop().await, b"OK");
    assert_eq!(ours.stop().await, b"OK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relaxed_battery_matches_otp_through_the_binary() {
    let otp = Otp::start(&["-relaxed_command_check"]).await;
    let ours = Ours::start(true);
    let bin = env!("CARGO_BIN_EXE_epmd-conformance");
    let args = [
        "--reference".to_string(),
        otp.addr.to_string(),
        "--candidate".to_string(),
        ours.addr.to_string(),
        "--relaxed".to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || Command::new(bin).args(args).output())
        .await
        .expect("join")
        .expect("run epmd-conformance");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("conformance: ")
            && last.ends_with(" exchanges, 0 unexplained differences"),
        "{last}"
    );
    // Relaxed KILL ends live nodes too: `OK`, and their sockets close.
    let (otp_kill, otp_node) = relaxed_kill_with_a_node(otp.addr).await;
    let (ours_kill, ours_node) = relaxed_kill_with_a_node(ours.addr).await;
    assert_eq!(
        (otp_kill.as_slice(), otp_node.as_slice()),
        (&b"OK"[..], &b""[..])
    );
    assert_eq!((ours_kill, ours_node), (otp_kill, otp_node));
    let exit = timeout(T, ours.run)
        .await
        .expect("run returns")
        .expect("run");
    assert_eq!(exit, Exit::Killed);
    drop(otp);
}

/// The exchanges that need a delay option to be deterministic, against OTP
/// and ours both started with it (strict).
async fn delayed_battery(delay: Delay) -> Report {
    let second = Some(Duration::from_secs(1));
    let (otp, ours) = match delay {
        Delay::Write => (
            Otp::start(&["-delay_write", "1"]).await,
            Ours::with(|c| c.delay_write = second),
        ),
        Delay::Accept => (
            Otp::start(&["-delay_accept", "1"]).await,
            Ours::with(|c| c.delay_accept = second),
        ),
    };
    let servers = Servers {
        reference: otp.addr,
        candidate: ours.addr,
    };
    let exchanges = battery::needing(delay, false);
    assert!(!exchanges.is_empty());
    let report = runner::run(servers, exchanges).await.expect("battery runs");
    println!("{report}");
    assert_eq!(otp.stop().await, b"OK");
    assert_eq!(ours.stop().await, b"OK");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deviations_show_against_otp_with_delay_write() {
    // OTP's reply write fails for certain when the client resets during
    // -delay_write, which is what the deviations are about.
    let report = delayed_battery(Delay::Write).await;
    assert_conforms(&report);
    assert_deviations_shown(&report, &battery::needing(Delay::Write, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_before_accept_matches_otp_with_delay_accept() {
    // -delay_accept leaves time for the client to reset before the accept.
    let report = delayed_battery(Delay::Accept).await;
    assert!(report.differences.is_empty(), "\n{report}");
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_epmd-conformance"))
        .args(["--reference", "127.0.0.1:1"])
        .output()
        .expect("run epmd-conformance");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--candidate is required"));
}
