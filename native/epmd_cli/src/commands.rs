//! The client commands: one request to the local epmd, then exactly the
//! stdout, stderr and exit code OTP's epmd prints for that answer (§9.2).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use epmd_core::client::{self, ClientError};
use epmd_core::codec::{self, Request};

use crate::args::ClientCommand;

/// OTP's `stop_cli` refuses longer names before connecting.
const MAX_STOP_NAME: usize = 1000;
/// OTP's client waits for the answer without any limit; a real epmd always
/// answers and closes, so this only bounds a server that never does.
const ANSWER_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// What a client command prints, and how it exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub code: i32,
}

impl Outcome {
    fn stdout(text: impl Into<Vec<u8>>, code: i32) -> Self {
        Outcome {
            stdout: text.into(),
            stderr: Vec::new(),
            code,
        }
    }

    fn silent(code: i32) -> Self {
        Outcome::stdout(Vec::new(), code)
    }
}

/// Runs `command` against the epmd on `port` (its low 16 bits, as OTP).
pub async fn run(port: u32, command: &ClientCommand) -> Outcome {
    let request = match command {
        ClientCommand::Names | ClientCommand::NamesJson | ClientCommand::Started => Request::Names,
        ClientCommand::Dump => Request::Dump,
        ClientCommand::Kill => Request::Kill,
        ClientCommand::Stop(name) if name.len() > MAX_STOP_NAME => {
            return Outcome::stdout(*b"epmd: Name too long!", 1);
        }
        ClientCommand::Stop(name) => Request::Stop { name: name.clone() },
    };
    let answer = exchange_local(port as u16, &request).await;
    outcome(command, answer)
}

/// OTP's `conn_to_epmd`: `[::1]` first, then `127.0.0.1`.
async fn exchange_local(port: u16, request: &Request) -> Result<Vec<u8>, ClientError> {
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    match client::exchange(v6, request, ANSWER_WAIT).await {
        Err(ClientError::Connect(_)) => {
            let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            client::exchange(v4, request, ANSWER_WAIT).await
        }
        other => other,
    }
}

/// The text C's `printf("%s")` shows of a buffer: up to its first NUL.
fn c_str(bytes: &[u8]) -> &[u8] {
    bytes.split(|&b| b == 0).next().unwrap_or_default()
}

/// A reply shorter than expected. OTP's `read_fill` returns the last read's
/// 0 at EOF, not the count so far, so the bytes that did arrive are never
/// shown (observed: a lone `O` prints `<>`).
const RESPONDED_WITH_NOTHING: &[u8] = b"epmd: local epmd responded with <>\n";

/// OTP's output for an answer (everything the server sent before closing).
/// The stdout of a command is one buffer, written at once by the caller.
pub fn outcome(command: &ClientCommand, answer: Result<Vec<u8>, ClientError>) -> Outcome {
    let silent = *command == ClientCommand::Started;
    let reply = match answer {
        Ok(reply) => reply,
        Err(ClientError::Connect(_)) if silent => return Outcome::silent(1),
        Err(ClientError::Connect(_)) => {
            return Outcome {
                stdout: Vec::new(),
                stderr: b"epmd: Cannot connect to local epmd\n".to_vec(),
                code: 1,
            };
        }
        // The three-byte request cannot fail to be written to a fresh
        // connection in practice, so every later failure is a failed read.
        Err(_) => match command {
            ClientCommand::Started => return Outcome::silent(1),
            ClientCommand::Names | ClientCommand::NamesJson | ClientCommand::Dump => {
                return Outcome::stdout(*b"epmd: no response from local epmd\n", 1);
            }
            ClientCommand::Kill | ClientCommand::Stop(_) => {
                return Outcome::stdout(*b"epmd: failed to read answer from local epmd\n", 1);
            }
        },
    };
    match command {
        ClientCommand::Started if reply.len() < 4 => Outcome::silent(1),
        ClientCommand::Started => Outcome::silent(0),
        ClientCommand::Names | ClientCommand::Dump => match codec::decode_names_reply(&reply) {
            // OTP prints the port with `%d` of an int.
            Ok((port, rest)) => {
                let mut text = format!("epmd: up and running on port {} with data:\n", port as i32)
                    .into_bytes();
                text.extend_from_slice(rest);
                Outcome::stdout(text, 0)
            }
            Err(_) => Outcome::stdout(*b"epmd: no response from local epmd\n", 1),
        },
        ClientCommand::NamesJson => match codec::decode_names_reply(&reply) {
            Ok((port, rest)) => Outcome::stdout(names_json(port, rest), 0),
            Err(_) => Outcome::stdout(*b"epmd: no response from local epmd\n", 1),
        },
        ClientCommand::Kill => match reply.get(..2) {
            Some(ok) if ok == codec::KILL_OK => Outcome::stdout(*b"Killed\n", 0),
            Some(_) => Outcome::stdout(*b"Killing not allowed - living nodes in database.\n", 1),
            None => Outcome::stdout(RESPONDED_WITH_NOTHING, 1),
        },
        ClientCommand::Stop(_) => match reply.get(..7) {
            Some(word) => {
                let mut text = c_str(word).to_vec();
                text.push(b'\n');
                Outcome::stdout(text, 0)
            }
            None => Outcome::stdout(RESPONDED_WITH_NOTHING, 1),
        },
    }
}

