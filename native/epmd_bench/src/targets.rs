//! The performance targets (BENCHMARKS.md), checked against one run. Each
//! compares one of our servers with OTP's epmd measured in the same run, as a
//! ratio normalised so that 1.00× or more means at or ahead of OTP (rates and
//! counts: ours / OTP; times, CPU and memory: OTP / ours). Boot is judged
//! against a stock node instead.

use crate::results::{InVmCalls, PerServer, Results};
use crate::servers::Kind;
use crate::settings::NAMES_NODES;
use crate::stats::{Paired, Summary};
use crate::text::{nodes_and_clients, plural, thousands};
use crate::vm::Calls;

/// Every ratio target: at or ahead of OTP.
const AHEAD: f64 = 1.0;
/// Node counts at which PORT2's server CPU per lookup is judged, with each
/// of `CLIENTS`.
const CPU_NODES: [usize; 2] = [1, 10];
const CLIENTS: [usize; 3] = [1, 4, 16];
/// The registry size at which our lookups are far ahead of OTP's.
const MANY_NODES: usize = 1000;
/// How much longer than a stock node a node with epmd_rs may take to boot.
const BOOT_MARGIN: f64 = 0.03;

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

/// A figure of a wire measurement, which way is ahead, and its ratio to OTP's
/// round by round, where the rounds have one.
#[derive(Clone, Copy)]
pub struct Metric {
    get: fn(&Summary) -> f64,
    more_is_better: bool,
    paired: Option<fn(&Paired) -> f64>,
}

pub const RATE: Metric = Metric::ahead_when(true, |s| s.rate).paired(|p| p.rate);
pub const P50: Metric = Metric::ahead_when(false, |s| s.p50_us).paired(|p| p.p50);
pub const P99: Metric = Metric::ahead_when(false, |s| s.p99_us).paired(|p| p.p99);
/// Over all rounds together: a total of CPU time over a total of requests,
/// which a slow round does not skew.
pub const CPU: Metric = Metric::ahead_when(false, |s| s.server_cpu_us);

impl Metric {
    /// `more_is_better`: a rate is ahead when higher, a time or a cost when lower.
    const fn ahead_when(more_is_better: bool, get: fn(&Summary) -> f64) -> Metric {
        Metric {
            get,
            more_is_better,
            paired: None,
        }
    }

    const fn paired(self, get: fn(&Paired) -> f64) -> Metric {
        Metric {
            paired: Some(get),
            ..self
        }
    }

    /// Ours against OTP's, normalised: the rounds' own ratios where there
    /// are some, else the ratio of the two summaries. `None` unless both
    /// answered requests, since a server that answered none shows no cost.
    pub fn against(self, otp: &Summary, ours: &Summary) -> Option<f64> {
        if otp.ok == 0 || ours.ok == 0 {
            return None;
        }
        if let (Some(get), Some(paired)) = (self.paired, &ours.vs_otp) {
            return Some(get(paired));
        }
        let (otp, ours) = ((self.get)(otp), (self.get)(ours));
        Some(if self.more_is_better {
            ratio(ours, otp)
        } else {
            ratio(otp, ours)
        })
    }

    fn vs_otp(self, by: &PerServer<Summary>, kind: Kind) -> Option<f64> {
        self.against(&by.otp, by.get(kind))
    }
}

pub fn evaluate(results: &Results) -> Vec<Row> {
    let mut rows: Vec<Row> = CPU_NODES
        .iter()
        .map(|&nodes| {
            at_points(
                format!("PORT2 server CPU per lookup, {}", every_client_count(nodes)),
                &CLIENTS.map(|clients| (nodes, clients)),
                CPU,
                results,
            )
        })
        .collect();
    rows.push(ahead(
        "Churn server CPU per registration",
        &results.churn,
        CPU,
    ));
    let every_point: Vec<(usize, usize)> = results
        .lookups
        .iter()
        .map(|p| (p.nodes, p.clients))
        .collect();
    rows.push(at_points(
        "PORT2 p99 latency, every point".to_string(),
        &every_point,
        P99,
        results,
    ));
    for (what, metric) in [("p50 latency", P50), ("lookups/s", RATE)] {
        rows.push(at_points(
            format!("PORT2 {what}, {}", nodes_and_clients(1, 1)),
            &[(1, 1)],
            metric,
            results,
        ));
    }
    rows.push(boot_row(results));
    rows.push(at_points(
        format!("PORT2 lookups/s, {}", every_client_count(MANY_NODES)),
        &CLIENTS.map(|clients| (MANY_NODES, clients)),
        RATE,
        results,
    ));
    rows.push(ahead(
        &format!("NAMES/s, {} nodes", thousands(NAMES_NODES as f64)),
        &results.names,
        RATE,
    ));
    rows.extend(call_rows(results));
    rows.push(rss_row(results));
    rows.push(capacity_row(results));
    rows.push(errors_row(results));
    rows
}

