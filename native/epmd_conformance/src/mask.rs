//! Turns a transcript into text two servers can be compared on, masking what
//! legitimately differs: creation values (their width and how re-registration
//! changes them are kept), the port in NAMES/DUMP headers, and DUMP fd numbers.
//! A close and a reset count as the same ending.

use std::collections::HashMap;
use std::fmt::Write;

use crate::drive::{End, Entry, Observed, Transcript};
use crate::script::Reply;

/// One entry as compared: `text` must be equal on both servers; `note` is
/// shown with a difference but not compared (a reset versus a close).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked {
    pub step: usize,
    pub label: String,
    pub text: String,
    pub note: Option<&'static str>,
}

/// What an exchange has learned of a name's creation counter.
#[derive(Debug, Clone, Copy)]
enum Known {
    /// From a `v` reply: the counter itself.
    Exact(u32),
    /// From a `y` reply: the counter modulo 3.
    Mod3(u32),
}

/// Masks a transcript from the server whose NAMES/DUMP header should carry
/// `port`.
pub fn mask(t: &Transcript, port: u16) -> Vec<Masked> {
    let mut creations: HashMap<Vec<u8>, Known> = HashMap::new();
    let mut registered: Vec<Vec<u8>> = Vec::new();
    t.entries
        .iter()
        .map(|e| mask_entry(e, port, &mut creations, &mut registered))
        .collect()
}

fn mask_entry(
    e: &Entry,
    port: u16,
    creations: &mut HashMap<Vec<u8>, Known>,
    registered: &mut Vec<Vec<u8>>,
) -> Masked {
    let (text, note) = match &e.observed {
        Observed::Read {
            bytes, end, reply, ..
        } => {
            let body = match reply {
                Reply::Raw => show(bytes),
                Reply::Alive2(name) => {
                    if !registered.contains(name) {
                        registered.push(name.clone());
                    }
                    alive2_reply(bytes, name, creations)
                }
                Reply::Names => with_port_header(bytes, port, show),
                Reply::Dump => with_port_header(bytes, port, |b| dump_body(b, registered)),
            };
            let (end, note) = match end {
                End::Open => ("open".to_string(), None),
                End::Closed => ("closed".to_string(), None),
                End::Reset => ("closed".to_string(), Some("by a reset")),
                End::Failed(kind) => (format!("read failed: {kind}"), None),
                End::NotConnected => ("not connected".to_string(), None),
            };
            (format!("{body}, then {end}"), note)
        }
        Observed::Gone(true) => ("gone from NAMES".to_string(), None),
        Observed::Gone(false) => ("still listed by NAMES".to_string(), None),
        Observed::ConnectFailed(kind) => (format!("connect failed: {kind}"), None),
    };
    Masked {
        step: e.step,
        label: e.label.clone(),
        text,
        note,
    }
}

/// A successful ALIVE2 reply with its creation masked: the reply type and
/// width stay, the value becomes its relation to the name's previous creation
/// in this exchange (§5.1: re-registration bumps by one). Anything else is
/// shown verbatim.
fn alive2_reply(bytes: &[u8], name: &[u8], creations: &mut HashMap<Vec<u8>, Known>) -> String {
    let previous = creations.get(name).copied();
    let (shown, known) = match *bytes {
        [b'v', 0, a, b, c, d] => {
            let value = u32::from_be_bytes([a, b, c, d]);
            let token = match previous {
                _ if value < 4 => format!("out of range: {value}"),
                None => "new".to_string(),
                Some(Known::Exact(p)) => format!("previous{:+}", value.wrapping_sub(p) as i32),
                Some(Known::Mod3(p)) => format!("previous{:+} mod 3", (value % 3 + 3 - p) % 3),
            };
            (
                format!("\"v\\x00\" <u32 creation: {token}>"),
                Known::Exact(value),
            )
        }
        [b'y', 0, a, b] => {
            let value = u32::from(u16::from_be_bytes([a, b]));
            if !(1..=3).contains(&value) {
                return format!("\"y\\x00\" <u16 creation out of range: {value}>");
            }
            let counter = value - 1;
            let token = match previous {
                None => "new".to_string(),
                Some(Known::Exact(p)) => format!("previous{:+} mod 3", (counter + 3 - p % 3) % 3),
                Some(Known::Mod3(p)) => format!("previous{:+} mod 3", (counter + 3 - p) % 3),
            };
            (
                format!("\"y\\x00\" <u16 creation: {token}>"),
                Known::Mod3(counter),
            )
        }
        _ => return show(bytes),
    };
    creations.insert(name.to_vec(), known);
    shown
}

/// NAMES and DUMP start with the server's configured port (§3.3).
fn with_port_header(bytes: &[u8], port: u16, body: impl FnOnce(&[u8]) -> String) -> String {
    match bytes.split_at_checked(4) {
        Some((header, rest)) if header == u32::from(port).to_be_bytes() => {
            format!("<port> {}", body(rest))
        }
        _ => show(bytes),
    }
}

