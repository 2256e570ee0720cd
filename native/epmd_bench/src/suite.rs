//! The side-by-side run behind `make bench`: the three servers start on free
//! ports and every wire measurement visits them in turn, point by point, so
//! drift in the machine affects all of them alike. Then the in-VM calls and
//! the boot times, each against a fresh OTP daemon.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::capacity::{self, Capacity};
use crate::load::{self, Load, Query, Work};
use crate::registrations::{self, Held};
use crate::servers::{self, Kind, Programs, Server};
use crate::stats::{self, Sample, Summary};
use crate::targets;
use crate::vm::{self, Calls, Mapper};

/// Registered-node counts the lookups are measured at, with the client
/// counts at each.
const LOOKUP_PLAN: [(usize, &[usize]); 4] = [
    (1, &[1, 4, 16]),
    (10, &[4]),
    (100, &[4]),
    (1000, &[1, 4, 16]),
];
/// Nodes registered while NAMES is measured.
pub const NAMES_NODES: usize = 1000;
pub const NAMES_CLIENTS: usize = 1;
pub const CHURN_CLIENTS: usize = 4;
const NODE_PREFIX: &str = "node";
const REGISTER_TIMEOUT: Duration = Duration::from_secs(5);
/// Descriptors kept free for everything but the registrations: listening
/// sockets, the VM's own files, the check requests.
const FD_RESERVE: u64 = 256;

/// How long and how hard each measurement runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub warmup: Duration,
    /// One round of a measurement; each is measured `rounds` times.
    pub duration: Duration,
    pub rounds: usize,
    pub max_requests: u64,
    /// Registrations the capacity run aims for.
    pub capacity_goal: usize,
    pub boot_runs: usize,
    /// Threads of the load generator's runtime.
    pub client_threads: usize,
    /// RLIMIT_NOFILE of the harness and the servers it starts: it bounds
    /// the capacity that can be shown.
    pub fd_limit: u64,
}

impl Settings {
    pub fn full() -> Self {
        Settings {
            warmup: Duration::from_millis(300),
            duration: Duration::from_millis(400),
            rounds: 5,
            max_requests: 500_000,
            capacity_goal: 100_000,
            boot_runs: 21,
            client_threads: 1,
            fd_limit: 0,
        }
    }

    /// A run of a few seconds, to try the harness out.
    pub fn quick() -> Self {
        Settings {
            warmup: Duration::from_millis(50),
            duration: Duration::from_millis(300),
            rounds: 1,
            capacity_goal: 3_000,
            boot_runs: 3,
            ..Settings::full()
        }
    }

    /// Lowers the capacity goal to what `fd_limit` descriptors allow: each
    /// registration takes one in the server and one in the harness.
    pub fn fit_to_fd_limit(&mut self, fd_limit: u64) {
        self.fd_limit = fd_limit;
        let usable = fd_limit.saturating_sub(FD_RESERVE) as usize;
        self.capacity_goal = self.capacity_goal.min(usable);
    }

    fn load(&self, clients: usize) -> Load {
        Load {
            clients,
            warmup: self.warmup,
            duration: self.duration,
            max_requests: self.max_requests,
        }
    }
}

/// One value per server, in [`Kind::ALL`] order.
pub type PerServer<T> = [T; 3];

/// PORT2 at one registered-node count and one client count.
#[derive(Debug, Clone)]
pub struct LookupPoint {
    pub nodes: usize,
    pub clients: usize,
    pub by_server: PerServer<Summary>,
}

/// Median boot times, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Boot {
    pub epmd_rs_ms: f64,
    /// A stock node as erl starts it by default (it runs `epmd -daemon`,
    /// which finds the daemon running).
    pub stock_ms: f64,
    /// A stock node with `-start_epmd false`.
    pub stock_no_start_ms: f64,
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct Results {
    pub settings: Settings,
    pub lookups: Vec<LookupPoint>,
    pub names: PerServer<Summary>,
    pub churn: PerServer<Summary>,
    pub capacity: PerServer<Capacity>,
    /// epmd_rs in a node serving its own EPMD, then erl_epmd through the daemon.
    pub calls: Result<(Calls, Calls), String>,
    pub boot: Result<Boot, String>,
}

fn progress(what: std::fmt::Arguments<'_>) {
    eprintln!("epmd-bench: {what}");
}

/// Runs every measurement.
pub async fn run(settings: Settings, programs: &Programs) -> io::Result<Results> {
    let mut servers = Vec::with_capacity(3);
    for kind in Kind::ALL {
        let server = Server::start(kind, programs).await?;
        progress(format_args!(
            "{} is serving on {}",
            kind.label(),
            server.addr
        ));
        servers.push(server);
    }
    let (lookups, names) = lookups_and_names(&servers, &settings).await?;
    let churn = measure_all(&servers, &settings, CHURN_CLIENTS, |s, round| {
        Work::Churn(format!("churn{}r{round}", s.addr.port()).into())
    })
    .await;
    progress(format_args!("churn: {}", rates(&churn)));
    let mut capacity: PerServer<Capacity> = Default::default();
    for (server, result) in servers.iter().zip(&mut capacity) {
        *result = capacity::measure(server.addr, server.pid(), settings.capacity_goal).await;
        progress(format_args!(
            "capacity of {}: {} registrations, {:.0} bytes each",
            server.kind.label(),
            result.held,
            result.rss_per_registration
        ));
    }
    drop(servers);
    let (calls, boot) = in_vm(&settings, programs).await?;
    Ok(Results {
        settings,
        lookups,
        names,
        churn,
        capacity,
        calls,
        boot,
    })
}

