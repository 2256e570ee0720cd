//! The in-VM server: start and stop it, and register, look up and list nodes
//! of this VM directly in its registry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, UNIX_EPOCH};

use rustler::types::binary::Binary;
use rustler::{Encoder, Env, LocalPid, Monitor, OwnedEnv, Resource, ResourceArc, Term};
use tokio::sync::oneshot;

use epmd_core::codec;
use epmd_core::config::{self, Config};
use epmd_core::listen;
use epmd_core::registry::{creation_for_reply, Evict, Owner, RegistrationId, Registry};
use epmd_core::server::{self, Exit, Shared};

use crate::events::OwnerSink;
use crate::runtime;
use crate::term::{self, atoms};

/// The owning processes of this VM's registrations, for `info/1`.
type Owners = Arc<Mutex<HashMap<RegistrationId, LocalPid>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running server. The owner process is monitored: if it dies the server
/// stops, so that the port is free for whoever takes over.
pub struct ServerResource {
    shared: Arc<Shared>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    owners: Owners,
    events: Arc<OwnerSink>,
}

impl ServerResource {
    fn stop(&self) {
        let sender = lock(&self.stop).take();
        if let Some(tx) = sender {
            let _ = tx.send(());
        }
    }
}

// rustler returns NIF results across catch_unwind. The shared state stays
// consistent under a panic: the registry mutex ignores poisoning because every
// mutation completes before anything can panic, and the event sink only reads.
impl std::panic::RefUnwindSafe for ServerResource {}
impl std::panic::UnwindSafe for ServerResource {}

#[rustler::resource_impl]
impl Resource for ServerResource {
    fn down<'a>(&'a self, _env: Env<'a>, _pid: LocalPid, _mon: Monitor) {
        self.stop();
    }
}

/// A node of this VM registered in the in-VM server; it lives as long as its
/// owner process (monitored) or until it is unregistered.
pub struct LocalRegistration {
    shared: Weak<Shared>,
    owners: Owners,
    name: Vec<u8>,
    id: RegistrationId,
}

impl LocalRegistration {
    fn unregister(&self) {
        lock(&self.owners).remove(&self.id);
        if let Some(shared) = self.shared.upgrade() {
            let removed = shared.registry().unregister(&self.name, self.id);
            // The entry owns a handle to this resource: release it unlocked.
            drop(removed);
        }
    }
}

#[rustler::resource_impl]
impl Resource for LocalRegistration {
    fn down<'a>(&'a self, _env: Env<'a>, _pid: LocalPid, _mon: Monitor) {
        self.unregister();
    }
}

fn listen_error<'a>(env: Env<'a>, e: &listen::ListenError) -> Term<'a> {
    match e {
        listen::ListenError::InUse(_) => atoms::eaddrinuse().encode(env),
        other => (atoms::listen(), other.to_string()).encode(env),
    }
}

/// The defaults that the core keeps, as OTP has them: the EPMD port, the
/// packet timeout (milliseconds) and the distribution versions `erl_epmd`
/// registers. The Erlang side asks for them rather than repeating them.
#[rustler::nif]
fn defaults(env: Env<'_>) -> Term<'_> {
    term::map(
        env,
        &[
            (atoms::port(), config::DEFAULT_PORT.encode(env)),
            (
                atoms::packet_timeout(),
                (config::DEFAULT_PACKET_TIMEOUT.as_millis() as u64).encode(env),
            ),
            (
                atoms::highest_version(),
                codec::ERL_EPMD_HIGHEST_VERSION.encode(env),
            ),
            (
                atoms::lowest_version(),
                codec::ERL_EPMD_LOWEST_VERSION.encode(env),
            ),
        ],
    )
}

/// The server's options from Erlang, every key present.
#[derive(rustler::NifMap)]
struct ServerOptions {
    /// OTP's `-address` list; empty for every address.
    addresses: String,
    relaxed: bool,
    /// Milliseconds.
    packet_timeout: u64,
    /// The hardened profile: `false` answers NAMES to local peers only.
    remote_names: bool,
    /// Caps on open connections; 0 for none.
    max_connections: usize,
    max_connections_per_peer: usize,
}

/// Binds the EPMD port (synchronously, so bind errors come back here) and
/// serves it on the runtime thread. `owner` gets
/// `{epmd_rs_server_stopped, Server, shutdown | killed | panic}` when it ends,
/// and every event the server reports (see `events.rs`).
#[rustler::nif]
fn server_start<'a>(
    env: Env<'a>,
    port: u16,
    options: ServerOptions,
    owner: LocalPid,
) -> Result<ResourceArc<ServerResource>, Term<'a>> {
    let plan = listen::plan(Some(&options.addresses)).map_err(|e| listen_error(env, &e))?;
    let std_listeners = listen::bind(&plan, port).map_err(|e| listen_error(env, &e))?;
    let mut config = Config::new(u32::from(port));
    let events = Arc::new(OwnerSink::new(owner));
    config.events = Some(events.clone());
    config.relaxed = options.relaxed;
    config.packet_timeout = Duration::from_millis(options.packet_timeout);
    config.remote_names = options.remote_names;
    config.max_connections = (options.max_connections > 0).then_some(options.max_connections);
    config.max_connections_per_peer =
        (options.max_connections_per_peer > 0).then_some(options.max_connections_per_peer);
    let shared = Arc::new(Shared::new(config, Registry::default()));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let resource = ResourceArc::new(ServerResource {
        shared: shared.clone(),
        stop: Mutex::new(Some(stop_tx)),
        owners: Owners::default(),
        events,
    });
    let handle = resource.clone();
    runtime::spawn(async move {
        let listeners: Vec<_> = std_listeners
            .into_iter()
            .filter_map(|l| server::Listener::new(l).ok())
            .collect();
        let exit = runtime::guarded(server::run(listeners, shared, async {
            let _ = stop_rx.await;
        }))
        .await;
        let reason = match exit {
            Some(Exit::Shutdown) => atoms::shutdown(),
            Some(Exit::Killed) => atoms::killed(),
            None => atoms::panic(),
        };
        let mut msg_env = OwnedEnv::new();
        let _ = msg_env.send_and_clear(&owner, |env| {
            (atoms::epmd_rs_server_stopped(), handle, reason).encode(env)
        });
    });
    if env.monitor(&resource, &owner).is_none() {
        resource.stop();
    }
    Ok(resource)
}

