//! The command line, read the way OTP's epmd reads it (§9.1): left to right,
//! exact string matches, C `atoi` numbers, and a client command only as the
//! last argument (`-stop NAME` as the last two).

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use epmd_core::config::{DEFAULT_PACKET_TIMEOUT, DEFAULT_PORT};

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    Serve(ServerOptions),
    Client {
        /// The configured port; the connection uses its low 16 bits, as OTP does.
        port: u32,
        command: ClientCommand,
    },
}

/// A request to the running epmd (§9.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCommand {
    Names,
    /// `-names --json` (ours, not OTP's): the listing as one JSON object.
    NamesJson,
    /// `-names` that prints nothing: the exit code says whether epmd runs.
    Started,
    Dump,
    Kill,
    Stop(Vec<u8>),
}

/// Everything server mode needs from the command line and the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// The configured port, reported by NAMES as is; the sockets bind its low
    /// 16 bits (OTP: `-port 70000` listens on 4464 and reports 70000).
    pub port: u32,
    pub debug: u32,
    pub packet_timeout: Duration,
    pub delay_accept: Option<Duration>,
    pub delay_write: Option<Duration>,
    pub daemon: bool,
    pub relaxed: bool,
    pub address: Option<String>,
    pub systemd: bool,
    /// The hardened profile, ours (OTP has none of these).
    pub local_names_only: bool,
    pub max_connections: Option<usize>,
    pub max_connections_per_peer: Option<usize>,
}

/// The environment variables epmd reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    /// `ERL_EPMD_PORT`, raw: it goes through `atoi` unvalidated.
    pub port: Option<Vec<u8>>,
    /// `ERL_EPMD_ADDRESS`.
    pub address: Option<String>,
    /// `ERL_EPMD_RELAXED_COMMAND_CHECK` is set, to anything (§7).
    pub relaxed: bool,
}

impl Env {
    pub fn from_process() -> Self {
        Env {
            port: std::env::var_os("ERL_EPMD_PORT").map(|v| v.as_bytes().to_vec()),
            address: std::env::var_os("ERL_EPMD_ADDRESS").map(|v| v.to_string_lossy().into_owned()),
            relaxed: std::env::var_os("ERL_EPMD_RELAXED_COMMAND_CHECK").is_some(),
        }
    }
}

/// The command line is not one epmd accepts: print [`USAGE`], exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage;

