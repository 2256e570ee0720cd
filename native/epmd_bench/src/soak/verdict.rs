//! Whether a server came through the soak: no exchange failed, the
//! registry listed exactly what was held whenever it was checked, and
//! memory and descriptors came back to their level after warm-up. Pure,
//! so that it can be tried on made-up runs.

use serde::Serialize;

use super::mix::{Counts, Traffic};
use super::sampler::Level;
use crate::text::thousands;

/// How far from its level after warm-up a server may end, once the load
/// has stopped and its connections are closed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Margins {
    /// Resident memory may grow by this fraction of the warm-up level...
    pub rss_fraction: f64,
    /// ...or by this many KiB, whichever is more: allocators keep some
    /// memory they have used, and a VM's grows in steps of a carrier.
    pub rss_kib: u64,
    /// Open descriptors may differ by this many either way.
    pub fds: usize,
}

pub const MARGINS: Margins = Margins {
    rss_fraction: 0.10,
    rss_kib: 4096,
    fds: 2,
};

impl Margins {
    /// The most resident memory allowed at the end, in KiB.
    pub fn rss_limit_kib(&self, warm: Level) -> u64 {
        let by_fraction = (warm.rss_kib as f64 * self.rss_fraction).round() as u64;
        warm.rss_kib + by_fraction.max(self.rss_kib)
    }
}

/// One comparison of what the soak held with what NAMES listed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RegistryCheck {
    pub when: String,
    pub held: usize,
    pub listed: usize,
    /// Held but not listed, and listed but not held (the first few of each).
    pub missing: Vec<String>,
    pub extra: Vec<String>,
    /// Why NAMES could not be asked, if it could not.
    pub error: Option<String>,
}

impl RegistryCheck {
    pub fn exact(&self) -> bool {
        self.error.is_none() && self.missing.is_empty() && self.extra.is_empty()
    }
}

/// What the verdict looks at for one server.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub counts: Counts,
    pub registry: Vec<RegistryCheck>,
    pub warm: Level,
    pub end: Level,
    /// The server's own count of connections closed at the packet timeout,
    /// where it tells it.
    pub timeouts_counted: Option<u64>,
}

/// One check and how the server did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub what: &'static str,
    pub measured: String,
    pub pass: bool,
}

pub const FAILED_REQUESTS: &str = "Requests that should have been answered, failed";
pub const REGISTRY: &str = "Registrations held = registrations listed";
pub const RSS: &str = "RSS back to its level after warm-up";
pub const FDS: &str = "Open descriptors back to their level after warm-up";
pub const TIMEOUTS: &str = "Silent connections counted by the server";

pub fn judge(run: &Run, margins: &Margins) -> Vec<Check> {
    let mut checks = vec![failed_requests(&run.counts), registry(&run.registry)];
    let limit = margins.rss_limit_kib(run.warm);
    checks.push(Check {
        what: RSS,
        measured: format!(
            "{} → {} KiB (limit {})",
            thousands(run.warm.rss_kib as f64),
            thousands(run.end.rss_kib as f64),
            thousands(limit as f64)
        ),
        pass: run.end.rss_kib > 0 && run.end.rss_kib <= limit,
    });
    checks.push(Check {
        what: FDS,
        measured: format!("{} → {} (± {})", run.warm.fds, run.end.fds, margins.fds),
        pass: run.end.fds > 0 && run.end.fds.abs_diff(run.warm.fds) <= margins.fds,
    });
    if let Some(counted) = run.timeouts_counted {
        let seen = run.counts.done(Traffic::Silent) + run.counts.failed(Traffic::Silent);
        checks.push(Check {
            what: TIMEOUTS,
            measured: format!(
                "{} counted, {} seen closed",
                thousands(counted as f64),
                thousands(seen as f64)
            ),
            pass: counted >= seen,
        });
    }
    checks
}

fn failed_requests(counts: &Counts) -> Check {
    let failed = counts.total_failed();
    let total = counts.total_done() + failed;
    Check {
        what: FAILED_REQUESTS,
        measured: format!(
            "{} of {}",
            thousands(failed as f64),
            thousands(total as f64)
        ),
        pass: failed == 0 && total > 0,
    }
}

