//! The core of epmd_rs: everything an Erlang Port Mapper Daemon does, with no
//! knowledge of the BEAM.
//!
//! Data flows one way: bytes -> [`codec`] -> request -> [`registry`] and the
//! policy in [`session`] -> reply -> [`codec`] -> bytes. A [`session`] is one
//! connection's protocol without I/O; [`server`] runs it over TCP, [`listen`]
//! binds the sockets, [`config`] holds the server's settings and defaults, [`client`] talks to any EPMD, ours or OTP's, and
//! [`events`] is how the server reports what it does.

pub mod client;
pub mod codec;
pub mod config;
pub mod events;
pub mod listen;
pub mod registry;
pub mod server;
pub mod session;
pub mod stats;
