//! Faults: descriptor exhaustion, thousands of idle or dripping
//! connections, a client that resets before its ALIVE2 reply is written, and
//! a node killed with SIGKILL, or closing its registration, whose successor
//! registers the same name at once. Each test runs `epmd-rs` (and, for
//! contrast, OTP's epmd) in the foreground on a port of its own, on loopback,
//! and bounds every loop in count and time.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;

/// The descriptor limit of the exhaustion tests' servers.
const FD_LIMIT: libc::rlim_t = 64;
/// epmd-rs retries a failed accept after at most 1 s; how long it may take
/// to serve again once descriptors are free.
const RECOVERY: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------------------
// Helpers

/// `bin -port P args` on loopback, limited to `fd_limit` descriptors if given;
/// returns once it answers NAMES.
fn start(bin: &'static str, args: &[&str], fd_limit: Option<libc::rlim_t>) -> Server {
    let port = free_port();
    let port_arg = port.to_string();
    let mut all = vec!["-port", &port_arg];
    all.extend_from_slice(args);
    let mut cmd = command(bin, &all, &[("ERL_EPMD_ADDRESS", "127.0.0.1")]);
    if let Some(limit) = fd_limit {
        let limit = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        };
        // SAFETY: the closure runs between fork and exec and only makes one
        // async-signal-safe system call on a value it owns.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    let server = Server::spawn(bin, port, cmd);
    server.wait_ready();
    server
}

/// Every descriptor number below [`FD_LIMIT`] is in use in process `pid`.
/// (Counting all of them would not do: descriptors the test harness leaves
/// open without close-on-exec are inherited, some above the limit.)
fn fd_table_full(pid: u32) -> bool {
    let below_limit = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/PID/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<libc::rlim_t>().ok())
        .filter(|&fd| fd < FD_LIMIT)
        .count();
    below_limit as libc::rlim_t == FD_LIMIT
}

/// Sends one request on a fresh connection (whose handshake must complete,
/// in the kernel's backlog if need be) and waits up to `limit` for the reply
/// and the server's close. `None`: no complete answer in time; the
/// connection comes back either way, for the caller to keep or drop.
fn ask(port: u16, body: &[u8], limit: Duration) -> (TcpStream, Option<Vec<u8>>) {
    let end = Instant::now() + limit;
    let mut s = connect(port).expect("the TCP handshake completes");
    s.write_all(&frame(body)).expect("send the request");
    let mut reply = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (s, None);
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return (s, Some(reply)),
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (s, None)
            }
            Err(e) => panic!("reading the reply to {body:?}: {e}"),
        }
    }
}

/// The names in a raw NAMES reply, sorted.
fn listed(reply: &[u8]) -> Vec<String> {
    assert!(reply.len() >= 4, "NAMES reply {reply:?}");
    let mut names: Vec<String> = String::from_utf8_lossy(&reply[4..])
        .lines()
        .map(|line| {
            let rest = line.strip_prefix("name ").expect("a NAMES line");
            rest.split(' ').next().unwrap().to_string()
        })
        .collect();
    names.sort();
    names
}

/// The node port PORT2 reports for `name`, or `None` for `w 1`.
fn port2(port: u16, name: &str) -> Option<u16> {
    let reply = request(port, &frame(&[b"z", name.as_bytes()].concat())).expect("PORT2");
    match reply.as_slice() {
        [b'w', 1] => None,
        [b'w', 0, hi, lo, ..] => Some(u16::from_be_bytes([*hi, *lo])),
        other => panic!("PORT2 {name}: {other:?}"),
    }
}

/// The server has not closed `s`: nothing to read, no EOF, no error.
fn still_open(s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let open = matches!(s.peek(&mut [0u8; 1]), Err(e) if e.kind() == ErrorKind::WouldBlock);
    s.set_nonblocking(false).unwrap();
    open
}

/// Closes the registrations, waits for them to go, then ends the server with
/// a KILL request, which must be answered `OK` and end it with status 0.
fn kill(server: Server, registrations: Vec<TcpStream>) -> Out {
    drop(registrations);
    eventually("every node unregistered", || {
        names_raw(server.port).is_some_and(|r| listed(&r).is_empty())
    });
    assert_eq!(kill_raw(server.port).as_deref(), Some(&b"OK"[..]), "KILL");
    let out = server.wait_exit();
    assert_eq!(out.code, Some(0), "status after KILL; {}", out.stderr());
    out
}