/// `1,000 nodes, 1 / 4 / 16 clients`.
fn every_client_count(nodes: usize) -> String {
    let counts: Vec<String> = CLIENTS.iter().map(usize::to_string).collect();
    format!(
        "{} node{}, {} clients",
        thousands(nodes as f64),
        plural(nodes),
        counts.join(" / ")
    )
}

fn goal(points: usize) -> String {
    if points > 1 {
        format!("≥ {AHEAD:.2}× at each")
    } else {
        format!("≥ {AHEAD:.2}×")
    }
}

/// `metric` at or ahead of OTP's at every one of `points` (nodes, clients):
/// the worst point decides, and is named when there are several. A point
/// not measured fails the check.
fn at_points(target: String, points: &[(usize, usize)], metric: Metric, results: &Results) -> Row {
    let one_node_count = points.windows(2).all(|w| w[0].0 == w[1].0);
    let name = |(nodes, clients): (usize, usize)| {
        if one_node_count {
            format!("{clients} client{}", plural(clients))
        } else {
            nodes_and_clients(nodes, clients)
        }
    };
    Row {
        target,
        goal: goal(points.len()),
        outcomes: Ours::from_fn(|kind| {
            let mut worst: Option<(f64, (usize, usize))> = None;
            for &(nodes, clients) in points {
                let at = || nodes_and_clients(nodes, clients);
                let Some(by) = results.lookup(nodes, clients) else {
                    return Some(missed(format!("not measured at {}", at())));
                };
                let Some(r) = metric.vs_otp(by, kind) else {
                    return Some(missed(format!("nothing answered at {}", at())));
                };
                if worst.is_none_or(|(w, _)| r < w) {
                    worst = Some((r, (nodes, clients)));
                }
            }
            let Some((r, point)) = worst else {
                return Some(missed("not measured".to_string()));
            };
            let mut outcome = judged(r);
            if points.len() > 1 {
                outcome.measured = format!("worst {} ({})", outcome.measured, name(point));
            }
            Some(outcome)
        }),
    }
}

/// `metric` of a measurement outside the lookup table at or ahead of OTP's.
fn ahead(target: &str, by: &PerServer<Summary>, metric: Metric) -> Row {
    Row {
        target: target.to_string(),
        goal: goal(1),
        outcomes: Ours::from_fn(|kind| {
            Some(match metric.vs_otp(by, kind) {
                Some(r) => judged(r),
                None => missed("nothing answered".to_string()),
            })
        }),
    }
}

fn judged(r: f64) -> Outcome {
    let pass = r >= AHEAD;
    Outcome {
        measured: unambiguous(r, AHEAD, pass, 2, |v, places| {
            if v.is_finite() {
                format!("{v:.places$}×")
            } else {
                "∞".to_string()
            }
        }),
        pass,
    }
}

fn missed(why: String) -> Outcome {
    Outcome {
        measured: why,
        pass: false,
    }
}

/// `value` as `write` puts it with `places` decimals, or more where a miss
/// would read as the goal itself (0.996× against 1.00×).
fn unambiguous(
    value: f64,
    goal: f64,
    pass: bool,
    places: usize,
    write: fn(f64, usize) -> String,
) -> String {
    let mut places = places;
    while !pass && places < 6 && write(value, places) == write(goal, places) {
        places += 1;
    }
    write(value, places)
}

/// OTP's memory per registration / ours, each over its own ramp. A ramp
/// too short to grow OTP's RSS by a page gives nothing to compare with.
fn rss_row(results: &Results) -> Row {
    let otp = &results.capacity.otp;
    Row {
        target: "RSS per registration".to_string(),
        goal: goal(1),
        outcomes: Ours::from_fn(|kind| {
            let ours = results.capacity.get(kind);
            Some(if otp.rss_per_registration > 0.0 && ours.held > 0 {
                judged(ratio(otp.rss_per_registration, ours.rss_per_registration))
            } else {
                missed("no growth measured".to_string())
            })
        }),
    }
}

