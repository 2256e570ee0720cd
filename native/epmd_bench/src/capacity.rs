//! Capacity: how many registrations a server holds at once while it still
//! answers NAMES and PORT2, and what each one costs in resident memory.
//!
//! Registrations are added until the goal or the first failure (OTP's epmd
//! stops accepting near FD_SETSIZE). If the server then no longer answers,
//! registrations are released one by one until it does: the capacity is the
//! count at which it still answered everything.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::{sleep, Instant};

use crate::load::Query;
use crate::registrations::{self, Held};
use crate::wire;

const PREFIX: &str = "cap";
/// An ALIVE2 that gets no reply this soon counts as refused.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(3);
/// Registrations released, at most, looking for a count that is served.
const MAX_RELEASED: usize = 64;
/// PORT2 lookups made to check a count, spread over the held names.
const LOOKUPS_CHECKED: usize = 100;

/// What the capacity run found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Capacity {
    /// Registrations held while every check request was answered (0 if no
    /// count was).
    pub held: usize,
    /// Whether NAMES and the PORT2 lookups were answered at `held`.
    pub answered: bool,
    /// Why the ramp stopped before the goal, if it did.
    pub stopped: Option<String>,
    /// Resident memory added per registration, in bytes.
    pub rss_per_registration: f64,
    /// Time for one NAMES listing every held registration.
    pub names_ms: f64,
}

/// Ramps registrations on the server at `addr` (process `pid`) up to `goal`.
pub async fn measure(addr: SocketAddr, pid: u32, goal: usize) -> Capacity {
    let rss = || crate::servers::rss_kib(pid).unwrap_or(0);
    let before = rss();
    let mut held = Held::default();
    let stopped = held
        .register(addr, PREFIX, 0, goal, REGISTER_TIMEOUT)
        .await
        .err()
        .map(|e| format!("registration {} failed: {e}", held.len() + 1));
    // Let the server finish with refused connections before reading memory.
    sleep(Duration::from_millis(200)).await;
    let after = rss();
    let rss_per_registration = if held.len() > 0 {
        after.saturating_sub(before) as f64 * 1024.0 / held.len() as f64
    } else {
        0.0
    };
    let mut released = 0;
    loop {
        if let Some(names_ms) = answers(addr, &held).await {
            return Capacity {
                held: held.len(),
                answered: true,
                stopped,
                rss_per_registration,
                names_ms,
            };
        }
        if released == MAX_RELEASED || held.len() == 0 {
            return Capacity {
                held: 0,
                answered: false,
                stopped,
                rss_per_registration,
                names_ms: 0.0,
            };
        }
        held.release(1);
        released += 1;
    }
}

/// Whether the server answers NAMES (listing every held registration) and
/// PORT2 for a sample of them; returns the NAMES time when it does. A
/// server may still be removing released registrations: try a few times.
async fn answers(addr: SocketAddr, held: &Held) -> Option<f64> {
    let names = Query::names(held.len());
    let lookups: Vec<Query> = held
        .sample(LOOKUPS_CHECKED)
        .into_iter()
        .map(|i| Query::port_please(&registrations::name(PREFIX, i)))
        .collect();
    // A second, plus time for NAMES to list 100,000 nodes (a few megabytes).
    let limit = Duration::from_secs(1) + Duration::from_micros(10 * held.len() as u64);
    let mut reply = Vec::new();
    for _ in 0..2 {
        let start = Instant::now();
        let listed = wire::exchange(addr, names.request(), &mut reply, limit)
            .await
            .and_then(|()| names.check(&reply));
        let names_ms = start.elapsed().as_secs_f64() * 1e3;
        let mut found = listed.is_ok();
        for q in &lookups {
            if !found {
                break;
            }
            found = wire::exchange(addr, q.request(), &mut reply, limit)
                .await
                .and_then(|()| q.check(&reply))
                .is_ok();
        }
        if found {
            return Some(names_ms);
        }
        sleep(Duration::from_millis(200)).await;
    }
    None
}
