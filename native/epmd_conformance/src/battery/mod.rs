//! The battery: every exchange, grouped by the part of the protocol it probes.
//! Node names are unique to an exchange (isolated exchanges may share them, as
//! they never overlap), so exchanges can run side by side.

mod admin;
mod alive2;
mod commands;
mod framing;
mod listing;
mod port2;

use crate::script::{Delay, Exchange, Mode};

/// Every exchange, for either kind of server.
pub fn all() -> Vec<Exchange> {
    [
        framing::exchanges(),
        commands::exchanges(),
        alive2::exchanges(),
        port2::exchanges(),
        listing::exchanges(),
        admin::exchanges(),
    ]
    .concat()
}

fn fits(e: &Exchange, relaxed: bool) -> bool {
    match e.mode {
        Mode::Any => true,
        Mode::Strict => !relaxed,
        Mode::Relaxed => relaxed,
    }
}

/// The standard battery for servers with (`relaxed`) or without relaxed
/// command check, and no delay options.
pub fn for_mode(relaxed: bool) -> Vec<Exchange> {
    all()
        .into_iter()
        .filter(|e| e.delay.is_none() && fits(e, relaxed))
        .collect()
}

/// The exchanges for servers started with `delay` (and relaxed or not).
pub fn needing(delay: Delay, relaxed: bool) -> Vec<Exchange> {
    all()
        .into_iter()
        .filter(|e| e.delay == Some(delay) && fits(e, relaxed))
        .collect()
}

/// One exchange by name.
pub fn named(name: &str) -> Option<Exchange> {
    all().into_iter().find(|e| e.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deviations::DEVIATIONS;
    use crate::script::{Reply, Step};
    use std::collections::HashMap;

    #[test]
    fn sizes() {
        assert!(for_mode(false).len() >= 80, "{}", for_mode(false).len());
        assert!(for_mode(true).len() >= 80, "{}", for_mode(true).len());
    }

    #[test]
    fn exchange_names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for e in all() {
            assert!(seen.insert(e.name.clone()), "duplicate exchange {}", e.name);
        }
    }

    #[test]
    fn concurrent_exchanges_register_distinct_names() {
        let mut owner: HashMap<Vec<u8>, (String, bool)> = HashMap::new();
        for e in all() {
            for n in &e.names {
                if let Some((other, isolated)) = owner.get(n) {
                    assert!(
                        *isolated && e.isolated,
                        "{} and {other} both register {n:?}",
                        e.name
                    );
                }
                owner.insert(n.clone(), (e.name.clone(), e.isolated));
            }
        }
    }

    #[test]
    fn only_isolated_exchanges_list_nodes() {
        for e in all() {
            let lists = e.steps.iter().any(|s| {
                matches!(
                    s,
                    Step::Read {
                        reply: Reply::Names | Reply::Dump,
                        ..
                    }
                )
            });
            assert!(!lists || e.isolated, "{} lists nodes", e.name);
        }
    }

    #[test]
    fn every_deviation_has_its_exchange() {
        for d in DEVIATIONS {
            for (exchange, _) in d.shows {
                assert!(named(exchange).is_some(), "{} names {exchange}", d.id);
            }
        }
    }
}
