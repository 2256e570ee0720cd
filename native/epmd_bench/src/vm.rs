//! Measurements inside the VM: what a lookup and a listing of this host cost
//! a node (through `bench/vm_calls.escript`), and how long a distributed node
//! takes to boot and halt.

use std::io;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::servers::{self, Programs};

/// Which mapper a node uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapper {
    /// `-epmd_module epmd_rs -start_epmd false`: the node serves its own EPMD
    /// port from the VM.
    EpmdRs,
    /// A stock node (`erl_epmd`) registering with OTP's daemon, which is
    /// already running. `start_epmd` is erl's default: erlexec first runs
    /// `epmd -daemon`, which finds the port taken and exits.
    Stock { start_epmd: bool },
}

impl Mapper {
    fn module(self) -> &'static str {
        match self {
            Mapper::EpmdRs => "epmd_rs",
            Mapper::Stock { .. } => "erl_epmd",
        }
    }

    /// The emulator flags, and the EPMD port the node uses: its own (free)
    /// port for epmd_rs, the daemon's for a stock node.
    fn node_flags(self, programs: &Programs, sname: &str) -> Vec<String> {
        let mut flags = vec!["-sname".to_string(), sname.to_string()];
        match self {
            Mapper::EpmdRs => {
                flags.extend(["-epmd_module", "epmd_rs", "-start_epmd", "false"].map(String::from));
                flags.push("-pa".to_string());
                flags.push(programs.ebin.display().to_string());
            }
            Mapper::Stock { start_epmd: false } => {
                flags.extend(["-start_epmd", "false"].map(String::from));
            }
            Mapper::Stock { start_epmd: true } => {}
        }
        flags
    }
}

/// Microseconds per call, each the median of several timed batches.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Calls {
    pub port_please_us: f64,
    pub names_us: f64,
}

/// Runs the escript in a node using `mapper`, whose EPMD is on `epmd_port`.
pub fn calls(programs: &Programs, mapper: Mapper, epmd_port: u16) -> io::Result<Calls> {
    let sname = format!("bench_calls_{}", mapper.module());
    let output = servers::clean(&programs.escript)
        .arg(&programs.vm_calls)
        .arg(mapper.module())
        .env("ERL_FLAGS", mapper.node_flags(programs, &sname).join(" "))
        .env("ERL_EPMD_PORT", epmd_port.to_string())
        .stdout(Stdio::piped())
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    match (output.status.success(), parse_calls(&text)) {
        (true, Some(calls)) => Ok(calls),
        _ => Err(io::Error::other(format!(
            "vm_calls.escript {} failed ({}): {text}",
            mapper.module(),
            output.status
        ))),
    }
}

fn parse_calls(text: &str) -> Option<Calls> {
    let value = |key: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
    };
    Some(Calls {
        port_please_us: value("port_please")?,
        names_us: value("names")?,
    })
}

/// Wall time of one boot: start a distributed node, let it halt at once
/// (with status 1 if distribution did not start), wait for it to exit.
fn boot_once(
    programs: &Programs,
    mapper: Mapper,
    epmd_port: u16,
    run: usize,
) -> io::Result<Duration> {
    let sname = format!("bench_boot_{}_{run}", mapper.module());
    let mut command = servers::clean(&programs.erl);
    command
        .arg("-noshell")
        .args(mapper.node_flags(programs, &sname))
        .args([
            "-eval",
            "case node() of nonode@nohost -> halt(1); _ -> halt(0) end.",
        ])
        .env("ERL_EPMD_PORT", epmd_port.to_string());
    let start = Instant::now();
    let status = command.status()?;
    let elapsed = start.elapsed();
    if !status.success() {
        return Err(io::Error::other(format!(
            "a {} node did not boot distributed ({status})",
            mapper.module()
        )));
    }
    Ok(elapsed)
}

/// Boot times in milliseconds, run by run, in the order of `mappers`: each
/// run boots every kind back to back, so that drift in the machine hits all
/// of them alike. Each epmd_rs node gets a free port of its own; stock nodes
/// use the daemon on `daemon_port`.
pub fn boot(
    programs: &Programs,
    mappers: &[Mapper],
    daemon_port: u16,
    runs: usize,
) -> io::Result<Vec<Vec<f64>>> {
    let mut times = vec![Vec::with_capacity(runs); mappers.len()];
    for run in 0..runs {
        // Each run starts with the next mapper, so none always goes first.
        for k in 0..mappers.len() {
            let i = (run + k) % mappers.len();
            let mapper = mappers[i];
            let port = match mapper {
                Mapper::EpmdRs => servers::free_port()?,
                Mapper::Stock { .. } => daemon_port,
            };
            let t = boot_once(programs, mapper, port, run)?;
            times[i].push(t.as_secs_f64() * 1e3);
        }
    }
    Ok(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escript_output_is_parsed() {
        let calls = parse_calls("port_please 1.250\nnames 3.5\n").unwrap();
        assert_eq!(calls.port_please_us, 1.25);
        assert_eq!(calls.names_us, 3.5);
        assert!(parse_calls("port_please 1.0\n").is_none());
    }
}
