//! Registrations the harness holds open, as live nodes would: one ALIVE2
//! connection each, kept until dropped. Many are made concurrently, spread
//! over several loopback source addresses so that more than one ephemeral
//! port range (about 28,000 connections) is available.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use epmd_core::codec::{NodeInfo, Request};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::wire::{self, WireError};

/// Registrations in flight at once while ramping up.
const CONCURRENCY: usize = 64;

/// Source addresses 127.0.0.2 and up: each gives a full ephemeral port range
/// towards the server.
const SOURCES: u8 = 16;

/// The name of registration `i` under `prefix`.
pub fn name(prefix: &str, i: usize) -> String {
    format!("{prefix}{i:06}")
}

/// Open registrations, each with its index under the prefix it was made
/// with; dropping one ends it.
#[derive(Debug, Default)]
pub struct Held {
    streams: Vec<(usize, TcpStream)>,
}

impl Held {
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Ends the `n` registrations made last.
    pub fn release(&mut self, n: usize) {
        let keep = self.streams.len().saturating_sub(n);
        self.streams.truncate(keep);
    }

    /// About `n` of the held indices, spread over all of them.
    pub fn sample(&self, n: usize) -> Vec<usize> {
        let step = (self.streams.len() / n.max(1)).max(1);
        self.streams.iter().step_by(step).map(|(i, _)| *i).collect()
    }

    /// Registers nodes `prefix` + `from`.., `count` of them, `CONCURRENCY` at
    /// a time. Stops at the first refusal, error or timeout and returns it:
    /// the registrations made until then stay held.
    pub async fn register(
        &mut self,
        addr: SocketAddr,
        prefix: &str,
        from: usize,
        count: usize,
        limit: Duration,
    ) -> Result<(), WireError> {
        let mut tasks = JoinSet::new();
        let mut next = from;
        let end = from + count;
        let mut failure = None;
        loop {
            while failure.is_none() && next < end && tasks.len() < CONCURRENCY {
                let request = wire::encode(&Request::Alive2(NodeInfo::normal(
                    name(prefix, next),
                    node_port(next),
                )));
                let source = Some(source_address(next));
                let i = next;
                tasks.spawn(async move {
                    wire::register(addr, source, &request, limit)
                        .await
                        .map(|stream| (i, stream))
                });
                next += 1;
            }
            match tasks.join_next().await {
                None => break,
                Some(Ok(Ok(held))) => self.streams.push(held),
                Some(Ok(Err(e))) => failure = failure.or(Some(e)),
                Some(Err(panic)) => std::panic::resume_unwind(panic.into_panic()),
            }
        }
        failure.map_or(Ok(()), Err)
    }
}

/// The distribution port node `i` claims: any, as long as PORT2 echoes it.
pub fn node_port(i: usize) -> u16 {
    10_000 + (i % 50_000) as u16
}

/// Registration `i`'s source address, round robin over [`SOURCES`].
fn source_address(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2 + (i % usize::from(SOURCES)) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_in_registration_order() {
        assert_eq!(name("cap", 7), "cap000007");
        assert!(name("n", 99) < name("n", 100));
    }

    #[test]
    fn sources_stay_on_loopback() {
        for i in 0..100 {
            let ip = source_address(i);
            assert!(ip.is_loopback() && ip != Ipv4Addr::LOCALHOST);
        }
    }
}