/// DUMP entries (§3.4), each ending in `\n\0`: fd numbers masked, and
/// old/unused entries kept only for names this exchange registered, since the
/// unregistered list also remembers earlier exchanges and runs.
fn dump_body(bytes: &[u8], registered: &[Vec<u8>]) -> String {
    let mut out = Vec::new();
    for entry in bytes.split_inclusive(|&b| b == 0) {
        if let Some(name) = old_entry_name(entry) {
            if !registered.iter().any(|r| r == name) {
                continue;
            }
        }
        out.extend_from_slice(&mask_fd(entry));
    }
    show(&out)
}

fn old_entry_name(entry: &[u8]) -> Option<&[u8]> {
    const PREFIX: &[u8] = b"old/unused name <";
    const SUFFIX: &[u8] = b">, port = ";
    let rest = entry.strip_prefix(PREFIX)?;
    let end = rest.windows(SUFFIX.len()).rposition(|w| w == SUFFIX)?;
    Some(&rest[..end])
}

fn mask_fd(entry: &[u8]) -> Vec<u8> {
    const FD: &[u8] = b"fd = ";
    match entry.windows(FD.len()).rposition(|w| w == FD) {
        Some(at) => {
            let digits = entry[at + FD.len()..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            let mut out = entry[..at + FD.len()].to_vec();
            out.push(b'#');
            out.extend_from_slice(&entry[at + FD.len() + digits..]);
            out
        }
        None => entry.to_vec(),
    }
}

/// Bytes as a Rust byte-string literal.
pub fn show(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        match b {
            b'\n' => out.push_str("\\n"),
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::Conn;

    fn read(bytes: &[u8], end: End, reply: Reply) -> Entry {
        Entry {
            step: 0,
            label: String::new(),
            observed: Observed::Read {
                conn: Conn(0),
                bytes: bytes.to_vec(),
                end,
                reply,
            },
        }
    }

    fn texts(entries: Vec<Entry>, port: u16) -> Vec<String> {
        mask(&Transcript { entries }, port)
            .into_iter()
            .map(|m| m.text)
            .collect()
    }

    #[test]
    fn creations_keep_width_and_bumps() {
        let foo = || Reply::Alive2(b"foo".to_vec());
        let bar = || Reply::Alive2(b"bar".to_vec());
        let t = texts(
            vec![
                read(b"v\x00\x6b\x07\xcb\x47", End::Open, foo()),
                read(b"v\x00\x6b\x07\xcb\x48", End::Open, foo()),
                read(b"y\x00\x00\x01", End::Open, foo()),
                read(b"y\x00\x00\x03", End::Open, bar()),
                read(b"v\x01\x00\x00\x00\x63", End::Open, bar()),
                read(b"y\x00\x00\x07", End::Open, bar()),
                read(b"v\x00\x00\x00\x00\x01", End::Open, bar()),
            ],
            1,
        );
        assert_eq!(
            t,
            [
                "\"v\\x00\" <u32 creation: new>, then open",
                "\"v\\x00\" <u32 creation: previous+1>, then open",
                // 0x6b07cb48 % 3 == 2; a bump makes 0, sent as 1.
                "\"y\\x00\" <u16 creation: previous+1 mod 3>, then open",
                "\"y\\x00\" <u16 creation: new>, then open",
                "\"v\\x01\\x00\\x00\\x00c\", then open",
                "\"y\\x00\" <u16 creation out of range: 7>, then open",
                "\"v\\x00\" <u32 creation: out of range: 1>, then open",
            ]
        );
    }

    #[test]
    fn reset_equals_close_but_is_noted() {
        let m = mask(
            &Transcript {
                entries: vec![read(b"w\x01", End::Reset, Reply::Raw)],
            },
            1,
        );
        assert_eq!(m[0].text, "\"w\\x01\", then closed");
        assert_eq!(m[0].note, Some("by a reset"));
    }

    #[test]
    fn names_header_is_masked_only_when_it_is_the_port() {
        let t = texts(
            vec![
                read(
                    b"\x00\x00\x6a\xafname a at port 1\n",
                    End::Closed,
                    Reply::Names,
                ),
                read(b"\x00\x00\x6a\xb0", End::Closed, Reply::Names),
            ],
            27311,
        );
        assert_eq!(t[0], "<port> \"name a at port 1\\n\", then closed");
        assert_eq!(t[1], "\"\\x00\\x00j\\xb0\", then closed");
    }

    #[test]
    fn dump_masks_fds_and_foreign_old_names() {
        let dump = b"\x00\x00\x00\x05active name     <a> at port 1, fd = 12\n\0\
                     old/unused name <b>, port = 2, fd = 7 \n\0\
                     old/unused name <old>, port = 3, fd = 8 \n\0";
        let t = texts(
            vec![
                read(
                    b"v\x00\x00\x00\x00\x09",
                    End::Open,
                    Reply::Alive2(b"b".to_vec()),
                ),
                read(dump, End::Closed, Reply::Dump),
            ],
            5,
        );
        assert_eq!(
            t[1],
            "<port> \"active name     <a> at port 1, fd = #\\n\\x00\
             old/unused name <b>, port = 2, fd = # \\n\\x00\", then closed"
        );
    }
}