/// C's `atoi` as glibc implements it (`(int) strtol(s, NULL, 10)`): leading
/// white space, an optional sign, digits up to the first non-digit, 0 when
/// there are none; out-of-range values saturate as a `long`, then truncate.
pub fn atoi(s: &[u8]) -> i32 {
    let mut rest = s
        .iter()
        .skip_while(|b| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .peekable();
    let negative = match rest.peek() {
        Some(b'-') => {
            rest.next();
            true
        }
        Some(b'+') => {
            rest.next();
            false
        }
        _ => false,
    };
    let mut value: i64 = 0;
    for d in rest.take_while(|b| b.is_ascii_digit()) {
        let d = i64::from(d - b'0');
        value = if negative {
            value.saturating_mul(10).saturating_sub(d)
        } else {
            value.saturating_mul(10).saturating_add(d)
        };
    }
    value as i32
}

/// A number option's value: missing or `atoi` 0 is a usage error.
fn number(value: Option<&OsString>) -> Result<i32, Usage> {
    match value.map(|v| atoi(v.as_bytes())) {
        Some(0) | None => Err(Usage),
        Some(n) => Ok(n),
    }
}

/// A positive count, strictly parsed (these flags are ours, not OTP's).
fn count(value: Option<&OsString>) -> Result<usize, Usage> {
    match value.and_then(|v| v.to_str()).map(str::parse::<usize>) {
        Some(Ok(n)) if n > 0 => Ok(n),
        _ => Err(Usage),
    }
}

/// A delay in seconds; OTP passes it to `sleep(unsigned)`, so a negative
/// value wraps to a very long pause.
fn delay(value: Option<&OsString>) -> Result<Option<Duration>, Usage> {
    number(value).map(|n| Some(Duration::from_secs(u64::from(n as u32))))
}

/// Reads the arguments (without the program name) against the environment.
pub fn parse(args: &[OsString], env: &Env) -> Result<Invocation, Usage> {
    let mut o = ServerOptions {
        port: env
            .port
            .as_deref()
            .map_or(u32::from(DEFAULT_PORT), |p| atoi(p) as u32),
        debug: 0,
        packet_timeout: DEFAULT_PACKET_TIMEOUT,
        delay_accept: None,
        delay_write: None,
        daemon: false,
        relaxed: env.relaxed,
        address: env.address.clone(),
        systemd: false,
        local_names_only: false,
        max_connections: None,
        max_connections_per_peer: None,
    };
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1);
        let last = i + 1 == args.len();
        let client = |command| {
            if last {
                Ok(Invocation::Client {
                    port: o.port,
                    command,
                })
            } else {
                Err(Usage)
            }
        };
        i += match args[i].as_bytes() {
            b"-d" | b"-debug" => {
                o.debug += 1;
                1
            }
            b"-packet_timeout" => {
                // A negative timeout closes idle connections at once, as in OTP.
                let secs = number(value)?.max(0);
                o.packet_timeout = Duration::from_secs(secs as u64);
                2
            }
            b"-delay_accept" => {
                o.delay_accept = delay(value)?;
                2
            }
            b"-delay_write" => {
                o.delay_write = delay(value)?;
                2
            }
            b"-daemon" => {
                o.daemon = true;
                1
            }
            b"-relaxed_command_check" => {
                o.relaxed = true;
                1
            }
            b"-systemd" => {
                o.systemd = true;
                1
            }
            b"-address" => {
                o.address = Some(value.ok_or(Usage)?.to_string_lossy().into_owned());
                2
            }
            // `-address 127.0.0.1` listens on 127.0.0.1 and ::1 only (§8).
            b"-loopback_only" => {
                o.address = Some("127.0.0.1".into());
                1
            }
            b"-local_names_only" => {
                o.local_names_only = true;
                1
            }
            b"-max_connections" => {
                o.max_connections = Some(count(value)?);
                2
            }
            b"-max_connections_per_peer" => {
                o.max_connections_per_peer = Some(count(value)?);
                2
            }
            b"-port" => {
                o.port = number(value)? as u32;
                2
            }
            b"-names" if value.is_some_and(|v| v == "--json") && i + 2 == args.len() => {
                return Ok(Invocation::Client {
                    port: o.port,
                    command: ClientCommand::NamesJson,
                });
            }
            b"-names" => return client(ClientCommand::Names),
            b"-started" => return client(ClientCommand::Started),
            b"-dump" => return client(ClientCommand::Dump),
            b"-kill" => return client(ClientCommand::Kill),
            b"-stop" => {
                return match value {
                    Some(name) if i + 2 == args.len() => Ok(Invocation::Client {
                        port: o.port,
                        command: ClientCommand::Stop(name.as_bytes().to_vec()),
                    }),
                    _ => Err(Usage),
                };
            }
            _ => return Err(Usage),
        };
    }
    Ok(Invocation::Serve(o))
}

/// Printed on standard error for any command line epmd does not accept.
pub const USAGE: &str = "\
usage: epmd [-d|-debug]... [-address LIST] [-port N] [-daemon|-systemd]
            [-relaxed_command_check] [hardening options] [testing options]
       epmd [-d|-debug] [-port N] -names|-started|-dump|-kill|-stop NAME
       epmd [-port N] -names --json

Runs the Erlang Port Mapper Daemon, or asks a running one something.
Options are read left to right; a client command must come last.