// ---------------------------------------------------------------------------
// 1. Descriptor exhaustion

/// Out of descriptors, `epmd-rs` keeps its process and its registrations,
/// and serves again as soon as connections close (§6: OTP 25's epmd exits).
#[test]
fn out_of_descriptors_keeps_registrations_and_recovers() {
    let mut server = start(OURS, &[], Some(FD_LIMIT));
    let port = server.port;
    let nodes = ["fd_a", "fd_b", "fd_c"];
    let registrations: Vec<TcpStream> = (0u16..)
        .zip(nodes)
        .map(|(i, name)| register(port, name, 5001 + i))
        .collect();

    // Idle connections hold a descriptor each for the 60 s packet timeout.
    // After each one, a NAMES on a fresh connection tells whether the server
    // still accepts; a silent one counts once the server's table is full.
    let mut flood = Vec::new();
    let mut unanswered = Vec::new();
    loop {
        assert!(
            flood.len() < 2 * FD_LIMIT as usize,
            "{} connections and the server still accepts",
            flood.len()
        );
        flood.push(connect(port).expect("the TCP handshake completes"));
        let (probe, reply) = ask(port, b"n", Duration::from_millis(500));
        match reply {
            Some(reply) => assert_eq!(listed(&reply), nodes, "NAMES while filling up"),
            None => {
                unanswered.push(probe);
                if fd_table_full(server.pid()) {
                    break;
                }
            }
        }
    }
    eprintln!("out of descriptors after {} idle connections", flood.len());

    // Exhausted: connections still complete in the backlog but get no
    // service; the process lives on through the accept retries, and the
    // registrations' sockets stay open.
    let (probe, reply) = ask(port, b"n", Duration::from_secs(1));
    assert_eq!(reply, None, "NAMES answered with every descriptor in use");
    unanswered.push(probe);
    assert!(server.running(), "epmd-rs exited when out of descriptors");
    assert!(fd_table_full(server.pid()), "descriptors were freed");
    for (s, name) in registrations.iter().zip(nodes) {
        assert!(still_open(s), "{name}'s registration socket was closed");
    }

    drop(flood);
    drop(unanswered);
    let closed = Instant::now();
    let mut reply = None;
    eventually("NAMES answered once the flood is closed", || {
        reply = ask(port, b"n", Duration::from_secs(1)).1;
        reply.is_some()
    });
    let recovered = closed.elapsed();
    eprintln!("served again {recovered:.2?} after the flood closed");
    assert!(
        recovered < RECOVERY,
        "served again only {recovered:.2?} after the flood closed"
    );
    assert_eq!(listed(&reply.unwrap()), nodes, "NAMES after recovery");
    for (i, name) in (0u16..).zip(nodes) {
        assert_eq!(port2(port, name), Some(5001 + i), "PORT2 {name}");
    }
    for (s, name) in registrations.iter().zip(nodes) {
        assert!(still_open(s), "{name}'s registration socket was closed");
    }
    let out = kill(server, registrations);
    assert!(
        out.stderr().contains("error in accept"),
        "no accept error logged: {}",
        out.stderr()
    );
}

/// The contrast: OTP 25's epmd exits with status 1 on EMFILE (§6), and its
/// nodes lose their registrations.
#[test]
fn otp_epmd_exits_when_out_of_descriptors() {
    let [oracle, _] = binaries();
    let mut server = start(oracle, &[], Some(FD_LIMIT));
    let node = register(server.port, "fd_a", 5001);
    let mut flood = Vec::new();
    // Until it is gone (its listener with it: a handshake under way then
    // ends in a reset) or has had more than enough.
    while flood.len() < 2 * FD_LIMIT as usize {
        match connect(server.port) {
            Ok(s) => flood.push(s),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset
                ) =>
            {
                break
            }
            Err(e) => panic!("connect: {e}"),
        }
    }
    eventually("OTP's epmd exiting", || !server.running());
    let out = server.wait_exit();
    assert_eq!(out.code, Some(1), "OTP's epmd: {}", out.stderr());
    assert!(!still_open(&node), "the registration outlived OTP's epmd");
}

// ---------------------------------------------------------------------------
// 2. Thousands of slow connections

