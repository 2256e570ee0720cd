//! The command line: `suite` (what `make bench` runs) or one measurement
//! against any EPMD at HOST:PORT.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::load::Load;
use crate::servers::Programs;
use crate::settings::{cores, Settings};
use crate::soak;

pub const USAGE: &str = "\
usage: epmd-bench suite [--quick] [--markdown FILE] [--json FILE] [--capacity N]
                        [--seconds S] [--client-threads N] [--otp-epmd PATH]
                        [--epmd-rs PATH] [--erl PATH] [--escript PATH]
                        [--ebin DIR] [--vm-calls FILE]
       epmd-bench lookups HOST:PORT [--nodes N] [LOAD]
       epmd-bench names HOST:PORT [--nodes N] [LOAD]
       epmd-bench churn HOST:PORT [LOAD]
       epmd-bench capacity HOST:PORT [--count N] [--pid PID]
       epmd-bench soak [--duration D] [--packet-timeout S] [--json FILE]
                       [--markdown FILE] [--epmd-rs PATH] [--erl PATH] [--ebin DIR]
       epmd-bench responder --port P

suite starts OTP's epmd, epmd-rs and an in-VM server on free loopback ports,
measures them side by side, prints the table and writes the Markdown report
and the JSON the chart is drawn from. The other commands measure one EPMD
that is already running; they register the nodes they need and hold them.
LOAD is [--clients N] [--seconds S] [--requests N] [--client-threads N].
The clients are spread over --client-threads threads, one per core unless
given (never more than there are clients); a lone client asking PORT2 or
NAMES makes blocking calls on a thread of its own.

soak starts epmd-rs and an in-VM server and runs a mixed load against both
for D (like 600, 90s, 10m or 1h; 10m by default), sampling memory,
descriptors and the registry; it exits 1 unless both come through. It
writes the JSON its chart is drawn from (target/soak/results.json) and,
with --markdown, its section of that file.

responder serves 127.0.0.1:P as the least a server can do: one thread that
accepts, reads a request, answers it and closes, answering ALIVE2, PORT2
and NAMES only. The suite measures it beside the servers with a lone client.
";

/// What to do.
#[derive(Debug, Clone)]
pub enum Command {
    Suite {
        settings: Settings,
        programs: Programs,
        markdown: PathBuf,
        json: PathBuf,
    },
    Lookups {
        addr: SocketAddr,
        nodes: usize,
        load: Load,
    },
    Names {
        addr: SocketAddr,
        nodes: usize,
        load: Load,
    },
    Churn {
        addr: SocketAddr,
        load: Load,
    },
    Capacity {
        addr: SocketAddr,
        count: usize,
        pid: Option<u32>,
    },
    Soak {
        options: soak::Options,
        programs: Programs,
    },
    /// The minimal responder, on 127.0.0.1.
    Responder {
        port: u16,
    },
}

/// `--name value` options, and flags (stored with an empty value).
struct Options(HashMap<String, String>);

const FLAGS: [&str; 1] = ["--quick"];

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(key) = it.next() {
            if !key.starts_with("--") {
                return Err(format!("unexpected argument {key}"));
            }
            let value = if FLAGS.contains(&key.as_str()) {
                String::new()
            } else {
                it.next()
                    .ok_or_else(|| format!("{key} needs a value"))?
                    .clone()
            };
            map.insert(key.clone(), value);
        }
        Ok(Options(map))
    }

    fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    fn get<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.0.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("bad value for {key}: {v}")),
        }
    }

    fn path(&self, key: &str, default: &str) -> PathBuf {
        PathBuf::from(self.0.get(key).map_or(default, String::as_str))
    }

    fn duration(&self, default: Duration) -> Result<Duration, String> {
        let secs: f64 = self.get("--seconds", default.as_secs_f64())?;
        Duration::try_from_secs_f64(secs).map_err(|_| format!("bad --seconds: {secs}"))
    }

    /// Refuses options the command does not take.
    fn only(&self, allowed: &[&str]) -> Result<(), String> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(format!("unknown option {k}")),
            None => Ok(()),
        }
    }
}

