//! The connections an accept loop holds while they wait for their request:
//! each under a token of its own, with the deadline by which the request must
//! have come. No I/O here; the tokens are what the epoll set reports.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use tokio::time::Instant;

pub(crate) struct Waiting<T> {
    parked: HashMap<u64, (Instant, T)>,
    /// Earliest first; entries whose item has gone are skipped.
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
    next_token: u64,
}

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
        Ok(token)
    }

    /// Takes out the item under `token`, with its deadline.
    pub(crate) fn take(&mut self, token: u64) -> Option<(Instant, T)> {
        self.parked.remove(&token)
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
            if let Some((_, item)) = self.parked.remove(&token) {
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
