//! The performance targets (BENCHMARKS.md), checked against one run: each is a ratio to
//! OTP's epmd measured in the same run, normalised so that a ratio above 1
//! means ahead of OTP (throughput: ours / OTP; times and memory: OTP / ours).

use crate::results::{InVmCalls, PerServer, Results};
use crate::servers::Kind;
use crate::settings::NAMES_NODES;
use crate::text::{nodes_and_clients, thousands, times};
use crate::vm::Calls;

/// One target and how each of our servers did.
#[derive(Debug, Clone)]
pub struct Row {
    pub target: String,
    pub goal: String,
    /// `None` where the target does not apply to that server.
    pub outcomes: Ours<Option<Outcome>>,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub measured: String,
    pub pass: bool,
}

/// One value for each of our servers; OTP's epmd is what they are judged
/// against.
#[derive(Debug, Clone, Copy)]
pub struct Ours<T> {
    /// `epmd-rs`.
    pub cli: T,
    /// The in-VM server.
    pub vm: T,
}

impl<T> Ours<T> {
    fn from_fn(mut f: impl FnMut(Kind) -> T) -> Self {
        Ours {
            cli: f(Kind::EpmdRs),
            vm: f(Kind::InVm),
        }
    }

    /// epmd-rs, then the in-VM server.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        [&self.cli, &self.vm].into_iter()
    }
}

/// Ours / OTP's: above 1 is ahead when more is better.
pub fn ratio(ours: f64, otp: f64) -> f64 {
    if otp > 0.0 {
        ours / otp
    } else {
        f64::INFINITY
    }
}

fn at_least(target: &str, goal: f64, values: PerServer<f64>) -> Row {
    Row {
        target: target.to_string(),
        goal: format!("≥ {goal:.1}×"),
        outcomes: Ours::from_fn(|kind| {
            let r = ratio(*values.get(kind), values.otp);
            Some(Outcome {
                measured: times(r),
                pass: r >= goal,
            })
        }),
    }
}

pub fn evaluate(results: &Results) -> Vec<Row> {
    let mut rows = Vec::new();
    for (nodes, clients, goal) in [
        (1, 1, 1.0),
        (1, 4, 1.2),
        (1, 16, 1.2),
        (1000, 1, 3.0),
        (1000, 4, 3.0),
        (1000, 16, 3.0),
    ] {
        if let Some(point) = results.lookup(nodes, clients) {
            rows.push(at_least(
                &format!("PORT2 lookups/s, {}", nodes_and_clients(nodes, clients)),
                goal,
                point.map(|s| s.rate),
            ));
        }
    }
    rows.push(p99_row(results));
    rows.push(at_least(
        &format!("NAMES/s, {} nodes", thousands(NAMES_NODES as f64)),
        10.0,
        results.names.map(|s| s.rate),
    ));
    rows.push(at_least(
        "Registration churn/s",
        1.0,
        results.churn.map(|s| s.rate),
    ));
    rows.push(capacity_row(results));
    rows.push(rss_row(results));
    rows.push(errors_row(results));
    rows.extend(call_rows(results));
    rows.push(boot_row(results));
    rows
}

/// p99 no worse than OTP's at any lookup point: the worst ratio counts.
fn p99_row(results: &Results) -> Row {
    Row {
        target: "PORT2 p99 latency, every point".to_string(),
        goal: "no worse (≥ 1.0×)".to_string(),
        outcomes: Ours::from_fn(|kind| {
            let worst = results
                .lookups
                .iter()
                .map(|p| {
                    let ours = p.by_server.get(kind).p99_us;
                    (ratio(p.by_server.otp.p99_us, ours), p)
                })
                .min_by(|a, b| a.0.total_cmp(&b.0))?;
            Some(Outcome {
                measured: format!(
                    "worst {} ({})",
                    times(worst.0),
                    nodes_and_clients(worst.1.nodes, worst.1.clients)
                ),
                pass: worst.0 >= 1.0,
            })
        }),
    }
}

const CAPACITY_GOAL: usize = 100_000;

