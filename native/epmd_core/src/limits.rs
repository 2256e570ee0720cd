//! Caps on the connections open at once, overall and per peer address (the
//! hardened profile). A connection beyond a cap is closed at once, with no
//! reply; one within them is counted until it ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// The caps, and the connections they count.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    max: Option<usize>,
    per_peer: Option<usize>,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_peer: HashMap<IpAddr, usize>,
}

/// A connection counted against the caps while it lives.
#[derive(Debug)]
pub(crate) struct Admitted {
    limits: Arc<Limits>,
    peer: IpAddr,
}

/// Poisoning is ignored: every critical section here completes its update
/// before anything can panic.
fn lock(m: &Mutex<Open>) -> MutexGuard<'_, Open> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Limits {
    pub(crate) fn new(max: Option<usize>, per_peer: Option<usize>) -> Self {
        Limits {
            max,
            per_peer,
            open: Mutex::default(),
        }
    }

    /// Counts a new connection from `peer`, unless it would exceed a cap
    /// (`None`). Without caps nothing is counted (`Some(None)`).
    pub(crate) fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Option<Admitted>> {
        if self.max.is_none() && self.per_peer.is_none() {
            return Some(None);
        }
        let mut open = lock(&self.open);
        let from_peer = open.by_peer.get(&peer).copied().unwrap_or(0);
        if self.max.is_some_and(|m| open.total >= m)
            || self.per_peer.is_some_and(|m| from_peer >= m)
        {
            return None;
        }
        open.total += 1;
        *open.by_peer.entry(peer).or_insert(0) += 1;
        Some(Some(Admitted {
            limits: self.clone(),
            peer,
        }))
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = lock(&self.limits.open);
        open.total -= 1;
        if let Some(n) = open.by_peer.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                open.by_peer.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn no_caps_counts_nothing() {
        let limits = Arc::new(Limits::default());
        assert!(matches!(limits.admit(A), Some(None)));
        assert_eq!(lock(&limits.open).total, 0);
    }

    #[test]
    fn caps_overall_and_per_peer() {
        let limits = Arc::new(Limits::new(Some(3), Some(2)));
        let a1 = limits.admit(A).unwrap();
        let _a2 = limits.admit(A).unwrap();
        assert!(limits.admit(A).is_none(), "third from one peer");
        let _b1 = limits.admit(B).unwrap();
        assert!(limits.admit(B).is_none(), "fourth overall");
        drop(a1);
        assert!(
            limits.admit(B).is_some(),
            "a slot freed by a closed connection"
        );
    }

    #[test]
    fn a_peer_leaves_no_trace_once_gone() {
        let limits = Arc::new(Limits::new(None, Some(1)));
        drop(limits.admit(A).unwrap());
        let open = lock(&limits.open);
        assert_eq!((open.total, open.by_peer.len()), (0, 0));
    }
}
