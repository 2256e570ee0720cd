//! The soak's mixed load on one server: registration churn, lookups that
//! hit and miss, NAMES over hundreds of nodes, garbage and oversized
//! requests, slow and silent connections, and clients killed mid-request.
//! Every exchange is tallied as done (the server did what it must) or
//! failed; the workers of a phase stop at its end and hand back the
//! registrations they still hold.

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use epmd_core::codec::{self, NodeInfo, Request};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout, Instant};

use crate::registrations;
use crate::wire;

/// Nodes held for the whole run, so that NAMES lists hundreds.
pub const BASE_NODES: usize = 300;
pub const BASE_PREFIX: &str = "base";
/// Churned registrations a worker holds at most.
const CHURN_POOL: usize = 40;
const CHURN_WORKERS: usize = 2;
/// Churned registrations held at most, all workers together.
pub const CHURN_HELD: usize = CHURN_POOL * CHURN_WORKERS;
const LOOKUP_WORKERS: usize = 2;
const SILENT_WORKERS: usize = 4;
/// Longer than any answer a healthy server gives.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between the bytes of a slow request; the whole request stays well
/// within the shortest packet timeout.
const DRIBBLE: Duration = Duration::from_millis(100);
/// How late after its packet timeout a server may close a silent
/// connection: a loaded machine delays timers.
const SILENT_SLACK: Duration = Duration::from_secs(3);
/// Pause of a worker after each exchange: the soak is about lasting, not
/// about rate, and shares the machine with the servers it loads.
const PACE: Duration = Duration::from_millis(2);
/// A registration ended by a client is gone from the server this soon.
pub const SETTLE: Duration = Duration::from_secs(5);

/// What a soak exchange was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traffic {
    /// ALIVE2 of a new name: accepted.
    Register,
    /// ALIVE2 of a name being held: refused.
    Duplicate,
    /// PORT2 of a held node: found.
    LookupHit,
    /// PORT2 of a name never registered: not found.
    LookupMiss,
    /// NAMES: every held base node listed, nothing unknown.
    Names,
    /// A malformed request: closed without a reply.
    Garbage,
    /// A length over the protocol's limit: closed without a reply.
    Oversized,
    /// PORT2 sent a byte at a time, within the packet timeout: found.
    Slow,
    /// Nothing sent: closed by the server at its packet timeout.
    Silent,
    /// Part of a request, or an ALIVE2 whose reply is not awaited, then a
    /// reset or a close: nothing to check but that the server goes on.
    Killed,
}

impl Traffic {
    pub const ALL: [Traffic; 10] = [
        Traffic::Register,
        Traffic::Duplicate,
        Traffic::LookupHit,
        Traffic::LookupMiss,
        Traffic::Names,
        Traffic::Garbage,
        Traffic::Oversized,
        Traffic::Slow,
        Traffic::Silent,
        Traffic::Killed,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Traffic::Register => "registrations",
            Traffic::Duplicate => "duplicate names refused",
            Traffic::LookupHit => "lookups, hit",
            Traffic::LookupMiss => "lookups, miss",
            Traffic::Names => "NAMES",
            Traffic::Garbage => "garbage requests closed",
            Traffic::Oversized => "oversized requests closed",
            Traffic::Slow => "slow requests answered",
            Traffic::Silent => "silent connections closed",
            Traffic::Killed => "clients killed mid-request",
        }
    }
}

/// Counts of one server's exchanges, by kind; the first failures are kept
/// to say what went wrong.
#[derive(Debug, Default)]
pub struct Tally {
    done: [AtomicU64; Traffic::ALL.len()],
    failed: [AtomicU64; Traffic::ALL.len()],
    first_failures: Mutex<Vec<String>>,
}

const KEPT_FAILURES: usize = 10;

impl Tally {
    pub fn record(&self, traffic: Traffic, outcome: Result<(), String>) {
        let i = traffic as usize;
        match outcome {
            Ok(()) => {
                self.done[i].fetch_add(1, Ordering::Relaxed);
            }
            Err(why) => {
                self.failed[i].fetch_add(1, Ordering::Relaxed);
                let mut kept = self
                    .first_failures
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                if kept.len() < KEPT_FAILURES {
                    kept.push(format!("{}: {why}", traffic.label()));
                }
            }
        }
    }

    pub fn snapshot(&self) -> Counts {
        let read =
            |a: &[AtomicU64; Traffic::ALL.len()]| a.each_ref().map(|c| c.load(Ordering::Relaxed));
        Counts {
            done: read(&self.done),
            failed: read(&self.failed),
        }
    }

