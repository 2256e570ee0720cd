//! `epmd-rs`: a drop-in replacement for OTP's `epmd` executable. This crate
//! only parses arguments, sets up the process and formats output; every byte
//! of the protocol is epmd_core's.

mod args;
mod commands;
mod daemon;
mod log;
mod serve;
mod systemd;

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::mem::ManuallyDrop;
use std::os::fd::{FromRawFd, RawFd};

use args::{ClientCommand, Invocation, Usage};

fn main() {
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    let code = match args::parse(&argv, &args::Env::from_process()) {
        Err(Usage) => {
            write_fd(2, args::USAGE.as_bytes());
            1
        }
        Ok(Invocation::Client { port, command }) => client(port, &command),
        Ok(Invocation::Serve(options)) => serve::run(options),
    };
    std::process::exit(code);
}

fn client(port: u32, command: &ClientCommand) -> i32 {
    let outcome = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(commands::run(port, command)),
        Err(e) => {
            write_fd(2, format!("epmd: {e}\n").as_bytes());
            return 1;
        }
    };
    write_fd(1, &outcome.stdout);
    write_fd(2, &outcome.stderr);
    outcome.code
}

/// Writes all of `bytes` at once: one write(2) for anything a pipe takes, as
/// OTP's stdio buffer does at exit. epmd_SUITE's `names_stdout` reads only
/// the first chunk of `epmd -names`, so header and lines must come together.
fn write_fd(fd: RawFd, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    // SAFETY: fds 1 and 2 live as long as the process; ManuallyDrop keeps
    // this File from closing them.
    let mut file = ManuallyDrop::new(unsafe { File::from_raw_fd(fd) });
    let _ = file.write_all(bytes);
}
