//! Nodes of this VM registered in the in-VM server: each lives as long as its
//! owner process, or until it is unregistered, STOPped or KILLed.

use std::sync::{Arc, Weak};

use rustler::{Encoder, Env, LocalPid, Monitor, OwnedEnv, Resource, ResourceArc};

use epmd_core::registry::{creation_for_reply, Evict, Owner, RegistrationId};
use epmd_core::server::Shared;

use crate::errors::RegisterFailure;
use crate::server::ServerResource;
use crate::term::{self, atoms};

/// A node of this VM registered in the in-VM server; it lives as long as its
/// owner process (monitored) or until it is unregistered. The registry entry
/// holds it as the entry's `Owner::Local` tag, which keeps the monitor alive
/// for as long as the name is registered.
pub struct LocalRegistration {
    shared: Weak<Shared>,
    pub(crate) owner: LocalPid,
    name: Vec<u8>,
    id: RegistrationId,
}

impl LocalRegistration {
    fn unregister(&self) {
        if let Some(shared) = self.shared.upgrade() {
            let removed = shared.registry().unregister(&self.name, self.id);
            // The entry holds this resource: release it unlocked.
            drop(removed);
        }
    }

    /// Tells the owner that STOP or KILL removed the registration.
    fn evict_hook(registration: ResourceArc<LocalRegistration>) -> Evict {
        Box::new(move || {
            let owner = registration.owner;
            let _ = OwnedEnv::new().send_and_clear(&owner, |env| {
                (atoms::epmd_rs_evicted(), registration).encode(env)
            });
        })
    }
}

// Returned across rustler's catch_unwind; it reaches the server's state only
// through the registry, whose mutex ignores poisoning (see ServerResource).
impl std::panic::RefUnwindSafe for LocalRegistration {}
impl std::panic::UnwindSafe for LocalRegistration {}

#[rustler::resource_impl]
impl Resource for LocalRegistration {
    fn down<'a>(&'a self, _env: Env<'a>, _pid: LocalPid, _mon: Monitor) {
        self.unregister();
    }
}

/// Registers a node of this VM (see `term::NodeTuple`) for as long as
/// `owner` lives. Returns `{ok, {Creation, Registration}}`; `owner` gets
/// `{epmd_rs_evicted, Registration}` if a STOP or KILL removes it.
#[rustler::nif]
fn register_local(
    env: Env<'_>,
    server: ResourceArc<ServerResource>,
    node: term::NodeTuple<'_>,
    owner: LocalPid,
) -> Result<(u32, ResourceArc<LocalRegistration>), RegisterFailure> {
    term::charge(env, 1);
    let node = term::node_from_tuple(node);
    let extended = node.wants_extended_creation();
    let shared = &server.shared;
    let mut registry = shared.registry();
    let registration = ResourceArc::new(LocalRegistration {
        shared: Arc::downgrade(shared),
        owner,
        name: node.name.clone(),
        id: registry.upcoming_id(),
    });
    let tag = Owner::Local(Arc::new(registration.clone()));
    let evict = LocalRegistration::evict_hook(registration.clone());
    let registered = registry.register(node, tag, Some(evict));
    drop(registry);
    let (_, creation) = registered.map_err(|e| RegisterFailure::from(&e))?;
    if env.monitor(&registration, &owner).is_none() {
        registration.unregister();
        return Err(RegisterFailure::OwnerDead);
    }
    Ok((creation_for_reply(creation, extended), registration))
}

/// Ends a registration of this VM before its owner exits.
#[rustler::nif]
fn unregister_local(registration: ResourceArc<LocalRegistration>) -> rustler::Atom {
    registration.unregister();
    atoms::ok()
}