/// Connections that never complete a request, half of them idle.
const SLOW: usize = 5_000;
/// The server's `-packet_timeout`.
const PACKET_TIMEOUT: Duration = Duration::from_secs(1);
/// A dripper sends one byte this often, `DRIPS` bytes in all, then stops.
const DRIP_EVERY: Duration = Duration::from_millis(700);
const DRIPS: usize = 4;
/// Lookups from other clients must be answered within this.
const PROMPT: Duration = Duration::from_secs(1);
/// OTP closes after T to T+1 s of silence; how much later still passes.
const CLOSE_SLACK: Duration = Duration::from_secs(3);

/// One slow connection, non-blocking.
struct Slow {
    stream: TcpStream,
    opened: Instant,
    /// When the last byte went out (`opened` for an idle one).
    last_sent: Instant,
    /// Bytes sent; `None` for an idle connection.
    dripped: Option<usize>,
    closed: Option<Instant>,
}

impl Slow {
    /// Opens the connection; a dripper sends its first byte at once.
    fn open(port: u16, request: Option<&[u8]>) -> Slow {
        let stream = connect(port).expect("connect");
        stream.set_nonblocking(true).unwrap();
        stream.set_nodelay(true).unwrap();
        let now = Instant::now();
        let mut slow = Slow {
            stream,
            opened: now,
            last_sent: now,
            dripped: request.map(|_| 0),
            closed: None,
        };
        if let Some(request) = request {
            slow.drip(request);
        }
        slow
    }

    /// Sends the next byte of `request`; a refused write means the server
    /// has closed the connection.
    fn drip(&mut self, request: &[u8]) {
        let Some(n) = self.dripped.filter(|_| self.closed.is_none()) else {
            return;
        };
        match self.stream.write(&request[n..=n]) {
            Ok(1) => {
                self.last_sent = Instant::now();
                self.dripped = Some(n + 1);
            }
            Ok(_) => unreachable!("a one-byte write"),
            Err(e) if e.kind() == ErrorKind::WouldBlock => panic!("send buffer full"),
            Err(_) => self.closed = Some(Instant::now()),
        }
    }

