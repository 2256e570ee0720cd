//! Requests to an EPMD over TCP. Each NIF returns a tag at once; the answer
//! arrives later as `{epmd_rs_reply, Tag, Result}` in the calling process.

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use rustler::types::binary::Binary;
use rustler::{Encoder, Env, LocalPid, Monitor, NifResult, OwnedEnv, Resource, ResourceArc, Term};
use tokio::sync::oneshot;

use epmd_core::client;

use crate::errors::ClientFailure;
use crate::runtime;
use crate::server::lock;
use crate::term::{self, atoms};

fn socket_addr(ip: &str, port: u16) -> NifResult<SocketAddr> {
    let ip: IpAddr = ip.parse().map_err(|_| rustler::Error::BadArg)?;
    Ok(SocketAddr::new(ip, port))
}

/// Runs `request` on the runtime and sends its encoded result to the caller,
/// tagged with a fresh reference, which is returned. A panic in the request is
/// answered with `{error, panic}`.
fn reply_later<'a, F, T>(env: Env<'a>, request: F, encode: fn(Env<'_>, T) -> Term<'_>) -> Term<'a>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let tag = env.make_ref();
    let caller = env.pid();
    let msg_env = OwnedEnv::new();
    let saved = msg_env.save(tag);
    runtime::spawn(async move {
        let result = runtime::guarded(request).await;
        let mut msg_env = msg_env;
        let _ = msg_env.send_and_clear(&caller, |env| {
            let reply = match result {
                Some(r) => encode(env, r),
                None => Err::<(), _>(ClientFailure::Panic).encode(env),
            };
            (atoms::epmd_rs_reply(), saved.load(env), reply).encode(env)
        });
    });
    tag.encode(env)
}

/// PORT_PLEASE2 to `Ip:Port`: the reply is `{ok, NodeInfo}` (see
/// `term::node_info`), `noport` or `{error, Reason}`.
#[rustler::nif]
fn client_port_please<'a>(
    env: Env<'a>,
    ip: String,
    port: u16,
    name: Binary<'a>,
    timeout_ms: u64,
) -> NifResult<Term<'a>> {
    let addr = socket_addr(&ip, port)?;
    let name = name.as_slice().to_vec();
    let timeout = Duration::from_millis(timeout_ms);
    Ok(reply_later(
        env,
        async move { client::port_please(addr, &name, timeout).await },
        |env, result| match result {
            Ok(Some(n)) => (atoms::ok(), term::node_info(env, &n)).encode(env),
            Ok(None) => atoms::noport().encode(env),
            Err(e) => Err::<(), _>(ClientFailure::from(e)).encode(env),
        },
    ))
}

/// NAMES to `Ip:Port`: the reply is `{ok, HeaderPort, Text}` or `{error, Reason}`.
#[rustler::nif]
fn client_names<'a>(env: Env<'a>, ip: String, port: u16, timeout_ms: u64) -> NifResult<Term<'a>> {
    let addr = socket_addr(&ip, port)?;
    let timeout = Duration::from_millis(timeout_ms);
    Ok(reply_later(
        env,
        async move { client::names(addr, timeout).await },
        |env, result| match result {
            Ok((port, text)) => (atoms::ok(), port, term::binary(env, &text)).encode(env),
            Err(e) => Err::<(), _>(ClientFailure::from(e)).encode(env),
        },
    ))
}

/// A registration held with another EPMD; unregistering, or the death of the
/// owner (monitored), closes its connection.
pub struct HeldResource {
    cancel: Mutex<Option<oneshot::Sender<()>>>,
}

impl HeldResource {
    fn cancel(&self) {
        let cancel = lock(&self.cancel).take();
        if let Some(tx) = cancel {
            let _ = tx.send(());
        }
    }
}

#[rustler::resource_impl]
impl Resource for HeldResource {
    fn down<'a>(&'a self, _env: Env<'a>, _pid: LocalPid, _mon: Monitor) {
        self.cancel();
    }
}

/// ALIVE2 to `Ip:Port`, held open by the runtime. Returns the registration
/// handle, which is also the tag: the caller gets
/// `{epmd_rs_reply, Handle, {ok, Creation} | {error, Reason}}`, and `owner`
/// later gets `{epmd_rs_registration_ended, Handle}` if the server ends it.
#[rustler::nif]
fn client_register<'a>(
    env: Env<'a>,
    ip: String,
    port: u16,
    node: term::NodeTuple<'a>,
    timeout_ms: u64,
    owner: LocalPid,
) -> NifResult<ResourceArc<HeldResource>> {
    let addr = socket_addr(&ip, port)?;
    let node = term::node_from_tuple(node);
    let timeout = Duration::from_millis(timeout_ms);
    let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
    let handle = ResourceArc::new(HeldResource {
        cancel: Mutex::new(Some(cancel_tx)),
    });
    if env.monitor(&handle, &owner).is_none() {
        handle.cancel();
    }
    let tag = handle.clone();
    let caller = env.pid();
    runtime::spawn(async move {
        let result = runtime::guarded(client::register(addr, node, timeout)).await;
        let (outcome, held) = match result {
            None => (Err(ClientFailure::Panic), None),
            Some(Ok((reply, held))) if reply.ok => (Ok(reply.creation), held),
            Some(Ok(_)) => (Err(ClientFailure::DuplicateName), None),
            Some(Err(e)) => (Err(ClientFailure::from(e)), None),
        };
        let mut msg_env = OwnedEnv::new();
        let _ = msg_env.send_and_clear(&caller, |env| {
            (atoms::epmd_rs_reply(), tag.clone(), &outcome).encode(env)
        });
        let Some(mut held) = held else { return };
        tokio::select! {
            _ = held.ended() => {
                let _ = msg_env.send_and_clear(&owner, |env| {
                    (atoms::epmd_rs_registration_ended(), tag).encode(env)
                });
            }
            // Unregistered on purpose, or the owner died: just close.
            _ = cancel_rx => {}
        }
    });
    Ok(handle)
}

/// Ends a registration held with another EPMD by closing its connection.
#[rustler::nif]
fn client_unregister(handle: ResourceArc<HeldResource>) -> rustler::Atom {
    handle.cancel();
    atoms::ok()
}