/// `-names --json`: the NAMES text as `{"port": P, "nodes": [{"name", "port"}]}`,
/// in the server's order. Lines that are not `name N at port P` are skipped;
/// a name that is not UTF-8 is shown with replacement characters.
fn names_json(port: u32, text: &[u8]) -> Vec<u8> {
    let nodes: Vec<serde_json::Value> = codec::decode_names_lines(text)
        .map(|(name, port)| {
            serde_json::json!({ "name": String::from_utf8_lossy(name), "port": port })
        })
        .collect();
    let mut out = serde_json::json!({ "port": port, "nodes": nodes }).to_string();
    out.push('\n');
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> Result<Vec<u8>, ClientError> {
        Err(ClientError::Connect(
            std::io::ErrorKind::ConnectionRefused.into(),
        ))
    }

    fn out(command: ClientCommand, reply: &[u8]) -> (String, i32) {
        let o = outcome(&command, Ok(reply.to_vec()));
        assert!(o.stderr.is_empty());
        (String::from_utf8_lossy(&o.stdout).into_owned(), o.code)
    }

    #[test]
    fn names_as_json() {
        let reply = b"\x00\x00\x6a\xafname bar at port 2345\nname a b at port 1\n";
        let o = out(ClientCommand::NamesJson, reply);
        assert_eq!(o.1, 0);
        let v: serde_json::Value = serde_json::from_str(&o.0).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"port": 27311, "nodes": [
                {"name": "bar", "port": 2345}, {"name": "a b", "port": 1}]})
        );
    }

    #[test]
    fn names_and_dump() {
        let reply = b"\x00\x00\x6a\xafname foo at port 1234\n";
        assert_eq!(
            out(ClientCommand::Names, reply),
            (
                "epmd: up and running on port 27311 with data:\nname foo at port 1234\n".into(),
                0
            )
        );
        let (dump, _) = out(ClientCommand::Dump, b"\x00\x00\x6a\xafa\0");
        assert!(dump.ends_with("with data:\na\0"), "{dump:?}");
        assert_eq!(
            out(ClientCommand::Names, b"\xff\xff\xff\xfb").0,
            "epmd: up and running on port -5 with data:\n"
        );
        assert_eq!(
            out(ClientCommand::Names, b"\x00\x00"),
            ("epmd: no response from local epmd\n".into(), 1)
        );
        assert_eq!(out(ClientCommand::Started, b""), (String::new(), 1));
        assert_eq!(
            out(ClientCommand::Started, b"\0\0\0\x01"),
            (String::new(), 0)
        );
    }

    #[test]
    fn kill_and_stop() {
        assert_eq!(out(ClientCommand::Kill, b"OK"), ("Killed\n".into(), 0));
        assert_eq!(
            out(ClientCommand::Kill, b"NO"),
            (
                "Killing not allowed - living nodes in database.\n".into(),
                1
            )
        );
        assert_eq!(
            out(ClientCommand::Kill, b"O"),
            ("epmd: local epmd responded with <>\n".into(), 1)
        );
        let stop = || ClientCommand::Stop(b"foo".to_vec());
        assert_eq!(out(stop(), b"STOPPED"), ("STOPPED\n".into(), 0));
        assert_eq!(out(stop(), b"NOEXISTSTOPPED"), ("NOEXIST\n".into(), 0));
        assert_eq!(out(stop(), b"NO\0EXIST"), ("NO\n".into(), 0));
        assert_eq!(
            out(stop(), b""),
            ("epmd: local epmd responded with <>\n".into(), 1)
        );
    }

    #[test]
    fn nobody_listening() {
        let o = outcome(&ClientCommand::Names, refused());
        assert_eq!(o.stderr, b"epmd: Cannot connect to local epmd\n");
        assert_eq!((o.stdout.len(), o.code), (0, 1));
        assert_eq!(
            outcome(&ClientCommand::Started, refused()),
            Outcome::silent(1)
        );
    }
}
