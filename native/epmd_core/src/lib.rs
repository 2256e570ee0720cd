//! The core of epmd_rs: everything an Erlang Port Mapper Daemon does, with no
//! knowledge of the BEAM.
//!
//! Data flows one way: bytes -> [`codec`] -> request -> [`registry`] and the
//! policy in [`server`] -> reply -> [`codec`] -> bytes. [`listen`] binds the
//! sockets and [`client`] talks to any EPMD, ours or OTP's.

pub mod client;
pub mod codec;
pub mod listen;
pub mod registry;
pub mod server;
