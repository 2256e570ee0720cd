//! Harness for running `epmd-rs` side by side with OTP's `epmd` (the oracle):
//! free ports, server processes that are always stopped, client runs with
//! captured output, raw ALIVE2 registrations and polling with deadlines.
#![allow(dead_code, unused_imports)] // each test crate uses a different subset

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Once;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Our binary.
pub const OURS: &str = env!("CARGO_BIN_EXE_epmd-rs");
/// Debian's OTP 25.2.3 epmd (package erlang-base).
pub const ORACLE: &str = "/usr/bin/epmd";
/// Upper bound for anything that should happen "soon".
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Both binaries, the oracle first; fails loudly when the oracle is missing.
pub fn binaries() -> [&'static str; 2] {
    assert!(
        std::path::Path::new(ORACLE).exists(),
        "{ORACLE} is missing: apt-get install erlang-base"
    );
    [ORACLE, OURS]
}

/// A port free on 127.0.0.1 and ::1 right now (never 4369).
pub fn free_port() -> u16 {
    loop {
        let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = v4.local_addr().unwrap().port();
        if port != 4369 && TcpListener::bind((Ipv6Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
}

/// Polls `check` until it holds, failing after [`DEADLINE`].
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !check() {
        assert!(Instant::now() < end, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An epmd command line with a clean environment: no ERL_EPMD_* leaks in.
pub fn command(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(bin);
    c.args(args)
        .env_remove("ERL_EPMD_PORT")
        .env_remove("ERL_EPMD_ADDRESS")
        .env_remove("ERL_EPMD_RELAXED_COMMAND_CHECK")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDS")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    c
}

/// What a finished process printed, and how it exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Out {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub code: Option<i32>,
}

impl Out {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

fn drain(r: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf);
        }
        buf
    })
}

/// Waits for `child` to exit, killing it (by pid) and failing after `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    let end = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not exit in {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `bin args` to completion with captured output.
pub fn run(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut child = command(bin, args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
    let (out, err) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let status = wait_exit(&mut child, DEADLINE);
    Out {
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        code: status.code(),
    }
}

/// A client command against `port`.
pub fn cli(bin: &str, port: u32, args: &[&str]) -> Out {
    let port = port.to_string();
    let mut all = vec!["-port", &port];
    all.extend_from_slice(args);
    run(bin, &all, &[])
}

/// A foreground server process. Dropping it kills it by pid.
pub struct Server {
    pub bin: &'static str,
    pub port: u16,
    child: Child,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl Server {
    /// Starts `bin -port <port> args` on loopback and waits until it answers.
    pub fn start(bin: &'static str, args: &[&str]) -> Server {
        Server::start_on(bin, free_port(), args, &[])
    }

    pub fn start_on(bin: &'static str, port: u16, args: &[&str], env: &[(&str, &str)]) -> Server {
        let port_arg = port.to_string();
        let mut all = vec!["-port", &port_arg];
        all.extend_from_slice(args);
        let mut env = env.to_vec();
        env.push(("ERL_EPMD_ADDRESS", "127.0.0.1"));
        let server = Server::spawn(bin, port, command(bin, &all, &env));
        server.wait_ready();
        server
    }

    /// Wraps an already configured command (stdout and stderr get captured).
    pub fn spawn(bin: &'static str, port: u16, mut command: Command) -> Server {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
        Server {
            bin,
            port,
            stdout: Some(drain(child.stdout.take())),
            stderr: Some(drain(child.stderr.take())),
            child,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process has not exited yet.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn wait_ready(&self) {
        eventually(&format!("{} answering on {}", self.bin, self.port), || {
            names_raw(self.port).is_some()
        });
    }

    /// Waits for the process to exit on its own (after a KILL request).
    pub fn wait_exit(mut self) -> Out {
        let status = wait_exit(&mut self.child, DEADLINE);
        Out {
            stdout: self.stdout.take().unwrap().join().unwrap(),
            stderr: self.stderr.take().unwrap().join().unwrap(),
            code: status.code(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn connect(port: u16) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), DEADLINE)?;
    s.set_read_timeout(Some(DEADLINE))?;
    Ok(s)
}

/// One raw request; everything received until the server closes.
pub fn request(port: u16, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = connect(port)?;
    s.write_all(bytes)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(out)
}

/// The raw NAMES reply, or `None` when nothing answers.
pub fn names_raw(port: u16) -> Option<Vec<u8>> {
    request(port, b"\x00\x01n").ok().filter(|r| r.len() >= 4)
}

/// The NAMES listing without its header.
pub fn names(port: u16) -> Vec<u8> {
    names_raw(port).expect("NAMES")[4..].to_vec()
}

/// Nothing accepts connections on `port` any more.
pub fn port_is_closed(port: u16) -> bool {
    matches!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused
    )
}

/// Sends KILL without the CLI (harness clean-up); the reply, if any.
pub fn kill_raw(port: u16) -> Option<Vec<u8>> {
    request(port, b"\x00\x01k").ok()
}

/// Registers `name` with a raw ALIVE2_REQ (HighestVersion 6); the returned
/// socket holds the registration.
pub fn register(port: u16, name: &str, node_port: u16) -> TcpStream {
    let mut s = connect(port).expect("connect to register");
    s.write_all(&alive2_frame(name, node_port)).unwrap();
    let mut reply = [0u8; 6];
    s.read_exact(&mut reply).expect("ALIVE2 reply");
    assert_eq!(reply[..2], *b"v\x00", "registering {name}");
    s
}

/// An ALIVE2_REQ for a normal node, HighestVersion 6, LowestVersion 5.
pub fn alive2_frame(name: &str, node_port: u16) -> Vec<u8> {
    epmd_testkit::Alive2::erl_epmd(name.as_bytes(), node_port).bytes()
}

pub use epmd_testkit::{frame, mask_fds};

/// Cases hold a thousand connections at once, and run side by side: lift
/// the soft descriptor limit to the hard one (the servers inherit it).
pub fn raise_fd_limit() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain system calls on a local struct.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0
                && limit.rlim_cur < limit.rlim_max
            {
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
        }
    });
}

/// Resets the connection: SO_LINGER with a zero timeout, then close.
pub fn reset(s: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a descriptor `s` owns, with a valid linger struct.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
    drop(s);
}
