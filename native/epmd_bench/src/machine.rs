//! What the numbers were measured on: processor, memory, kernel, OTP, date.

use std::process::Stdio;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::servers::{self, Programs};
use crate::text::thousands;

#[derive(Debug, Clone)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub otp: String,
    /// UTC, `YYYY-MM-DD`.
    pub date: String,
    /// Whose network namespace the traffic ran in, and the TCP settings that
    /// shape a stream of short connections there.
    pub network: String,
}

impl Machine {
    pub fn one_line(&self) -> String {
        format!(
            "{} cores ({}), {:.0} GiB, Linux {}, OTP {}",
            self.cores, self.cpu, self.memory_gib, self.kernel, self.otp
        )
    }
}

pub fn describe(programs: &Programs) -> Machine {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = field(&cpuinfo, "model name").unwrap_or("unknown processor");
    let meminfo = read("/proc/meminfo");
    let memory_kib: f64 = field(&meminfo, "MemTotal")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    Machine {
        cpu: cpu.to_string(),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        memory_gib: memory_kib / (1024.0 * 1024.0),
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        otp: otp_version(programs).unwrap_or_else(|| "unknown".to_string()),
        date: utc_date(SystemTime::now()),
        network: network(),
    }
}

/// The network namespace and its TIME_WAIT table and connecting ports: the
/// server closes first, so each connection waits out TIME_WAIT on the
/// server's side, and tens of thousands of them shape every connect after.
fn network() -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    network_from(
        &read("/proc/net/dev"),
        &read("/proc/sys/net/ipv4/tcp_max_tw_buckets"),
        &read("/proc/sys/net/ipv4/ip_local_port_range"),
    )
}

/// [`network`] from the text of `/proc/net/dev` and of the two settings, all
/// of them per namespace: one made for the run has loopback alone.
fn network_from(dev: &str, tw_buckets: &str, port_range: &str) -> String {
    let interfaces: Vec<&str> = dev
        .lines()
        .filter_map(|l| Some(l.split_once(':')?.0.trim()))
        .collect();
    let namespace = match interfaces[..] {
        ["lo"] => "a network namespace of its own, with loopback alone".to_string(),
        _ => format!(
            "the host's network namespace (interfaces {})",
            interfaces.join(", ")
        ),
    };
    let table = tw_buckets
        .trim()
        .parse()
        .map_or("unknown".to_string(), thousands);
    let ports = port_range.split_whitespace().collect::<Vec<_>>().join("–");
    format!("{namespace}; TIME_WAIT table {table}, connecting from ports {ports}")
}

/// The value of the first `key : value` line.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

fn otp_version(programs: &Programs) -> Option<String> {
    let eval = "{ok, V} = file:read_file(filename:join([code:root_dir(), \"releases\", \
                erlang:system_info(otp_release), \"OTP_VERSION\"])), \
                io:put_chars(string:trim(V)), halt().";
    let out = servers::clean(&programs.erl)
        .args(["-noshell", "-eval", eval])
        .stdout(Stdio::piped())
        .output()
        .ok()?;
    let version = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !version.is_empty()).then_some(version)
}

fn utc_date(now: SystemTime) -> String {
    let days = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_namespace_and_settings() {
        let head = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes packets\n";
        let lo = "    lo: 1 2 0 0 0 0 0 0 1 2 0 0 0 0 0 0\n";
        let eth = "  eth0: 3 4 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n";
        assert_eq!(
            network_from(&format!("{head}{lo}"), "4096\n", "1024\t65535\n"),
            "a network namespace of its own, with loopback alone; \
             TIME_WAIT table 4,096, connecting from ports 1024–65535"
        );
        assert_eq!(
            network_from(&format!("{head}{lo}{eth}"), "131072\n", "32768\t60999\n"),
            "the host's network namespace (interfaces lo, eth0); \
             TIME_WAIT table 131,072, connecting from ports 32768–60999"
        );
    }

    #[test]
    fn dates_from_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
    }

    #[test]
    fn proc_fields() {
        let text = "processor\t: 0\nmodel name\t: AMD EPYC\n";
        assert_eq!(field(text, "model name"), Some("AMD EPYC"));
        assert_eq!(field(text, "flags"), None);
    }
}
