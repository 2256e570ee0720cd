//! The core of epmd_rs: everything an Erlang Port Mapper Daemon does, with no
//! knowledge of the BEAM.
//!
//! Data flows one way: bytes -> [`codec`] -> request -> [`registry`] and the
//! policy in [`session`] -> reply -> [`codec`] -> bytes. A [`session`] is one
//! connection's protocol without I/O; [`server`] runs it over TCP on the
//! sockets [`listen`] binds, its `accept` thread serving what needs no wait,
//! within the caps of `limits`, each reply leaving as `reply` says;
//! [`config`] holds its settings and OTP's defaults; [`report`] turns what a
//! connection did into [`events`], which [`stats`] counts, [`otp_log`] words
//! as OTP's epmd does, and [`syslog`] sends to the host's log; [`client`]
//! talks to any EPMD, ours or OTP's.

mod accept;
pub mod client;
pub mod codec;
pub mod config;
mod deferral;
mod epoll;
pub mod events;
mod limits;
pub mod listen;
pub mod otp_log;
pub mod registry;
mod reply;
pub mod report;
pub mod server;
pub mod session;
pub mod stats;
pub mod syslog;
mod waiting;
