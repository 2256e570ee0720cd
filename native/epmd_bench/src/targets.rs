//! The performance targets (BENCHMARKS.md), checked against one run: each is a ratio to
//! OTP's epmd measured in the same run, normalised so that a ratio above 1
//! means ahead of OTP (throughput: ours / OTP; times and memory: OTP / ours).

use crate::stats::Summary;
use crate::suite::{PerServer, Results};

/// One target and how each of our servers did.
#[derive(Debug, Clone)]
pub struct Row {
    pub target: String,
    pub goal: String,
    /// epmd-rs, then the in-VM server; `None` where the target does not apply.
    pub outcomes: [Option<Outcome>; 2],
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub measured: String,
    pub pass: bool,
}

/// Our servers (epmd-rs, the in-VM server) by their index in
/// [`crate::servers::Kind::ALL`], in the order of [`Row::outcomes`].
const OURS: [usize; 2] = [1, 2];
const OTP: usize = 0;

/// Ours / OTP's: above 1 is ahead when more is better.
pub fn ratio(ours: f64, otp: f64) -> f64 {
    if otp > 0.0 {
        ours / otp
    } else {
        f64::INFINITY
    }
}

pub fn times(r: f64) -> String {
    if r.is_finite() {
        format!("{r:.2}×")
    } else {
        "∞".to_string()
    }
}

fn at_least(target: &str, goal: f64, get: impl Fn(usize) -> f64) -> Row {
    let otp = get(OTP);
    Row {
        target: target.to_string(),
        goal: format!("≥ {goal:.1}×"),
        outcomes: OURS.map(|i| {
            let r = ratio(get(i), otp);
            Some(Outcome {
                measured: times(r),
                pass: r >= goal,
            })
        }),
    }
}

fn lookup(results: &Results, nodes: usize, clients: usize) -> Option<&PerServer<Summary>> {
    results
        .lookups
        .iter()
        .find(|p| p.nodes == nodes && p.clients == clients)
        .map(|p| &p.by_server)
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
        if let Some(point) = lookup(results, nodes, clients) {
            rows.push(at_least(
                &format!("PORT2 lookups/s, {}", nodes_and_clients(nodes, clients)),
                goal,
                |i| point[i].rate,
            ));
        }
    }
    rows.push(p99_row(results));
    let names_nodes = thousands(crate::suite::NAMES_NODES as f64);
    rows.push(at_least(
        &format!("NAMES/s, {names_nodes} nodes"),
        10.0,
        |i| results.names[i].rate,
    ));
    rows.push(at_least("Registration churn/s", 1.0, |i| {
        results.churn[i].rate
    }));
    rows.push(capacity_row(results));
    rows.push(rss_row(results));
    rows.push(errors_row(results));
    rows.extend(call_rows(results));
    rows.push(boot_row(results));
    rows
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `1,000 nodes, 1 client`.
pub fn nodes_and_clients(nodes: usize, clients: usize) -> String {
    format!(
        "{} node{}, {clients} client{}",
        thousands(nodes as f64),
        plural(nodes),
        plural(clients)
    )
}

/// p99 no worse than OTP's at any lookup point: the worst ratio counts.
fn p99_row(results: &Results) -> Row {
    Row {
        target: "PORT2 p99 latency, every point".to_string(),
        goal: "no worse (≥ 1.0×)".to_string(),
        outcomes: OURS.map(|i| {
            let worst = results
                .lookups
                .iter()
                .map(|p| (ratio(p.by_server[OTP].p99_us, p.by_server[i].p99_us), p))
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
        outcomes: OURS.map(|i| {
            let c = &results.capacity[i];
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
        outcomes: OURS.map(|i| {
            let bytes = results.capacity[i].rss_per_registration;
            Some(Outcome {
                measured: format!("{} B", thousands(bytes)),
                pass: results.capacity[i].held > 0 && bytes <= RSS_GOAL_BYTES,
            })
        }),
    }
}

/// Every request of every wire measurement answered correctly.
fn errors_row(results: &Results) -> Row {
    Row {
        target: "Failed requests under load".to_string(),
        goal: "none".to_string(),
        outcomes: OURS.map(|i| {
            let failed = wire_errors(results, i);
            Some(Outcome {
                measured: thousands(failed as f64),
                pass: failed == 0,
            })
        }),
    }
}

pub fn wire_errors(results: &Results, server: usize) -> u64 {
    results
        .lookups
        .iter()
        .map(|p| p.by_server[server].errors)
        .sum::<u64>()
        + results.names[server].errors
        + results.churn[server].errors
}

fn call_rows(results: &Results) -> Vec<Row> {
    let row = |target: &str, get: &dyn Fn(&crate::vm::Calls) -> f64| {
        let outcome = match &results.calls {
            Ok((ours, stock)) => {
                let r = ratio(get(stock), get(ours));
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
            outcomes: [None, Some(outcome)],
        }
    };
    vec![
        row("In the VM: port_please/2 of this host", &|c| {
            c.port_please_us
        }),
        row("In the VM: names/0", &|c| c.names_us),
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
        outcomes: [None, Some(outcome)],
    }
}

/// `12345.6` as `12,346`.
pub fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1234.0), "1,234");
        assert_eq!(thousands(100_000.0), "100,000");
        assert_eq!(thousands(-1234567.0), "-1,234,567");
    }

    #[test]
    fn ratios_above_one_mean_ahead() {
        assert_eq!(ratio(20.0, 10.0), 2.0);
        assert_eq!(times(ratio(1.0, 0.0)), "∞");
        assert_eq!(times(1.234), "1.23×");
    }
}
