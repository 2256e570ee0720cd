//! Rustler glue that runs `epmd_core` inside the BEAM. No protocol logic lives
//! here: terms are decoded, the core is called, results are encoded.
//!
//! Calls that touch only the registry return at once on a normal scheduler;
//! anything that waits on the network runs on the library's tokio thread and
//! answers with a message.

mod client;
mod errors;
mod events;
mod queries;
mod registrations;
mod runtime;
mod server;
mod term;
#[cfg(feature = "test-hooks")]
mod test_hooks;

rustler::init!("epmd_rs_nif", load = load);

fn load(_env: rustler::Env, _info: rustler::Term) -> bool {
    runtime::start().is_ok()
}