Server options
    -address LIST
        Listen only on these IP addresses (separated by commas or spaces),
        always adding 127.0.0.1 and ::1. Overrides ERL_EPMD_ADDRESS.
        Without either, listen on every address.
    -port N
        The TCP port to listen on, or to contact with a client command
        (default 4369). Overrides ERL_EPMD_PORT.
    -d, -debug
        Log more to standard error; give it again for more detail. It also
        shrinks the memory of unregistered node names to 5 entries.
    -daemon
        Detach from the terminal and log to syslog.
    -systemd
        Serve the sockets passed by systemd socket activation.
    -relaxed_command_check
        Accept -kill while nodes are registered, and accept -stop.
        Setting ERL_EPMD_RELAXED_COMMAND_CHECK (to anything) does the same.

Hardening options (not in OTP's epmd)
    -loopback_only
        Listen on 127.0.0.1 and ::1 only (the same as -address 127.0.0.1).
    -local_names_only
        Answer -names (NAMES requests) from local peers only, so that
        scanners learn nothing. Lookups of a single name stay open to all.
    -max_connections N
        Close at once any connection beyond N open ones.
    -max_connections_per_peer N
        Close at once any connection beyond N open ones from one address.

Testing options
    -packet_timeout SECONDS
        Close a connection silent for this long before its request is
        complete (default 60).
    -delay_accept SECONDS
        Pause before serving each new connection, to mimic a busy server.
    -delay_write SECONDS
        Pause before sending each reply, to mimic a busy server.

Client commands
    -names
        List the nodes registered with the running epmd.
    -names --json
        The same for scripts, as one JSON object with the epmd's port
        and its nodes (name and port), newest registration first.
        An extension: OTP's epmd has no such option.
    -started
        Print nothing; exit 0 if an epmd answers, 1 otherwise.
    -dump
        Show registered and remembered node names (for debugging).
    -kill
        Stop the running epmd. It refuses while nodes are registered,
        unless it was started with -relaxed_command_check.
    -stop NAME
        Unregister NAME by force (needs -relaxed_command_check).
";

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<OsString> {
        s.iter().map(OsString::from).collect()
    }

    fn serve(s: &[&str]) -> ServerOptions {
        match parse(&args(s), &Env::default()) {
            Ok(Invocation::Serve(o)) => o,
            other => panic!("{s:?}: {other:?}"),
        }
    }

    fn client(s: &[&str]) -> (u32, ClientCommand) {
        match parse(&args(s), &Env::default()) {
            Ok(Invocation::Client { port, command }) => (port, command),
            other => panic!("{s:?}: {other:?}"),
        }
    }

    #[test]
    fn atoi_matches_glibc() {
        assert_eq!(atoi(b"4369"), 4369);
        assert_eq!(atoi(b"  +12abc"), 12);
        assert_eq!(atoi(b"\t-5"), -5);
        assert_eq!(atoi(b"abc"), 0);
        assert_eq!(atoi(b""), 0);
        assert_eq!(atoi(b"- 5"), 0);
        // Fits a long, truncated to int.
        assert_eq!(atoi(b"99999999999"), 1_215_752_191);
        // Saturates at LONG_MAX / LONG_MIN, then truncates.
        assert_eq!(atoi(b"99999999999999999999999"), -1);
        assert_eq!(atoi(b"-99999999999999999999999"), 0);
    }

    #[test]
    fn defaults_and_environment() {
        let o = serve(&[]);
        assert_eq!(o.port, u32::from(DEFAULT_PORT));
        assert_eq!(o.packet_timeout, Duration::from_secs(60));
        assert!(!o.relaxed && !o.daemon && !o.systemd && o.address.is_none());
        let env = Env {
            port: Some(b"abc".to_vec()),
            address: Some("127.0.0.2".into()),
            relaxed: true,
        };
        let Ok(Invocation::Serve(o)) = parse(&[], &env) else {
            panic!()
        };
        // ERL_EPMD_PORT is not validated: "abc" is port 0.
        assert_eq!(o.port, 0);
        assert_eq!(o.address.as_deref(), Some("127.0.0.2"));
        assert!(o.relaxed);
        let Ok(Invocation::Serve(o)) = parse(&args(&["-address", "::1"]), &env) else {
            panic!()
        };
        assert_eq!(o.address.as_deref(), Some("::1"));
    }

    #[test]
    fn server_flags() {
        let o = serve(&[
            "-d",
            "-debug",
            "-packet_timeout",
            "2",
            "-delay_accept",
            "3",
            "-delay_write",
            "4",
            "-daemon",
            "-relaxed_command_check",
            "-systemd",
            "-port",
            "70000",
        ]);
        assert_eq!(o.debug, 2);
        assert_eq!(o.packet_timeout, Duration::from_secs(2));
        assert_eq!(o.delay_accept, Some(Duration::from_secs(3)));
        assert_eq!(o.delay_write, Some(Duration::from_secs(4)));
        assert!(o.daemon && o.relaxed && o.systemd);
        assert_eq!(o.port, 70000);
        assert_eq!(serve(&["-port", "-5"]).port, -5i32 as u32);
        assert_eq!(
            serve(&["-packet_timeout", "-3"]).packet_timeout,
            Duration::ZERO
        );
    }

    #[test]
    fn client_commands_come_last() {
        assert_eq!(
            client(&["-names"]),
            (u32::from(DEFAULT_PORT), ClientCommand::Names)
        );
        assert_eq!(client(&["-names", "--json"]).1, ClientCommand::NamesJson);
        assert_eq!(
            client(&["-d", "-port", "5", "-started"]),
            (5, ClientCommand::Started)
        );
        assert_eq!(client(&["-dump"]).1, ClientCommand::Dump);
        assert_eq!(client(&["-kill"]).1, ClientCommand::Kill);
        assert_eq!(
            client(&["-stop", "-names"]).1,
            ClientCommand::Stop(b"-names".to_vec())
        );
        for bad in [
            &["-names", "-d"][..],
            &["-names", "--json", "-d"],
            &["-names", "-json"],
            &["-kill", "-port", "5"],
            &["-stop"],
            &["-stop", "a", "b"],
        ] {
            assert_eq!(parse(&args(bad), &Env::default()), Err(Usage), "{bad:?}");
        }
    }

    #[test]
    fn hardening_options() {
        let o = serve(&[
            "-loopback_only",
            "-local_names_only",
            "-max_connections",
            "100",
            "-max_connections_per_peer",
            "5",
        ]);
        assert_eq!(o.address.as_deref(), Some("127.0.0.1"));
        assert!(o.local_names_only);
        assert_eq!(
            (o.max_connections, o.max_connections_per_peer),
            (Some(100), Some(5))
        );
        for bad in [
            &["-max_connections", "0"][..],
            &["-max_connections_per_peer", "x"],
        ] {
            assert_eq!(parse(&args(bad), &Env::default()), Err(Usage), "{bad:?}");
        }
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for bad in [
            &["-port"][..],
            &["-port", "0"],
            &["-port", "x"],
            &["-packet_timeout", "0"],
            &["-delay_accept"],
            &["-delay_write", "none"],
            &["-address"],
            &["-bogus"],
            &["names"],
            &["-D"],
        ] {
            assert_eq!(parse(&args(bad), &Env::default()), Err(Usage), "{bad:?}");
        }
        // `-address` takes the next argument whatever it looks like.
        assert_eq!(
            serve(&["-address", "-names"]).address.as_deref(),
            Some("-names")
        );
    }

    #[test]
    fn usage_says_the_default_port() {
        assert!(USAGE.contains("default 4369"));
        for flag in [
            "-address",
            "-port",
            "-debug",
            "-daemon",
            "-systemd",
            "-relaxed_command_check",
            "-packet_timeout",
            "-delay_accept",
            "-delay_write",
            "-names",
            "-started",
            "-dump",
            "-kill",
            "-stop",
        ] {
            assert!(USAGE.contains(flag), "{flag}");
        }
    }
}
