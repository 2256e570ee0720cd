//! A differential conformance battery for EPMD: the same scripted exchanges
//! are played against a reference (OTP's `epmd`) and a candidate (ours), and
//! what each client saw is compared byte for byte, masking only what cannot
//! match (creations, ports in headers, DUMP fds).
//!
//! [`script`] describes exchanges, [`battery`] holds them, [`drive`] plays one
//! against a server, [`mask`] and [`compare`] judge two transcripts,
//! [`deviations`] lists the differences we keep on purpose, and [`runner`]
//! runs it all into a [`report`].

pub mod args;
pub mod battery;
pub mod compare;
pub mod deviations;
pub mod drive;
pub mod mask;
pub mod report;
pub mod runner;
pub mod script;
pub mod wire;
