//! Server mode as a process (§8, §9.1, §9.3): usage errors, a second epmd on
//! a taken port, address errors, `-systemd` activation and `-daemon`.

mod common;

use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;

use common::*;

#[test]
fn bad_command_lines_print_usage_and_exit_1() {
    let bad: &[&[&str]] = &[
        &["-bogus"],
        &["-port"],
        &["-port", "0"],
        &["-port", "abc"],
        &["-packet_timeout", "0"],
        &["-delay_accept"],
        &["-delay_write", "x"],
        &["-address"],
        &["-names", "-d"],
        &["-kill", "extra"],
        &["-stop"],
        &["-stop", "a", "b"],
        &["names"],
    ];
    for bin in binaries() {
        for args in bad {
            let out = run(bin, args, &[]);
            assert_eq!(out.code, Some(1), "{bin} {args:?}");
            assert!(out.stdout.is_empty(), "{bin} {args:?}: {}", out.stdout());
            assert!(!out.stderr.is_empty(), "{bin} {args:?}: no usage text");
        }
    }
    let usage = run(OURS, &["-bogus"], &[]).stderr();
    assert!(usage.contains("default 4369"), "{usage}");
}

#[test]
fn second_server_on_a_taken_port_exits_0_quietly() {
    for bin in binaries() {
        let first = Server::start(bin, &[]);
        let port = first.port.to_string();
        for args in [&["-port", &port][..], &["-d", "-port", &port]] {
            let second = run(bin, args, &[("ERL_EPMD_ADDRESS", "127.0.0.1")]);
            assert_eq!(second.code, Some(0), "{bin} {args:?}");
            assert!(second.stdout.is_empty(), "{bin}");
            if args[0] != "-d" {
                assert!(second.stderr.is_empty(), "{bin}: {}", second.stderr());
            }
        }
        // A port held by anything at all counts, on any of the addresses.
        let other = TcpListener::bind(("127.0.0.2", 0)).unwrap();
        let held = other.local_addr().unwrap().port().to_string();
        let out = run(bin, &["-port", &held, "-address", "127.0.0.2"], &[]);
        assert_eq!((out.code, out.stderr()), (Some(0), String::new()), "{bin}");
        // The first one is still serving.
        assert_eq!(names(first.port), b"");
    }
}

#[test]
fn unparsable_addresses_exit_1() {
    for bin in binaries() {
        let port = free_port().to_string();
        for list in ["999.1.1.1", "localhost", "127.0.0.2,nope"] {
            let out = run(bin, &["-port", &port, "-address", list], &[]);
            assert_eq!(out.code, Some(1), "{bin} {list}");
            assert!(out.stdout.is_empty());
            assert!(
                out.stderr().contains("cannot parse IP address"),
                "{bin}: {}",
                out.stderr()
            );
        }
        let out = run(bin, &["-port", &port], &[("ERL_EPMD_ADDRESS", "localhost")]);
        assert_eq!(out.code, Some(1), "{bin} (environment)");
    }
}

/// A token listed twice binds twice: EADDRINUSE, so a quiet exit 0 (§8).
#[test]
fn duplicated_address_exits_0() {
    for bin in binaries() {
        let port = free_port().to_string();
        let out = run(
            bin,
            &["-port", &port, "-address", "127.0.0.2,127.0.0.2"],
            &[],
        );
        assert_eq!(out.code, Some(0), "{bin}");
        assert!(
            out.stdout.is_empty() && out.stderr.is_empty(),
            "{bin}: {}",
            out.stderr()
        );
    }
}

#[test]
fn systemd_without_sockets_exits_1() {
    for bin in binaries() {
        let port = free_port().to_string();
        let out = run(bin, &["-port", &port, "-systemd"], &[]);
        assert_eq!(out.code, Some(1), "{bin}");
        assert!(
            out.stderr().contains("systemd provides no sockets"),
            "{bin}: {}",
            out.stderr()
        );
        // LISTEN_PID naming another process means "not for us".
        let out = run(
            bin,
            &["-port", &port, "-systemd"],
            &[("LISTEN_PID", "1"), ("LISTEN_FDS", "1")],
        );
        assert_eq!(out.code, Some(1), "{bin}");
    }
}

/// Removes a socket file when the test ends, passed or not.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Socket activation: the listening socket arrives as fd 3, LISTEN_PID is the
/// server's own pid (set by a shell that then execs the server), and the
/// readiness message arrives on NOTIFY_SOCKET.
#[test]
fn systemd_socket_is_served_and_readiness_notified() {
    for bin in binaries() {
        let dir = std::env::temp_dir().join(format!(
            "epmd-rs-notify-{}-{}",
            std::process::id(),
            bin.len()
        ));
        let _ = std::fs::remove_file(&dir);
        let notify = UnixDatagram::bind(&dir).unwrap();
        let _remove = RemoveOnDrop(dir.clone());
        notify.set_read_timeout(Some(DEADLINE)).unwrap();
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        // A configured port unlike the socket's: NAMES reports the configured one.
        let configured = "12345";
        let fd = listener.as_raw_fd();
        let mut command = command(
            "/bin/sh",
            &[
                "-c",
                "LISTEN_PID=$$; export LISTEN_PID; exec \"$@\"",
                "sh",
                bin,
                "-systemd",
                "-port",
                configured,
            ],
            &[
                ("LISTEN_FDS", "1"),
                ("NOTIFY_SOCKET", dir.to_str().unwrap()),
            ],
        );
        // SAFETY: dup2 and fcntl are async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                if fd == 3 {
                    let flags = libc::fcntl(3, libc::F_GETFD);
                    libc::fcntl(3, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
                } else if libc::dup2(fd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let server = Server::spawn(bin, port, command);
        drop(listener);
        let mut buf = [0u8; 512];
        let n = notify
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("{bin}: no readiness notification: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&buf[..n]),
            format!(
                "READY=1\nSTATUS=Processing port mapping requests...\nMAINPID={}",
                server.pid()
            ),
            "{bin}"
        );
        let reply = names_raw(port).expect("NAMES on the passed socket");
        assert_eq!(reply, 12345u32.to_be_bytes(), "{bin}");
        assert_eq!(kill_raw(port).as_deref(), Some(&b"OK"[..]));
        let n = notify.recv(&mut buf).expect("exit notification");
        assert_eq!(
            String::from_utf8_lossy(&buf[..n]),
            "STATUS=Exited.\nERRNO=0",
            "{bin}"
        );
        assert_eq!(server.wait_exit().code, Some(0), "{bin}");
    }
}

/// Daemons log to syslog: tests that start them take turns, so that the
/// syslog test reads only its own daemon's lines.
static DAEMONS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Stops a detached daemon by talking to it, should the test fail midway.
struct KillOnDrop(u16);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = kill_raw(self.0);
    }
}