    pub fn first_failures(&self) -> Vec<String> {
        self.first_failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The tally at one moment, indexed by [`Traffic`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    pub done: [u64; Traffic::ALL.len()],
    pub failed: [u64; Traffic::ALL.len()],
}

impl Counts {
    pub fn done(&self, t: Traffic) -> u64 {
        self.done[t as usize]
    }

    pub fn failed(&self, t: Traffic) -> u64 {
        self.failed[t as usize]
    }

    pub fn total_done(&self) -> u64 {
        self.done.iter().sum()
    }

    pub fn total_failed(&self) -> u64 {
        self.failed.iter().sum()
    }
}

/// One server's load: where it is, when it closes silent connections, and
/// the counters its workers share.
#[derive(Debug)]
pub struct Mix {
    pub addr: SocketAddr,
    /// The server closes a silent connection this long after accepting it.
    pub packet_timeout: Duration,
    pub tally: Tally,
    /// Numbers for new names, so that none is used twice in a run.
    next_name: AtomicUsize,
}

/// Names of churned, killed and never-registered nodes.
const CHURN_PREFIX: &str = "churn";
const KILLED_PREFIX: &str = "killed";
const ABSENT_PREFIX: &str = "absent";

impl Mix {
    pub fn new(addr: SocketAddr, packet_timeout: Duration) -> Self {
        Mix {
            addr,
            packet_timeout,
            tally: Tally::default(),
            next_name: AtomicUsize::new(0),
        }
    }

    fn fresh(&self, prefix: &str) -> String {
        registrations::name(prefix, self.next_name.fetch_add(1, Ordering::Relaxed))
    }

    /// Runs every worker until `end` and returns the churned registrations
    /// still held then, by name.
    pub async fn run_until(self: &Arc<Self>, end: Instant) -> Vec<(String, TcpStream)> {
        let mut churn = JoinSet::new();
        for w in 0..CHURN_WORKERS {
            churn.spawn(self.clone().churn(end, w as u64));
        }
        let mut others = JoinSet::new();
        for w in 0..LOOKUP_WORKERS {
            others.spawn(self.clone().lookups(end, w as u64));
        }
        others.spawn(self.clone().names(end));
        others.spawn(self.clone().garbage(end));
        others.spawn(self.clone().slow(end));
        others.spawn(self.clone().killed(end));
        for _ in 0..SILENT_WORKERS {
            others.spawn(self.clone().silent(end));
        }
        let mut held = Vec::new();
        while let Some(pool) = churn.join_next().await {
            held.extend(pool.expect("a churn worker panicked"));
        }
        while let Some(done) = others.join_next().await {
            done.expect("a soak worker panicked");
        }
        held
    }

    /// Registers new names and ends old ones, holding up to [`CHURN_POOL`];
    /// now and then registers a held name again, which must be refused.
    async fn churn(self: Arc<Self>, end: Instant, seed: u64) -> Vec<(String, TcpStream)> {
        let mut rng = Rng(seed * 2 + 1);
        let mut pool: Vec<(String, TcpStream)> = Vec::new();
        while Instant::now() < end {
            let roll = rng.below(100);
            if roll < 5 && !pool.is_empty() {
                let name = pool[rng.below(pool.len())].0.clone();
                let outcome = match alive2(self.addr, &name).await {
                    Ok(None) => Ok(()),
                    Ok(Some(_)) => Err(format!("{name} registered twice")),
                    Err(e) => Err(format!("{name}: {e}")),
                };
                self.tally.record(Traffic::Duplicate, outcome);
            } else if pool.len() < CHURN_POOL && (roll < 55 || pool.is_empty()) {
                let name = self.fresh(CHURN_PREFIX);
                match alive2(self.addr, &name).await {
                    Ok(Some(stream)) => {
                        pool.push((name, stream));
                        self.tally.record(Traffic::Register, Ok(()));
                    }
                    Ok(None) => self
                        .tally
                        .record(Traffic::Register, Err(format!("{name} refused"))),
                    Err(e) => self
                        .tally
                        .record(Traffic::Register, Err(format!("{name}: {e}"))),
                }
            } else if !pool.is_empty() {
                pool.swap_remove(rng.below(pool.len()));
            }
            sleep(PACE).await;
        }
        pool
    }

    /// PORT2 of base nodes (found, with their port) and, one in four, of
    /// names never registered (not found).
    async fn lookups(self: Arc<Self>, end: Instant, seed: u64) {
        let mut rng = Rng(seed * 2 + 7);
        let mut reply = Vec::new();
        while Instant::now() < end {
            let (traffic, name, expect) = if rng.below(4) == 0 {
                (Traffic::LookupMiss, self.fresh(ABSENT_PREFIX), None)
            } else {
                let i = rng.below(BASE_NODES);
                (
                    Traffic::LookupHit,
                    registrations::name(BASE_PREFIX, i),
                    Some(registrations::node_port(i)),
                )
            };
            let request = wire::encode(&Request::PortPlease2 {
                name: name.clone().into_bytes(),
            });
            let outcome = wire::exchange(self.addr, &request, &mut reply, REPLY_TIMEOUT)
                .await
                .map_err(|e| e.to_string())
                .and_then(|()| check_port2(&reply, &name, expect));
            self.tally.record(traffic, outcome);
            sleep(PACE).await;
        }
    }

    async fn names(self: Arc<Self>, end: Instant) {
        while Instant::now() < end {
            let outcome = listing(self.addr)
                .await
                .and_then(|names| check_listing(&names));
            self.tally.record(Traffic::Names, outcome);
            sleep(PACE).await;
        }
    }

    /// Malformed and oversized requests in turn; each must be closed
    /// without a reply.
    async fn garbage(self: Arc<Self>, end: Instant) {
        let mut rng = Rng(11);
        let mut n = 0usize;
        while Instant::now() < end {
            let (traffic, bytes) = garbage_request(n, &mut rng);
            n += 1;
            let outcome = closed_without_reply(self.addr, &bytes).await;
            self.tally.record(traffic, outcome);
            sleep(PACE).await;
        }
    }

    async fn slow(self: Arc<Self>, end: Instant) {
        let mut rng = Rng(13);
        while Instant::now() < end {
            let i = rng.below(BASE_NODES);
            let name = registrations::name(BASE_PREFIX, i);
            let request = wire::encode(&Request::PortPlease2 {
                name: name.clone().into_bytes(),
            });
            let outcome = dribble(self.addr, &request)
                .await
                .and_then(|reply| check_port2(&reply, &name, Some(registrations::node_port(i))));
            self.tally.record(Traffic::Slow, outcome);
        }
    }

    /// Connects and sends nothing: the server must close the connection at
    /// its packet timeout. A new one starts only if it can be seen out
    /// before `end`.
    async fn silent(self: Arc<Self>, end: Instant) {
        let wait = self.packet_timeout + SILENT_SLACK;
        while Instant::now() + wait < end {
            let outcome = silent_once(self.addr, self.packet_timeout, wait).await;
            self.tally.record(Traffic::Silent, outcome);
        }
    }

    /// Kills clients at every stage of a request: a partial header, a
    /// partial body, a whole ALIVE2 whose reply is never read; by reset or
    /// by close.
    async fn killed(self: Arc<Self>, end: Instant) {
        let mut n = 0usize;
        while Instant::now() < end {
            let request = wire::encode(&Request::Alive2(NodeInfo::normal(
                self.fresh(KILLED_PREFIX),
                registrations::node_port(n),
            )));
            let cut = match n % 3 {
                0 => 1,
                1 => request.len() / 2,
                _ => request.len(),
            };
            let reset = n.is_multiple_of(2);
            n += 1;
            let outcome = kill_mid_request(self.addr, &request[..cut], reset)
                .await
                .map_err(|e| e.to_string());
            self.tally.record(Traffic::Killed, outcome);
            // Killed clients are rare next to the rest of the load.
            sleep(Duration::from_millis(5)).await;
        }
    }
}

/// ALIVE2 of `name`: `Some(connection)` holding the registration if it was
/// accepted, `None` if refused.
async fn alive2(addr: SocketAddr, name: &str) -> io::Result<Option<TcpStream>> {
    let request = wire::encode(&Request::Alive2(NodeInfo::normal(name, 40_000)));
    let io = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(&request).await?;
        let mut reply = Vec::with_capacity(8);
        loop {
            if stream.read_buf(&mut reply).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed before the ALIVE2 reply",
                ));
            }
            match codec::decode_alive2_reply(&reply) {
                Ok(None) => continue,
                Ok(Some(r)) if r.ok => return Ok(Some(stream)),
                Ok(Some(_)) => return Ok(None),
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        }
    };
    timeout(REPLY_TIMEOUT, io)
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}

