//! Why a NIF call failed, as Erlang sees it: each enum is the `Reason` of an
//! `{error, Reason}`, its atoms derived from the variant names.

use rustler::{Encoder, Env, NifTaggedEnum, NifUnitEnum, Term};

use epmd_core::client::ClientError;
use epmd_core::codec::ReplyError;
use epmd_core::listen::ListenError;
use epmd_core::registry::RegisterError;

use crate::term;

/// A refused in-VM registration; also the `reason` of a refused-registration
/// event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, NifUnitEnum)]
#[rustler(encode)]
pub enum RegisterFailure {
    DuplicateName,
    NameTooLong,
    InvalidNameEncoding,
    ExtraTooLong,
    /// The owner process was gone before its registration was monitored.
    OwnerDead,
}

impl From<&RegisterError> for RegisterFailure {
    fn from(e: &RegisterError) -> Self {
        match e {
            RegisterError::NameTaken => RegisterFailure::DuplicateName,
            RegisterError::NameTooLong => RegisterFailure::NameTooLong,
            RegisterError::InvalidNameEncoding => RegisterFailure::InvalidNameEncoding,
            RegisterError::ExtraTooLong => RegisterFailure::ExtraTooLong,
        }
    }
}

/// A server that could not start: `eaddrinuse`, which the Erlang side acts
/// on (it registers with whoever holds the port), `{listen, Message}`, or
/// `{syslog, Message}` for a syslog setting it cannot use.
#[derive(NifTaggedEnum)]
#[rustler(encode)]
pub enum StartFailure {
    Eaddrinuse,
    Listen(String),
    Syslog(String),
}

impl From<ListenError> for StartFailure {
    fn from(e: ListenError) -> Self {
        match e {
            ListenError::InUse(_) => StartFailure::Eaddrinuse,
            other => StartFailure::Listen(other.to_string()),
        }
    }
}

/// A request to another EPMD that got no answer to pass on.
#[derive(NifTaggedEnum)]
#[rustler(encode)]
pub enum ClientFailure {
    Connect,
    Io,
    Closed,
    Timeout,
    TooLarge,
    /// `{garbage, Bytes}`: the reply was not EPMD's.
    Garbage(Bytes),
    /// The EPMD refused the name (its ALIVE2 reply had result 1).
    DuplicateName,
    /// The request panicked on the runtime thread.
    Panic,
}

impl From<ClientError> for ClientFailure {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Connect(_) => ClientFailure::Connect,
            ClientError::Io(_) => ClientFailure::Io,
            ClientError::Closed => ClientFailure::Closed,
            ClientError::Timeout => ClientFailure::Timeout,
            ClientError::TooLarge => ClientFailure::TooLarge,
            ClientError::Reply(ReplyError::Garbage(bytes)) => ClientFailure::Garbage(Bytes(bytes)),
        }
    }
}

/// Bytes that reach Erlang as a binary (a `Vec<u8>` would be a list).
pub struct Bytes(pub Vec<u8>);

impl Encoder for Bytes {
    fn encode<'a>(&self, env: Env<'a>) -> Term<'a> {
        term::binary(env, &self.0).encode(env)
    }
}
