//! The EPMD wire format: pure functions over bytes, no I/O.
//!
//! Requests are framed by a big-endian `u16` length; replies are not framed. The
//! server side uses [`check_frame`] then [`parse_request`]; the client side uses
//! [`Request::encode`] and the `decode_*` functions for replies. Section numbers
//! refer to docs/PROTOCOL.md.

use std::fmt;
use std::io::Write as _;

/// Longest node name and longest extra field, in bytes (`MAXSYMLEN`).
pub const MAX_SYMLEN: usize = 1020;
/// Most code points a node name may have.
pub const MAX_NAME_CHARS: usize = 255;
/// Largest accepted request `Length` (OTP's `INBUF_SIZE` 3060 minus 3).
pub const MAX_REQUEST_LEN: usize = 3057;

const ALIVE2_REQ: u8 = b'x';
const ALIVE2_RESP: u8 = b'y';
const ALIVE2_X_RESP: u8 = b'v';
const PORT_PLEASE2_REQ: u8 = b'z';
const PORT2_RESP: u8 = b'w';
const NAMES_REQ: u8 = b'n';
const DUMP_REQ: u8 = b'd';
const KILL_REQ: u8 = b'k';
const STOP_REQ: u8 = b's';

/// Creation sent with a failed ALIVE2 reply, as OTP does.
pub const FAILED_CREATION: u32 = 99;

/// Why a buffered request can never become a valid frame (§1): the server closes
/// the connection without a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// `Length` is 0 or larger than [`MAX_REQUEST_LEN`].
    BadLength(usize),
    /// More bytes arrived than `Length` announced (pipelining or junk).
    TrailingBytes { got: usize, expected: usize },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::BadLength(n) => write!(f, "invalid packet size ({n})"),
            FrameError::TrailingBytes { got, expected } => {
                write!(f, "got {got} bytes in packet, expected {expected}")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Looks at the bytes received so far on a connection. `Ok(None)` means more
/// bytes are needed; `Ok(Some(body))` is the complete request body.
pub fn check_frame(buf: &[u8]) -> Result<Option<&[u8]>, FrameError> {
    let Some(len) = buf
        .get(..2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    else {
        return Ok(None);
    };
    if len == 0 || len > MAX_REQUEST_LEN {
        return Err(FrameError::BadLength(len));
    }
    let expected = len + 2;
    match buf.len().cmp(&expected) {
        std::cmp::Ordering::Less => Ok(None),
        std::cmp::Ordering::Equal => Ok(Some(&buf[2..])),
        std::cmp::Ordering::Greater => Err(FrameError::TrailingBytes {
            got: buf.len(),
            expected,
        }),
    }
}

/// How many bytes the next read on a connection may take, as OTP reads (§1):
/// while the length is unknown, whatever fits its buffer, so extra bytes in
/// the first segment are caught by [`check_frame`]; then exactly the rest of
/// the request, so bytes sent after it are left unread, never refused.
pub fn next_read_len(buf: &[u8]) -> usize {
    match buf.get(..2) {
        None => MAX_REQUEST_LEN + 2 - buf.len(),
        Some(b) => (usize::from(u16::from_be_bytes([b[0], b[1]])) + 2).saturating_sub(buf.len()),
    }
}

/// What a node registers: everything ALIVE2_REQ carries and PORT2_RESP echoes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub port: u16,
    /// 77 (`M`) normal, 72 (`H`) hidden, 104 (`h`) C node; stored verbatim.
    pub node_type: u8,
    /// 0 = TCP/IP; stored verbatim.
    pub protocol: u8,
    pub highest_version: u16,
    pub lowest_version: u16,
    pub name: Vec<u8>,
    pub extra: Vec<u8>,
}

/// The distribution versions `erl_epmd` registers, from OTP 25 to 29 as
/// Debian builds them (§10.3).
pub const ERL_EPMD_HIGHEST_VERSION: u16 = 6;
pub const ERL_EPMD_LOWEST_VERSION: u16 = 5;

impl NodeInfo {
    /// A node as `erl_epmd` registers one: normal (`M`), TCP/IP, distribution
    /// versions 5..6, no extra.
    pub fn normal(name: impl Into<Vec<u8>>, port: u16) -> Self {
        NodeInfo {
            port,
            node_type: b'M',
            protocol: 0,
            highest_version: ERL_EPMD_HIGHEST_VERSION,
            lowest_version: ERL_EPMD_LOWEST_VERSION,
            name: name.into(),
            extra: Vec::new(),
        }
    }

    /// Whether its registration is answered with `v` and a 32-bit creation
    /// rather than `y` and a 16-bit one: the request's HighestVersion decides
    /// (§3.1 step 7).
    pub fn wants_extended_creation(&self) -> bool {
        self.highest_version >= 6
    }
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A node with an empty name and an empty extra encodes as a 13-byte
    /// body, which the server drops, as erl_epmd would send it; OTP registers
    /// the empty name only from a body with trailing bytes (§3.1 step 2),
    /// which parses to that same node.
    Alive2(NodeInfo),
    PortPlease2 {
        name: Vec<u8>,
    },
    Names,
    Dump,
    Kill,
    /// The name is a C string on the way in (cut at the first NUL) and is sent
    /// without a terminator, as OTP's CLI sends it (§3.6, §9.2). So `s\0`
    /// parses as STOP of the empty name, while the empty name encodes as a
    /// bare `s`, which the server drops.
    Stop {
        name: Vec<u8>,
    },
}

/// Why a complete frame was refused. Each one means "close, no reply" (§4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// Unknown or legacy command code.
    UnknownCommand(u8),
    /// ALIVE2 body of at most 13 bytes.
    Alive2TooSmall(usize),
    /// ALIVE2 name or extra length points past the end of the body.
    Alive2Truncated,
    /// A node name with a NUL byte inside.
    NameContainsNul,
    /// PORT2 or STOP without a name.
    EmptyName,
    /// PORT2 name that is not valid UTF-8 or is too long to be looked up.
    InvalidPortPleaseName,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::UnknownCommand(c) => write!(f, "got garbage (command code {c})"),
            RequestError::Alive2TooSmall(n) => {
                write!(f, "packet too small for request ALIVE2_REQ ({n})")
            }
            RequestError::Alive2Truncated => write!(f, "ALIVE2_REQ lengths exceed the packet"),
            RequestError::NameContainsNul => write!(f, "node name contains ascii 0"),
            RequestError::EmptyName => write!(f, "request without a node name"),
            RequestError::InvalidPortPleaseName => write!(f, "invalid node name in PORT2_REQ"),
        }
    }
}

