//! The connections an accept loop holds while they wait for their request:
//! each under a token of its own, with the deadline by which the request must
//! have come. No I/O here; the tokens are what the epoll set reports.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use tokio::time::Instant;

pub(crate) struct Waiting<T> {
    parked: HashMap<u64, (Instant, T)>,
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

    /// Holds `item` until `deadline` under a new token, once `watch` has
    /// had the item watched under it; hands the item back if that failed.
    pub(crate) fn park<E>(
        &mut self,
        item: T,
        deadline: Instant,
        watch: impl FnOnce(&T, u64) -> Result<(), E>,
    ) -> Result<u64, T> {
        let token = self.next_token;
        if watch(&item, token).is_err() {
            return Err(item);
        }
        self.next_token += 1;
        self.parked.insert(token, (deadline, item));
        self.deadlines.push(Reverse((deadline, token)));
        self.tidy();
        Ok(token)
    }

    /// Takes out the item under `token`, with its deadline.
    pub(crate) fn take(&mut self, token: u64) -> Option<(Instant, T)> {
        let item = self.parked.remove(&token);
        self.tidy();
        item
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
                .retain(|Reverse((_, token))| parked.contains_key(token));
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
            if self.parked.contains_key(&token) {
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
            if let Some((_, item)) = self.take(token) {
                return Some(item);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn park<T>(w: &mut Waiting<T>, item: T, deadline: Instant) -> u64 {
        w.park(item, deadline, |_, _| Ok::<(), ()>(()))
            .unwrap_or_else(|_| unreachable!())
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
        assert_eq!(w.take(first), Some((now, 1)));
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
        let back = w.park("item", now, |item, token| {
            seen = Some((*item, token));
            Err("refused")
        });
        assert_eq!(back, Err("item"));
        assert_eq!(seen, Some(("item", 0)));
        assert_eq!(w.next_deadline(), None);
        assert_eq!(park(&mut w, "next", now), 0);
    }
}
