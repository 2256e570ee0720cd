//! When the listeners ask the kernel to hold new connections until their
//! request arrives (`TCP_DEFER_ACCEPT`).
//!
//! Under concurrent clients the accept thread often takes a connection before
//! its request lands: the read finds nothing, the connection is watched, and
//! the thread wakes again for it. Deferred, the kernel hands over the
//! connection with its request, which saves those system calls and the
//! wake-up. A lone client loses by it: its connect and its write no longer
//! overlap the server's wake-up, which costs it latency. So accepting is
//! deferred only while clients overlap: while connections keep arriving
//! before the last one whose request was late has sent it. A lone client's
//! request may be late too, on a quick machine nearly always, but it comes
//! before the client's next connection. Deferring is switched off now and
//! then to see whether clients still overlap.

use std::time::{Duration, Instant};

/// What a new connection scores: up by one when it overlaps another, down by
/// one when it does not, between 0 and `FULL`.
const FULL: u8 = 32;
/// The score at which accepting is deferred. A lone client does not climb
/// this far; a silent connection counts once, for the connection after it.
/// Clients that overlap for half of their connections or more get there
/// within a few dozen connections.
const DEFER_AT: u8 = 24;
/// The score a check starts from.
const CHECK_FROM: u8 = FULL / 2;
/// Deferred accepting is switched off for a check after this long, or after
/// this many connections, whichever comes first: soon enough that a lone
/// client after a burst is hardly deferred, rarely enough that the few
/// connections a check takes under load cost nothing measurable.
const CHECK_AFTER: Duration = Duration::from_millis(100);
const CHECK_EVERY: u32 = 1024;

/// Whether accepting is deferred, and what decides when it is not.
#[derive(Debug, Default)]
pub(crate) struct Deferral {
    late: u8,
    /// Since when accepting is deferred, and the connections accepted since.
    deferred: Option<(Instant, u32)>,
}

impl Deferral {
    /// Counts a connection accepted at `now`, `overlapping` when an earlier
    /// one still waits for its request. Returns whether to defer accepting
    /// when that should change.
    pub(crate) fn accepted(&mut self, overlapping: bool, now: Instant) -> Option<bool> {
        match &mut self.deferred {
            Some((since, count)) => {
                // Deferred connections come with their request, so they
                // hardly ever overlap, whatever the clients do: no signal.
                *count += 1;
                if *count < CHECK_EVERY && now.saturating_duration_since(*since) < CHECK_AFTER {
                    return None;
                }
                self.deferred = None;
                self.late = CHECK_FROM;
                Some(false)
            }
            None => {
                self.late = match overlapping {
                    true => (self.late + 1).min(FULL),
                    false => self.late.saturating_sub(1),
                };
                if self.late < DEFER_AT {
                    return None;
                }
                self.deferred = Some((now, 0));
                Some(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds connections at one instant; returns the switches asked for.
    fn feed(d: &mut Deferral, overlaps: impl IntoIterator<Item = bool>, now: Instant) -> Vec<bool> {
        overlaps
            .into_iter()
            .filter_map(|l| d.accepted(l, now))
            .collect()
    }

    #[test]
    fn a_lone_client_with_a_silent_connection_now_and_then_is_never_deferred() {
        let mut d = Deferral::default();
        let pattern = [true, false, false, false];
        let switches = feed(
            &mut d,
            pattern.iter().copied().cycle().take(100_000),
            Instant::now(),
        );
        assert_eq!(switches, Vec::<bool>::new());
    }

    #[test]
    fn overlapping_clients_defer_accepting_within_a_few_dozen_connections() {
        let mut d = Deferral::default();
        assert_eq!(feed(&mut d, [true; 23], Instant::now()), Vec::<bool>::new());
        assert_eq!(feed(&mut d, [true], Instant::now()), [true]);
        // Two in three overlapping, from the start of a check: deferred again.
        let mut d = Deferral {
            late: CHECK_FROM,
            deferred: None,
        };
        let half = [true, true, false].iter().copied().cycle().take(200);
        assert_eq!(feed(&mut d, half, Instant::now()), [true]);
    }

    #[test]
    fn deferring_is_checked_after_a_while_or_a_number_of_connections() {
        let start = Instant::now();
        let mut d = Deferral::default();
        assert_eq!(feed(&mut d, [true; DEFER_AT as usize], start), [true]);
        // By count.
        let many = feed(
            &mut d,
            std::iter::repeat_n(false, CHECK_EVERY as usize),
            start,
        );
        assert_eq!(many, [false]);
        assert_eq!(d.late, CHECK_FROM);
        // By time: one connection just before the check is due, one when it is.
        assert_eq!(feed(&mut d, [true; 8], start), [true]);
        assert_eq!(
            feed(
                &mut d,
                [false],
                start + CHECK_AFTER - Duration::from_millis(1)
            ),
            []
        );
        assert_eq!(feed(&mut d, [false], start + CHECK_AFTER), [false]);
        // No overlap during the check: stays undeferred.
        assert_eq!(feed(&mut d, [false; 1000], start + CHECK_AFTER), []);
    }
}