/// Turns the events sent to the owner on or off (off at start).
#[rustler::nif]
fn server_events(server: ResourceArc<ServerResource>, on: bool) -> rustler::Atom {
    server.events.enable(on);
    atoms::ok()
}

/// Asks the server to stop; the owner is told when it has.
#[rustler::nif]
fn server_stop(server: ResourceArc<ServerResource>) -> rustler::Atom {
    server.stop();
    atoms::ok()
}

/// Registers a node of this VM (see `term::NodeTuple`) for as long as
/// `owner` lives. Returns `{ok, Creation, Registration}`; `owner` gets
/// `{epmd_rs_evicted, Registration}` if a STOP or KILL removes it.
#[rustler::nif]
fn register_local<'a>(
    env: Env<'a>,
    server: ResourceArc<ServerResource>,
    node: term::NodeTuple<'a>,
    owner: LocalPid,
) -> Term<'a> {
    term::charge(env, 1);
    let node = term::node_from_tuple(node);
    let extended = node.wants_extended_creation();
    let name = node.name.clone();
    let shared = &server.shared;
    // The registry keeps the resource (and with it the monitor) alive while
    // the name is registered; `evict` carries it.
    let (evict, slot) = evict_hook(owner);
    let registered = shared.registry().register(node, Owner::Local, Some(evict));
    let (id, creation) = match registered {
        Ok(r) => r,
        Err(e) => return (atoms::error(), term::register_error(&e)).encode(env),
    };
    let registration = ResourceArc::new(LocalRegistration {
        shared: Arc::downgrade(shared),
        owners: server.owners.clone(),
        name,
        id,
    });
    lock(&server.owners).insert(id, owner);
    *lock(&slot) = Some(registration.clone());
    if env.monitor(&registration, &owner).is_none() {
        registration.unregister();
        return (atoms::error(), atoms::owner_dead()).encode(env);
    }
    let creation = creation_for_reply(creation, extended);
    (atoms::ok(), creation, registration).encode(env)
}

type Slot = Arc<Mutex<Option<ResourceArc<LocalRegistration>>>>;

/// The registry entry's hook: it holds the registration resource (filled in
/// once the id is known) and tells the owner when the server evicts it.
fn evict_hook(owner: LocalPid) -> (Evict, Slot) {
    let slot: Slot = Arc::new(Mutex::new(None));
    let held = slot.clone();
    let evict: Evict = Box::new(move || {
        let registration = lock(&held).take();
        if let Some(registration) = registration {
            lock(&registration.owners).remove(&registration.id);
            let mut msg_env = OwnedEnv::new();
            let _ = msg_env.send_and_clear(&owner, |env| {
                (atoms::epmd_rs_evicted(), registration).encode(env)
            });
        }
    });
    (evict, slot)
}

/// Ends a registration of this VM before its owner exits.
#[rustler::nif]
fn unregister_local(registration: ResourceArc<LocalRegistration>) -> rustler::Atom {
    registration.unregister();
    atoms::ok()
}

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
    let owners = lock(&server.owners);
    let registry = server.shared.registry();
    term::charge(env, registry.len());
    let mut list: Vec<Term<'a>> = registry
        .iter()
        .map(|r| {
            let n = &r.node;
            let (owner, peer) = match &r.owner {
                Owner::Local => match owners.get(&r.id) {
                    Some(pid) => (pid.encode(env), atoms::undefined().encode(env)),
                    None => (
                        atoms::undefined().encode(env),
                        atoms::undefined().encode(env),
                    ),
                },
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