fn addr(arg: Option<&String>) -> Result<SocketAddr, String> {
    let arg = arg.ok_or("HOST:PORT is missing")?;
    arg.to_socket_addrs()
        .map_err(|e| format!("{arg}: {e}"))?
        .next()
        .ok_or_else(|| format!("{arg}: no address"))
}

/// Parses the arguments after the program name; also returns how many
/// threads the main runtime needs (loads start threads of their own).
pub fn parse(args: &[String]) -> Result<(Command, usize), String> {
    let (name, rest) = args.split_first().ok_or("no command")?;
    match name.as_str() {
        "suite" => return suite(rest),
        "soak" => return soak(rest),
        "responder" => {
            let o = Options::parse(rest)?;
            o.only(&["--port"])?;
            let port = o.get("--port", 0)?;
            if port == 0 {
                return Err("responder needs --port".into());
            }
            return Ok((Command::Responder { port }, 1));
        }
        _ => {}
    }
    let target = addr(rest.first())?;
    let o = Options::parse(&rest[1..])?;
    let command = match name.as_str() {
        "lookups" | "names" => {
            o.only(&[
                "--nodes",
                "--clients",
                "--seconds",
                "--requests",
                "--client-threads",
            ])?;
            let nodes = o.get("--nodes", if name == "names" { 1000 } else { 1 })?;
            let load = single_load(&o, 1)?;
            if name == "names" {
                Command::Names {
                    addr: target,
                    nodes,
                    load,
                }
            } else {
                Command::Lookups {
                    addr: target,
                    nodes: nodes.max(1),
                    load,
                }
            }
        }
        "churn" => {
            o.only(&["--clients", "--seconds", "--requests", "--client-threads"])?;
            Command::Churn {
                addr: target,
                load: single_load(&o, 4)?,
            }
        }
        "capacity" => {
            o.only(&["--count", "--pid"])?;
            Command::Capacity {
                addr: target,
                count: o.get("--count", 100_000)?,
                pid: o
                    .0
                    .get("--pid")
                    .map(|p| p.parse())
                    .transpose()
                    .map_err(|_| "bad --pid")?,
            }
        }
        other => return Err(format!("unknown command {other}")),
    };
    Ok((command, 1))
}

/// The load of a single measurement: a fifth of its time as warm-up.
fn single_load(o: &Options, clients: usize) -> Result<Load, String> {
    let duration = o.duration(Duration::from_secs(1))?;
    Ok(Load {
        clients: o.get("--clients", clients)?,
        threads: o.get("--client-threads", cores())?.max(1),
        warmup: duration / 5,
        duration,
        max_requests: o.get("--requests", 1_000_000)?,
    })
}

fn suite(args: &[String]) -> Result<(Command, usize), String> {
    let o = Options::parse(args)?;
    o.only(&[
        "--quick",
        "--markdown",
        "--json",
        "--capacity",
        "--seconds",
        "--client-threads",
        "--otp-epmd",
        "--epmd-rs",
        "--erl",
        "--escript",
        "--ebin",
        "--vm-calls",
    ])?;
    let mut settings = if o.has("--quick") {
        Settings::quick()
    } else {
        Settings::full()
    };
    settings.duration = o.duration(settings.duration)?;
    settings.capacity_goal = o.get("--capacity", settings.capacity_goal)?;
    settings.client_threads = o.get("--client-threads", settings.client_threads)?.max(1);
    let programs = programs(&o);
    Ok((
        Command::Suite {
            settings,
            programs,
            markdown: o.path("--markdown", "BENCHMARKS.md"),
            json: o.path("--json", "target/bench/results.json"),
        },
        1,
    ))
}

/// Where the programs are: the options given, else their usual places.
fn programs(o: &Options) -> Programs {
    Programs {
        otp_epmd: o.path("--otp-epmd", "/usr/bin/epmd"),
        epmd_rs: o.path("--epmd-rs", "target/release/epmd-rs"),
        erl: o.path("--erl", "erl"),
        escript: o.path("--escript", "escript"),
        ebin: o.path("--ebin", "_build/default/lib/epmd_rs/ebin"),
        vm_calls: o.path("--vm-calls", "bench/vm_calls.escript"),
        // The minimal responder is this program.
        bench: std::env::current_exe().unwrap_or_else(|_| "target/release/epmd-bench".into()),
    }
}