impl std::error::Error for RequestError {}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Decodes a complete request body (the bytes after `Length`).
pub fn parse_request(body: &[u8]) -> Result<Request, RequestError> {
    let Some(&code) = body.first() else {
        return Err(RequestError::UnknownCommand(0));
    };
    match code {
        ALIVE2_REQ => parse_alive2(body),
        PORT_PLEASE2_REQ => parse_port_please2(body),
        NAMES_REQ => Ok(Request::Names),
        DUMP_REQ => Ok(Request::Dump),
        KILL_REQ => Ok(Request::Kill),
        STOP_REQ => parse_stop(body),
        other => Err(RequestError::UnknownCommand(other)),
    }
}

/// §3.1 steps 2–5. Bytes after Extra are ignored, as OTP does.
fn parse_alive2(body: &[u8]) -> Result<Request, RequestError> {
    if body.len() <= 13 {
        return Err(RequestError::Alive2TooSmall(body.len()));
    }
    let nlen = usize::from(be16(body, 9));
    if nlen + 13 > body.len() {
        return Err(RequestError::Alive2Truncated);
    }
    let elen = usize::from(be16(body, 11 + nlen));
    if elen + nlen + 13 > body.len() {
        return Err(RequestError::Alive2Truncated);
    }
    let name = &body[11..11 + nlen];
    if name.contains(&0) {
        return Err(RequestError::NameContainsNul);
    }
    Ok(Request::Alive2(NodeInfo {
        port: be16(body, 1),
        node_type: body[3],
        protocol: body[4],
        highest_version: be16(body, 5),
        lowest_version: be16(body, 7),
        name: name.to_vec(),
        extra: body[13 + nlen..13 + nlen + elen].to_vec(),
    }))
}

