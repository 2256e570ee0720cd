//! Closed-loop load: `clients` tasks, each with one request in flight on a
//! fresh connection (EPMD answers one request per connection), until a
//! deadline or a total request budget runs out, whichever comes first. The
//! work is a set of queries (PORT2, NAMES) or registration churn. A lone
//! client asking queries blocks on a thread of its own.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use epmd_core::codec::{NodeInfo, Request};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::stats::Sample;
use crate::wire;

/// Longer than any answer a healthy server gives; a request past it counts
/// as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The distribution port churned nodes claim; nobody connects to it.
const CHURN_NODE_PORT: u16 = 40000;

/// One kind of request, with the check its reply must pass.
#[derive(Debug)]
pub struct Query {
    request: Vec<u8>,
    expect: Expect,
}

#[derive(Debug)]
enum Expect {
    /// PORT2 must find this node.
    Found(Vec<u8>),
    /// NAMES must list this many nodes.
    Listed(usize),
}

impl Query {
    pub fn port_please(name: &str) -> Self {
        let name = name.as_bytes().to_vec();
        Query {
            request: wire::encode(&Request::PortPlease2 { name: name.clone() }),
            expect: Expect::Found(name),
        }
    }

    pub fn names(nodes: usize) -> Self {
        Query {
            request: wire::encode(&Request::Names),
            expect: Expect::Listed(nodes),
        }
    }

    pub fn request(&self) -> &[u8] {
        &self.request
    }

    pub fn check(&self, reply: &[u8]) -> Result<(), wire::WireError> {
        match &self.expect {
            Expect::Found(name) => wire::check_port2(reply, name),
            Expect::Listed(n) => wire::check_names(reply, *n),
        }
    }
}

/// How hard and how long to push.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub clients: usize,
    /// Threads the clients are spread over, each with a runtime of its own.
    /// One thread serving several clients is the busier side of every
    /// exchange and sets their latency, hiding the server's part in it. A
    /// lone client asking queries runs blocking on a thread of its own.
    pub threads: usize,
    /// How long [`warm_up`] runs.
    pub warmup: Duration,
    pub duration: Duration,
    pub max_requests: u64,
}

/// What each client does, over and over.
#[derive(Debug, Clone)]
pub enum Work {
    /// Client `c` cycles through the queries from index `c`, in steps of the
    /// client count.
    Queries(Arc<[Query]>),
    /// Connect, ALIVE2 under a name never used before, read the reply,
    /// close: a node that starts and stops. Names start with the tag.
    Churn(Arc<str>),
}

/// Runs `work` for `load.warmup`, recording nothing, so that connections
/// and caches are warm before [`run`].
pub async fn warm_up(addr: SocketAddr, load: Load, work: &Work) {
    if !load.warmup.is_zero() {
        let warm = match work {
            Work::Churn(tag) => Work::Churn(format!("{tag}w").into()),
            queries => queries.clone(),
        };
        measure(addr, load, load.warmup, &warm).await;
    }
}

/// Runs `load` against `addr` and records it.
pub async fn run(addr: SocketAddr, load: Load, work: Work) -> Sample {
    measure(addr, load, load.duration, &work).await
}

async fn measure(addr: SocketAddr, load: Load, duration: Duration, work: &Work) -> Sample {
    let budget = Arc::new(AtomicU64::new(load.max_requests));
    let start = Instant::now();
    let share = Share {
        addr,
        clients: load.clients,
        threads: load.threads.clamp(1, load.clients.max(1)),
        deadline: start + duration,
        budget,
        work: work.clone(),
    };
    let mut total = match work {
        // A lone client asking queries blocks on a thread of its own: with
        // nothing to overlap, an event loop would only add its own wake-ups
        // to every round trip, and their jitter to its tail.
        Work::Queries(queries) if load.clients == 1 => {
            let client = share.client(0);
            let queries = queries.clone();
            tokio::task::spawn_blocking(move || client.run_blocking(&queries))
                .await
                .expect("the lone client panicked")
        }
        _ if share.threads == 1 => share.run(0).await,
        _ => {
            let mut threads = JoinSet::new();
            for t in 0..share.threads {
                let share = share.clone();
                threads.spawn_blocking(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("cannot start a load thread's runtime")
                        .block_on(share.run(t))
                });
            }
            let mut total = Sample::default();
            while let Some(sample) = threads.join_next().await {
                total.merge(sample.expect("a load thread panicked"));
            }
            total
        }
    };
    total.elapsed = start.elapsed();
    total
}

/// What one load thread needs to run its share of the clients.
#[derive(Clone)]
struct Share {
    addr: SocketAddr,
    clients: usize,
    threads: usize,
    deadline: Instant,
    budget: Arc<AtomicU64>,
    work: Work,
}

