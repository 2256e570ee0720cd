//! Closed-loop load: `clients` tasks, each with one request in flight on a
//! fresh connection (EPMD answers one request per connection), until a
//! deadline or a total request budget runs out, whichever comes first. The
//! work is a set of queries (PORT2, NAMES) or registration churn.

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
        measure(addr, load.clients, load.warmup, load.max_requests, &warm).await;
    }
}

/// Runs `load` against `addr` and records it.
pub async fn run(addr: SocketAddr, load: Load, work: Work) -> Sample {
    measure(addr, load.clients, load.duration, load.max_requests, &work).await
}

async fn measure(
    addr: SocketAddr,
    clients: usize,
    duration: Duration,
    max_requests: u64,
    work: &Work,
) -> Sample {
    let budget = Arc::new(AtomicU64::new(max_requests));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = JoinSet::new();
    for c in 0..clients {
        let client = Client {
            addr,
            first: c,
            step: clients,
            deadline,
            budget: budget.clone(),
            work: work.clone(),
        };
        tasks.spawn(client.run());
    }
    let mut total = Sample::default();
    while let Some(sample) = tasks.join_next().await {
        total.merge(sample.expect("a load client panicked"));
    }
    total.elapsed = start.elapsed();
    total
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
            match outcome {
                Ok(()) => {
                    sample.ok += 1;
                    sample.latencies_ns.push(t0.elapsed().as_nanos() as u64);
                }
                Err(_) => sample.errors += 1,
            }
        }
        sample
    }
}