fn capacity_row(results: &Results) -> Row {
    Row {
        target: "Concurrent registrations, every request answered".to_string(),
        goal: format!("≥ {}", thousands(CAPACITY_GOAL as f64)),
        outcomes: Ours::from_fn(|kind| {
            let c = results.capacity.get(kind);
            let limited = results.settings.capacity_goal < CAPACITY_GOAL;
            Some(Outcome {
                measured: format!(
                    "{}{}{}",
                    thousands(c.held as f64),
                    if c.answered { "" } else { ", not answered" },
                    if limited {
                        format!(
                            " (all the fd limit of {} allows)",
                            thousands(results.settings.fd_limit as f64)
                        )
                    } else {
                        String::new()
                    }
                ),
                pass: c.answered && c.held >= CAPACITY_GOAL,
            })
        }),
    }
}

const RSS_GOAL_BYTES: f64 = 2048.0;

fn rss_row(results: &Results) -> Row {
    Row {
        target: "RSS per registration".to_string(),
        goal: "≤ 2 KiB".to_string(),
        outcomes: Ours::from_fn(|kind| {
            let c = results.capacity.get(kind);
            Some(Outcome {
                measured: format!("{} B", thousands(c.rss_per_registration)),
                pass: c.held > 0 && c.rss_per_registration <= RSS_GOAL_BYTES,
            })
        }),
    }
}

/// Every request of every wire measurement answered correctly.
fn errors_row(results: &Results) -> Row {
    Row {
        target: "Failed requests under load".to_string(),
        goal: "none".to_string(),
        outcomes: Ours::from_fn(|kind| {
            let failed = results.wire_errors(kind);
            Some(Outcome {
                measured: thousands(failed as f64),
                pass: failed == 0,
            })
        }),
    }
}

/// In-VM calls: only the in-VM server has them.
fn call_rows(results: &Results) -> Vec<Row> {
    let row = |target: &str, get: fn(&Calls) -> f64| {
        let outcome = match &results.calls {
            Ok(InVmCalls { epmd_rs, erl_epmd }) => {
                let r = ratio(get(erl_epmd), get(epmd_rs));
                Outcome {
                    measured: times(r),
                    pass: r >= 100.0,
                }
            }
            Err(e) => Outcome {
                measured: format!("not measured: {e}"),
                pass: false,
            },
        };
        Row {
            target: target.to_string(),
            goal: "≥ 100×".to_string(),
            outcomes: Ours {
                cli: None,
                vm: Some(outcome),
            },
        }
    };
    vec![
        row("In the VM: port_please/2 of this host", |c| {
            c.port_please_us
        }),
        row("In the VM: names/0", |c| c.names_us),
    ]
}

fn boot_row(results: &Results) -> Row {
    let outcome = match &results.boot {
        Ok(b) => {
            let over = b.epmd_rs_ms / b.stock_ms - 1.0;
            Outcome {
                measured: format!("{:+.1}%", over * 100.0),
                pass: over <= 0.05,
            }
        }
        Err(e) => Outcome {
            measured: format!("not measured: {e}"),
            pass: false,
        },
    };
    Row {
        target: "Boot of a distributed node, vs a stock node".to_string(),
        goal: "within 5%".to_string(),
        outcomes: Ours {
            cli: None,
            vm: Some(outcome),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_above_one_mean_ahead() {
        assert_eq!(ratio(20.0, 10.0), 2.0);
        assert_eq!(times(ratio(1.0, 0.0)), "∞");
    }

    #[test]
    fn each_of_ours_is_judged_against_otp() {
        let row = at_least(
            "x",
            1.5,
            PerServer {
                otp: 10.0,
                cli: 20.0,
                vm: 12.0,
            },
        );
        let [cli, vm] = [&row.outcomes.cli, &row.outcomes.vm].map(|o| o.clone().unwrap());
        assert_eq!((cli.measured.as_str(), cli.pass), ("2.00×", true));
        assert_eq!((vm.measured.as_str(), vm.pass), ("1.20×", false));
        assert_eq!(row.outcomes.iter().count(), 2);
    }
}
