//! Counters of what a server did, cheap enough to keep always: one relaxed
//! atomic increment per event.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::codec::Request;
use crate::events::Event;

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// The server's counters since it started.
        #[derive(Debug, Default)]
        pub struct Stats {
            $($(#[$doc])* $name: AtomicU64,)*
        }

        impl Stats {
            /// Every counter by name, in a fixed order.
            pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name.load(Ordering::Relaxed)),)*]
            }

            /// One counter by its name in [`Stats::snapshot`]; `None` for a
            /// name that is not a counter.
            pub fn get(&self, name: &str) -> Option<u64> {
                match name {
                    $(stringify!($name) => Some(self.$name.load(Ordering::Relaxed)),)*
                    _ => None,
                }
            }
        }
    };
}

counters! {
    /// Connections accepted.
    connections,
    /// Well-formed requests, by type.
    alive2_requests,
    port_please2_requests,
    names_requests,
    dump_requests,
    kill_requests,
    stop_requests,
    /// Registrations made and ended over TCP.
    registered,
    unregistered,
    /// ALIVE2 refused: the name is live, or it is invalid.
    name_taken,
    register_refused,
    /// Connections closed without a reply: bad frame or request, or EOF
    /// before a complete request.
    dropped,
    incomplete,
    /// Requests reserved for local peers, from elsewhere.
    refused_non_local,
    /// Connections silent past the packet timeout.
    timeouts,
    /// KILL while nodes live, STOP without relaxed mode.
    kill_refused,
    stop_refused,
    /// STOP served.
    stopped,
    /// accept() failures (the server retries).
    accept_failed,
    /// Connections closed at once: over the configured limits.
    over_limit,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Stats {
    pub fn connection_accepted(&self) {
        bump(&self.connections);
    }

    /// Counts what `event` says happened.
    pub fn record(&self, event: &Event<'_>) {
        let counter = match event {
            Event::Received { request, .. } => match request {
                Request::Alive2(_) => &self.alive2_requests,
                Request::PortPlease2 { .. } => &self.port_please2_requests,
                Request::Names => &self.names_requests,
                Request::Dump => &self.dump_requests,
                Request::Kill => &self.kill_requests,
                Request::Stop { .. } => &self.stop_requests,
            },
            Event::Registered { .. } => &self.registered,
            Event::Unregistered { .. } => &self.unregistered,
            Event::NameTaken { .. } => &self.name_taken,
            Event::RegisterRefused { .. } => &self.register_refused,
            Event::Dropped { .. } => &self.dropped,
            Event::Incomplete { .. } => &self.incomplete,
            Event::RefusedNonLocal { .. } => &self.refused_non_local,
            Event::Timeout { .. } => &self.timeouts,
            Event::KillRefused => &self.kill_refused,
            Event::Killed => return,
            Event::Stopped { .. } => &self.stopped,
            Event::StopRefused { .. } => &self.stop_refused,
            Event::AcceptFailed { .. } => &self.accept_failed,
            Event::OverLimit { .. } => &self.over_limit,
        };
        bump(counter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_count_by_kind() {
        let stats = Stats::default();
        stats.connection_accepted();
        let peer = "127.0.0.1:1".parse().unwrap();
        stats.record(&Event::Received {
            peer,
            request: &Request::Names,
        });
        stats.record(&Event::Timeout { peer });
        stats.record(&Event::Timeout { peer });
        let snap: std::collections::HashMap<_, _> = stats.snapshot().into_iter().collect();
        assert_eq!(snap["connections"], 1);
        assert_eq!(snap["names_requests"], 1);
        assert_eq!(snap["timeouts"], 2);
        assert_eq!(snap["registered"], 0);
        assert_eq!(stats.get("timeouts"), Some(2));
        assert_eq!(stats.get("no_such_counter"), None);
    }
}
