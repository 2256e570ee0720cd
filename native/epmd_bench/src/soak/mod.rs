//! `epmd-bench soak`: an endurance run against epmd-rs and the in-VM
//! server at once, under a mixed load (mix.rs), sampled over time
//! (sampler.rs) and judged at the end (verdict.rs): no failed request, the
//! registry exact, memory and descriptors back to their level after
//! warm-up.
//!
//! The run has two phases with the same load: warm-up, then the rest. Each
//! phase ends the same way: the load stops, the registry is compared with
//! what is held (with the churned registrations, then without), and once the
//! server's descriptors are steady its level is read. The level after
//! warm-up is the one the end must come back to.

mod mix;
mod report;
mod sampler;
mod verdict;

use std::collections::BTreeSet;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::{sleep, Instant};

use crate::registrations::{self, Held};
use crate::servers::{Extras, Kind, Programs, Server};
use mix::{Mix, BASE_NODES, BASE_PREFIX, SETTLE};
use sampler::{Level, Probe, Sample};
use verdict::RegistryCheck;

/// What `soak` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The whole run, warm-up included.
    pub duration: Duration,
    /// Both servers' packet timeout, in seconds.
    pub packet_timeout_secs: u32,
    pub json: PathBuf,
    /// Where to rewrite the soak's section, if anywhere.
    pub markdown: Option<PathBuf>,
}

/// The first tenth of the run, at least 30 s but never more than half.
pub fn warmup(duration: Duration) -> Duration {
    (duration / 10)
        .max(Duration::from_secs(30))
        .min(duration / 2)
}

const REGISTER_TIMEOUT: Duration = Duration::from_secs(5);

/// One server under soak, with everything that looks at it.
struct Target {
    server: Server,
    mix: Arc<Mix>,
    probe: Probe,
    samples: Arc<Mutex<Vec<Sample>>>,
    registry: Vec<RegistryCheck>,
    warm: Level,
    end: Level,
}

impl Target {
    async fn start(kind: Kind, programs: &Programs, options: &Options) -> io::Result<Self> {
        let extras = Extras {
            packet_timeout_secs: Some(options.packet_timeout_secs),
            stats_probe: kind == Kind::InVm,
        };
        let mut server = Server::start_with(kind, programs, extras).await?;
        let packet_timeout = Duration::from_secs(options.packet_timeout_secs.into());
        let probe = Probe {
            pid: server.pid(),
            addr: server.addr,
            stats: server.take_stats_probe().map(|p| Arc::new(Mutex::new(p))),
        };
        progress(format_args!(
            "{} is serving on {} (packet timeout {} s)",
            kind.label(),
            server.addr,
            packet_timeout.as_secs()
        ));
        Ok(Target {
            mix: Arc::new(Mix::new(server.addr, packet_timeout)),
            server,
            probe,
            samples: Arc::default(),
            registry: Vec::new(),
            warm: Level::default(),
            end: Level::default(),
        })
    }
}

fn progress(what: std::fmt::Arguments<'_>) {
    eprintln!("epmd-bench: {what}");
}