/// §3.2: one trailing NUL is tolerated; the name must be valid UTF-8 of at most
/// 255 code points. OTP counts its C terminator as a code point, so a 255-code
/// point name registers but can never be looked up there; here it can
/// (deviation D2 in docs/COMPATIBILITY.md).
fn parse_port_please2(body: &[u8]) -> Result<Request, RequestError> {
    let name = match body {
        [rest @ .., 0] => &rest[1..],
        _ => &body[1..],
    };
    if name.is_empty() {
        return Err(RequestError::EmptyName);
    }
    if name.contains(&0) {
        return Err(RequestError::NameContainsNul);
    }
    match std::str::from_utf8(name) {
        Ok(s) if s.chars().count() <= MAX_NAME_CHARS => Ok(Request::PortPlease2 {
            name: name.to_vec(),
        }),
        _ => Err(RequestError::InvalidPortPleaseName),
    }
}

/// §3.6: the name is a C string, cut at the first NUL, with no UTF-8 check.
fn parse_stop(body: &[u8]) -> Result<Request, RequestError> {
    if body.len() <= 1 {
        return Err(RequestError::EmptyName);
    }
    let name = body[1..].split(|&b| b == 0).next().unwrap_or_default();
    Ok(Request::Stop {
        name: name.to_vec(),
    })
}

fn push16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Length of a reply field; replies only carry names and extras the registry
/// accepted, which are at most [`MAX_SYMLEN`] bytes.
fn len16(bytes: &[u8]) -> u16 {
    u16::try_from(bytes.len()).expect("registered fields fit in 16 bits")
}

/// A request too large for the wire's 16-bit lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request field longer than 65535 bytes")
    }
}

impl std::error::Error for TooLarge {}

fn try_len16(bytes: &[u8]) -> Result<u16, TooLarge> {
    u16::try_from(bytes.len()).map_err(|_| TooLarge)
}

/// The requests' names in OTP's epmd, as its log lines and docs use them (§2).
pub mod otp_names {
    pub const ALIVE2: &str = "ALIVE2_REQ";
    pub const PORT2: &str = "PORT2_REQ";
    pub const NAMES: &str = "NAMES_REQ";
    pub const DUMP: &str = "DUMP_REQ";
    pub const KILL: &str = "KILL_REQ";
    pub const STOP: &str = "STOP_REQ";
}

impl Request {
    /// The request's name in OTP's epmd.
    pub fn otp_name(&self) -> &'static str {
        match self {
            Request::Alive2(_) => otp_names::ALIVE2,
            Request::PortPlease2 { .. } => otp_names::PORT2,
            Request::Names => otp_names::NAMES,
            Request::Dump => otp_names::DUMP,
            Request::Kill => otp_names::KILL,
            Request::Stop { .. } => otp_names::STOP,
        }
    }

    /// The request as sent on the wire, `Length` prefix included. Parsing it
    /// gives the request back, except for the two requests with an empty
    /// name that OTP's lenient parsing accepts and its clients never send
    /// (see [`Request::Alive2`] and [`Request::Stop`]).
    pub fn encode(&self) -> Result<Vec<u8>, TooLarge> {
        let mut body = Vec::new();
        match self {
            Request::Alive2(n) => {
                body.push(ALIVE2_REQ);
                push16(&mut body, n.port);
                body.push(n.node_type);
                body.push(n.protocol);
                push16(&mut body, n.highest_version);
                push16(&mut body, n.lowest_version);
                push16(&mut body, try_len16(&n.name)?);
                body.extend_from_slice(&n.name);
                push16(&mut body, try_len16(&n.extra)?);
                body.extend_from_slice(&n.extra);
            }
            Request::PortPlease2 { name } => {
                body.push(PORT_PLEASE2_REQ);
                body.extend_from_slice(name);
            }
            Request::Names => body.push(NAMES_REQ),
            Request::Dump => body.push(DUMP_REQ),
            Request::Kill => body.push(KILL_REQ),
            Request::Stop { name } => {
                body.push(STOP_REQ);
                body.extend_from_slice(name);
            }
        }
        let mut out = Vec::with_capacity(body.len() + 2);
        push16(&mut out, try_len16(&body)?);
        out.extend_from_slice(&body);
        Ok(out)
    }
}

