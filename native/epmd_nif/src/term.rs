//! Encoders shared by the NIF families.

use rustler::types::binary::{Binary, NewBinary};
use rustler::{Encoder, Env, Term};

use epmd_core::codec::NodeInfo;

pub mod atoms {
    rustler::atoms! {
        ok,
        error,
        noport,
        eaddrinuse,
        listen,
        closed,
        timeout,
        connect,
        io,
        garbage,
        shutdown,
        killed,
        panic,
        too_large,
        duplicate_name,
        name_too_long,
        invalid_name_encoding,
        extra_too_long,
        owner_dead,
        badaddr,
        epmd_rs_reply,
        epmd_rs_server_stopped,
        epmd_rs_evicted,
        epmd_rs_registration_ended,
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