#[test]
fn daemon_detaches_and_is_stopped_by_kill() {
    let _turn = DAEMONS.lock().unwrap_or_else(|e| e.into_inner());
    for bin in binaries() {
        let port = free_port();
        let port_arg = port.to_string();
        let _guard = KillOnDrop(port);
        // The parent exits 0 at once; its output pipes close because the
        // daemon's stdio is /dev/null.
        let parent = run(
            bin,
            &["-daemon", "-port", &port_arg],
            &[("ERL_EPMD_ADDRESS", "127.0.0.1")],
        );
        assert_eq!(parent.code, Some(0), "{bin}");
        assert!(
            parent.stdout.is_empty() && parent.stderr.is_empty(),
            "{bin}"
        );
        eventually("the daemon answers", || names_raw(port).is_some());
        let _node = register(port, "foo", 1234);
        let listed = cli(bin, port.into(), &["-names"]);
        assert!(
            listed.stdout().ends_with("name foo at port 1234\n"),
            "{bin}: {}",
            listed.stdout()
        );
        drop(_node);
        eventually("foo unregistered", || names(port).is_empty());
        let killed = cli(bin, port.into(), &["-kill"]);
        assert_eq!(
            (killed.stdout(), killed.code),
            ("Killed\n".into(), Some(0)),
            "{bin}"
        );
        eventually("the daemon's port is free", || port_is_closed(port));
    }
}

/// In daemon mode, level-0 messages go to syslog exactly as OTP sends them:
/// LOG_USER|LOG_ERR (`<11>`), ident `epmd`, text `epmd: <message>`. Needs to
/// stand in for the syslog daemon at /dev/log, so it only runs where none is.
#[test]
fn daemon_logs_to_syslog_like_otp() {
    const DEV_LOG: &str = "/dev/log";
    let _turn = DAEMONS.lock().unwrap_or_else(|e| e.into_inner());
    if std::path::Path::new(DEV_LOG).exists() {
        // A socket left by an interrupted run has nobody behind it.
        match UnixDatagram::unbound().and_then(|s| s.connect(DEV_LOG)) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                let _ = std::fs::remove_file(DEV_LOG);
            }
            _ => {
                eprintln!("NOT RUN: {DEV_LOG} belongs to a syslog daemon here");
                return;
            }
        }
    }
    let log = match UnixDatagram::bind(DEV_LOG) {
        Ok(log) => log,
        Err(e) => {
            eprintln!("NOT RUN: cannot create {DEV_LOG}: {e}");
            return;
        }
    };
    let _remove = RemoveOnDrop(DEV_LOG.into());
    log.set_read_timeout(Some(DEADLINE)).unwrap();
    let name = format!("syslog{}", std::process::id());
    let lines = binaries().map(|bin| {
        let port = free_port();
        let _guard = KillOnDrop(port);
        let daemon = run(
            bin,
            &["-daemon", "-port", &port.to_string()],
            &[("ERL_EPMD_ADDRESS", "127.0.0.1")],
        );
        assert_eq!(daemon.code, Some(0), "{bin}");
        eventually("the daemon answers", || names_raw(port).is_some());
        let recv = || {
            let mut buf = [0u8; 1024];
            let n = log
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("{bin}: no syslog line: {e}"));
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        let first = register(port, &name, 1234);
        let mut dup = connect(port).unwrap();
        std::io::Write::write_all(&mut dup, &alive2_frame(&name, 1234)).unwrap();
        let mut got = vec![recv()];
        assert_eq!(kill_raw(port), Some(b"NO".to_vec()));
        got.push(recv());
        drop((first, dup));
        eventually("nodes unregistered", || names(port).is_empty());
        assert_eq!(kill_raw(port), Some(b"OK".to_vec()));
        got.push(recv());
        eventually("the daemon's port is free", || port_is_closed(port));
        // Drop the timestamp between the priority and the ident.
        got.iter()
            .map(|l| {
                let (prio, rest) = l.split_at(4);
                let ident = rest.find(" epmd: ").expect("ident");
                format!("{prio}{}", &rest[ident..])
            })
            .collect::<Vec<_>>()
    });
    assert_eq!(lines[1], lines[0], "epmd-rs differs from OTP's epmd");
    assert_eq!(
        lines[1],
        [
            format!("<11> epmd: epmd: node name already occupied {name}"),
            "<11> epmd: epmd: Disallowed KILL_REQ, live nodes".into(),
            "<11> epmd: epmd: got KILL_REQ - terminates normal".into(),
        ]
    );
}
