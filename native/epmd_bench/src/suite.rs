//! The side-by-side run behind `make bench`: the three servers start on free
//! ports and every wire measurement visits them in turn, point by point, so
//! drift in the machine affects all of them alike; with a lone client on a
//! common host the controls join them (a second OTP epmd and the minimal
//! responder). Then the in-VM calls and the boot times, each against a fresh
//! OTP daemon.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::capacity::{self, Capacity};
use crate::load::{self, Query, Work};
use crate::registrations::{self, Held};
use crate::results::{Boot, Controls, InVmCalls, LookupPoint, PerServer, Results};
use crate::servers::{self, Kind, Programs, Server};
use crate::settings::{
    Settings, CHURN_CLIENTS, CONTROL_POINTS, LOOKUP_PLAN, NAMES_CLIENTS, NAMES_NODES,
};
use crate::stats::{self, Sample, Summary};
use crate::text::nodes_and_clients;
use crate::vm::{self, Mapper};

const NODE_PREFIX: &str = "node";
const REGISTER_TIMEOUT: Duration = Duration::from_secs(5);

fn progress(what: std::fmt::Arguments<'_>) {
    eprintln!("epmd-bench: {what}");
}

/// Runs every measurement.
pub async fn run(settings: Settings, programs: &Programs) -> io::Result<Results> {
    let servers = PerServer {
        otp: start(Kind::Otp, programs).await?,
        cli: start(Kind::EpmdRs, programs).await?,
        vm: start(Kind::InVm, programs).await?,
    };
    let controls = [
        Server::start_otp_again(programs).await?,
        Server::start_responder(programs).await?,
    ];
    let (lookups, names) = lookups_and_names(&servers, &controls, &settings).await?;
    drop(controls);
    let churn = measure_all(&servers, &settings, CHURN_CLIENTS, |s, round| {
        Work::Churn(format!("churn{}r{round}", s.addr.port()).into())
    })
    .await;
    progress(format_args!("churn: {}", rates(&churn)));
    let mut capacity: PerServer<Capacity> = Default::default();
    for (server, result) in servers.iter().zip(capacity.iter_mut()) {
        *result = capacity::measure(server.addr, server.pid(), settings.capacity_goal).await;
        progress(format_args!(
            "capacity of {}: {} registrations, {:.0} bytes each",
            server.label, result.held, result.rss_per_registration
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

async fn start(kind: Kind, programs: &Programs) -> io::Result<Server> {
    let server = Server::start(kind, programs).await?;
    progress(format_args!(
        "{} is serving on {}",
        kind.label(),
        server.addr
    ));
    Ok(server)
}

/// PORT2 along [`LOOKUP_PLAN`], registering nodes as it goes (with the
/// controls, a second OTP epmd and the minimal responder in that order, at
/// [`CONTROL_POINTS`], over `settings.control_rounds` there), then NAMES
/// with all of them registered.
async fn lookups_and_names(
    servers: &PerServer<Server>,
    controls: &[Server; 2],
    settings: &Settings,
) -> io::Result<(Vec<LookupPoint>, PerServer<Summary>)> {
    let mut held: PerServer<Held> = Default::default();
    let mut held_by_controls: [Held; 2] = Default::default();
    let mut lookups = Vec::new();
    let mut registered = 0;
    for (nodes, client_counts) in LOOKUP_PLAN {
        for (server, held) in servers.iter().zip(held.iter_mut()) {
            held.register(
                server.addr,
                NODE_PREFIX,
                registered,
                nodes - registered,
                REGISTER_TIMEOUT,
            )
            .await
            .map_err(|e| {
                io::Error::other(format!("{}: registering {nodes} nodes: {e}", server.label))
            })?;
        }
        registered = nodes;
        let queries: Arc<[Query]> = (0..nodes)
            .map(|i| Query::port_please(&registrations::name(NODE_PREFIX, i)))
            .collect();
        for &clients in client_counts {
            let controlled = CONTROL_POINTS.contains(&(nodes, clients));
            if controlled {
                for (control, held) in controls.iter().zip(held_by_controls.iter_mut()) {
                    let have = held.len();
                    held.register(
                        control.addr,
                        NODE_PREFIX,
                        have,
                        nodes.saturating_sub(have),
                        REGISTER_TIMEOUT,
                    )
                    .await
                    .map_err(|e| {
                        io::Error::other(format!("{}: registering: {e}", control.label))
                    })?;
                }
            }
            let (visited_controls, rounds): (&[Server], _) = if controlled {
                (controls, settings.control_rounds)
            } else {
                (&[], settings.rounds)
            };
            let (by_server, measured_controls) = measure_with(
                servers,
                visited_controls,
                settings,
                rounds,
                clients,
                |_, _| Work::Queries(queries.clone()),
            )
            .await;
            let controls = match measured_controls[..] {
                [otp_again, responder] => Some(Controls {
                    otp_again,
                    responder,
                }),
                _ => None,
            };
            progress(format_args!(
                "PORT2, {}: {}",
                nodes_and_clients(nodes, clients),
                rates(&by_server)
            ));
            lookups.push(LookupPoint {
                nodes,
                clients,
                by_server,
                controls,
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
        nodes_and_clients(NAMES_NODES, NAMES_CLIENTS),
        rates(&names)
    ));
    Ok((lookups, names))
}

/// The in-VM calls and the boot times, against a fresh OTP daemon.
async fn in_vm(
    settings: &Settings,
    programs: &Programs,
) -> io::Result<(Result<InVmCalls, String>, Result<Boot, String>)> {
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
        epmd_rs_ms: stats::median(&ms[0]),
        stock_ms: stats::median(&ms[1]),
        stock_no_start_ms: stats::median(&ms[2]),
        epmd_rs_excess: stats::paired_excess(&ms[0], &ms[1]),
        stock_no_start_excess: stats::paired_excess(&ms[2], &ms[1]),
    })
    .map_err(|e| e.to_string());
    progress(format_args!("boot: {boot:?}"));
    Ok((calls, boot))
}

fn in_vm_calls(programs: &Programs, daemon_port: u16) -> Result<InVmCalls, String> {
    let own_port = servers::free_port().map_err(|e| e.to_string())?;
    let epmd_rs = vm::calls(programs, Mapper::EpmdRs, own_port).map_err(|e| e.to_string())?;
    let erl_epmd = vm::calls(programs, Mapper::Stock { start_epmd: false }, daemon_port)
        .map_err(|e| e.to_string())?;
    Ok(InVmCalls { epmd_rs, erl_epmd })
}

/// Measures `work(server, round)` on every server: `settings.rounds` rounds,
/// each visiting the servers in turn, each server warmed up before its first
/// round. Each round starts with the next server, so that none always follows
/// the same one: what a round leaves behind (connections in TIME_WAIT, a
/// machine still busy) falls on all alike. The server's CPU time is read
/// around every round.
async fn measure_all(
    servers: &PerServer<Server>,
    settings: &Settings,
    clients: usize,
    work: impl Fn(&Server, usize) -> Work,
) -> PerServer<Summary> {
    measure_with(servers, &[], settings, settings.rounds, clients, work)
        .await
        .0
}

/// [`measure_all`] over `rounds` rounds, with `controls` in the same rounds,
/// each compared with OTP's epmd as ours are.
async fn measure_with(
    servers: &PerServer<Server>,
    controls: &[Server],
    settings: &Settings,
    rounds: usize,
    clients: usize,
    work: impl Fn(&Server, usize) -> Work,
) -> (PerServer<Summary>, Vec<Summary>) {
    let visited: Vec<&Server> = servers.iter().chain(controls).collect();
    let mut samples: Vec<Vec<Sample>> = visited.iter().map(|_| Vec::new()).collect();
    let load = settings.load(clients);
    for round in 0..rounds {
        for k in 0..visited.len() {
            let i = (round + k) % visited.len();
            let server = visited[i];
            let work = work(server, round);
            if round == 0 {
                load::warm_up(server.addr, load, &work).await;
            }
            let cpu = || servers::cpu_time(server.pid()).unwrap_or_default();
            let before = cpu();
            let mut sample = load::run(server.addr, load, work).await;
            sample.server_cpu = cpu().saturating_sub(before);
            samples[i].push(sample);
        }
    }
    // In [`Kind::ALL`] order, then the controls.
    let mut rounds = samples.into_iter().map(stats::combine);
    let mut next = || rounds.next().expect("one set of rounds per server");
    let (otp, cli, vm) = (next(), next(), next());
    let against_otp = |ours: &stats::Rounds| Summary {
        vs_otp: stats::paired(&ours.each, &otp.each),
        ..ours.summary
    };
    let by_server = PerServer {
        otp: otp.summary,
        cli: against_otp(&cli),
        vm: against_otp(&vm),
    };
    (by_server, rounds.map(|c| against_otp(&c)).collect())
}

fn rates(summaries: &PerServer<Summary>) -> String {
    Kind::ALL
        .iter()
        .zip(summaries.iter())
        .map(|(k, s)| format!("{} {:.0}/s", k.label(), s.rate))
        .collect::<Vec<_>>()
        .join(", ")
}
