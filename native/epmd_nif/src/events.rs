//! Server events to the owner process, which logs them: each becomes
//! `{epmd_rs_event, Kind, Meta}`. Every request is counted in the server's
//! stats, so `Received` is not sent; nothing is sent while the owner says
//! logger would drop the events anyway (a message wakes a scheduler).

use std::sync::atomic::{AtomicBool, Ordering};

use rustler::{Encoder, Env, LocalPid, OwnedEnv, Term};

use epmd_core::events::{Event, EventSink, LocalCommand};
use epmd_core::otp_log::{self, Kind, Message};
use epmd_core::syslog::Syslog;

use crate::errors::RegisterFailure;
use crate::term::{self, atoms};

pub struct OwnerSink {
    owner: LocalPid,
    enabled: AtomicBool,
    /// The host's syslog, which gets what `epmd -daemon` would write there
    /// (OTP's level-0 "printf" messages), in its words.
    syslog: Option<Syslog>,
}

impl OwnerSink {
    pub fn new(owner: LocalPid, syslog: Option<Syslog>) -> Self {
        OwnerSink {
            owner,
            enabled: AtomicBool::new(false),
            syslog,
        }
    }

    pub fn enable(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }
}

impl EventSink for OwnerSink {
    fn event(&self, event: &Event<'_>) {
        if let Some(syslog) = &self.syslog {
            if otp_log::level(event) == (0, Kind::Printf) {
                syslog.send(format_args!("{}", Message(event)));
            }
        }
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let Some(kind) = kind(event) else { return };
        let mut env = OwnedEnv::new();
        let _ = env.send_and_clear(&self.owner, |env| {
            (atoms::epmd_rs_event(), atom(env, kind), meta(env, event)).encode(env)
        });
    }
}

/// The event's name in Erlang; `None` for those not sent.
fn kind(event: &Event<'_>) -> Option<&'static str> {
    Some(match event {
        Event::Received { .. } => return None,
        Event::Registered { .. } => "registered",
        Event::Unregistered { .. } => "unregistered",
        Event::NameTaken { .. } => "name_taken",
        Event::RegisterRefused { .. } => "register_refused",
        Event::Dropped { .. } => "dropped",
        Event::Incomplete { .. } => "incomplete",
        Event::RefusedNonLocal { .. } => "refused_non_local",
        Event::Timeout { .. } => "timeout",
        Event::KillRefused => "kill_refused",
        Event::Killed => "killed",
        Event::Stopped { .. } => "stopped",
        Event::StopRefused { .. } => "stop_refused",
        Event::AcceptFailed { .. } => "accept_failed",
        Event::OverLimit { .. } => "over_limit",
    })
}

fn command(c: LocalCommand) -> &'static str {
    match c {
        LocalCommand::Alive2 => "alive2",
        LocalCommand::Names => "names",
        LocalCommand::Dump => "dump",
        LocalCommand::Kill => "kill",
        LocalCommand::Stop => "stop",
    }
}

fn atom<'a>(env: Env<'a>, name: &str) -> Term<'a> {
    rustler::Atom::from_str(env, name)
        .expect("valid atom")
        .encode(env)
}

/// The event's data as a map with atom keys.
fn meta<'a>(env: Env<'a>, event: &Event<'_>) -> Term<'a> {
    let name = |n: &[u8]| term::binary(env, n).encode(env);
    let peer = |p| term::socket_addr(env, p);
    match event {
        Event::Registered {
            name: n,
            port,
            creation,
        }
        | Event::Unregistered {
            name: n,
            port,
            creation,
        } => term::map(
            env,
            &[
                (atoms::name(), name(n)),
                (atoms::port(), port.encode(env)),
                (atoms::creation(), creation.encode(env)),
            ],
        ),
        Event::NameTaken { name: n } => term::map(env, &[(atoms::name(), name(n))]),
        Event::RegisterRefused { name: n, reason } => term::map(
            env,
            &[
                (atoms::name(), name(n)),
                (atoms::reason(), RegisterFailure::from(*reason).encode(env)),
            ],
        ),
        Event::Dropped { peer: p, reason } => term::map(
            env,
            &[
                (atoms::peer(), peer(p)),
                (atoms::reason(), reason.to_string().encode(env)),
            ],
        ),
        Event::Incomplete { peer: p, got } => term::map(
            env,
            &[(atoms::peer(), peer(p)), (atoms::got(), got.encode(env))],
        ),
        Event::RefusedNonLocal {
            peer: p,
            command: c,
        } => term::map(
            env,
            &[
                (atoms::peer(), peer(p)),
                (atoms::command(), atom(env, command(*c))),
            ],
        ),
        Event::Timeout { peer: p } | Event::OverLimit { peer: p } => {
            term::map(env, &[(atoms::peer(), peer(p))])
        }
        Event::Stopped {
            name: n,
            registered,
        } => term::map(
            env,
            &[
                (atoms::name(), name(n)),
                (atoms::registered(), registered.encode(env)),
            ],
        ),
        Event::StopRefused { name: n } => term::map(env, &[(atoms::name(), name(n))]),
        Event::AcceptFailed { error } => {
            term::map(env, &[(atoms::reason(), error.to_string().encode(env))])
        }
        Event::Received { .. } | Event::KillRefused | Event::Killed => term::map(env, &[]),
    }
}
