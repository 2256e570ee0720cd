//! Server mode: detach if asked, take the listening sockets (bound as §8 says,
//! or passed by systemd), then serve with epmd_core until a KILL is accepted.
//! Never writes to stdout (§9.3); returns the exit code.

use std::sync::Arc;

use epmd_core::config::Config;
use epmd_core::listen::{self, ListenError};
use epmd_core::registry::{Registry, DEBUG_RETIRED_CAP, RETIRED_CAP};
use epmd_core::server::{self, Exit, Shared};

use crate::args::ServerOptions;
use crate::daemon;
use crate::log::{Kind, Log};
use crate::systemd;

pub fn run(options: ServerOptions) -> i32 {
    if options.daemon {
        if let Err(e) = daemon::detach() {
            Log::syslog(options.debug).log(0, Kind::Printf, format_args!("{e}"));
            return 1;
        }
    }
    let log = Arc::new(if options.daemon {
        Log::syslog(options.debug)
    } else {
        Log::stderr(options.debug)
    });
    log.log(
        1,
        Kind::Printf,
        format_args!("epmd running - daemon = {}", u8::from(options.daemon)),
    );
    let code = match listeners(&options, &log) {
        Ok(listeners) => serve(listeners, &options, log),
        Err(code) => code,
    };
    if options.systemd {
        // OTP reports every exit to systemd, failures included.
        let _ = systemd::notify(&systemd::exit_message(code));
    }
    code
}

/// The listening sockets, or the exit code when there are none to use:
/// 0 when another epmd holds the port (starting twice is harmless), else 1.
fn listeners(options: &ServerOptions, log: &Log) -> Result<Vec<std::net::TcpListener>, i32> {
    if options.systemd {
        return systemd::listeners().map_err(|e| {
            log.log(0, Kind::Tty, format_args!("{e}"));
            1
        });
    }
    let plan = listen::plan(options.address.as_deref()).map_err(|e| {
        log.log(0, Kind::Tty, format_args!("{e}"));
        1
    })?;
    // OTP binds the configured port truncated to 16 bits (§9.1).
    listen::bind(&plan, options.port as u16).map_err(|e| match e {
        ListenError::InUse(addr) => {
            log.log(
                1,
                Kind::Tty,
                format_args!(
                    "there is already a epmd running at port {} on ipaddr {}",
                    options.port,
                    addr.ip()
                ),
            );
            0
        }
        e => {
            log.log(0, Kind::Printf, format_args!("{e}"));
            1
        }
    })
}

fn serve(listeners: Vec<std::net::TcpListener>, options: &ServerOptions, log: Arc<Log>) -> i32 {
    // Any -d shrinks OTP's memory of unregistered names (§5).
    let cap = if options.debug > 0 {
        DEBUG_RETIRED_CAP
    } else {
        RETIRED_CAP
    };
    let config = Config {
        relaxed: options.relaxed,
        packet_timeout: options.packet_timeout,
        delay_accept: options.delay_accept,
        delay_write: options.delay_write,
        events: Some(log.clone()),
        remote_names: !options.local_names_only,
        max_connections: options.max_connections,
        max_connections_per_peer: options.max_connections_per_peer,
        ..Config::new(options.port)
    };
    let shared = Arc::new(Shared::new(config, Registry::new(cap)));
    // One thread, like OTP's single select loop: epmd's work per request is
    // tiny, every connection waits on I/O, and a daemon is better off small.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            log.log(0, Kind::Printf, format_args!("cannot start: {e}"));
            return 1;
        }
    };
    let exit = runtime.block_on(async {
        let listeners = listen::Listeners::new(listeners)?;
        if options.systemd {
            let _ = systemd::notify(&systemd::ready_message());
        }
        log.log(2, Kind::Tty, format_args!("entering the main loop"));
        // Only a KILL ends the server; signals keep their default action.
        Ok::<_, std::io::Error>(server::run(listeners, shared, std::future::pending()).await)
    });
    match exit {
        Ok(Exit::Killed | Exit::Shutdown) => 0,
        Err(e) => {
            log.log(0, Kind::Printf, format_args!("cannot listen: {e}"));
            1
        }
    }
}