/// The ALIVE2 reply. `extended` selects `v` (32-bit creation), chosen by the
/// request's HighestVersion ≥ 6 (§3.1 step 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alive2Reply {
    pub extended: bool,
    pub ok: bool,
    pub creation: u32,
}

impl Alive2Reply {
    /// Encodes the reply; a short reply carries the creation truncated to 16 bits.
    pub fn encode(&self) -> Vec<u8> {
        let result = u8::from(!self.ok);
        if self.extended {
            let mut out = vec![ALIVE2_X_RESP, result];
            out.extend_from_slice(&self.creation.to_be_bytes());
            out
        } else {
            let mut out = vec![ALIVE2_RESP, result];
            out.extend_from_slice(&(self.creation as u16).to_be_bytes());
            out
        }
    }
}

/// A reply that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// The bytes are not the reply that was asked for.
    Garbage(Vec<u8>),
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::Garbage(b) => write!(f, "unexpected reply from EPMD: {b:02x?}"),
        }
    }
}

impl std::error::Error for ReplyError {}

/// Decodes an ALIVE2 reply; `Ok(None)` means more bytes are needed. Like
/// erl_epmd, the buffer must be exactly one reply.
pub fn decode_alive2_reply(buf: &[u8]) -> Result<Option<Alive2Reply>, ReplyError> {
    match buf {
        [ALIVE2_X_RESP, r, a, b, c, d] => Ok(Some(Alive2Reply {
            extended: true,
            ok: *r == 0,
            creation: u32::from_be_bytes([*a, *b, *c, *d]),
        })),
        [ALIVE2_RESP, r, a, b] => Ok(Some(Alive2Reply {
            extended: false,
            ok: *r == 0,
            creation: u32::from(u16::from_be_bytes([*a, *b])),
        })),
        [ALIVE2_X_RESP, ..] if buf.len() < 6 => Ok(None),
        _ if buf.len() < 4 => Ok(None),
        _ => Err(ReplyError::Garbage(buf.to_vec())),
    }
}

/// PORT2_RESP: `w 01` when unknown, else every registered field echoed.
pub fn encode_port2_reply(node: Option<&NodeInfo>) -> Vec<u8> {
    let Some(n) = node else {
        return vec![PORT2_RESP, 1];
    };
    let mut out = Vec::with_capacity(14 + n.name.len() + n.extra.len());
    out.extend_from_slice(&[PORT2_RESP, 0]);
    push16(&mut out, n.port);
    out.push(n.node_type);
    out.push(n.protocol);
    push16(&mut out, n.highest_version);
    push16(&mut out, n.lowest_version);
    push16(&mut out, len16(&n.name));
    out.extend_from_slice(&n.name);
    push16(&mut out, len16(&n.extra));
    out.extend_from_slice(&n.extra);
    out
}

/// Decodes a complete PORT2 reply (the server closes after it). `Ok(None)`
/// means "not registered".
pub fn decode_port2_reply(buf: &[u8]) -> Result<Option<NodeInfo>, ReplyError> {
    let garbage = || ReplyError::Garbage(buf.to_vec());
    match buf {
        [PORT2_RESP, 0, ..] => {}
        [PORT2_RESP, r] if *r != 0 => return Ok(None),
        _ => return Err(garbage()),
    }
    if buf.len() < 12 {
        return Err(garbage());
    }
    let nlen = usize::from(be16(buf, 10));
    let name_end = 12 + nlen;
    if buf.len() < name_end + 2 {
        return Err(garbage());
    }
    let elen = usize::from(be16(buf, name_end));
    if buf.len() != name_end + 2 + elen {
        return Err(garbage());
    }
    Ok(Some(NodeInfo {
        port: be16(buf, 2),
        node_type: buf[4],
        protocol: buf[5],
        highest_version: be16(buf, 6),
        lowest_version: be16(buf, 8),
        name: buf[12..name_end].to_vec(),
        extra: buf[name_end + 2..].to_vec(),
    }))
}

