//! What one measurement produced: completed requests, failures, elapsed time
//! and every latency, summarised as a rate with p50 and p99.

use std::time::Duration;

/// The raw outcome of a load run.
#[derive(Debug, Default)]
pub struct Sample {
    /// Requests answered with the expected reply.
    pub ok: u64,
    /// Requests that failed: no connection, no reply in time, a wrong reply.
    pub errors: u64,
    pub elapsed: Duration,
    /// Latency of every answered request, in nanoseconds.
    pub latencies_ns: Vec<u64>,
    /// CPU time the server used meanwhile, when it was measured.
    pub server_cpu: Duration,
}

impl Sample {
    /// Counts one request: its latency if it was answered as expected, an
    /// error if not.
    pub fn record<E>(&mut self, outcome: Result<(), E>, latency: Duration) {
        match outcome {
            Ok(()) => {
                self.ok += 1;
                self.latencies_ns.push(latency.as_nanos() as u64);
            }
            Err(_) => self.errors += 1,
        }
    }

    pub fn merge(&mut self, other: Sample) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.server_cpu += other.server_cpu;
        self.latencies_ns.extend(other.latencies_ns);
    }

    /// Answered requests per second.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    pub fn summary(mut self) -> Summary {
        self.latencies_ns.sort_unstable();
        Summary {
            ok: self.ok,
            errors: self.errors,
            rate: self.rate(),
            server_cpu_us: if self.ok > 0 {
                self.server_cpu.as_secs_f64() * 1e6 / self.ok as f64
            } else {
                0.0
            },
            p50_us: percentile(&self.latencies_ns, 0.50) / 1e3,
            p99_us: percentile(&self.latencies_ns, 0.99) / 1e3,
            vs_otp: None,
        }
    }
}

/// Several rounds of the same measurement, summarised together and each
/// on its own.
#[derive(Debug, Clone, Default)]
pub struct Rounds {
    /// The rate, p50 and p99 are each the median of the rounds' own, so that
    /// a stall of the machine during one round does not count; the server
    /// CPU per request is over all of them.
    pub summary: Summary,
    pub each: Vec<Summary>,
}

pub fn combine(rounds: Vec<Sample>) -> Rounds {
    let mut all = Sample::default();
    let mut each = Vec::with_capacity(rounds.len());
    for round in rounds {
        all.ok += round.ok;
        all.errors += round.errors;
        all.server_cpu += round.server_cpu;
        each.push(round.summary());
    }
    let of = |get: fn(&Summary) -> f64| median(&each.iter().map(get).collect::<Vec<_>>());
    Rounds {
        summary: Summary {
            rate: of(|s| s.rate),
            p50_us: of(|s| s.p50_us),
            p99_us: of(|s| s.p99_us),
            ..all.summary()
        },
        each,
    }
}

/// A server's rate, p50 and p99 against OTP's epmd measured in the same
/// rounds, each normalised so that above 1 is ahead: the median of the
/// rounds' own ratios. A round measures every server back to back, so how
/// fast the machine was then cancels out of its ratio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paired {
    pub rate: f64,
    pub p50: f64,
    pub p99: f64,
}

/// `ours` against `otp`, round by round; rounds where either answered
/// nothing do not count.
pub fn paired(ours: &[Summary], otp: &[Summary]) -> Option<Paired> {
    let both: Vec<(&Summary, &Summary)> = ours
        .iter()
        .zip(otp)
        .filter(|(a, b)| a.ok > 0 && b.ok > 0)
        .collect();
    if both.is_empty() {
        return None;
    }
    let of = |ratio: fn(&Summary, &Summary) -> f64| {
        median(&both.iter().map(|(a, b)| ratio(a, b)).collect::<Vec<_>>())
    };
    Some(Paired {
        rate: of(|ours, otp| ours.rate / otp.rate),
        p50: of(|ours, otp| otp.p50_us / ours.p50_us),
        p99: of(|ours, otp| otp.p99_us / ours.p99_us),
    })
}