/// A PORT2 reply: the node with `port`, or not found when `port` is `None`.
fn check_port2(reply: &[u8], name: &str, port: Option<u16>) -> Result<(), String> {
    match (codec::decode_port2_reply(reply), port) {
        (Ok(Some(node)), Some(port)) if node.name == name.as_bytes() && node.port == port => Ok(()),
        (Ok(None), None) => Ok(()),
        (got, _) => Err(format!("{name}: {got:?}")),
    }
}

/// The names a NAMES reply lists.
pub async fn listing(addr: SocketAddr) -> Result<BTreeSet<String>, String> {
    let mut reply = Vec::new();
    wire::exchange(
        addr,
        &wire::encode(&Request::Names),
        &mut reply,
        REPLY_TIMEOUT,
    )
    .await
    .map_err(|e| e.to_string())?;
    let (_, text) = codec::decode_names_reply(&reply).map_err(|e| e.to_string())?;
    Ok(codec::decode_names_lines(text)
        .map(|(name, _)| String::from_utf8_lossy(name).into_owned())
        .collect())
}

/// While the load runs: every base node listed, and nothing but names the
/// soak registers.
fn check_listing(names: &BTreeSet<String>) -> Result<(), String> {
    let missing = (0..BASE_NODES)
        .map(|i| registrations::name(BASE_PREFIX, i))
        .find(|n| !names.contains(n));
    if let Some(n) = missing {
        return Err(format!("{n} is not listed"));
    }
    match names.iter().find(|n| {
        ![BASE_PREFIX, CHURN_PREFIX, KILLED_PREFIX]
            .iter()
            .any(|p| n.starts_with(p))
    }) {
        Some(n) => Err(format!("{n} is listed but was never registered")),
        None => Ok(()),
    }
}