/// Registrations held while NAMES and PORT2 were still answered.
fn capacity_row(results: &Results) -> Row {
    let otp = &results.capacity.otp;
    Row {
        target: "Registrations held, NAMES and PORT2 answered".to_string(),
        goal: goal(1),
        outcomes: Ours::from_fn(|kind| {
            let ours = results.capacity.get(kind);
            Some(if ours.answered && ours.held > 0 {
                judged(ratio(ours.held as f64, otp.held as f64))
            } else {
                missed(format!(
                    "{} held, not answered",
                    thousands(ours.held as f64)
                ))
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

/// In-VM calls against erl_epmd's through OTP's daemon: only the in-VM
/// server has them.
fn call_rows(results: &Results) -> Vec<Row> {
    let row = |target: &str, get: fn(&Calls) -> f64| Row {
        target: target.to_string(),
        goal: goal(1),
        outcomes: Ours {
            cli: None,
            vm: Some(match &results.calls {
                Ok(InVmCalls { epmd_rs, erl_epmd }) => judged(ratio(get(erl_epmd), get(epmd_rs))),
                Err(e) => missed(format!("not measured: {e}")),
            }),
        },
    };
    vec![
        row("In the VM: port_please/2 of this host", |c| {
            c.port_please_us
        }),
        row("In the VM: names/0", |c| c.names_us),
    ]
}

/// A node with `-epmd_module epmd_rs` against a stock node as erl starts it.
fn boot_row(results: &Results) -> Row {
    let outcome = match &results.boot {
        Ok(b) => {
            let pass = b.epmd_rs_excess <= BOOT_MARGIN;
            let over = b.epmd_rs_excess * 100.0;
            Outcome {
                measured: unambiguous(over, BOOT_MARGIN * 100.0, pass, 1, |v, places| {
                    format!("{v:+.places$}%")
                }),
                pass,
            }
        }
        Err(e) => missed(format!("not measured: {e}")),
    };
    Row {
        target: "Boot of a distributed node, vs a stock node as erl starts it".to_string(),
        goal: format!("within {:.0}%", BOOT_MARGIN * 100.0),
        outcomes: Ours {
            cli: None,
            vm: Some(outcome),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::Capacity;
    use crate::results::{Boot, LookupPoint};
    use crate::settings::{Settings, LOOKUP_PLAN};
    use crate::text::times;

    fn answered(rate: f64, p50_us: f64, p99_us: f64, server_cpu_us: f64) -> Summary {
        Summary {
            ok: 100,
            rate,
            p50_us,
            p99_us,
            server_cpu_us,
            ..Summary::default()
        }
    }

    fn level() -> PerServer<Summary> {
        PerServer::from_fn(|_| answered(10_000.0, 100.0, 200.0, 40.0))
    }

    /// Every server level with OTP everywhere, along the whole plan.
    fn level_run() -> Results {
        let held = Capacity {
            held: 1_000,
            answered: true,
            rss_per_registration: 1_500.0,
            ..Capacity::default()
        };
        Results {
            settings: Settings::quick(),
            lookups: LOOKUP_PLAN
                .iter()
                .flat_map(|&(nodes, clients)| {
                    clients.iter().map(move |&clients| LookupPoint {
                        nodes,
                        clients,
                        by_server: level(),
                        controls: None,
                    })
                })
                .collect(),
            names: level(),
            churn: level(),
            capacity: PerServer::from_fn(|_| held.clone()),
            calls: Ok(InVmCalls {
                epmd_rs: Calls {
                    port_please_us: 200.0,
                    names_us: 600.0,
                },
                erl_epmd: Calls {
                    port_please_us: 200.0,
                    names_us: 600.0,
                },
            }),
            boot: Ok(Boot {
                epmd_rs_ms: 100.0,
                stock_ms: 100.0,
                stock_no_start_ms: 97.0,
                epmd_rs_excess: 0.0,
                stock_no_start_excess: -0.03,
            }),
        }
    }

    fn point(results: &mut Results, nodes: usize, clients: usize) -> &mut PerServer<Summary> {
        &mut results
            .lookups
            .iter_mut()
            .find(|p| (p.nodes, p.clients) == (nodes, clients))
            .unwrap()
            .by_server
    }

    fn row<'a>(rows: &'a [Row], target: &str) -> &'a Row {
        rows.iter().find(|r| r.target == target).unwrap()
    }

    fn cells(row: &Row) -> [Option<(String, bool)>; 2] {
        [&row.outcomes.cli, &row.outcomes.vm].map(|o| o.clone().map(|o| (o.measured, o.pass)))
    }

    fn cell(measured: &str, pass: bool) -> Option<(String, bool)> {
        Some((measured.to_string(), pass))
    }

    #[test]
    fn ratios_above_one_mean_ahead() {
        assert_eq!(ratio(20.0, 10.0), 2.0);
        assert_eq!(times(ratio(1.0, 0.0)), "∞");
    }

    #[test]
    fn level_with_otp_passes_every_check() {
        let rows = evaluate(&level_run());
        let checks: Vec<&Outcome> = rows
            .iter()
            .flat_map(|r| r.outcomes.iter().flatten())
            .collect();
        assert_eq!(checks.len(), 25);
        assert!(checks.iter().all(|o| o.pass), "{rows:#?}");
        let targets: Vec<&str> = rows.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "PORT2 server CPU per lookup, 1 node, 1 / 4 / 16 clients",
                "PORT2 server CPU per lookup, 10 nodes, 1 / 4 / 16 clients",
                "Churn server CPU per registration",
                "PORT2 p99 latency, every point",
                "PORT2 p50 latency, 1 node, 1 client",
                "PORT2 lookups/s, 1 node, 1 client",
                "Boot of a distributed node, vs a stock node as erl starts it",
                "PORT2 lookups/s, 1,000 nodes, 1 / 4 / 16 clients",
                "NAMES/s, 1,000 nodes",
                "In the VM: port_please/2 of this host",
                "In the VM: names/0",
                "RSS per registration",
                "Registrations held, NAMES and PORT2 answered",
                "Failed requests under load",
            ]
        );
    }

    #[test]
    fn every_judged_point_is_in_the_plan() {
        let planned = |nodes, clients| {
            LOOKUP_PLAN
                .iter()
                .any(|&(n, counts)| n == nodes && counts.contains(&clients))
        };
        for nodes in CPU_NODES.into_iter().chain([1, MANY_NODES]) {
            for clients in CLIENTS {
                assert!(planned(nodes, clients), "{nodes} nodes, {clients} clients");
            }
        }
    }

    #[test]
    fn cpu_fails_below_otp_and_names_the_worst_client_count() {
        let mut run = level_run();
        point(&mut run, 10, 4).cli.server_cpu_us = 50.0;
        point(&mut run, 10, 16).cli.server_cpu_us = 44.0;
        point(&mut run, 10, 1).vm.server_cpu_us = 39.0;
        let rows = evaluate(&run);
        let row10 = row(
            &rows,
            "PORT2 server CPU per lookup, 10 nodes, 1 / 4 / 16 clients",
        );
        assert_eq!(row10.goal, "≥ 1.00× at each");
        assert_eq!(
            cells(row10),
            [
                cell("worst 0.80× (4 clients)", false),
                cell("worst 1.00× (4 clients)", true)
            ]
        );
        let row1 = row(
            &rows,
            "PORT2 server CPU per lookup, 1 node, 1 / 4 / 16 clients",
        );
        assert!(row1.outcomes.iter().flatten().all(|o| o.pass));
    }

    #[test]
    fn p99_names_the_worst_point_of_the_table() {
        let mut run = level_run();
        point(&mut run, 100, 4).vm.p99_us = 250.0;
        point(&mut run, 1000, 16).vm.p99_us = 210.0;
        let rows = evaluate(&run);
        assert_eq!(
            cells(row(&rows, "PORT2 p99 latency, every point")),
            [
                cell("worst 1.00× (1 node, 1 client)", true),
                cell("worst 0.80× (100 nodes, 4 clients)", false)
            ]
        );
    }

    #[test]
    fn latency_and_rate_are_judged_round_by_round_where_rounds_were_paired() {
        let mut run = level_run();
        // The medians alone say behind, the rounds' own ratios ahead, and
        // the other way round; server CPU is judged over all rounds.
        let p = point(&mut run, 1, 16);
        p.cli.p99_us *= 1.02;
        p.cli.vs_otp = Some(Paired {
            rate: 1.01,
            p50: 1.03,
            p99: 1.05,
        });
        p.vm.server_cpu_us *= 1.1;
        p.vm.vs_otp = Some(Paired {
            rate: 1.0,
            p50: 1.0,
            p99: 0.97,
        });
        let rows = evaluate(&run);
        assert_eq!(
            cells(row(&rows, "PORT2 p99 latency, every point")),
            [
                cell("worst 1.00× (1 node, 1 client)", true),
                cell("worst 0.97× (1 node, 16 clients)", false)
            ]
        );
        assert_eq!(
            cells(row(
                &rows,
                "PORT2 server CPU per lookup, 1 node, 1 / 4 / 16 clients"
            ))[1],
            cell("worst 0.91× (16 clients)", false)
        );
    }

    #[test]
    fn a_near_miss_does_not_read_as_the_goal() {
        let mut run = level_run();
        point(&mut run, 1, 1).cli.rate = 9_996.0;
        point(&mut run, 1, 1).vm.rate = 9_999.99;
        let rows = evaluate(&run);
        assert_eq!(
            cells(row(&rows, "PORT2 lookups/s, 1 node, 1 client")),
            [cell("0.9996×", false), cell("0.999999×", false)]
        );
        assert_eq!(judged(1.004).measured, "1.00×");
    }

    #[test]
    fn a_point_not_measured_or_not_answered_fails() {
        let mut run = level_run();
        run.lookups.retain(|p| (p.nodes, p.clients) != (10, 16));
        *point(&mut run, 1, 4) = PerServer {
            cli: Summary::default(),
            ..level()
        };
        let rows = evaluate(&run);
        assert_eq!(
            cells(row(
                &rows,
                "PORT2 server CPU per lookup, 10 nodes, 1 / 4 / 16 clients"
            )),
            [
                cell("not measured at 10 nodes, 16 clients", false),
                cell("not measured at 10 nodes, 16 clients", false)
            ]
        );
        let row1 = cells(row(
            &rows,
            "PORT2 server CPU per lookup, 1 node, 1 / 4 / 16 clients",
        ));
        assert_eq!(
            row1[0],
            cell("nothing answered at 1 node, 4 clients", false)
        );
        assert!(row1[1].as_ref().unwrap().1);
    }

    #[test]
    fn boot_may_take_up_to_three_percent_longer() {
        let boot = |excess_pct: f64| {
            let mut run = level_run();
            run.boot = Ok(Boot {
                epmd_rs_ms: 100.0,
                stock_ms: 100.0,
                stock_no_start_ms: 90.0,
                epmd_rs_excess: excess_pct / 100.0,
                stock_no_start_excess: -0.1,
            });
            let rows = evaluate(&run);
            let boot = row(
                &rows,
                "Boot of a distributed node, vs a stock node as erl starts it",
            );
            assert_eq!(boot.goal, "within 3%");
            assert!(boot.outcomes.cli.is_none());
            cells(boot)[1].clone()
        };
        assert_eq!(boot(2.9), cell("+2.9%", true));
        assert_eq!(boot(3.0), cell("+3.0%", true));
        assert_eq!(boot(3.1), cell("+3.1%", false));
        assert_eq!(boot(3.02), cell("+3.02%", false));
        assert_eq!(boot(-5.0), cell("-5.0%", true));
    }

    #[test]
    fn memory_capacity_and_calls_are_judged_against_otp() {
        let mut run = level_run();
        run.capacity.otp = Capacity {
            held: 1_016,
            answered: true,
            rss_per_registration: 2_263.0,
            ..Capacity::default()
        };
        run.capacity.cli.rss_per_registration = 2_500.0;
        run.capacity.vm.answered = false;
        run.calls = Ok(InVmCalls {
            epmd_rs: Calls {
                port_please_us: 1.0,
                names_us: 800.0,
            },
            erl_epmd: Calls {
                port_please_us: 200.0,
                names_us: 600.0,
            },
        });
        let rows = evaluate(&run);
        assert_eq!(
            cells(row(&rows, "RSS per registration")),
            [cell("0.91×", false), cell("1.51×", true)]
        );
        run.capacity.otp.rss_per_registration = 0.0;
        assert_eq!(
            cells(row(&evaluate(&run), "RSS per registration"))[0],
            cell("no growth measured", false)
        );
        assert_eq!(
            cells(row(&rows, "Registrations held, NAMES and PORT2 answered")),
            [
                cell("0.98×", false),
                cell("1,000 held, not answered", false)
            ]
        );
        assert_eq!(
            cells(row(&rows, "In the VM: port_please/2 of this host")),
            [None, cell("200.00×", true)]
        );
        assert_eq!(
            cells(row(&rows, "In the VM: names/0")),
            [None, cell("0.75×", false)]
        );
    }

    #[test]
    fn a_failed_request_fails_its_server() {
        let mut run = level_run();
        run.churn.vm.errors = 2;
        let rows = evaluate(&run);
        assert_eq!(
            cells(row(&rows, "Failed requests under load")),
            [cell("0", true), cell("2", false)]
        );
    }
}
