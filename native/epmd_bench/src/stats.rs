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
        }
    }
}

/// Several rounds of the same measurement: the rate, p50 and p99 are each
/// the median of the rounds' own, so that a stall of the machine during one
/// round does not count; the server CPU per request is over all of them.
pub fn combine(rounds: Vec<Sample>) -> Summary {
    let mut rates = Vec::with_capacity(rounds.len());
    let mut p50s = Vec::with_capacity(rounds.len());
    let mut p99s = Vec::with_capacity(rounds.len());
    let mut all = Sample::default();
    for round in rounds {
        all.ok += round.ok;
        all.errors += round.errors;
        all.server_cpu += round.server_cpu;
        let s = round.summary();
        rates.push(s.rate);
        p50s.push(s.p50_us);
        p99s.push(s.p99_us);
    }
    Summary {
        rate: median(&rates),
        p50_us: median(&p50s),
        p99_us: median(&p99s),
        ..all.summary()
    }
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
        let s = combine(vec![
            round(10, 1000, 100),
            round(2, 90_000, 50),
            round(30, 2000, 270),
        ]);
        assert_eq!(s.rate, 10.0);
        assert_eq!(s.p50_us, 2.0);
        assert_eq!(s.p99_us, 2.0);
        assert_eq!((s.ok, s.errors), (42, 3));
        assert_eq!(s.server_cpu_us, 10.0);
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