/// Request `n` of the garbage cycle.
fn garbage_request(n: usize, rng: &mut Rng) -> (Traffic, Vec<u8>) {
    let over = codec::MAX_REQUEST_LEN + 1;
    match n % 6 {
        // Length 0.
        0 => (Traffic::Garbage, vec![0, 0]),
        // A request type no EPMD knows.
        1 => (Traffic::Garbage, vec![0, 1, 0x01]),
        // An ALIVE2 cut short inside its own length.
        2 => {
            let mut frame = vec![0, 5, codec_alive2_tag()];
            frame.extend_from_slice(&[0x12, 0x34, 77, 0]);
            (Traffic::Garbage, frame)
        }
        // Random bytes in a frame of the right length, after a tag below
        // every request type's ('d', DUMP, is the lowest).
        3 => {
            let len = 1 + rng.below(64);
            let mut frame = (len as u16).to_be_bytes().to_vec();
            frame.push(rng.below(usize::from(b'd')) as u8);
            frame.extend((1..len).map(|_| rng.below(256) as u8));
            (Traffic::Garbage, frame)
        }
        // A length just over the limit, then that many bytes.
        4 => {
            let mut frame = (over as u16).to_be_bytes().to_vec();
            frame.resize(2 + over, b'x');
            (Traffic::Oversized, frame)
        }
        // The largest length there is, with a little of it.
        _ => {
            let mut frame = vec![0xff, 0xff];
            frame.resize(2 + 512, b'y');
            (Traffic::Oversized, frame)
        }
    }
}

/// The ALIVE2 request's tag, from an encoded request.
fn codec_alive2_tag() -> u8 {
    wire::encode(&Request::Alive2(NodeInfo::normal("x", 1)))[2]
}

/// Sends `bytes`; the server must close without a byte of reply. A reset
/// counts as a close: the server may close with some of them unread.
async fn closed_without_reply(addr: SocketAddr, bytes: &[u8]) -> Result<(), String> {
    let io = async {
        let mut stream = TcpStream::connect(addr).await?;
        if let Err(e) = stream.write_all(bytes).await {
            return if is_reset(&e) { Ok(0) } else { Err(e) };
        }
        let mut reply = Vec::new();
        match stream.read_to_end(&mut reply).await {
            Ok(_) => Ok(reply.len()),
            Err(e) if is_reset(&e) => Ok(reply.len()),
            Err(e) => Err(e),
        }
    };
    match timeout(REPLY_TIMEOUT, io).await {
        Ok(Ok(0)) => Ok(()),
        Ok(Ok(n)) => Err(format!(
            "{n} bytes of reply to {:02x?}",
            &bytes[..3.min(bytes.len())]
        )),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("not closed in time".to_string()),
    }
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

/// Sends `request` one byte at a time and reads the reply.
async fn dribble(addr: SocketAddr, request: &[u8]) -> Result<Vec<u8>, String> {
    let io = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        for byte in request {
            stream.write_all(std::slice::from_ref(byte)).await?;
            sleep(DRIBBLE).await;
        }
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        Ok::<_, io::Error>(reply)
    };
    let limit = REPLY_TIMEOUT + DRIBBLE * request.len() as u32;
    match timeout(limit, io).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("no reply in time".to_string()),
    }
}