/// Runs the soak; `Ok(true)` if both servers passed.
pub async fn run(options: &Options, programs: &Programs) -> io::Result<bool> {
    let machine = crate::machine::describe(programs);
    let load_at_start = report::load_average();
    let since = Instant::now();
    let mut targets = [
        Target::start(Kind::EpmdRs, programs, options).await?,
        Target::start(Kind::InVm, programs, options).await?,
    ];
    let mut base: Vec<Held> = Vec::new();
    for t in &targets {
        let mut held = Held::default();
        held.register(t.server.addr, BASE_PREFIX, 0, BASE_NODES, REGISTER_TIMEOUT)
            .await
            .map_err(|e| {
                io::Error::other(format!(
                    "{}: registering the base nodes: {e}",
                    t.server.label
                ))
            })?;
        base.push(held);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let interval = sampler::interval(options.duration);
    let samplers: Vec<_> = targets
        .iter()
        .map(|t| {
            let (probe, mix, samples, stop) = (
                t.probe.clone(),
                t.mix.clone(),
                t.samples.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let sample = probe.sample(since, &mix.tally).await;
                    samples
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(sample);
                    sleep(interval).await;
                }
            })
        })
        .collect();

    let warmup = warmup(options.duration);
    progress(format_args!(
        "soak of {} s: warm-up {} s, a sample every {} s",
        options.duration.as_secs(),
        warmup.as_secs(),
        interval.as_secs()
    ));
    phase(&mut targets, since + warmup, "after warm-up").await;
    for t in &mut targets {
        t.warm = t.end;
    }
    progress(format_args!("warm-up done: {}", levels(&targets)));
    phase(&mut targets, since + options.duration, "at the end").await;
    progress(format_args!("load done: {}", levels(&targets)));

    stop.store(true, Ordering::Relaxed);
    for s in samplers {
        s.await.map_err(io::Error::other)?;
    }
    // The settled state closes the series, with the server's final counters.
    for t in &targets {
        let sample = t.probe.sample(since, &t.mix.tally).await;
        t.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(sample);
    }
    let report = report::Report::new(&targets, options, &machine, warmup, load_at_start);
    println!("{}", report.tables());
    report.write_json(&options.json)?;
    if let Some(path) = &options.markdown {
        report.write_markdown(path)?;
    }
    drop(base);
    Ok(report.passed())
}

fn levels(targets: &[Target]) -> String {
    targets
        .iter()
        .map(|t| {
            format!(
                "{} {} KiB, {} fds",
                t.server.label, t.end.rss_kib, t.end.fds
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Runs the load on every target until `end`, then checks each registry
/// (with the churned registrations still held, then without) and reads the
/// level once the server's descriptors are steady.
async fn phase(targets: &mut [Target], end: Instant, when: &str) {
    let runs: Vec<_> = targets
        .iter()
        .map(|t| {
            let mix = t.mix.clone();
            tokio::spawn(async move { mix.run_until(end).await })
        })
        .collect();
    for (t, run) in targets.iter_mut().zip(runs) {
        let churned = run.await.expect("a soak load panicked");
        let check = registry_check(t, &churned, when).await;
        t.registry.push(check);
        drop(churned);
        let check = registry_check(t, &[], &format!("{when}, churn released")).await;
        t.registry.push(check);
        t.end = t.probe.settle().await;
    }
}

/// Compares NAMES with the base nodes and `churned`, asking again until they
/// agree or [`SETTLE`] has passed: a registration ended by a client takes
/// the server a moment to see.
async fn registry_check(t: &Target, churned: &[(String, TcpStream)], when: &str) -> RegistryCheck {
    let held: BTreeSet<String> = (0..BASE_NODES)
        .map(|i| registrations::name(BASE_PREFIX, i))
        .chain(churned.iter().map(|(name, _)| name.clone()))
        .collect();
    let start = Instant::now();
    loop {
        let check = match mix::listing(t.server.addr).await {
            Ok(listed) => RegistryCheck {
                when: when.to_string(),
                held: held.len(),
                listed: listed.len(),
                missing: held.difference(&listed).take(5).cloned().collect(),
                extra: listed.difference(&held).take(5).cloned().collect(),
                error: None,
            },
            Err(e) => RegistryCheck {
                when: when.to_string(),
                held: held.len(),
                error: Some(e),
                ..RegistryCheck::default()
            },
        };
        if check.exact() || start.elapsed() > SETTLE {
            return check;
        }
        sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_is_a_tenth_of_the_run_within_bounds() {
        let secs = |s| Duration::from_secs(s);
        assert_eq!(warmup(secs(600)), secs(60));
        assert_eq!(warmup(secs(120)), secs(30));
        assert_eq!(warmup(secs(40)), secs(20));
    }
}
