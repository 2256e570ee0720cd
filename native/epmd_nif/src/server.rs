//! The in-VM server's lifecycle: its defaults, starting it, its events, and
//! stopping it. Registrations and queries live beside it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustler::{Encoder, Env, LocalPid, Monitor, OwnedEnv, Resource, ResourceArc, Term};
use tokio::sync::oneshot;

use epmd_core::codec;
use epmd_core::config::{self, Config};
use epmd_core::listen;
use epmd_core::registry::Registry;
use epmd_core::server::{self, Exit, Shared};
use epmd_core::syslog::{self, Facility, Syslog};

use crate::errors::StartFailure;
use crate::events::OwnerSink;
use crate::runtime;
use crate::term::{self, atoms};

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running server. The owner process is monitored: if it dies the server
/// stops, so that the port is free for whoever takes over.
pub struct ServerResource {
    pub(crate) shared: Arc<Shared>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    /// Taken by server_serve, which lets the bound server answer.
    serve: Mutex<Option<oneshot::Sender<()>>>,
    events: Arc<OwnerSink>,
}

impl ServerResource {
    fn stop(&self) {
        // A server that was never told to serve ends at once.
        drop(lock(&self.serve).take());
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
    /// Whether events go to the host's syslog too, and how: the facility's
    /// name, and the socket's path (empty for the usual one).
    syslog: bool,
    syslog_facility: String,
    syslog_path: String,
}

/// The syslog sender the options ask for, if any.
fn syslog_from(options: &ServerOptions) -> Result<Option<Syslog>, StartFailure> {
    if !options.syslog {
        return Ok(None);
    }
    let facility = Facility::from_name(&options.syslog_facility).ok_or_else(|| {
        let known: Vec<_> = Facility::names().collect();
        StartFailure::Syslog(format!(
            "unknown syslog facility {:?} (one of {})",
            options.syslog_facility,
            known.join(", ")
        ))
    })?;
    let path = match options.syslog_path.as_str() {
        "" => syslog::DEFAULT_PATH,
        path => path,
    };
    Syslog::new(path, facility)
        .map(Some)
        .map_err(|e| StartFailure::Syslog(format!("cannot make a syslog socket: {e}")))
}

/// Binds the EPMD port (synchronously, so bind errors come back here), to be
/// served on the runtime thread from server_serve on. `owner` gets
/// `{epmd_rs_server_stopped, Server, shutdown | killed | panic}` when it ends,
/// and every event the server reports (see `events.rs`).
#[rustler::nif]
fn server_start(
    env: Env<'_>,
    port: u16,
    options: ServerOptions,
    owner: LocalPid,
) -> Result<ResourceArc<ServerResource>, StartFailure> {
    let syslog = syslog_from(&options)?;
    let plan = listen::plan(Some(&options.addresses))?;
    let std_listeners = listen::bind(&plan, port)?;
    let mut config = Config::new(u32::from(port));
    let events = Arc::new(OwnerSink::new(owner, syslog));
    config.events = Some(events.clone());
    config.relaxed = options.relaxed;
    config.packet_timeout = Duration::from_millis(options.packet_timeout);
    config.remote_names = options.remote_names;
    config.max_connections = (options.max_connections > 0).then_some(options.max_connections);
    config.max_connections_per_peer =
        (options.max_connections_per_peer > 0).then_some(options.max_connections_per_peer);
    let shared = Arc::new(Shared::new(config, Registry::default()));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (serve_tx, serve_rx) = oneshot::channel::<()>();
    let resource = ResourceArc::new(ServerResource {
        shared: shared.clone(),
        stop: Mutex::new(Some(stop_tx)),
        serve: Mutex::new(Some(serve_tx)),
        events,
    });
    let handle = resource.clone();
    runtime::spawn(async move {
        // Bound, but silent until server_serve: a VM that takes the port over
        // first registers its own node, so that no client ever finds the
        // host's listing empty. Stopped before that, it never serves.
        let exit = if serve_rx.await.is_ok() {
            match listen::Listeners::new(std_listeners) {
                Ok(listeners) => {
                    runtime::guarded(server::run(listeners, shared, async {
                        let _ = stop_rx.await;
                    }))
                    .await
                }
                Err(_) => None,
            }
        } else {
            Some(Exit::Shutdown)
        };
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

/// Starts answering on the sockets server_start bound.
#[rustler::nif]
fn server_serve(server: ResourceArc<ServerResource>) -> rustler::Atom {
    if let Some(tx) = lock(&server.serve).take() {
        let _ = tx.send(());
    }
    atoms::ok()
}

/// Asks the server to stop; the owner is told when it has.
#[rustler::nif]
fn server_stop(server: ResourceArc<ServerResource>) -> rustler::Atom {
    server.stop();
    atoms::ok()
}