/// One silent connection: it must be closed, without a reply, no sooner
/// than most of `packet_timeout` and within `wait`.
async fn silent_once(
    addr: SocketAddr,
    packet_timeout: Duration,
    wait: Duration,
) -> Result<(), String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let opened = Instant::now();
    let mut reply = Vec::new();
    let closed = timeout(wait, stream.read_to_end(&mut reply)).await;
    let after = opened.elapsed();
    match closed {
        Err(_) => Err(format!("still open after {wait:?}")),
        Ok(Err(e)) if !is_reset(&e) => Err(e.to_string()),
        Ok(_) if !reply.is_empty() => Err(format!("{} bytes sent unasked", reply.len())),
        Ok(_) if after < packet_timeout.mul_f64(0.9) => {
            Err(format!("closed after {after:?}, before the packet timeout"))
        }
        Ok(_) => Ok(()),
    }
}

/// Writes `partial` and drops the connection at once, by reset (linger 0)
/// or by close.
async fn kill_mid_request(addr: SocketAddr, partial: &[u8], reset: bool) -> io::Result<()> {
    let mut stream = timeout(REPLY_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    stream.write_all(partial).await?;
    if reset {
        set_linger_zero(&stream)?;
    }
    drop(stream);
    Ok(())
}

/// SO_LINGER with a zero timeout: close sends a reset, as when a process
/// dies with data in flight.
fn set_linger_zero(stream: &TcpStream) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    wire::setsockopt(
        stream.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        &linger,
    )
}

/// A small deterministic generator (xorshift): the mix need not be
/// unpredictable, only varied.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tally_counts_by_kind_and_keeps_the_first_failures() {
        let tally = Tally::default();
        tally.record(Traffic::LookupHit, Ok(()));
        tally.record(Traffic::LookupHit, Ok(()));
        for i in 0..KEPT_FAILURES + 5 {
            tally.record(Traffic::Silent, Err(format!("n{i}")));
        }
        let counts = tally.snapshot();
        assert_eq!(counts.done(Traffic::LookupHit), 2);
        assert_eq!(counts.failed(Traffic::Silent), (KEPT_FAILURES + 5) as u64);
        assert_eq!((counts.total_done(), counts.total_failed()), (2, 15));
        let kept = tally.first_failures();
        assert_eq!(kept.len(), KEPT_FAILURES);
        assert_eq!(kept[0], "silent connections closed: n0");
    }

    #[test]
    fn port2_replies_must_match_the_expectation() {
        let found = codec::encode_port2_reply(Some(&NodeInfo::normal("a", 7)));
        assert!(check_port2(&found, "a", Some(7)).is_ok());
        assert!(check_port2(&found, "a", Some(8)).is_err());
        assert!(check_port2(&found, "a", None).is_err());
        let absent = codec::encode_port2_reply(None);
        assert!(check_port2(&absent, "b", None).is_ok());
        assert!(check_port2(&absent, "b", Some(7)).is_err());
    }

    #[test]
    fn a_listing_must_hold_every_base_node_and_nothing_foreign() {
        let mut names: BTreeSet<String> = (0..BASE_NODES)
            .map(|i| registrations::name(BASE_PREFIX, i))
            .collect();
        names.insert(registrations::name(CHURN_PREFIX, 3));
        assert!(check_listing(&names).is_ok());
        names.insert("stranger".to_string());
        assert!(check_listing(&names).is_err());
        names.remove("stranger");
        names.remove(&registrations::name(BASE_PREFIX, 0));
        assert!(check_listing(&names).is_err());
    }

    #[test]
    fn garbage_is_never_a_valid_request() {
        let mut rng = Rng(1);
        for n in 0..60 {
            let (traffic, bytes) = garbage_request(n, &mut rng);
            let body = match codec::check_frame(&bytes) {
                Err(_) => continue,
                Ok(body) => body.expect("a whole frame"),
            };
            assert_eq!(traffic, Traffic::Garbage);
            assert!(codec::parse_request(body).is_err(), "{bytes:02x?}");
        }
    }
}