/// The 4-byte header of NAMES and DUMP replies: the configured EPMD port.
pub fn encode_port_header(port: u32) -> [u8; 4] {
    port.to_be_bytes()
}

/// One NAMES line (§3.3).
pub fn encode_names_line(out: &mut Vec<u8>, name: &[u8], port: u16) {
    out.extend_from_slice(b"name ");
    out.extend_from_slice(name);
    // Formatted straight into the reply: writing to a Vec cannot fail.
    let _ = writeln!(out, " at port {port}");
}

/// The nodes of a NAMES reply's text (after its 4-byte header), in the
/// server's order: each line `name <Name> at port <Port>`, the name taken up
/// to the last " at port " so that it may hold spaces. Lines that do not
/// read so are skipped. (erl_epmd parses the same text its own way, which
/// the Erlang side keeps, quirks included: §10.3.)
pub fn decode_names_lines(text: &[u8]) -> impl Iterator<Item = (&[u8], u16)> {
    text.split(|&b| b == b'\n').filter_map(|line| {
        let line = line.strip_prefix(b"name ")?;
        let at = line.windows(9).rposition(|w| w == b" at port ")?;
        let port = std::str::from_utf8(&line[at + 9..]).ok()?.parse().ok()?;
        Some((&line[..at], port))
    })
}

/// One DUMP line for a registered node, NUL included (§3.4).
pub fn encode_dump_active_line(out: &mut Vec<u8>, name: &[u8], port: u16, fd: i32) {
    out.extend_from_slice(b"active name     <");
    out.extend_from_slice(name);
    let _ = write!(out, "> at port {port}, fd = {fd}\n\0");
}

/// One DUMP line for a name in the unregistered list, NUL included (§3.4).
pub fn encode_dump_old_line(out: &mut Vec<u8>, name: &[u8], port: u16, fd: i32) {
    out.extend_from_slice(b"old/unused name <");
    out.extend_from_slice(name);
    let _ = write!(out, ">, port = {port}, fd = {fd} \n\0");
}

/// Splits a complete NAMES reply into the header port and the text after it.
pub fn decode_names_reply(buf: &[u8]) -> Result<(u32, &[u8]), ReplyError> {
    match buf {
        [a, b, c, d, rest @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), rest)),
        _ => Err(ReplyError::Garbage(buf.to_vec())),
    }
}

