//! Compares the masked transcripts of one exchange on two servers.

use std::collections::BTreeMap;

use crate::deviations::{self, Deviation};
use crate::mask::Masked;

/// One observation on which the servers disagree.
#[derive(Debug, Clone)]
pub struct Difference {
    pub exchange: String,
    pub about: &'static str,
    pub step: usize,
    pub label: String,
    pub reference: String,
    pub candidate: String,
    pub explained_by: Option<&'static Deviation>,
}

/// Observations line up by step, and by order within a step (cleanup has one
/// per name); a side that has no observation where the other has one differs.
pub fn compare(
    exchange: &str,
    about: &'static str,
    reference: &[Masked],
    candidate: &[Masked],
) -> Vec<Difference> {
    let (r, c) = (keyed(reference), keyed(candidate));
    let mut keys: Vec<_> = r.keys().chain(c.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let (rm, cm) = (r.get(&key).copied(), c.get(&key).copied());
            if rm.map(|m| &m.text) == cm.map(|m| &m.text) {
                return None;
            }
            let label = rm.or(cm).map(|m| m.label.clone()).unwrap_or_default();
            Some(Difference {
                exchange: exchange.to_string(),
                about,
                step: key.0,
                explained_by: deviations::explaining(exchange, &label),
                label,
                reference: describe(rm),
                candidate: describe(cm),
            })
        })
        .collect()
}

fn keyed(entries: &[Masked]) -> BTreeMap<(usize, usize), &Masked> {
    let mut out = BTreeMap::new();
    let mut previous = None;
    let mut nth = 0;
    for m in entries {
        nth = if previous == Some(m.step) { nth + 1 } else { 0 };
        previous = Some(m.step);
        out.insert((m.step, nth), m);
    }
    out
}

fn describe(m: Option<&Masked>) -> String {
    match m {
        Some(Masked {
            text,
            note: Some(note),
            ..
        }) => format!("{text} ({note})"),
        Some(m) => m.text.clone(),
        None => "(no observation)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(step: usize, label: &str, text: &str) -> Masked {
        Masked {
            step,
            label: label.to_string(),
            text: text.to_string(),
            note: None,
        }
    }

    #[test]
    fn equal_transcripts_do_not_differ() {
        let t = [m(0, "a", "x"), m(3, "c", "y"), m(3, "c", "z")];
        assert!(compare("e", "", &t, &t).is_empty());
    }

    #[test]
    fn differences_line_up_by_step_and_order() {
        let r = [m(0, "a", "x"), m(3, "c1", "y"), m(3, "c2", "z")];
        let c = [m(0, "a", "x"), m(1, "conn", "failed"), m(3, "c1", "y")];
        let d = compare("e", "", &r, &c);
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].step, d[0].reference.as_str()),
            (1, "(no observation)")
        );
        assert_eq!(
            (d[1].label.as_str(), d[1].candidate.as_str()),
            ("c2", "(no observation)")
        );
        assert!(d.iter().all(|d| d.explained_by.is_none()));
    }

    #[test]
    fn listed_deviations_explain_their_observations_only() {
        let dev = &deviations::DEVIATIONS[0];
        let (exchange, label) = dev.shows[0];
        let r = [m(0, label, "otp"), m(1, "other", "x")];
        let c = [m(0, label, "ours"), m(1, "other", "y")];
        let d = compare(exchange, "", &r, &c);
        assert_eq!(d[0].explained_by.map(|d| d.id), Some(dev.id));
        assert!(d[1].explained_by.is_none());
    }
}