fn registry(checks: &[RegistryCheck]) -> Check {
    let measured = match checks.iter().find(|c| !c.exact()) {
        None => format!("{} of {} checks exact", checks.len(), checks.len()),
        Some(c) => match &c.error {
            Some(e) => format!("{}: {e}", c.when),
            None => format!(
                "{}: {} held, {} listed; missing {:?}, extra {:?}",
                c.when, c.held, c.listed, c.missing, c.extra
            ),
        },
    };
    Check {
        what: REGISTRY,
        measured,
        pass: !checks.is_empty() && checks.iter().all(RegistryCheck::exact),
    }
}

/// Whether every check of every server passed.
pub fn passed(checks: &[Vec<Check>]) -> bool {
    checks.iter().flatten().all(|c| c.pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean_run() -> Run {
        let mut counts = Counts::default();
        counts.done[Traffic::LookupHit as usize] = 1_000_000;
        counts.done[Traffic::Silent as usize] = 40;
        Run {
            counts,
            registry: vec![RegistryCheck {
                when: "at the end".into(),
                held: 340,
                listed: 340,
                ..RegistryCheck::default()
            }],
            warm: Level {
                rss_kib: 60_000,
                fds: 320,
            },
            end: Level {
                rss_kib: 62_000,
                fds: 321,
            },
            timeouts_counted: Some(40),
        }
    }

    fn verdict(run: &Run) -> Vec<(&'static str, bool)> {
        judge(run, &MARGINS)
            .into_iter()
            .map(|c| (c.what, c.pass))
            .collect()
    }

    fn failing(run: &Run) -> Vec<&'static str> {
        verdict(run)
            .into_iter()
            .filter(|(_, pass)| !pass)
            .map(|(what, _)| what)
            .collect()
    }

    #[test]
    fn a_clean_run_passes() {
        let checks = judge(&clean_run(), &MARGINS);
        assert_eq!(checks.len(), 5);
        assert!(passed(&[checks]));
    }

    #[test]
    fn memory_that_keeps_growing_fails() {
        // 20 MiB more than after warm-up: a leak, whatever the margin.
        let mut run = clean_run();
        run.end.rss_kib = run.warm.rss_kib + 20 * 1024;
        assert_eq!(failing(&run), [RSS]);
        assert!(!passed(&[judge(&run, &MARGINS)]));
    }

    #[test]
    fn the_rss_margin_is_the_larger_of_its_two_bounds() {
        let small = Level {
            rss_kib: 5_000,
            fds: 10,
        };
        assert_eq!(MARGINS.rss_limit_kib(small), 5_000 + 4096);
        let large = Level {
            rss_kib: 100_000,
            fds: 10,
        };
        assert_eq!(MARGINS.rss_limit_kib(large), 110_000);
        let mut run = clean_run();
        run.end.rss_kib = MARGINS.rss_limit_kib(run.warm);
        assert!(failing(&run).is_empty());
        run.end.rss_kib += 1;
        assert_eq!(failing(&run), [RSS]);
    }

    #[test]
    fn leaked_descriptors_fail() {
        let mut run = clean_run();
        run.end.fds = run.warm.fds + 3;
        assert_eq!(failing(&run), [FDS]);
        run.end.fds = run.warm.fds - 2;
        assert!(failing(&run).is_empty());
    }

    #[test]
    fn one_failed_request_fails() {
        let mut run = clean_run();
        run.counts.failed[Traffic::Garbage as usize] = 1;
        assert_eq!(failing(&run), [FAILED_REQUESTS]);
    }

    #[test]
    fn a_registry_that_differs_once_fails() {
        let mut run = clean_run();
        run.registry.push(RegistryCheck {
            when: "after warm-up".into(),
            held: 340,
            listed: 341,
            extra: vec!["killed000007".into()],
            ..RegistryCheck::default()
        });
        let checks = judge(&run, &MARGINS);
        let registry = checks.iter().find(|c| c.what == REGISTRY).unwrap();
        assert!(!registry.pass);
        assert!(registry.measured.contains("killed000007"));
    }

    #[test]
    fn silent_closes_the_server_did_not_count_fail() {
        let mut run = clean_run();
        run.timeouts_counted = Some(39);
        assert_eq!(failing(&run), [TIMEOUTS]);
        run.timeouts_counted = None;
        assert_eq!(judge(&run, &MARGINS).len(), 4);
    }

    #[test]
    fn a_server_that_was_never_read_fails() {
        let mut run = clean_run();
        run.end = Level::default();
        assert_eq!(failing(&run), [RSS, FDS]);
        let mut idle = clean_run();
        idle.counts = Counts::default();
        idle.timeouts_counted = None;
        assert_eq!(failing(&idle), [FAILED_REQUESTS]);
    }
}