/// Reply to a refused KILL.
pub const KILL_REFUSED: &[u8] = b"NO";
/// Reply to an accepted KILL.
pub const KILL_OK: &[u8] = b"OK";
/// Reply to STOP of a registered name.
pub const STOPPED: &[u8] = b"STOPPED";
/// Sent before [`STOPPED`] when STOP names nobody.
pub const NOEXIST: &[u8] = b"NOEXIST";

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &[u8], extra: &[u8]) -> NodeInfo {
        NodeInfo {
            extra: extra.to_vec(),
            ..NodeInfo::normal(name, 1234)
        }
    }

    #[test]
    fn frames_follow_otp_length_rules() {
        assert_eq!(check_frame(&[]), Ok(None));
        assert_eq!(check_frame(&[0]), Ok(None));
        assert_eq!(check_frame(&[0, 0]), Err(FrameError::BadLength(0)));
        assert_eq!(check_frame(&[0x0b, 0xf2]), Err(FrameError::BadLength(3058)));
        let mut max = vec![0x0b, 0xf1];
        max.resize(3059, b'n');
        assert_eq!(check_frame(&max).unwrap().map(<[u8]>::len), Some(3057));
        assert_eq!(check_frame(&[0, 1]), Ok(None));
        assert_eq!(check_frame(&[0, 1, b'n']), Ok(Some(&b"n"[..])));
        assert_eq!(
            check_frame(&[0, 1, b'n', 0, 1, b'n']),
            Err(FrameError::TrailingBytes {
                got: 6,
                expected: 3
            })
        );
    }

    #[test]
    fn reads_stop_at_the_end_of_the_request() {
        assert_eq!(next_read_len(&[]), 3059);
        assert_eq!(next_read_len(&[0]), 3058);
        assert_eq!(next_read_len(&[0, 4]), 4);
        assert_eq!(next_read_len(&[0, 4, b'z', b'f']), 2);
    }

    #[test]
    fn erl_epmd_registration_bytes_decode() {
        // Captured from OTP 25's erl_epmd (protocol doc §10.3).
        let wire = [
            0x00, 0x10, 0x78, 0x8d, 0x93, 0x4d, 0x00, 0x00, 0x06, 0x00, 0x05, 0x00, 0x03, 0x63,
            0x61, 0x70, 0x00, 0x00,
        ];
        let body = check_frame(&wire).unwrap().unwrap();
        let req = parse_request(body).unwrap();
        let mut expected = node(b"cap", b"");
        expected.port = 0x8d93;
        assert_eq!(req, Request::Alive2(expected));
        assert_eq!(req.encode().unwrap(), wire);
    }

    #[test]
    fn alive2_malformed_bodies_are_dropped() {
        // 13 bytes: empty name, empty extra, nothing else.
        let mut b = Request::Alive2(node(b"", b"")).encode().unwrap();
        assert_eq!(
            parse_request(&b[2..]),
            Err(RequestError::Alive2TooSmall(13))
        );
        // One more byte makes the empty name acceptable (observed on OTP 25).
        b.push(b'!');
        assert!(parse_request(&b[2..]).is_ok());
        assert_eq!(
            parse_request(&[b'x'; 9]),
            Err(RequestError::Alive2TooSmall(9))
        );
        // Extra length beyond the body.
        let mut b = Request::Alive2(node(b"gurka", b"")).encode().unwrap();
        let n = b.len();
        b[n - 1] = 5;
        assert_eq!(parse_request(&b[2..]), Err(RequestError::Alive2Truncated));
        // Name length beyond the body.
        let mut b = Request::Alive2(node(b"gurka", b"")).encode().unwrap();
        b[12] = 200;
        assert_eq!(parse_request(&b[2..]), Err(RequestError::Alive2Truncated));
        let b = Request::Alive2(node(b"foo\0bar", b"")).encode().unwrap();
        assert_eq!(parse_request(&b[2..]), Err(RequestError::NameContainsNul));
    }

    #[test]
    fn alive2_ignores_bytes_after_extra() {
        let mut b = Request::Alive2(node(b"foo", b"EX\0\x01")).encode().unwrap();
        b.extend_from_slice(b"junk");
        assert_eq!(
            parse_request(&b[2..]),
            Ok(Request::Alive2(node(b"foo", b"EX\0\x01")))
        );
    }

    #[test]
    fn port_please_name_rules() {
        let p = |b: &[u8]| parse_request(b);
        assert_eq!(
            p(b"zbar\0"),
            Ok(Request::PortPlease2 {
                name: b"bar".to_vec()
            })
        );
        assert_eq!(p(b"zh0\0\0"), Err(RequestError::NameContainsNul));
        assert_eq!(p(b"z"), Err(RequestError::EmptyName));
        assert_eq!(p(b"z\0"), Err(RequestError::EmptyName));
        assert_eq!(p(b"z\xff"), Err(RequestError::InvalidPortPleaseName));
        // Every name ALIVE2 accepts can be looked up: 255 code points (D2).
        let mut ok = b"z".to_vec();
        ok.extend(std::iter::repeat_n(b'a', 255));
        assert!(p(&ok).is_ok());
        ok.push(b'a');
        assert_eq!(p(&ok), Err(RequestError::InvalidPortPleaseName));
    }

    #[test]
    fn other_requests() {
        assert_eq!(parse_request(b"n"), Ok(Request::Names));
        assert_eq!(parse_request(b"nxyz"), Ok(Request::Names));
        assert_eq!(parse_request(b"d"), Ok(Request::Dump));
        assert_eq!(parse_request(b"k"), Ok(Request::Kill));
        assert_eq!(
            parse_request(b"sfoo\0bar"),
            Ok(Request::Stop {
                name: b"foo".to_vec()
            })
        );
        assert_eq!(parse_request(b"s"), Err(RequestError::EmptyName));
        for legacy in [b'a', b'p', b'Q'] {
            assert_eq!(
                parse_request(&[legacy]),
                Err(RequestError::UnknownCommand(legacy))
            );
        }
    }

    #[test]
    fn requests_round_trip() {
        for req in [
            Request::Alive2(node("😈".as_bytes(), b"ABC\0\0")),
            Request::PortPlease2 {
                name: b"foo".to_vec(),
            },
            Request::Names,
            Request::Dump,
            Request::Kill,
            Request::Stop {
                name: b"xxx42".to_vec(),
            },
        ] {
            let wire = req.encode().unwrap();
            let body = check_frame(&wire).unwrap().unwrap();
            assert_eq!(parse_request(body), Ok(req));
        }
    }

    #[test]
    fn oversized_requests_are_refused() {
        let name = vec![b'a'; 65535];
        assert_eq!(Request::PortPlease2 { name }.encode(), Err(TooLarge));
        assert_eq!(
            Request::Alive2(node(&[b'a'; 65536], b"")).encode(),
            Err(TooLarge)
        );
    }

    #[test]
    fn alive2_replies_match_observed_bytes() {
        let fail_v = Alive2Reply {
            extended: true,
            ok: false,
            creation: FAILED_CREATION,
        };
        assert_eq!(fail_v.encode(), b"v\x01\x00\x00\x00\x63");
        let fail_y = Alive2Reply {
            extended: false,
            ..fail_v
        };
        assert_eq!(fail_y.encode(), b"y\x01\x00\x63");
        for r in [fail_v, fail_y] {
            assert_eq!(decode_alive2_reply(&r.encode()), Ok(Some(r)));
        }
        assert_eq!(decode_alive2_reply(b"v\x00\x00"), Ok(None));
        assert_eq!(decode_alive2_reply(b"v\x00\x00\x00\x00"), Ok(None));
        assert!(decode_alive2_reply(b"y\x00\x00\x01\x02").is_err());
    }

    #[test]
    fn port2_reply_matches_observed_bytes() {
        let n = node(b"foo", b"");
        let wire = encode_port2_reply(Some(&n));
        assert_eq!(
            wire,
            [
                0x77, 0x00, 0x04, 0xd2, 0x4d, 0x00, 0x00, 0x06, 0x00, 0x05, 0x00, 0x03, b'f', b'o',
                b'o', 0x00, 0x00
            ]
        );
        assert_eq!(decode_port2_reply(&wire), Ok(Some(n)));
        assert_eq!(encode_port2_reply(None), b"w\x01");
        assert_eq!(decode_port2_reply(b"w\x01"), Ok(None));
        assert!(decode_port2_reply(&wire[..wire.len() - 1]).is_err());
        assert!(decode_port2_reply(b"x").is_err());
    }

    #[test]
    fn names_lines_decode_what_encodes() {
        let mut text = Vec::new();
        for (name, port) in [(&b"bar"[..], 2345), (b"a b", 1), (b"\xc3\xb8", 65535)] {
            encode_names_line(&mut text, name, port);
        }
        text.extend_from_slice(b"junk\nname c at port x\nname d at port 70000\n");
        assert_eq!(
            decode_names_lines(&text).collect::<Vec<_>>(),
            [(&b"bar"[..], 2345), (b"a b", 1), (b"\xc3\xb8", 65535)]
        );
    }

    #[test]
    fn text_lines() {
        let mut out = Vec::new();
        encode_names_line(&mut out, b"bar", 2345);
        encode_dump_active_line(&mut out, b"bar", 2345, 6);
        encode_dump_old_line(&mut out, b"foo", 1234, 5);
        assert_eq!(
            out,
            b"name bar at port 2345\n\
              active name     <bar> at port 2345, fd = 6\n\0\
              old/unused name <foo>, port = 1234, fd = 5 \n\0"
        );
        assert_eq!(encode_port_header(27311), [0, 0, 0x6a, 0xaf]);
        assert_eq!(
            decode_names_reply(b"\0\0\x6a\xafname"),
            Ok((27311, &b"name"[..]))
        );
    }
}