/// Requests per second with latency percentiles.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    pub ok: u64,
    pub errors: u64,
    pub rate: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Server CPU time per answered request, in µs: unlike the rate, it
    /// does not depend on how much of the machine other work takes.
    pub server_cpu_us: f64,
    /// Against OTP's epmd in the same rounds, where it was measured too.
    pub vs_otp: Option<Paired>,
}

/// Nearest-rank percentile of sorted values; 0 when there are none.
pub fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

/// The median of a few timings (boot runs, call batches).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// How much `a` exceeds `b`, as a fraction: the median of `a[i] / b[i] - 1`
/// over pairs measured back to back, so that how fast the machine was at
/// the time cancels out of each pair.
pub fn paired_excess(a: &[f64], b: &[f64]) -> f64 {
    let ratios: Vec<f64> = a.iter().zip(b).map(|(a, b)| a / b - 1.0).collect();
    median(&ratios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert_eq!(percentile(&[7], 0.99), 7.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn summary_rates_only_answered_requests() {
        let s = Sample {
            ok: 3,
            errors: 1,
            elapsed: Duration::from_millis(500),
            latencies_ns: vec![3000, 1000, 2000],
            server_cpu: Duration::from_micros(30),
        }
        .summary();
        assert_eq!(s.rate, 6.0);
        assert_eq!(s.p50_us, 2.0);
        assert_eq!(s.p99_us, 3.0);
        assert_eq!(s.errors, 1);
        assert_eq!(s.server_cpu_us, 10.0);
    }

    #[test]
    fn rounds_count_at_their_median_and_cpu_over_all() {
        let round = |ok, latency_ns, cpu_us| Sample {
            ok,
            errors: 1,
            elapsed: Duration::from_secs(1),
            latencies_ns: vec![latency_ns; ok as usize],
            server_cpu: Duration::from_micros(cpu_us),
        };
        // The second round stalled: few requests, each slow.
        let rounds = combine(vec![
            round(10, 1000, 100),
            round(2, 90_000, 50),
            round(30, 2000, 270),
        ]);
        assert_eq!(rounds.each.len(), 3);
        assert_eq!(rounds.each[1].p99_us, 90.0);
        let s = rounds.summary;
        assert_eq!(s.rate, 10.0);
        assert_eq!(s.p50_us, 2.0);
        assert_eq!(s.p99_us, 2.0);
        assert_eq!((s.ok, s.errors), (42, 3));
        assert_eq!(s.server_cpu_us, 10.0);
    }

    #[test]
    fn paired_ratios_are_the_median_of_the_rounds_own() {
        let at = |rate, p50_us, p99_us| Summary {
            ok: 1,
            rate,
            p50_us,
            p99_us,
            ..Summary::default()
        };
        // The machine slowed down for the last two rounds: OTP's median
        // p99 (200) is below ours (250), yet ours was ahead in two of three.
        let otp = [
            at(100.0, 10.0, 100.0),
            at(50.0, 40.0, 200.0),
            at(50.0, 40.0, 400.0),
        ];
        let ours = [
            at(110.0, 8.0, 90.0),
            at(55.0, 32.0, 250.0),
            at(60.0, 40.0, 300.0),
        ];
        let p = paired(&ours, &otp).unwrap();
        assert_eq!((p.rate, p.p50), (1.1, 1.25));
        assert!((p.p99 - 100.0 / 90.0).abs() < 1e-9, "{}", p.p99);
        // A round where a server answered nothing does not count.
        let idle = [Summary::default(), at(50.0, 40.0, 200.0)];
        assert_eq!(paired(&[at(1.0, 1.0, 1.0)], &idle[..1]), None);
        assert_eq!(paired(&ours[..2], &idle).unwrap().rate, 1.1);
    }

    #[test]
    fn a_slow_spell_cancels_out_of_paired_runs() {
        // The machine was twice as slow for the second pair.
        let excess = paired_excess(&[102.0, 204.0, 103.0], &[100.0, 200.0, 100.0]);
        assert!((excess - 0.02).abs() < 1e-9, "{excess}");
        assert_eq!(paired_excess(&[], &[]), 0.0);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
