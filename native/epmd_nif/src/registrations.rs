//! Nodes of this VM registered in the in-VM server: each lives as long as its
//! owner process, or until it is unregistered, STOPped or KILLed.

use std::sync::{Arc, Mutex, Weak};

use rustler::{Encoder, Env, LocalPid, Monitor, OwnedEnv, Resource, ResourceArc, Term};

use epmd_core::registry::{creation_for_reply, Evict, Owner, RegistrationId};
use epmd_core::server::Shared;

use crate::server::{lock, Owners, ServerResource};
use crate::term::{self, atoms};

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
