//! What a server looks like from outside while the soak runs: resident
//! memory and open descriptors from /proc, how many nodes NAMES lists, CPU
//! time, and the in-VM server's own counters.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::time::{sleep, Instant};

use super::mix::{self, Tally, Traffic};
use crate::servers::{self, StatsProbe};

/// One look at a server.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sample {
    /// Seconds since the soak started.
    pub t_s: f64,
    pub rss_kib: u64,
    pub fds: usize,
    /// Nodes NAMES listed (`None`: NAMES failed).
    pub listed: Option<usize>,
    /// CPU time the server has used, in seconds.
    pub cpu_s: f64,
    /// The soak's exchanges with this server so far.
    pub done: u64,
    pub failed: u64,
    /// The server's own counters, where it tells them (the in-VM server).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub counters: BTreeMap<String, u64>,
}

/// Memory and descriptors with no load running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Level {
    pub rss_kib: u64,
    pub fds: usize,
}

/// Readings of descriptors that must agree, one after another, before a
/// server counts as settled.
const STEADY_READINGS: usize = 4;
const SETTLE_POLL: Duration = Duration::from_millis(250);
const SETTLE_LIMIT: Duration = Duration::from_secs(15);

/// How to look at one server.
#[derive(Debug, Clone)]
pub struct Probe {
    pub pid: u32,
    pub addr: SocketAddr,
    /// The in-VM server's counters channel; blocking, so read off the
    /// runtime's threads.
    pub stats: Option<Arc<Mutex<StatsProbe>>>,
}

impl Probe {
    pub async fn sample(&self, since: Instant, tally: &Tally) -> Sample {
        let t_s = since.elapsed().as_secs_f64();
        let listed = match mix::listing(self.addr).await {
            Ok(names) => {
                tally.record(Traffic::Names, Ok(()));
                Some(names.len())
            }
            Err(e) => {
                tally.record(Traffic::Names, Err(format!("sampling: {e}")));
                None
            }
        };
        let counts = tally.snapshot();
        Sample {
            t_s,
            rss_kib: servers::rss_kib(self.pid).unwrap_or(0),
            fds: servers::open_fds(self.pid).unwrap_or(0),
            listed,
            cpu_s: servers::cpu_time(self.pid)
                .unwrap_or_default()
                .as_secs_f64(),
            done: counts.total_done(),
            failed: counts.total_failed(),
            counters: self.counters().await,
        }
    }

    /// The server's counters, empty where it has none to tell or could not.
    pub async fn counters(&self) -> BTreeMap<String, u64> {
        let Some(stats) = self.stats.clone() else {
            return BTreeMap::new();
        };
        let read = tokio::task::spawn_blocking(move || {
            stats.lock().unwrap_or_else(|e| e.into_inner()).query()
        });
        match read.await {
            Ok(Ok(pairs)) => pairs.into_iter().collect(),
            Ok(Err(e)) => {
                eprintln!("epmd-bench: the in-VM server's counters: {e}");
                BTreeMap::new()
            }
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Waits until the server's descriptors stop changing (closed
    /// connections take a moment to be reaped), then reads the level.
    pub async fn settle(&self) -> Level {
        let start = Instant::now();
        let mut readings = Vec::new();
        loop {
            readings.push(servers::open_fds(self.pid).unwrap_or(0));
            let tail = &readings[readings.len().saturating_sub(STEADY_READINGS)..];
            let steady = tail.len() == STEADY_READINGS && tail.iter().all(|&n| n == tail[0]);
            if steady || start.elapsed() > SETTLE_LIMIT {
                return Level {
                    rss_kib: servers::rss_kib(self.pid).unwrap_or(0),
                    fds: tail[tail.len() - 1],
                };
            }
            sleep(SETTLE_POLL).await;
        }
    }
}

/// The interval between samples: about 300 of them over the run, each at
/// least a second and at most five apart.
pub fn interval(duration: Duration) -> Duration {
    (duration / 300).clamp(Duration::from_secs(1), Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_three_hundred_samples() {
        assert_eq!(interval(Duration::from_secs(600)), Duration::from_secs(2));
        assert_eq!(interval(Duration::from_secs(60)), Duration::from_secs(1));
        assert_eq!(
            interval(Duration::from_secs(36_000)),
            Duration::from_secs(5)
        );
    }
}
