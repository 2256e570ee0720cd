//! The connections the accept thread holds while they wait in its epoll set:
//! for their request, by a deadline, or holding a registration, with none.
//! Each is under a token of its own. No I/O here; the tokens are what the
//! epoll set reports.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use std::time::Instant;

pub(crate) struct Waiting<T> {
    parked: HashMap<u64, (Option<Instant>, T)>,
    /// Earliest first. An item taken out leaves its entry behind, to be
    /// skipped; under load most items go within microseconds, so those
    /// entries are swept out once they outnumber the items held.
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
    next_token: u64,
}

/// Room kept whatever the load: below it nothing is swept or shrunk.
const KEEP: usize = 64;

impl<T> Waiting<T> {
    /// Tokens from `first` up; those below are the owner's.
    pub(crate) fn new(first: u64) -> Self {
        Waiting {
            parked: HashMap::new(),
            deadlines: BinaryHeap::new(),
            next_token: first,
        }
    }

    /// A token never handed out before.
    pub(crate) fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token - 1
    }

    /// Holds `item` under `token` until `deadline` (or until taken out,
    /// without one), once `watch` has had the item watched under it; hands
    /// the item back if that failed.
    pub(crate) fn park<E>(
        &mut self,
        token: u64,
        item: T,
        deadline: Option<Instant>,
        watch: impl FnOnce(&T) -> Result<(), E>,
    ) -> Result<(), T> {
        if watch(&item).is_err() {
            return Err(item);
        }
        self.parked.insert(token, (deadline, item));
        if let Some(deadline) = deadline {
            self.deadlines.push(Reverse((deadline, token)));
        }
        self.tidy();
        Ok(())
    }

    /// Takes out every item held, in no particular order.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.deadlines.clear();
        self.parked.drain().map(|(_, (_, item))| item)
    }

    /// Takes out the item under `token`.
    pub(crate) fn take(&mut self, token: u64) -> Option<T> {
        let item = self.parked.remove(&token);
        self.tidy();
        item.map(|(_, item)| item)
    }

    /// Keeps memory in step with what is held: sweeps out the deadlines of
    /// items gone once they are the majority, and gives back the room of a
    /// crowd that has left (a burst of silent connections, say). Each sweep
    /// or shrink at least halves what it works on, so both cost O(1) per
    /// item over time.
    fn tidy(&mut self) {
        if self.deadlines.len() > 2 * self.parked.len() + KEEP {
            let parked = &self.parked;
            self.deadlines
                .retain(|&Reverse((deadline, token))| due(parked, deadline, token));
            if self.deadlines.capacity() > 4 * self.deadlines.len() + KEEP {
                self.deadlines.shrink_to(2 * self.deadlines.len() + KEEP);
            }
        }
        if self.parked.capacity() > 4 * self.parked.len() + KEEP {
            self.parked.shrink_to(2 * self.parked.len());
        }
    }

    /// The earliest deadline of an item held.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, token))) = self.deadlines.peek() {
            if due(&self.parked, deadline, token) {
                return Some(deadline);
            }
            self.deadlines.pop();
        }
        None
    }

    /// Takes out the next item whose deadline is at or before `now`.
    pub(crate) fn expired(&mut self, now: Instant) -> Option<T> {
        while let Some(&Reverse((deadline, token))) = self.deadlines.peek() {
            if deadline > now {
                return None;
            }
            self.deadlines.pop();
            if due(&self.parked, deadline, token) {
                return self.take(token);
            }
        }
        None
    }
}

