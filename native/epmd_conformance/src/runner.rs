//! Runs exchanges against a reference and a candidate server side by side:
//! first those that need a server to themselves, one at a time, then the rest
//! concurrently. Both servers must start with no node registered.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::compare::{compare, Difference};
use crate::drive::{self, drive};
use crate::mask::{mask, show};
use crate::report::Report;
use crate::script::Exchange;

/// Exchanges in flight at once; each holds a few connections per server.
pub const CONCURRENCY: usize = 24;

/// The two servers under comparison.
#[derive(Debug, Clone, Copy)]
pub struct Servers {
    pub reference: SocketAddr,
    pub candidate: SocketAddr,
}

/// Why the battery could not run.
#[derive(Debug)]
pub enum RunError {
    Unreachable {
        server: SocketAddr,
        error: io::Error,
    },
    /// The battery's NAMES listings need servers with no node registered.
    NotEmpty {
        server: SocketAddr,
        listing: Vec<u8>,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Unreachable { server, error } => {
                write!(f, "no EPMD answers NAMES at {server}: {error}")
            }
            RunError::NotEmpty { server, listing } => write!(
                f,
                "the EPMD at {server} must start with no node registered, but lists {}",
                show(listing)
            ),
        }
    }
}

impl std::error::Error for RunError {}

async fn check_empty(server: SocketAddr) -> Result<(), RunError> {
    match drive::names(server).await {
        Ok(listing) if listing.is_empty() => Ok(()),
        Ok(listing) => Err(RunError::NotEmpty { server, listing }),
        Err(error) => Err(RunError::Unreachable { server, error }),
    }
}

/// Plays one exchange on both servers at once and compares what was seen.
pub async fn play(servers: Servers, exchange: &Exchange) -> Vec<Difference> {
    let (r, c) = tokio::join!(
        drive(servers.reference, exchange),
        drive(servers.candidate, exchange)
    );
    compare(
        &exchange.name,
        exchange.about,
        &mask(&r, servers.reference.port()),
        &mask(&c, servers.candidate.port()),
    )
}

/// Runs `exchanges`, then checks that both servers are empty again.
pub async fn run(servers: Servers, exchanges: Vec<Exchange>) -> Result<Report, RunError> {
    check_empty(servers.reference).await?;
    check_empty(servers.candidate).await?;
    let total = exchanges.len() + 1;
    let (isolated, shared): (Vec<_>, Vec<_>) = exchanges.into_iter().partition(|e| e.isolated);
    let mut differences = Vec::new();
    for e in &isolated {
        differences.extend(play(servers, e).await);
    }

    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = JoinSet::new();
    for (i, e) in shared.into_iter().enumerate() {
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("never closed");
            (i, play(servers, &e).await)
        });
    }
    let mut results = Vec::new();
    while let Some(done) = tasks.join_next().await {
        results.push(done.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())));
    }
    results.sort_by_key(|(i, _)| *i);
    differences.extend(results.into_iter().flat_map(|(_, d)| d));

    let last = Exchange::new(
        "battery/final_state",
        "after the battery neither server lists a node",
    )
    .isolated()
    .names("NAMES");
    differences.extend(play(servers, &last).await);
    Ok(Report {
        exchanges: total,
        differences,
    })
}
