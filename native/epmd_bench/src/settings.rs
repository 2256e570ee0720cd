//! What the suite measures and for how long: the plan of points and the
//! settings of one run, which the results keep for the report.

use std::time::Duration;

use crate::load::Load;

/// Registered-node counts the lookups are measured at, with the client
/// counts at each (the targets judge server CPU at 1 and 10 nodes with
/// each of 1, 4 and 16 clients).
pub const LOOKUP_PLAN: [(usize, &[usize]); 4] = [
    (1, &[1, 4, 16]),
    (10, &[1, 4, 16]),
    (100, &[4]),
    (1000, &[1, 4, 16]),
];
/// The points (nodes, clients) where the controls (a second OTP epmd and
/// the minimal responder) join the rounds: a lone client on a common host,
/// where the round trip itself is most of what a lookup takes.
pub const CONTROL_POINTS: [(usize, usize); 2] = [(1, 1), (10, 1)];
/// Nodes registered while NAMES is measured.
pub const NAMES_NODES: usize = 1000;
pub const NAMES_CLIENTS: usize = 1;
pub const CHURN_CLIENTS: usize = 4;
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
    /// Rounds at [`CONTROL_POINTS`]. A lone client's p99 is set by the
    /// machine's stalls that fall into a round, so the median of a few
    /// rounds' ratios still strays by several percent; three times as many
    /// rounds bring the controls' ratios to within a few percent of level.
    pub control_rounds: usize,
    pub max_requests: u64,
    /// Registrations the capacity run aims for.
    pub capacity_goal: usize,
    /// Boots of each kind. One boot's time strays from the next by about
    /// 12% here, so the median of the runs' ratios needs this many to come
    /// within about 1% of where it settles.
    pub boot_runs: usize,
    /// Load-generator threads, at most one per client: one per core unless
    /// told otherwise.
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
            rounds: 15,
            control_rounds: 45,
            max_requests: 500_000,
            capacity_goal: 100_000,
            boot_runs: 151,
            client_threads: cores(),
            fd_limit: 0,
        }
    }

    /// A run of a few seconds, to try the harness out.
    pub fn quick() -> Self {
        Settings {
            warmup: Duration::from_millis(50),
            duration: Duration::from_millis(300),
            rounds: 1,
            control_rounds: 1,
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

    pub fn load(&self, clients: usize) -> Load {
        Load {
            clients,
            threads: self.client_threads,
            warmup: self.warmup,
            duration: self.duration,
            max_requests: self.max_requests,
        }
    }
}

/// The cores this process may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_capacity_goal_fits_the_descriptors() {
        let mut s = Settings::full();
        s.fit_to_fd_limit(20_000);
        assert_eq!((s.capacity_goal, s.fd_limit), (20_000 - 256, 20_000));
        s.fit_to_fd_limit(100);
        assert_eq!(s.capacity_goal, 0);
    }
}