/// Threads of the soak's runtime: the load of two servers at once.
const SOAK_THREADS: usize = 2;

fn soak(args: &[String]) -> Result<(Command, usize), String> {
    let o = Options::parse(args)?;
    o.only(&[
        "--duration",
        "--packet-timeout",
        "--json",
        "--markdown",
        "--epmd-rs",
        "--erl",
        "--ebin",
    ])?;
    let duration = match o.0.get("--duration") {
        Some(d) => parse_duration(d)?,
        None => Duration::from_secs(600),
    };
    let packet_timeout_secs: u32 = o.get("--packet-timeout", 5)?;
    if packet_timeout_secs == 0 {
        return Err("--packet-timeout must be at least 1 s".to_string());
    }
    let options = soak::Options {
        duration,
        packet_timeout_secs,
        json: o.path("--json", "target/soak/results.json"),
        markdown: o.0.get("--markdown").map(PathBuf::from),
    };
    Ok((
        Command::Soak {
            options,
            programs: programs(&o),
        },
        SOAK_THREADS,
    ))
}

/// `600`, `600s`, `10m` or `1h`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number.parse().map_err(|_| format!("bad duration {text}"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("bad duration {text}: the unit is s, m or h")),
    };
    if secs == 0 {
        return Err("the duration must be at least 1 s".to_string());
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn suite_defaults_and_options() {
        let (c, threads) = parse(&args("suite --quick --capacity 500 --client-threads 3")).unwrap();
        assert_eq!(threads, 1);
        let Command::Suite {
            settings,
            programs,
            markdown,
            ..
        } = c
        else {
            panic!("not a suite: {c:?}");
        };
        assert_eq!(settings.capacity_goal, 500);
        assert_eq!(settings.load(16).threads, 3);
        assert_eq!(programs.otp_epmd, PathBuf::from("/usr/bin/epmd"));
        assert_eq!(markdown, PathBuf::from("BENCHMARKS.md"));
    }

    #[test]
    fn single_measurements_take_an_address() {
        let (c, _) = parse(&args("lookups 127.0.0.1:4369 --nodes 1000 --clients 4")).unwrap();
        let Command::Lookups {
            nodes: 1000, load, ..
        } = c
        else {
            panic!("not lookups: {c:?}");
        };
        assert_eq!(
            (load.clients, load.threads, load.max_requests),
            (4, cores(), 1_000_000)
        );
        let (c, _) = parse(&args("capacity 127.0.0.1:4369 --pid 42")).unwrap();
        assert!(matches!(
            c,
            Command::Capacity {
                count: 100_000,
                pid: Some(42),
                ..
            }
        ));
        assert!(parse(&args("lookups")).is_err());
        assert!(parse(&args("churn 127.0.0.1:4369 --nodes 3")).is_err());
        assert!(parse(&args("suite --seconds")).is_err());
        assert!(parse(&args("bogus 127.0.0.1:1")).is_err());
        assert!(matches!(
            parse(&args("responder --port 4370")),
            Ok((Command::Responder { port: 4370 }, _))
        ));
        assert!(parse(&args("responder")).is_err());
    }

    #[test]
    fn soak_takes_a_duration_with_a_unit() {
        let (c, threads) = parse(&args("soak --duration 90s --packet-timeout 3")).unwrap();
        assert_eq!(threads, SOAK_THREADS);
        let Command::Soak { options, .. } = c else {
            panic!("not a soak: {c:?}");
        };
        assert_eq!(options.duration, Duration::from_secs(90));
        assert_eq!(options.packet_timeout_secs, 3);
        assert_eq!(options.json, PathBuf::from("target/soak/results.json"));
        assert!(options.markdown.is_none());
        let (c, _) = parse(&args("soak")).unwrap();
        assert!(
            matches!(c, Command::Soak { options, .. } if options.duration == Duration::from_secs(600))
        );
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("10 minutes").is_err());
        assert!(parse_duration("0").is_err());
        assert!(parse(&args("soak --packet-timeout 0")).is_err());
        assert!(parse(&args("soak --seconds 3")).is_err());
    }
}