    /// Notes whether the server has closed the connection (EOF or reset).
    fn poll(&mut self) {
        if self.closed.is_some() {
            return;
        }
        match self.stream.read(&mut [0u8; 16]) {
            Ok(0) => self.closed = Some(Instant::now()),
            Ok(n) => panic!("the server sent {n} bytes to an incomplete request"),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                ) =>
            {
                self.closed = Some(Instant::now())
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// PORT2 and NAMES from another client, each answered within [`PROMPT`];
/// returns the slower one's time.
fn lookups_answered(port: u16, name: &str, node_port: u16) -> Duration {
    let started = Instant::now();
    let (_, reply) = ask(port, &[b"z", name.as_bytes()].concat(), PROMPT);
    let reply = reply.unwrap_or_else(|| panic!("PORT2 unanswered within {PROMPT:?}"));
    let found = [[b'w', 0], node_port.to_be_bytes()].concat();
    assert!(reply.starts_with(&found), "PORT2 {name}: {reply:?}");
    let port2_took = started.elapsed();
    let started = Instant::now();
    let (_, reply) = ask(port, b"n", PROMPT);
    let reply = reply.unwrap_or_else(|| panic!("NAMES unanswered within {PROMPT:?}"));
    assert_eq!(listed(&reply), [name]);
    port2_took.max(started.elapsed())
}

/// 5,000 connections that never complete a request, half idle and half
/// dripping a valid PORT2 one byte at a time, do not delay other clients,
/// and each is closed a packet timeout after its last byte (§6).
#[test]
fn slow_connections_do_not_delay_lookups_and_time_out() {
    raise_fd_limit();
    let server = start(OURS, &["-packet_timeout", "1"], None);
    let port = server.port;
    let node = register(port, "busy", 4242);
    // 11 bytes, of which a dripper sends DRIPS.
    let request = frame(b"zslowpoke");
    assert!(DRIPS < request.len());

    let began = Instant::now();
    let mut slow: Vec<Slow> = (0..SLOW)
        .map(|i| Slow::open(port, (i % 2 == 1).then_some(&request[..])))
        .collect();
    eprintln!("{SLOW} slow connections opened in {:.2?}", began.elapsed());
    let mut slowest = lookups_answered(port, "busy", 4242);

    let mut drips = 1;
    let mut next_drip = Instant::now() + DRIP_EVERY;
    let end = next_drip + DRIP_EVERY * DRIPS as u32 + PACKET_TIMEOUT * 2 + CLOSE_SLACK * 2;
    loop {
        for c in &mut slow {
            c.poll();
        }
        let open = slow.iter().filter(|c| c.closed.is_none()).count();
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < end,
            "{open} slow connections still open after {:.1?}",
            began.elapsed()
        );
        if drips < DRIPS && Instant::now() >= next_drip {
            for c in &mut slow {
                c.drip(&request);
            }
            drips += 1;
            next_drip += DRIP_EVERY;
            slowest = slowest.max(lookups_answered(port, "busy", 4242));
        }
        sleep(Duration::from_millis(50));
    }
    eprintln!(
        "all closed {:.2?} after the start; slowest lookup {slowest:.2?}",
        began.elapsed()
    );

    let mut latest = [Duration::ZERO; 2];
    for (i, c) in slow.iter().enumerate() {
        let closed = c.closed.unwrap();
        let what = if c.dripped.is_some() {
            "dripping"
        } else {
            "idle"
        };
        assert!(
            closed - c.opened >= PACKET_TIMEOUT,
            "{what} connection {i} closed {:.2?} after it opened",
            closed - c.opened
        );
        let after = closed - c.last_sent;
        assert!(
            after <= PACKET_TIMEOUT + Duration::from_secs(1) + CLOSE_SLACK,
            "{what} connection {i} closed {after:.2?} after its last byte"
        );
        let k = usize::from(c.dripped.is_some());
        latest[k] = latest[k].max(after);
    }
    let cut_short = slow
        .iter()
        .filter(|c| c.dripped.is_some_and(|n| n < DRIPS))
        .count();
    eprintln!(
        "closed at most {:.2?} (idle) and {:.2?} (dripping) after the last byte; \
         {cut_short} drippers closed before their last byte",
        latest[0], latest[1]
    );
    kill(server, vec![node]);
}

// ---------------------------------------------------------------------------
// 3. A reset before the ALIVE2 reply

/// `-delay_write 1`: a client sends ALIVE2 and resets its connection before
/// the delayed reply is written. The name is left free: NAMES lists nobody,
/// PORT2 finds nothing, and another node registers it at once. (otp_suite.rs's
/// `socket_reset_before_alive2_reply_is_written` checks the listing only.)
#[test]
fn reset_before_alive2_reply_leaves_the_name_free() {
    let server = start(OURS, &["-delay_write", "1"], None);
    let port = server.port;
    let mut s = connect(port).unwrap();
    s.write_all(&alive2_frame("foobar", 2000)).unwrap();
    let sent = Instant::now();
    // A lookup made meanwhile shows the registration was made; its reply is
    // delayed by a second too.
    let lookup = std::thread::spawn(move || {
        sleep(Duration::from_millis(100));
        port2(port, "foobar")
    });
    // The timing under test: the reset comes while the reply is delayed.
    sleep(Duration::from_millis(300));
    s.set_nonblocking(true).unwrap();
    assert!(
        matches!(s.read(&mut [0u8; 8]), Err(e) if e.kind() == ErrorKind::WouldBlock),
        "the ALIVE2 reply came {:.2?} after the request, before the reset",
        sent.elapsed()
    );
    reset(s);
    assert_eq!(
        lookup.join().unwrap(),
        Some(2000),
        "foobar never registered"
    );

    eventually("foobar unregistered", || {
        names_raw(port).is_some_and(|r| listed(&r).is_empty())
    });
    assert_eq!(port2(port, "foobar"), None, "PORT2 after the reset");
    let second = register(port, "foobar", 2001);
    assert_eq!(
        port2(port, "foobar"),
        Some(2001),
        "PORT2 finds the second node"
    );
    kill(server, vec![second]);
}

// ---------------------------------------------------------------------------
// 4. A node killed, and one restarting under its name at once

/// Registrations of a node killed and restarted under the same name.
const RESTARTS: usize = 50;
/// Node processes started side by side (each takes python3 ~0.2 s to start).
const BATCH: usize = 10;

/// A node process: python3 registering a name through a raw ALIVE2 socket
/// and holding it. Dropping it kills it by pid.
struct NodeProcess {
    child: Child,
    name: String,
}

impl NodeProcess {
    fn spawn(port: u16, name: &str, node_port: u16) -> NodeProcess {
        const SCRIPT: &str = "import socket, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)
s.sendall(bytes.fromhex(sys.argv[2]))
reply = b''
while len(reply) < 6:
    chunk = s.recv(6 - len(reply))
    if not chunk:
        break
    reply += chunk
print(reply.hex(), flush=True)
time.sleep(30)
";
        let alive2: String = alive2_frame(name, node_port)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let child = std::process::Command::new("python3")
            .args(["-c", SCRIPT, &port.to_string(), &alive2])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn python3 (apt-get install python3)");
        NodeProcess {
            child,
            name: name.to_string(),
        }
    }

    /// Waits for the node's ALIVE2 reply, which must be a success.
    fn registered(&mut self) {
        let mut line = String::new();
        // python3 gives up after its 10 s socket timeout.
        BufReader::new(self.child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        // `v`, result 0, a 32-bit creation.
        assert!(
            line.len() == 13 && line.starts_with("7600"),
            "python3 registering {}: {line:?}",
            self.name
        );
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends ALIVE2 for `name`; the connection and the reply (up to 6 bytes).
fn try_register(port: u16, name: &str, node_port: u16) -> (TcpStream, Vec<u8>) {
    let mut s = connect(port).unwrap();
    s.write_all(&alive2_frame(name, node_port)).unwrap();
    let mut reply = Vec::new();
    (&mut s).take(6).read_to_end(&mut reply).unwrap();
    (s, reply)
}

/// A refused restart: its round and the reply.
type Refusal = (usize, Vec<u8>);

/// [`RESTARTS`] times: a node process registers a name and is killed with
/// SIGKILL; once it is reaped, the test registers the same name.
fn kill_and_restart(port: u16) -> Vec<Refusal> {
    let began = Instant::now();
    let mut refused = Vec::new();
    for batch in 0..RESTARTS.div_ceil(BATCH) {
        let rounds = batch * BATCH..RESTARTS.min((batch + 1) * BATCH);
        let mut nodes: Vec<NodeProcess> = rounds
            .clone()
            .map(|i| NodeProcess::spawn(port, &format!("phoenix{i}"), 6000))
            .collect();
        for node in &mut nodes {
            node.registered();
        }
        for (i, mut old) in rounds.zip(nodes) {
            old.child.kill().expect("SIGKILL");
            old.child.wait().expect("waitpid");
            let (new, reply) = try_register(port, &old.name, 6001);
            if reply.get(..2) != Some(b"v\x00") {
                refused.push((i, reply));
            }
            drop(new);
        }
    }
    eprintln!(
        "{RESTARTS} kills and restarts in {:.2?}, {} refused",
        began.elapsed(),
        refused.len()
    );
    refused
}

/// A node killed with SIGKILL loses its name as soon as it is dead: the
/// kernel closed its socket, and a node restarting under the same name right
/// away gets it. "Dead" is when waitpid() says so, as a supervisor restarting
/// the node learns it.
#[test]
fn sigkilled_node_name_is_free_once_it_is_dead() {
    let server = start(OURS, &[], None);
    let refused = kill_and_restart(server.port);
    assert!(
        refused.is_empty(),
        "{} of {RESTARTS} restarts refused: {refused:?}",
        refused.len()
    );
    kill(server, Vec::new());
}

/// A node that closes its registration and registers again at once gets its
/// name back every time: the server has handled the close before it reads
/// the new ALIVE2 (erlang/otp#11083, where OTP's epmd refuses some). The
/// rate at which OTP's epmd refuses is printed for comparison.
#[test]
fn closed_registration_is_free_at_once() {
    const ROUNDS: usize = 1_000;
    let refusals = |bin: &'static str| {
        let server = start(bin, &[], None);
        let port = server.port;
        let mut refused = 0;
        let mut held = register(port, "phoenix", 6000);
        for _ in 0..ROUNDS {
            drop(held);
            let (s, reply) = try_register(port, "phoenix", 6000);
            held = s;
            if reply.get(..2) != Some(b"v\x00") {
                refused += 1;
                drop(held);
                eventually("phoenix unregistered", || {
                    names_raw(port).is_some_and(|r| listed(&r).is_empty())
                });
                held = register(port, "phoenix", 6000);
            }
        }
        kill(server, vec![held]);
        refused
    };
    let [oracle, ours] = binaries().map(refusals);
    eprintln!(
        "immediate re-registrations refused: OTP's epmd {oracle}/{ROUNDS}, epmd-rs {ours}/{ROUNDS}"
    );
    assert_eq!(
        ours, 0,
        "epmd-rs refused {ours} of {ROUNDS} re-registrations"
    );
}
