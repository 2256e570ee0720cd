//! Questions to the in-VM server's registry, answered at once: a lookup, the
//! NAMES listing, the registrations in full, the counters.

use std::time::UNIX_EPOCH;

use rustler::types::binary::Binary;
use rustler::{Encoder, Env, ResourceArc, Term};

use epmd_core::registry::Owner;

use crate::registrations::LocalRegistration;
use crate::server::ServerResource;
use crate::term::{self, atoms};

/// PORT_PLEASE2 answered from the registry: `{Port, NodeType, Protocol,
/// Highest, Lowest, Extra}` or `noport`.
#[rustler::nif]
fn lookup<'a>(env: Env<'a>, server: ResourceArc<ServerResource>, name: Binary<'a>) -> Term<'a> {
    term::charge(env, 1);
    match server.shared.registry().lookup(name.as_slice()) {
        Some(n) => term::node_info(env, n),
        None => atoms::noport().encode(env),
    }
}

/// The registered names and ports, newest first, as NAMES lists them.
#[rustler::nif]
fn names<'a>(env: Env<'a>, server: ResourceArc<ServerResource>) -> Term<'a> {
    let registry = server.shared.registry();
    term::charge(env, registry.len());
    let list: Vec<Term<'a>> = registry
        .iter()
        .map(|r| (term::binary(env, &r.node.name), r.node.port).encode(env))
        .collect();
    list.encode(env)
}

/// One map per registration, oldest first: the node's fields, its creation as
/// the node received it, when it registered (Unix milliseconds), and who holds
/// it: `owner => Pid` for nodes of this VM, `owner => connection` and
/// `peer => {Ip, Port}` for nodes registered over TCP.
#[rustler::nif]
fn info<'a>(env: Env<'a>, server: ResourceArc<ServerResource>) -> Term<'a> {
    let registry = server.shared.registry();
    term::charge(env, registry.len());
    let mut list: Vec<Term<'a>> = registry
        .iter()
        .map(|r| {
            let n = &r.node;
            let (owner, peer) = match &r.owner {
                Owner::Local(tag) => {
                    let pid = tag
                        .downcast_ref::<ResourceArc<LocalRegistration>>()
                        .map(|registration| registration.owner);
                    let owner = match pid {
                        Some(pid) => pid.encode(env),
                        None => atoms::undefined().encode(env),
                    };
                    (owner, atoms::undefined().encode(env))
                }
                Owner::Connection { peer, .. } => (
                    atoms::connection().encode(env),
                    term::socket_addr(env, peer),
                ),
            };
            let registered_at = r
                .registered_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            term::map(
                env,
                &[
                    (atoms::name(), term::binary(env, &n.name).encode(env)),
                    (atoms::port(), n.port.encode(env)),
                    (atoms::node_type(), n.node_type.encode(env)),
                    (atoms::protocol(), n.protocol.encode(env)),
                    (atoms::highest_version(), n.highest_version.encode(env)),
                    (atoms::lowest_version(), n.lowest_version.encode(env)),
                    (atoms::extra(), term::binary(env, &n.extra).encode(env)),
                    (atoms::creation(), r.reply_creation().encode(env)),
                    (atoms::registered_at(), registered_at.encode(env)),
                    (atoms::owner(), owner),
                    (atoms::peer(), peer),
                ],
            )
        })
        .collect();
    list.reverse();
    list.encode(env)
}

/// The server's counters (see `epmd_core::stats`) as a map.
#[rustler::nif]
fn stats<'a>(env: Env<'a>, server: ResourceArc<ServerResource>) -> Term<'a> {
    let pairs: Vec<(rustler::Atom, Term<'a>)> = server
        .shared
        .stats
        .snapshot()
        .into_iter()
        .map(|(name, value)| {
            let key = rustler::Atom::from_str(env, name).expect("counter names are atoms");
            (key, value.encode(env))
        })
        .collect();
    term::map(env, &pairs)
}
