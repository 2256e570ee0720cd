//! How numbers and measurement points are written, alike in the progress
//! lines, the targets and the tables.

/// `12345.6` as `12,346`.
pub fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// A ratio as `1.23×`.
pub fn times(r: f64) -> String {
    if r.is_finite() {
        format!("{r:.2}×")
    } else {
        "∞".to_string()
    }
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `1,000 nodes, 1 client`.
pub fn nodes_and_clients(nodes: usize, clients: usize) -> String {
    format!(
        "{} node{}, {clients} client{}",
        thousands(nodes as f64),
        plural(nodes),
        plural(clients)
    )
}

/// `600` as `10 minutes`, `90` as `90 s`.
pub fn duration_words(secs: u64) -> String {
    match secs {
        s if s >= 120 && s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1234.0), "1,234");
        assert_eq!(thousands(100_000.0), "100,000");
        assert_eq!(thousands(-1234567.0), "-1,234,567");
    }

    #[test]
    fn ratios_and_points() {
        assert_eq!(times(f64::INFINITY), "∞");
        assert_eq!(times(1.234), "1.23×");
        assert_eq!(nodes_and_clients(1000, 1), "1,000 nodes, 1 client");
        assert_eq!(nodes_and_clients(1, 16), "1 node, 16 clients");
    }

    #[test]
    fn durations_in_words() {
        assert_eq!(duration_words(600), "10 minutes");
        assert_eq!(duration_words(90), "90 s");
        assert_eq!(duration_words(2), "2 s");
    }
}
