//! The command line of `epmd-conformance`.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

pub const USAGE: &str =
    "usage: epmd-conformance --reference HOST:PORT --candidate HOST:PORT [--relaxed]";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub reference: SocketAddr,
    pub candidate: SocketAddr,
    /// Both servers run with relaxed command check.
    pub relaxed: bool,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run(Args),
    Help,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgsError {
    Missing(&'static str),
    NoValue(&'static str),
    Unknown(String),
    BadAddress(String),
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::Missing(flag) => write!(f, "{flag} is required"),
            ArgsError::NoValue(flag) => write!(f, "{flag} needs HOST:PORT"),
            ArgsError::Unknown(arg) => write!(f, "unknown argument {arg:?}"),
            ArgsError::BadAddress(a) => write!(f, "cannot resolve {a:?} as HOST:PORT"),
        }
    }
}

impl std::error::Error for ArgsError {}

fn resolve(flag: &'static str, value: Option<String>) -> Result<SocketAddr, ArgsError> {
    let value = value.ok_or(ArgsError::NoValue(flag))?;
    value
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or(ArgsError::BadAddress(value))
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, ArgsError> {
    let (mut reference, mut candidate, mut relaxed) = (None, None, false);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--reference" => reference = Some(resolve("--reference", args.next())?),
            "--candidate" => candidate = Some(resolve("--candidate", args.next())?),
            "--relaxed" => relaxed = true,
            "-h" | "--help" => return Ok(Command::Help),
            _ => return Err(ArgsError::Unknown(arg)),
        }
    }
    Ok(Command::Run(Args {
        reference: reference.ok_or(ArgsError::Missing("--reference"))?,
        candidate: candidate.ok_or(ArgsError::Missing("--candidate"))?,
        relaxed,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, ArgsError> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn full_command_line() {
        let c = p(&[
            "--candidate",
            "[::1]:4370",
            "--reference",
            "127.0.0.1:4369",
            "--relaxed",
        ]);
        assert_eq!(
            c,
            Ok(Command::Run(Args {
                reference: "127.0.0.1:4369".parse().unwrap(),
                candidate: "[::1]:4370".parse().unwrap(),
                relaxed: true,
            }))
        );
    }

    #[test]
    fn mistakes() {
        assert_eq!(
            p(&["--reference", "127.0.0.1:1"]),
            Err(ArgsError::Missing("--candidate"))
        );
        assert_eq!(p(&["--reference"]), Err(ArgsError::NoValue("--reference")));
        assert_eq!(
            p(&["--reference", "127.0.0.1"]),
            Err(ArgsError::BadAddress("127.0.0.1".into()))
        );
        assert_eq!(p(&["-x"]), Err(ArgsError::Unknown("-x".into())));
        assert_eq!(p(&["--help"]), Ok(Command::Help));
    }
}
