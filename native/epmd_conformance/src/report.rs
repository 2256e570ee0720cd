//! What a run found, printed for people and ending in the summary line tools
//! look for: `conformance: N exchanges, U unexplained differences`.

use std::fmt;

use crate::compare::Difference;

/// Characters of an observation shown around the first difference.
const CONTEXT: usize = 60;
const SHOWN: usize = 200;

#[derive(Debug)]
pub struct Report {
    pub exchanges: usize,
    pub differences: Vec<Difference>,
}

impl Report {
    pub fn unexplained(&self) -> usize {
        self.differences
            .iter()
            .filter(|d| d.explained_by.is_none())
            .count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.differences {
            match d.explained_by {
                Some(dev) => writeln!(f, "EXPLAINED by {}: {} ({})", dev.id, d.exchange, d.about)?,
                None => writeln!(f, "DIFFERENCE: {} ({})", d.exchange, d.about)?,
            }
            let (r, c) = excerpts(&d.reference, &d.candidate);
            writeln!(f, "  step {}, {}", d.step, d.label)?;
            writeln!(f, "    reference: {r}")?;
            writeln!(f, "    candidate: {c}")?;
        }
        let explained = self.differences.len() - self.unexplained();
        if explained > 0 {
            writeln!(
                f,
                "conformance: {explained} explained differences (see DEVIATIONS)"
            )?;
        }
        writeln!(
            f,
            "conformance: {} exchanges, {} unexplained differences",
            self.exchanges,
            self.unexplained()
        )
    }
}

/// Both texts cut to a window around where they first differ.
fn excerpts(a: &str, b: &str) -> (String, String) {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let first = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let start = first.saturating_sub(CONTEXT);
    let cut = |t: &[char]| {
        let end = (start + SHOWN).min(t.len());
        let mut s = String::new();
        if start > 0 {
            s.push_str(&format!("…({start} chars) "));
        }
        s.extend(&t[start..end]);
        if end < t.len() {
            s.push_str(&format!(" …({} more)", t.len() - end));
        }
        s
    };
    (cut(&a), cut(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_texts_are_shown_whole() {
        assert_eq!(excerpts("abc", "abd"), ("abc".into(), "abd".into()));
    }

    #[test]
    fn long_texts_are_cut_around_the_first_difference() {
        let a = format!("{}X{}", "a".repeat(500), "b".repeat(500));
        let b = format!("{}Y{}", "a".repeat(500), "b".repeat(500));
        let (ea, eb) = excerpts(&a, &b);
        assert!(ea.starts_with("…(440 chars) "), "{ea}");
        assert!(ea.contains('X') && eb.contains('Y'));
        assert!(ea.ends_with(" …(361 more)"), "{ea}");
    }

    #[test]
    fn summary_line_comes_last() {
        let r = Report {
            exchanges: 3,
            differences: Vec::new(),
        };
        assert_eq!(
            r.to_string(),
            "conformance: 3 exchanges, 0 unexplained differences\n"
        );
    }
}