impl Share {
    /// Runs clients `thread`, `thread + threads`, ... on this thread.
    async fn run(self, thread: usize) -> Sample {
        let mut tasks = JoinSet::new();
        for c in (thread..self.clients).step_by(self.threads) {
            tasks.spawn(self.client(c).run());
        }
        let mut total = Sample::default();
        while let Some(sample) = tasks.join_next().await {
            total.merge(sample.expect("a load client panicked"));
        }
        total
    }

    fn client(&self, first: usize) -> Client {
        Client {
            addr: self.addr,
            first,
            step: self.clients,
            deadline: self.deadline,
            budget: self.budget.clone(),
            work: self.work.clone(),
        }
    }
}

struct Client {
    addr: SocketAddr,
    first: usize,
    step: usize,
    deadline: Instant,
    budget: Arc<AtomicU64>,
    work: Work,
}

impl Client {
    fn take_one(&self) -> bool {
        self.budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    async fn run(self) -> Sample {
        let mut sample = Sample::default();
        let mut reply = Vec::with_capacity(64 * 1024);
        let mut i = self.first;
        while Instant::now() < self.deadline && self.take_one() {
            let t0 = Instant::now();
            let outcome = match &self.work {
                Work::Queries(queries) => {
                    let query = &queries[i % queries.len()];
                    wire::exchange(self.addr, &query.request, &mut reply, REQUEST_TIMEOUT)
                        .await
                        .and_then(|()| query.check(&reply))
                }
                Work::Churn(tag) => {
                    let request = wire::encode(&Request::Alive2(NodeInfo::normal(
                        format!("{tag}_{i}"),
                        CHURN_NODE_PORT,
                    )));
                    wire::register(self.addr, None, &request, REQUEST_TIMEOUT)
                        .await
                        .map(drop)
                }
            };
            i += self.step;
            sample.record(outcome, t0.elapsed());
        }
        sample
    }

    /// [`Client::run`] for a lone client asking `queries`, with blocking
    /// calls on this thread.
    fn run_blocking(self, queries: &[Query]) -> Sample {
        let mut sample = Sample::default();
        let mut reply = Vec::with_capacity(64 * 1024);
        let deadline = self.deadline.into_std();
        let mut i = self.first;
        while std::time::Instant::now() < deadline && self.take_one() {
            let query = &queries[i % queries.len()];
            let t0 = std::time::Instant::now();
            let outcome =
                wire::exchange_blocking(self.addr, &query.request, &mut reply, REQUEST_TIMEOUT)
                    .and_then(|()| query.check(&reply));
            i += self.step;
            sample.record(outcome, t0.elapsed());
        }
        sample
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use epmd_core::config::Config;
    use epmd_core::listen::{self, ListenAddr};
    use epmd_core::registry::{Registry, RETIRED_CAP};
    use epmd_core::server::{self, Shared};
    use std::net::Ipv4Addr;

    /// Answers NAMES `count` times from `clients` clients on `threads`
    /// threads, against a server of our own; returns the sample and the
    /// connections the server accepted.
    async fn names(clients: usize, threads: usize, count: u64) -> (Sample, u64) {
        let plan = [ListenAddr {
            ip: Ipv4Addr::LOCALHOST.into(),
            required: true,
        }];
        let bound = listen::bind(&plan, 0).expect("bind 127.0.0.1:0");
        let addr = bound[0].local_addr().unwrap();
        let listeners = listen::Listeners::new(bound).expect("listeners");
        let shared = Arc::new(Shared::new(Config::new(0), Registry::new(RETIRED_CAP)));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server::run(listeners, shared.clone(), async {
            let _ = stopped.await;
        }));
        let load = Load {
            clients,
            threads,
            warmup: Duration::ZERO,
            duration: Duration::from_secs(60),
            max_requests: count,
        };
        let sample = run(addr, load, Work::Queries(Arc::from([Query::names(0)]))).await;
        drop(stop);
        serving.await.unwrap();
        (sample, shared.stats.get("connections").unwrap())
    }

    #[tokio::test]
    async fn clients_spread_over_threads_share_one_budget() {
        let (sample, accepted) = names(5, 2, 300).await;
        assert_eq!((sample.ok, sample.errors), (300, 0));
        assert_eq!((sample.latencies_ns.len(), accepted), (300, 300));
    }

    #[tokio::test]
    async fn a_lone_client_given_several_threads_answers_every_request() {
        let (sample, accepted) = names(1, 4, 50).await;
        assert_eq!((sample.ok, sample.errors, accepted), (50, 0, 50));
        assert_eq!(sample.latencies_ns.len(), 50);
    }

    #[tokio::test]
    async fn a_lone_client_counts_what_goes_unanswered_as_errors() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let load = Load {
            clients: 1,
            threads: 1,
            warmup: Duration::ZERO,
            duration: Duration::from_secs(60),
            max_requests: 3,
        };
        let sample = run(addr, load, Work::Queries(Arc::from([Query::names(0)]))).await;
        assert_eq!((sample.ok, sample.errors), (0, 3));
        assert!(sample.latencies_ns.is_empty());
    }
}
