//! Client commands (§9.2): for the same situation, `epmd-rs` prints exactly
//! what OTP's epmd prints, on the same stream, with the same exit code.

mod common;

use std::io::{Read, Write};
use std::process::Stdio;

use common::*;

/// Runs `scenario` once per binary (each against its own kind of server)
/// and checks both gave the same results.
fn same_for_both<T: std::fmt::Debug + PartialEq>(scenario: impl Fn(&'static str) -> T) -> T {
    let [oracle, ours] = binaries().map(&scenario);
    assert_eq!(ours, oracle, "epmd-rs differs from OTP's epmd");
    ours
}

#[test]
fn names_lists_registered_nodes() {
    let outs = same_for_both(|bin| {
        let server = Server::start(bin, &[]);
        let empty = cli(bin, server.port.into(), &["-names"]);
        let _foo = register(server.port, "foo", 1234);
        let _bar = register(server.port, "bar", 2345);
        let two = cli(bin, server.port.into(), &["-names"]);
        // The header names the port, which differs per run.
        [empty, two].map(|o| {
            (
                o.stdout().replace(&server.port.to_string(), "P"),
                o.stderr,
                o.code,
            )
        })
    });
    assert_eq!(outs[0].0, "epmd: up and running on port P with data:\n");
    assert_eq!(
        outs[1].0,
        "epmd: up and running on port P with data:\nname bar at port 2345\nname foo at port 1234\n"
    );
    assert_eq!(outs[1].2, Some(0));
}

/// Our extension, for scripts: the same listing as JSON.
#[test]
fn names_as_json() {
    let server = Server::start(OURS, &[]);
    let _foo = register(server.port, "foo", 1234);
    let _bar = register(server.port, "bär", 2345);
    let o = cli(OURS, server.port.into(), &["-names", "--json"]);
    assert_eq!(o.code, Some(0));
    let listing: serde_json::Value = serde_json::from_str(&o.stdout()).expect("JSON");
    assert_eq!(
        listing,
        serde_json::json!({"port": server.port, "nodes": [
            {"name": "bär", "port": 2345}, {"name": "foo", "port": 1234}]})
    );
    let down = cli(OURS, free_port().into(), &["-names", "--json"]);
    assert_eq!(down.code, Some(1));
}

#[test]
fn dump_shows_active_and_old_names() {
    let out = same_for_both(|bin| {
        let server = Server::start(bin, &[]);
        let foo = register(server.port, "foo", 1234);
        let _bar = register(server.port, "bar", 2345);
        drop(foo);
        eventually("foo unregistered", || {
            names(server.port) == b"name bar at port 2345\n"
        });
        let o = cli(bin, server.port.into(), &["-dump"]);
        let stdout = mask_fds(&o.stdout);
        (
            String::from_utf8_lossy(&stdout).replace(&server.port.to_string(), "P"),
            o.stderr,
            o.code,
        )
    });
    assert_eq!(
        out.0,
        "epmd: up and running on port P with data:\n\
         active name     <bar> at port 2345, fd = #\n\0\
         old/unused name <foo>, port = 1234, fd = # \n\0"
    );
    assert_eq!(out.2, Some(0));
}

#[test]
fn started_says_whether_epmd_runs() {
    same_for_both(|bin| {
        let server = Server::start(bin, &[]);
        let running = cli(bin, server.port.into(), &["-started"]);
        assert_eq!((running.stdout.len(), running.stderr.len()), (0, 0));
        running.code
    });
}

#[test]
fn every_command_when_nothing_listens() {
    let port = u32::from(free_port());
    let long_name = "n".repeat(1001);
    let limit_name = "n".repeat(1000);
    let commands: Vec<Vec<&str>> = vec![
        vec!["-names"],
        vec!["-dump"],
        vec!["-kill"],
        vec!["-started"],
        vec!["-stop", "foo"],
        vec!["-stop", &limit_name],
        // Checked before connecting.
        vec!["-stop", &long_name],
        vec!["-d", "-names"],
    ];
    let outs = same_for_both(|bin| {
        commands
            .iter()
            .map(|args| cli(bin, port, args))
            .collect::<Vec<_>>()
    });
    let cannot = b"epmd: Cannot connect to local epmd\n".to_vec();
    assert_eq!((&outs[0].stderr, outs[0].code), (&cannot, Some(1)));
    assert_eq!(
        outs[3],
        Out {
            stdout: vec![],
            stderr: vec![],
            code: Some(1)
        }
    );
    assert_eq!(outs[5].stderr, cannot);
    assert_eq!(
        outs[6],
        Out {
            stdout: b"epmd: Name too long!".to_vec(),
            stderr: vec![],
            code: Some(1)
        }
    );
}

#[test]
fn kill_is_refused_while_nodes_live_then_accepted() {
    let outs = same_for_both(|bin| {
        // -d: debug output goes to stderr, never stdout.
        let server = Server::start(bin, &["-d"]);
        let port = server.port.into();
        let foo = register(server.port, "foo", 1234);
        let refused = cli(bin, port, &["-kill"]);
        drop(foo);
        eventually("foo unregistered", || names(server.port).is_empty());
        let killed = cli(bin, port, &["-kill"]);
        let exit = server.wait_exit();
        (refused, killed, exit.code, exit.stdout)
    });
    assert_eq!(
        outs.0.stdout(),
        "Killing not allowed - living nodes in database.\n"
    );
    assert_eq!(outs.0.code, Some(1));
    assert_eq!((outs.1.stdout(), outs.1.code), ("Killed\n".into(), Some(0)));
    // The server exits 0 and never wrote to stdout.
    assert_eq!((outs.2, outs.3.len()), (Some(0), 0));
}

#[test]
fn relaxed_kill_ends_live_registrations() {
    same_for_both(|bin| {
        let server = Server::start(bin, &["-relaxed_command_check"]);
        let mut foo = register(server.port, "foo", 1234);
        let killed = cli(bin, server.port.into(), &["-kill"]);
        let mut rest = Vec::new();
        let _ = foo.read_to_end(&mut rest);
        (killed, rest, server.wait_exit().code)
    });
}

#[test]
fn stop_needs_relaxed_mode() {
    let outs = same_for_both(|bin| {
        let server = Server::start(bin, &[]);
        let _foo = register(server.port, "foo", 1234);
        let refused = cli(bin, server.port.into(), &["-stop", "foo"]);
        (refused, names(server.port))
    });
    assert_eq!(outs.0.stdout(), "epmd: local epmd responded with <>\n");
    assert_eq!(outs.0.code, Some(1));
    assert_eq!(outs.1, b"name foo at port 1234\n");
}

#[test]
fn relaxed_stop_unregisters_by_force() {
    // Relaxed by flag, and by the environment variable set to nothing.
    for (args, env) in [
        (&["-relaxed_command_check"][..], &[][..]),
        (&[], &[("ERL_EPMD_RELAXED_COMMAND_CHECK", "")]),
    ] {
        let outs = same_for_both(|bin| {
            let server = Server::start_on(bin, free_port(), args, env);
            let mut foo = register(server.port, "foo", 1234);
            let stopped = cli(bin, server.port.into(), &["-stop", "foo"]);
            let mut rest = Vec::new();
            let _ = foo.read_to_end(&mut rest);
            let unknown = cli(bin, server.port.into(), &["-stop", "xxx42"]);
            (stopped, rest, names(server.port), unknown)
        });
        assert_eq!(
            (outs.0.stdout(), outs.0.code),
            ("STOPPED\n".into(), Some(0))
        );
        assert!(outs.1.is_empty() && outs.2.is_empty());
        assert_eq!(
            (outs.3.stdout(), outs.3.code),
            ("NOEXIST\n".into(), Some(0))
        );
    }
}

#[test]
fn port_above_65535_binds_its_low_bits_and_reports_it_whole() {
    let outs = same_for_both(|bin| {
        let low = free_port();
        let high = u32::from(low) + 65536;
        let high_arg = high.to_string();
        let server = Server::spawn(
            bin,
            low,
            command(
                bin,
                &["-port", &high_arg],
                &[("ERL_EPMD_ADDRESS", "127.0.0.1")],
            ),
        );
        server.wait_ready();
        let header = names_raw(low).unwrap()[..4].to_vec();
        let o = cli(bin, high, &["-names"]);
        (
            u32::from_be_bytes(header.try_into().unwrap()) == high,
            o.stdout() == format!("epmd: up and running on port {high} with data:\n"),
            o.code,
        )
    });
    assert_eq!(outs, (true, true, Some(0)));
}

/// OTP's epmd_SUITE `names_stdout`: the first chunk read from `epmd -names`
/// holds both the header and the node lines.
#[test]
fn names_stdout_comes_in_one_chunk() {
    same_for_both(|bin| {
        let server = Server::start(bin, &["-packet_timeout", "1"]);
        let _foobar = register(server.port, "foobar", 1234);
        let port = server.port.to_string();
        let mut child = command(bin, &["-port", &port, "-names"], &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut chunk = [0u8; 4096];
        let n = child.stdout.as_mut().unwrap().read(&mut chunk).unwrap();
        let first = String::from_utf8_lossy(&chunk[..n]).into_owned();
        assert_eq!(wait_exit(&mut child, DEADLINE).code(), Some(0));
        assert!(
            first.starts_with("epmd: up and running")
                && first.lines().any(|l| l.starts_with("name foobar at port")),
            "{bin}: first chunk {first:?}"
        );
    });
}

/// A fake server that sends `answer` to whatever request comes, then closes.
fn fake_epmd(answer: &'static [u8]) -> (u16, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let fake = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        // Read the whole request: closing on unread bytes would send RST.
        let mut len = [0u8; 2];
        s.read_exact(&mut len).unwrap();
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut body).unwrap();
        s.write_all(answer).unwrap();
    });
    (port, fake)
}

/// Short answers: OTP shows none of the bytes that did arrive (its
/// `read_fill` returns 0 at EOF), although §9.2 suggests it prints them.
#[test]
fn short_answers_are_reported_empty() {
    for (args, answer) in [(&["-kill"][..], &b"O"[..]), (&["-stop", "foo"], b"NOEX")] {
        let out = same_for_both(|bin| {
            let (port, fake) = fake_epmd(answer);
            let out = cli(bin, port.into(), args);
            fake.join().unwrap();
            out
        });
        assert_eq!(out.stdout(), "epmd: local epmd responded with <>\n");
        assert_eq!(out.code, Some(1));
    }
}

/// Any two bytes but `OK` count as a refusal; a NUL cuts a STOP answer short.
#[test]
fn odd_answers_of_full_length() {
    for (args, answer) in [
        (&["-kill"][..], &b"XY"[..]),
        (&["-stop", "foo"], b"AB\0DEFGHI"),
    ] {
        same_for_both(|bin| {
            let (port, fake) = fake_epmd(answer);
            let out = cli(bin, port.into(), args);
            fake.join().unwrap();
            out
        });
    }
}
