//! The servers under test, each started on a free loopback port and stopped
//! (by its own pid) when dropped: OTP's `epmd`, `epmd-rs`, and a VM serving
//! EPMD with the epmd_rs application; and the controls the suite measures
//! beside them: a second OTP `epmd`, and the minimal responder (see
//! [`crate::responder`]).

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use epmd_core::codec::Request;
use tokio::time::{sleep, Instant};

use crate::wire;

/// How long a server may take to answer its first NAMES.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Where the programs under test are.
#[derive(Debug, Clone)]
pub struct Programs {
    /// Debian's OTP 25 `epmd`.
    pub otp_epmd: PathBuf,
    /// The release build of `epmd-rs`.
    pub epmd_rs: PathBuf,
    pub erl: PathBuf,
    pub escript: PathBuf,
    /// The compiled epmd_rs application (`_build/default/lib/epmd_rs/ebin`).
    pub ebin: PathBuf,
    /// `bench/vm_calls.escript`.
    pub vm_calls: PathBuf,
    /// `epmd-bench` itself, which is the minimal responder.
    pub bench: PathBuf,
}

/// Which EPMD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Otp,
    EpmdRs,
    InVm,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Otp, Kind::EpmdRs, Kind::InVm];

    pub fn label(self) -> &'static str {
        match self {
            Kind::Otp => "OTP epmd",
            Kind::EpmdRs => "epmd-rs",
            Kind::InVm => "in-VM",
        }
    }
}

/// How the report names the minimal responder.
pub const RESPONDER: &str = "minimal responder";
/// How the report names the second instance of OTP's epmd.
pub const OTP_AGAIN: &str = "OTP epmd again";

/// What the soak asks of a server beyond what the suite does.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras {
    /// The packet timeout in seconds: the daemons' `-packet_timeout`, the
    /// in-VM server's `packet_timeout` application variable.
    pub packet_timeout_secs: Option<u32>,
    /// The in-VM server answers each line on its standard input with its
    /// counters ([`StatsProbe`]), and halts when that input ends.
    pub stats_probe: bool,
}

/// A running server; killed and reaped when dropped.
#[derive(Debug)]
pub struct Server {
    pub label: &'static str,
    pub addr: SocketAddr,
    child: Child,
}

impl Server {
    /// Starts `kind` on a free port and waits until it answers NAMES.
    pub async fn start(kind: Kind, programs: &Programs) -> io::Result<Server> {
        Server::start_with(kind, programs, Extras::default()).await
    }

    pub async fn start_with(kind: Kind, programs: &Programs, extras: Extras) -> io::Result<Server> {
        let port = free_port()?;
        let command = match kind {
            Kind::Otp => daemon(&programs.otp_epmd, port, extras.packet_timeout_secs),
            Kind::EpmdRs => daemon(&programs.epmd_rs, port, extras.packet_timeout_secs),
            Kind::InVm => {
                let eval = if extras.stats_probe {
                    STATS_PROBE_EVAL
                } else {
                    SERVE_EVAL
                };
                let mut c = in_vm(programs, port, eval);
                if let Some(secs) = extras.packet_timeout_secs {
                    c.args(["-epmd_rs", "packet_timeout", &secs.to_string()]);
                }
                if extras.stats_probe {
                    c.stdin(Stdio::piped()).stdout(Stdio::piped());
                }
                c
            }
        };
        Server::spawn(kind.label(), command, port).await
    }

    /// Starts another OTP epmd, named [`OTP_AGAIN`], on a free port and
    /// waits until it answers NAMES.
    pub async fn start_otp_again(programs: &Programs) -> io::Result<Server> {
        let port = free_port()?;
        let command = daemon(&programs.otp_epmd, port, None);
        Server::spawn(OTP_AGAIN, command, port).await
    }

    /// Starts the minimal responder on a free port and waits until it
    /// answers NAMES.
    pub async fn start_responder(programs: &Programs) -> io::Result<Server> {
        let port = free_port()?;
        let mut command = clean(&programs.bench);
        command.args(["responder", "--port", &port.to_string()]);
        Server::spawn(RESPONDER, command, port).await
    }