/// PORT2 along [`LOOKUP_PLAN`], registering nodes as it goes, then NAMES
/// with all of them registered.
async fn lookups_and_names(
    servers: &[Server],
    settings: &Settings,
) -> io::Result<(Vec<LookupPoint>, PerServer<Summary>)> {
    let mut held: PerServer<Held> = Default::default();
    let mut lookups = Vec::new();
    let mut registered = 0;
    for (nodes, client_counts) in LOOKUP_PLAN {
        for (server, held) in servers.iter().zip(&mut held) {
            held.register(
                server.addr,
                NODE_PREFIX,
                registered,
                nodes - registered,
                REGISTER_TIMEOUT,
            )
            .await
            .map_err(|e| {
                io::Error::other(format!(
                    "{}: registering {nodes} nodes: {e}",
                    server.kind.label()
                ))
            })?;
        }
        registered = nodes;
        let queries: Arc<[Query]> = (0..nodes)
            .map(|i| Query::port_please(&registrations::name(NODE_PREFIX, i)))
            .collect();
        for &clients in client_counts {
            let by_server = measure_all(servers, settings, clients, |_, _| {
                Work::Queries(queries.clone())
            })
            .await;
            progress(format_args!(
                "PORT2, {}: {}",
                targets::nodes_and_clients(nodes, clients),
                rates(&by_server)
            ));
            lookups.push(LookupPoint {
                nodes,
                clients,
                by_server,
            });
        }
    }
    let listing: Arc<[Query]> = Arc::new([Query::names(NAMES_NODES)]);
    let names = measure_all(servers, settings, NAMES_CLIENTS, |_, _| {
        Work::Queries(listing.clone())
    })
    .await;
    progress(format_args!(
        "NAMES, {}: {}",
        targets::nodes_and_clients(NAMES_NODES, NAMES_CLIENTS),
        rates(&names)
    ));
    Ok((lookups, names))
}

/// The in-VM calls and the boot times, against a fresh OTP daemon.
async fn in_vm(
    settings: &Settings,
    programs: &Programs,
) -> io::Result<(Result<(Calls, Calls), String>, Result<Boot, String>)> {
    let daemon = Server::start(Kind::Otp, programs).await?;
    let port = daemon.addr.port();
    let calls = in_vm_calls(programs, port);
    progress(format_args!("in-VM calls: {calls:?}"));
    let boot = vm::boot(
        programs,
        &[
            Mapper::EpmdRs,
            Mapper::Stock { start_epmd: true },
            Mapper::Stock { start_epmd: false },
        ],
        port,
        settings.boot_runs,
    )
    .map(|ms| Boot {
        epmd_rs_ms: ms[0],
        stock_ms: ms[1],
        stock_no_start_ms: ms[2],
    })
    .map_err(|e| e.to_string());
    progress(format_args!("boot: {boot:?}"));
    Ok((calls, boot))
}

fn in_vm_calls(programs: &Programs, daemon_port: u16) -> Result<(Calls, Calls), String> {
    let own_port = crate::servers::free_port().map_err(|e| e.to_string())?;
    let ours = vm::calls(programs, Mapper::EpmdRs, own_port).map_err(|e| e.to_string())?;
    let stock = vm::calls(programs, Mapper::Stock { start_epmd: false }, daemon_port)
        .map_err(|e| e.to_string())?;
    Ok((ours, stock))
}

/// Measures `work(server, round)` on every server: `settings.rounds` rounds,
/// each visiting the servers in turn, each server warmed up before its first
/// round. The server's CPU time is read around every round.
async fn measure_all(
    servers: &[Server],
    settings: &Settings,
    clients: usize,
    work: impl Fn(&Server, usize) -> Work,
) -> PerServer<Summary> {
    let mut rounds: PerServer<Vec<Sample>> = Default::default();
    let load = settings.load(clients);
    for round in 0..settings.rounds {
        for (server, samples) in servers.iter().zip(&mut rounds) {
            let work = work(server, round);
            if round == 0 {
                load::warm_up(server.addr, load, &work).await;
            }
            let cpu = || servers::cpu_time(server.pid()).unwrap_or_default();
            let before = cpu();
            let mut sample = load::run(server.addr, load, work).await;
            sample.server_cpu = cpu().saturating_sub(before);
            samples.push(sample);
        }
    }
    rounds.map(stats::combine)
}

fn rates(summaries: &PerServer<Summary>) -> String {
    Kind::ALL
        .iter()
        .zip(summaries)
        .map(|(k, s)| format!("{} {:.0}/s", k.label(), s.rate))
        .collect::<Vec<_>>()
        .join(", ")
}
