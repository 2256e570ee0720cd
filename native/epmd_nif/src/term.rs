//! Encoders shared by the NIF families.

use std::net::{IpAddr, SocketAddr};

use rustler::types::binary::{Binary, NewBinary};
use rustler::types::tuple::make_tuple;
use rustler::{Atom, Encoder, Env, Term};

use epmd_core::codec::NodeInfo;

pub mod atoms {
    rustler::atoms! {
        ok,
        noport,
        shutdown,
        killed,
        panic,
        epmd_rs_reply,
        epmd_rs_server_stopped,
        epmd_rs_evicted,
        epmd_rs_registration_ended,
        epmd_rs_event,
        undefined,
        connection,
        name,
        port,
        packet_timeout,
        node_type,
        protocol,
        highest_version,
        lowest_version,
        extra,
        creation,
        registered_at,
        peer,
        owner,
        reason,
        command,
        got,
        registered,
    }
}

pub fn binary<'a>(env: Env<'a>, bytes: &[u8]) -> Binary<'a> {
    NewBinary::from_slice(env, bytes).into()
}

/// `{Port, NodeType, Protocol, HighestVersion, LowestVersion, Extra}`: what a
/// PORT2 reply carries besides the name the caller already knows.
pub fn node_info<'a>(env: Env<'a>, n: &NodeInfo) -> Term<'a> {
    (
        n.port,
        n.node_type,
        n.protocol,
        n.highest_version,
        n.lowest_version,
        binary(env, &n.extra),
    )
        .encode(env)
}

/// A map with atom keys.
pub fn map<'a>(env: Env<'a>, pairs: &[(Atom, Term<'a>)]) -> Term<'a> {
    Term::map_from_pairs(env, pairs).expect("atom keys are distinct")
}

/// `{Ip, Port}` with `Ip` as `inet:ip_address()`.
pub fn socket_addr<'a>(env: Env<'a>, addr: &SocketAddr) -> Term<'a> {
    let ip = match addr.ip() {
        IpAddr::V4(ip) => {
            let parts: Vec<Term> = ip.octets().iter().map(|o| o.encode(env)).collect();
            make_tuple(env, &parts)
        }
        IpAddr::V6(ip) => {
            let parts: Vec<Term> = ip.segments().iter().map(|s| s.encode(env)).collect();
            make_tuple(env, &parts)
        }
    };
    (ip, addr.port()).encode(env)
}

/// `{Name, Port, NodeType, Protocol, HighestVersion, LowestVersion, Extra}`:
/// a node to register, as Erlang passes it.
pub type NodeTuple<'a> = (Binary<'a>, u16, u8, u8, u16, u16, Binary<'a>);

pub fn node_from_tuple(
    (name, port, node_type, protocol, highest_version, lowest_version, extra): NodeTuple<'_>,
) -> NodeInfo {
    NodeInfo {
        port,
        node_type,
        protocol,
        highest_version,
        lowest_version,
        name: name.as_slice().to_vec(),
        extra: extra.as_slice().to_vec(),
    }
}

/// Charges the calling process for a NIF's work: 1% of a timeslice, plus 1%
/// per 100 registry entries touched. Uncharged, a process calling cheap NIFs
/// in a loop would run for milliseconds before the scheduler takes it off.
pub fn charge(env: Env<'_>, entries: usize) {
    let percent = 1 + i32::try_from(entries / 100).unwrap_or(i32::MAX).min(99);
    rustler::schedule::consume_timeslice(env, percent);
}