    async fn spawn(label: &'static str, mut command: Command, port: u16) -> io::Result<Server> {
        // OTP's epmd logs every connection it refuses near its limit, which
        // would bury the table.
        let child = command.stderr(Stdio::null()).spawn()?;
        let server = Server {
            label,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            child,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The counters' channel of an in-VM server started with
    /// [`Extras::stats_probe`]; `None` otherwise or once taken.
    pub fn take_stats_probe(&mut self) -> Option<StatsProbe> {
        let stdin = self.child.stdin.take()?;
        let stdout = BufReader::new(self.child.stdout.take()?);
        Some(StatsProbe { stdin, stdout })
    }

    async fn wait_ready(&self) -> io::Result<()> {
        let request = wire::encode(&Request::Names);
        let deadline = Instant::now() + START_TIMEOUT;
        let mut reply = Vec::new();
        loop {
            let answered = wire::exchange(self.addr, &request, &mut reply, START_TIMEOUT).await;
            if answered.is_ok() && reply.len() >= 4 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{} did not answer on {}", self.label, self.addr),
                ));
            }
            sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A foreground epmd on 127.0.0.1 only, as `epmd -port P` with
/// `ERL_EPMD_ADDRESS` (both binaries read the same options).
fn daemon(program: &PathBuf, port: u16, packet_timeout_secs: Option<u32>) -> Command {
    let mut c = clean(program);
    c.arg("-port")
        .arg(port.to_string())
        .env("ERL_EPMD_ADDRESS", "127.0.0.1");
    if let Some(secs) = packet_timeout_secs {
        c.arg("-packet_timeout").arg(secs.to_string());
    }
    c
}

const SERVE_EVAL: &str = "{ok, _} = application:ensure_all_started(epmd_rs)";

/// Serves, then answers every line read with one line of `name=count`
/// pairs from `epmd_rs:stats()`, and halts at the end of its input, which
/// also ends the VM if the harness dies.
const STATS_PROBE_EVAL: &str = "{ok, _} = application:ensure_all_started(epmd_rs), \
    Answer = fun Answer() -> \
        case io:get_line(\"\") of \
            eof -> halt(); \
            _ -> \
                Line = case epmd_rs:stats() of \
                    {ok, S} -> [[atom_to_list(K), $=, integer_to_list(V), $\\s] \
                                || {K, V} <- maps:to_list(S)]; \
                    Other -> io_lib:format(\"~0p\", [Other]) \
                end, \
                io:put_chars([Line, $\\n]), \
                Answer() \
        end \
    end, \
    Answer().";

/// A VM that is not distributed itself and serves EPMD through the epmd_rs
/// application (`serve`), on the port its `port` variable names.
fn in_vm(programs: &Programs, port: u16, eval: &str) -> Command {
    let mut c = clean(&programs.erl);
    c.arg("-noshell")
        .arg("-pa")
        .arg(&programs.ebin)
        .args(["-epmd_rs", "serve", "true"])
        .args(["-epmd_rs", "port", &port.to_string()])
        .args(["-eval", eval]);
    c
}

/// Asks an in-VM server for its counters over the VM's standard input and
/// output (blocking).
#[derive(Debug)]
pub struct StatsProbe {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl StatsProbe {
    /// The counters by name, in the order the VM lists them.
    pub fn query(&mut self) -> io::Result<Vec<(String, u64)>> {
        self.stdin.write_all(b"stats\n")?;
        self.stdin.flush()?;
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the VM closed its output",
            ));
        }
        parse_counters(&line).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not counters: {}", line.trim_end()),
            )
        })
    }
}

fn parse_counters(line: &str) -> Option<Vec<(String, u64)>> {
    let pairs: Option<Vec<(String, u64)>> = line
        .split_whitespace()
        .map(|pair| {
            let (name, count) = pair.split_once('=')?;
            Some((name.to_string(), count.parse().ok()?))
        })
        .collect();
    pairs.filter(|p| !p.is_empty())
}

/// Descriptors process `pid` has open.
pub fn open_fds(pid: u32) -> io::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// A command with no EPMD settings inherited and no terminal.
pub fn clean(program: &PathBuf) -> Command {
    let mut c = Command::new(program);
    c.env_remove("ERL_EPMD_PORT")
        .env_remove("ERL_EPMD_ADDRESS")
        .env_remove("ERL_EPMD_RELAXED_COMMAND_CHECK")
        .env_remove("ERL_FLAGS")
        .env_remove("ERL_AFLAGS")
        .env_remove("ERL_ZFLAGS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    c
}

/// A port free on 127.0.0.1 and ::1 right now (never 4369).
pub fn free_port() -> io::Result<u16> {
    loop {
        let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = v4.local_addr()?.port();
        if port != 4369 && TcpListener::bind((Ipv6Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
}

/// CPU time process `pid` has used so far, all its threads together (the
/// first field of each thread's schedstat, in nanoseconds).
pub fn cpu_time(pid: u32) -> io::Result<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        // A thread may end between the listing and the read.
        let stat = match std::fs::read_to_string(task?.path().join("schedstat")) {
            Ok(stat) => stat,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        total += stat
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(Duration::from_nanos(total))
}

/// VmRSS of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vm_rss(&status).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no VmRSS line"))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Raises this process's descriptor limit (soft and hard) to at least
/// `want`; children inherit it. Returns the soft limit now in force, which
/// is lower than `want` when the hard limit cannot be raised (not root).
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur >= want {
            return lim.rlim_cur;
        }
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: lim.rlim_max.max(want),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            return want;
        }
        let soft = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &soft) == 0 {
            return lim.rlim_max;
        }
        lim.rlim_cur
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_from_proc_status() {
        let status = "Name:\tepmd\nVmPeak:\t  9000 kB\nVmRSS:\t    1234 kB\nThreads:\t1\n";
        assert_eq!(parse_vm_rss(status), Some(1234));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        assert!(rss_kib(std::process::id()).unwrap() > 0);
        assert!(cpu_time(std::process::id()).is_ok());
        assert!(open_fds(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn counters_are_read_from_one_line() {
        assert_eq!(
            parse_counters("connections=12 timeouts=3 \n"),
            Some(vec![("connections".into(), 12), ("timeouts".into(), 3)])
        );
        assert_eq!(parse_counters("{error,not_serving}\n"), None);
        assert_eq!(parse_counters("\n"), None);
    }
}