/// Whether a deadline entry still stands: its item is held, and under that
/// deadline (an item taken out and parked again under the same token may
/// have another, or none).
fn due<T>(parked: &HashMap<u64, (Option<Instant>, T)>, deadline: Instant, token: u64) -> bool {
    parked
        .get(&token)
        .is_some_and(|(held, _)| *held == Some(deadline))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn park<T>(w: &mut Waiting<T>, item: T, deadline: Instant) -> u64 {
        let token = w.token();
        w.park(token, item, Some(deadline), |_| Ok::<(), ()>(()))
            .unwrap_or_else(|_| unreachable!());
        token
    }

    #[test]
    fn items_expire_in_deadline_order_whatever_the_order_they_came_in() {
        let now = Instant::now();
        let at = |s| now + Duration::from_secs(s);
        let mut w = Waiting::new(1);
        let late = park(&mut w, "late", at(3));
        park(&mut w, "early", at(1));
        park(&mut w, "middle", at(2));
        assert_eq!(late, 1);
        assert_eq!(w.next_deadline(), Some(at(1)));
        assert_eq!(w.expired(at(2)), Some("early"));
        assert_eq!(w.expired(at(2)), Some("middle"));
        assert_eq!(w.expired(at(2)), None);
        assert_eq!(w.next_deadline(), Some(at(3)));
    }

    #[test]
    fn an_item_taken_out_no_longer_expires_nor_sets_the_deadline() {
        let now = Instant::now();
        let mut w = Waiting::new(0);
        let first = park(&mut w, 1, now);
        park(&mut w, 2, now + Duration::from_secs(5));
        assert_eq!(w.take(first), Some(1));
        assert_eq!(w.take(first), None);
        assert_eq!(w.next_deadline(), Some(now + Duration::from_secs(5)));
        assert_eq!(w.expired(now + Duration::from_secs(1)), None);
    }

    #[test]
    fn tokens_are_never_reused() {
        let now = Instant::now();
        let mut w = Waiting::new(7);
        let a = park(&mut w, (), now);
        w.take(a);
        assert_ne!(park(&mut w, (), now), a);
    }

    #[test]
    fn bookkeeping_follows_what_is_held_not_what_went_through() {
        let now = Instant::now();
        let mut w = Waiting::new(0);
        // A crowd that stays, then goes.
        let crowd: Vec<u64> = (0..10_000).map(|i| park(&mut w, i, now)).collect();
        for token in crowd {
            w.take(token);
        }
        assert!(w.parked.capacity() <= 4 * KEEP, "{}", w.parked.capacity());
        assert!(
            w.deadlines.capacity() <= 4 * KEEP,
            "{}",
            w.deadlines.capacity()
        );
        // Steady load: each item goes right after it came, far from its deadline.
        for i in 0..10_000 {
            let token = park(&mut w, i, now + Duration::from_secs(6));
            w.take(token);
            assert!(w.deadlines.len() <= 2 * w.parked.len() + KEEP);
        }
        assert!(
            w.deadlines.capacity() <= 4 * KEEP,
            "{}",
            w.deadlines.capacity()
        );
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn an_item_that_could_not_be_watched_comes_back_and_is_not_held() {
        let now = Instant::now();
        let mut w = Waiting::new(0);
        let mut seen = None;
        let back = w.park(0, "item", Some(now), |item| {
            seen = Some(*item);
            Err("refused")
        });
        assert_eq!(back, Err("item"));
        assert_eq!(seen, Some("item"));
        assert_eq!(w.next_deadline(), None);
        assert_eq!(w.take(0), None);
    }

    #[test]
    fn an_item_parked_again_keeps_only_its_new_deadline() {
        let now = Instant::now();
        let mut w = Waiting::new(0);
        let token = park(&mut w, "waiting", now);
        let item = w.take(token).unwrap();
        w.park(token, item, None, |_| Ok::<(), ()>(())).unwrap();
        assert_eq!(w.next_deadline(), None);
        assert_eq!(w.expired(now + Duration::from_secs(3600)), None);
        let later = now + Duration::from_secs(5);
        let item = w.take(token).unwrap();
        w.park(token, item, Some(later), |_| Ok::<(), ()>(()))
            .unwrap();
        assert_eq!(w.next_deadline(), Some(later));
        assert_eq!(w.expired(now + Duration::from_secs(1)), None);
        assert_eq!(w.expired(later), Some("waiting"));
    }

    #[test]
    fn an_item_without_deadline_never_expires_and_drain_takes_all() {
        let now = Instant::now();
        let mut w = Waiting::new(0);
        let held = w.token();
        w.park(held, "held", None, |_| Ok::<(), ()>(())).unwrap();
        park(&mut w, "waiting", now);
        assert_eq!(w.next_deadline(), Some(now));
        assert_eq!(w.expired(now + Duration::from_secs(3600)), Some("waiting"));
        assert_eq!(w.expired(now + Duration::from_secs(3600)), None);
        assert_eq!(w.next_deadline(), None);
        park(&mut w, "another", now);
        let mut all: Vec<_> = w.drain().collect();
        all.sort();
        assert_eq!(all, ["another", "held"]);
        assert_eq!(w.take(held), None);
        assert_eq!(w.next_deadline(), None);
    }
}
