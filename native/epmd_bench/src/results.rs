//! What one suite run measured, server by server. The suite fills these in;
//! the targets judge them and the report writes them out.

use serde::ser::{Serialize, SerializeSeq, Serializer};

use crate::capacity::Capacity;
use crate::servers::Kind;
use crate::settings::Settings;
use crate::stats::Summary;
use crate::vm::Calls;

/// One value per server under test.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PerServer<T> {
    /// OTP's `epmd`, the baseline.
    pub otp: T,
    /// `epmd-rs`.
    pub cli: T,
    /// The in-VM server.
    pub vm: T,
}

impl<T> PerServer<T> {
    pub fn from_fn(mut f: impl FnMut(Kind) -> T) -> Self {
        PerServer {
            otp: f(Kind::Otp),
            cli: f(Kind::EpmdRs),
            vm: f(Kind::InVm),
        }
    }

    pub fn get(&self, kind: Kind) -> &T {
        match kind {
            Kind::Otp => &self.otp,
            Kind::EpmdRs => &self.cli,
            Kind::InVm => &self.vm,
        }
    }

    /// The values in [`Kind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        [&self.otp, &self.cli, &self.vm].into_iter()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        [&mut self.otp, &mut self.cli, &mut self.vm].into_iter()
    }

    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> PerServer<U> {
        PerServer {
            otp: f(self.otp),
            cli: f(self.cli),
            vm: f(self.vm),
        }
    }

    pub fn each_ref(&self) -> PerServer<&T> {
        PerServer {
            otp: &self.otp,
            cli: &self.cli,
            vm: &self.vm,
        }
    }
}

/// A list in [`Kind::ALL`] order, as the chart reads it next to the
/// servers' labels.
impl<T: Serialize> Serialize for PerServer<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(3))?;
        for value in self.iter() {
            seq.serialize_element(value)?;
        }
        seq.end()
    }
}

/// PORT2 at one registered-node count and one client count.
#[derive(Debug, Clone)]
pub struct LookupPoint {
    pub nodes: usize,
    pub clients: usize,
    pub by_server: PerServer<Summary>,
    /// The controls in the same rounds, at [`CONTROL_POINTS`].
    ///
    /// [`CONTROL_POINTS`]: crate::settings::CONTROL_POINTS
    pub controls: Option<Controls>,
}

/// What a lone client measures beside the servers on a common host, each
/// compared with OTP's epmd as the servers are: how far apart two runs of
/// the same daemon come out (the noise of the comparison itself), and how
/// close to OTP's the least a server can do comes.
#[derive(Debug, Clone, Copy)]
pub struct Controls {
    /// A second instance of OTP's epmd.
    pub otp_again: Summary,
    /// The minimal responder.
    pub responder: Summary,
}

/// What a lookup and a listing of this host cost a node.
#[derive(Debug, Clone, Copy)]
pub struct InVmCalls {
    /// epmd_rs in a node serving its own EPMD.
    pub epmd_rs: Calls,
    /// erl_epmd in a stock node, through OTP's daemon.
    pub erl_epmd: Calls,
}

/// Median boot times, in milliseconds, and how much longer than a stock
/// node's each kind's boot took, as the median of the runs' own ratios.
#[derive(Debug, Clone, Copy, Default)]
pub struct Boot {
    pub epmd_rs_ms: f64,
    /// A stock node as erl starts it by default (it runs `epmd -daemon`,
    /// which finds the daemon running).
    pub stock_ms: f64,
    /// A stock node with `-start_epmd false`.
    pub stock_no_start_ms: f64,
    /// Fractions: 0.01 is 1% longer than the stock node of the same run.
    pub epmd_rs_excess: f64,
    pub stock_no_start_excess: f64,
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct Results {
    pub settings: Settings,
    pub lookups: Vec<LookupPoint>,
    pub names: PerServer<Summary>,
    pub churn: PerServer<Summary>,
    pub capacity: PerServer<Capacity>,
    pub calls: Result<InVmCalls, String>,
    pub boot: Result<Boot, String>,
}

impl Results {
    /// The lookups at one point, if it was measured.
    pub fn lookup(&self, nodes: usize, clients: usize) -> Option<&PerServer<Summary>> {
        self.lookups
            .iter()
            .find(|p| p.nodes == nodes && p.clients == clients)
            .map(|p| &p.by_server)
    }

    /// Requests of every wire measurement of `kind` that failed.
    pub fn wire_errors(&self, kind: Kind) -> u64 {
        self.lookups
            .iter()
            .map(|p| p.by_server.get(kind).errors)
            .sum::<u64>()
            + self.names.get(kind).errors
            + self.churn.get(kind).errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_server_values_follow_the_kinds() {
        let labels = PerServer::from_fn(Kind::label);
        assert_eq!(labels.get(Kind::InVm), &"in-VM");
        let in_order: Vec<&str> = labels.iter().copied().collect();
        let expected: Vec<&str> = Kind::ALL.iter().map(|k| k.label()).collect();
        assert_eq!(in_order, expected);
        let lengths = labels.map(str::len);
        assert_eq!((lengths.otp, lengths.cli, lengths.vm), (8, 7, 5));
        let mut counts = PerServer::<u32>::default();
        for c in counts.iter_mut() {
            *c += 1;
        }
        assert_eq!(counts.each_ref().map(|c| *c * 2), PerServer::from_fn(|_| 2));
    }

    #[test]
    fn per_server_serializes_as_a_list_in_kind_order() {
        let v = PerServer {
            otp: 1.5,
            cli: 2.0,
            vm: 3.25,
        };
        assert_eq!(serde_json::to_string(&v).unwrap(), "[1.5,2.0,3.25]");
    }

    #[test]
    fn wire_errors_add_up_every_measurement_of_a_server() {
        let failing = |errors| PerServer {
            otp: Summary::default(),
            cli: Summary {
                errors,
                ..Summary::default()
            },
            vm: Summary::default(),
        };
        let results = Results {
            settings: Settings::quick(),
            lookups: vec![
                LookupPoint {
                    nodes: 1,
                    clients: 1,
                    by_server: failing(1),
                    controls: None,
                },
                LookupPoint {
                    nodes: 1,
                    clients: 4,
                    by_server: failing(2),
                    controls: None,
                },
            ],
            names: failing(4),
            churn: failing(8),
            capacity: PerServer::default(),
            calls: Err("not run".into()),
            boot: Err("not run".into()),
        };
        assert_eq!(results.wire_errors(Kind::EpmdRs), 15);
        assert_eq!(results.wire_errors(Kind::Otp), 0);
        assert_eq!(results.lookup(1, 4).unwrap().cli.errors, 2);
        assert!(results.lookup(1000, 4).is_none());
    }
}
