//! KILL_REQ and STOP_REQ (§3.5, §3.6, §7). An accepted KILL ends the server,
//! so the battery only sends KILL while it holds a registration on a strict
//! server; the runner's caller tests the accepted KILL.

use crate::script::{Delay, Exchange, A, B};
use crate::wire::{self, Alive2};

fn strict() -> Vec<Exchange> {
    vec![
        Exchange::new(
            "kill/refused_with_live_node",
            "KILL gets `NO` while a node is registered",
        )
        .strict_only()
        .register(A, &Alive2::new("ad-k1", 4701))
        .request("KILL", wire::KILL)
        .check_open(A, "registration socket")
        .port_please("ad-k1"),
        Exchange::new(
            "kill/refused_with_trailing_bytes",
            "bytes after `k` are ignored",
        )
        .strict_only()
        .register(A, &Alive2::new("ad-k2", 4702))
        .request("KILL with 3 more bytes", b"\x00\x04kxyz"),
        Exchange::new(
            "stop/strict_registered",
            "STOP is dropped without relaxed command check",
        )
        .strict_only()
        .register(A, &Alive2::new("ad-s1", 4703))
        .request("STOP", wire::stop("ad-s1"))
        .check_open(A, "registration socket")
        .port_please("ad-s1"),
        Exchange::new(
            "kill/reset_before_accept",
            "a KILL whose connection resets before it is accepted is not local: ignored",
        )
        .strict_only()
        .needs(Delay::Accept)
        .connect(A)
        .send(A, wire::KILL)
        .reset(A)
        .pause_ms(500)
        .port_please("ad-still-there"),
        Exchange::new(
            "stop/strict_unknown",
            "STOP of an unknown name is dropped too",
        )
        .strict_only()
        .request("STOP", wire::stop("ad-s-nobody")),
        Exchange::new("stop/strict_empty", "STOP without a name")
            .strict_only()
            .request("STOP", wire::stop("")),
    ]
}

fn relaxed() -> Vec<Exchange> {
    vec![
        Exchange::new(
            "stop/registered",
            "STOP ends the node's registration and closes its socket",
        )
        .relaxed_only()
        .register(A, &Alive2::new("ad-r1", 4711))
        .request("STOP", wire::stop("ad-r1"))
        .read_to_close(A, "registration socket")
        .port_please("ad-r1"),
        Exchange::new(
            "stop/unknown",
            "OTP's unregister_others_name_2: NOEXIST, then STOPPED",
        )
        .relaxed_only()
        .request("STOP", wire::stop("ad-r-nobody")),
        Exchange::new("stop/empty", "STOP without a name is dropped")
            .relaxed_only()
            .request("STOP", wire::stop("")),
        Exchange::new("stop/only_nul", "a name that is one NUL is the empty name")
            .relaxed_only()
            .request("STOP", wire::stop(b"\0")),
        Exchange::new("stop/nul_terminated", "the name ends at the first NUL")
            .relaxed_only()
            .register(A, &Alive2::new("ad-r2", 4712))
            .request("STOP", wire::stop(b"ad-r2\0"))
            .read_to_close(A, "registration socket"),
        Exchange::new(
            "stop/nul_then_junk",
            "bytes after the first NUL are ignored",
        )
        .relaxed_only()
        .register(A, &Alive2::new("ad-r3", 4713))
        .request("STOP", wire::stop(b"ad-r3\0junk"))
        .read_to_close(A, "registration socket"),
        Exchange::new("stop/leading_nul", "a NUL first stops nobody")
            .relaxed_only()
            .register(A, &Alive2::new("ad-r4", 4714))
            .request("STOP", wire::stop(b"\0ad-r4"))
            .check_open(A, "registration socket")
            .port_please("ad-r4"),
        Exchange::new("stop/case_sensitive", "names compare byte for byte")
            .relaxed_only()
            .register(A, &Alive2::new("ad-R5", 4715))
            .request("STOP", wire::stop("ad-r5"))
            .check_open(A, "registration socket"),
        Exchange::new("stop/bad_utf8", "STOP does not check UTF-8")
            .relaxed_only()
            .request("STOP", wire::stop(b"ad-\xff")),
        Exchange::new("stop/twice", "the second STOP finds nobody")
            .relaxed_only()
            .register(A, &Alive2::new("ad-r6", 4716))
            .request("first STOP", wire::stop("ad-r6"))
            .request("second STOP", wire::stop("ad-r6")),
        Exchange::new("stop/one_of_two", "STOP leaves other nodes alone")
            .relaxed_only()
            .register(A, &Alive2::new("ad-r7a", 4717))
            .register(B, &Alive2::new("ad-r7b", 4718))
            .request("STOP", wire::stop("ad-r7a"))
            .read_to_close(A, "stopped node's socket")
            .check_open(B, "other node's socket")
            .port_please("ad-r7b"),
        Exchange::new(
            "stop/then_reregister",
            "a stopped name comes back with a bumped creation",
        )
        .relaxed_only()
        .register(A, &Alive2::new("ad-r8", 4719))
        .request("STOP", wire::stop("ad-r8"))
        .read_to_close(A, "stopped node's socket")
        .register(B, &Alive2::new("ad-r8", 4720)),
        Exchange::new(
            "stop/refused_socket_survives",
            "STOP closes the owner, not a refused duplicate",
        )
        .relaxed_only()
        .register(A, &Alive2::new("ad-r9", 4721))
        .register(B, &Alive2::new("ad-r9", 4722))
        .request("STOP", wire::stop("ad-r9"))
        .read_to_close(A, "stopped node's socket")
        .check_open(B, "refused duplicate's socket"),
    ]
}

pub fn exchanges() -> Vec<Exchange> {
    [strict(), relaxed()].concat()
}
