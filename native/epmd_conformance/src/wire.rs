//! Request bytes for the battery, built here rather than with `epmd_core`'s
//! codec so that a bug in the implementation under test cannot hide itself by
//! shaping its own test input. Section numbers refer to docs/PROTOCOL.md.

/// Frames a request body with its big-endian `u16` length (§1). Bodies longer
/// than 65535 bytes are not requests any server could receive.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(body.len()).expect("request body fits a u16 length");
    with_length(len, body)
}

/// A `Length` header followed by arbitrary bytes: for lying lengths.
pub fn with_length(len: u16, rest: &[u8]) -> Vec<u8> {
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(rest);
    out
}

/// An ALIVE2_REQ (§3.1); fields default to what OTP 25's `erl_epmd` sends.
#[derive(Debug, Clone)]
pub struct Alive2 {
    pub port: u16,
    pub node_type: u8,
    pub protocol: u8,
    pub highest_version: u16,
    pub lowest_version: u16,
    pub name: Vec<u8>,
    pub extra: Vec<u8>,
    /// Bytes after Extra, inside the frame (OTP ignores them).
    pub trailing: Vec<u8>,
}

impl Alive2 {
    pub fn new(name: impl AsRef<[u8]>, port: u16) -> Self {
        Alive2 {
            port,
            node_type: 77,
            protocol: 0,
            highest_version: 6,
            lowest_version: 5,
            name: name.as_ref().to_vec(),
            extra: Vec::new(),
            trailing: Vec::new(),
        }
    }

    pub fn highest(mut self, v: u16) -> Self {
        self.highest_version = v;
        self
    }

    pub fn lowest(mut self, v: u16) -> Self {
        self.lowest_version = v;
        self
    }

    pub fn node_type(mut self, t: u8) -> Self {
        self.node_type = t;
        self
    }

    pub fn protocol(mut self, p: u8) -> Self {
        self.protocol = p;
        self
    }

    pub fn extra(mut self, extra: impl AsRef<[u8]>) -> Self {
        self.extra = extra.as_ref().to_vec();
        self
    }

    pub fn trailing(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.trailing = bytes.as_ref().to_vec();
        self
    }

    /// Length of the reply a server sends: `v` (6 bytes) for HighestVersion
    /// ≥ 6, else `y` (4 bytes) (§3.1 step 7).
    pub fn reply_len(&self) -> usize {
        if self.highest_version >= 6 {
            6
        } else {
            4
        }
    }

    /// The body, with Nlen and Elen telling the truth.
    pub fn body(&self) -> Vec<u8> {
        let nlen = u16::try_from(self.name.len()).expect("name fits a u16 length");
        let elen = u16::try_from(self.extra.len()).expect("extra fits a u16 length");
        self.body_with_lengths(nlen, elen)
    }

    /// The body with the given Nlen and Elen, whatever the fields hold.
    pub fn body_with_lengths(&self, nlen: u16, elen: u16) -> Vec<u8> {
        let mut b = vec![b'x'];
        b.extend_from_slice(&self.port.to_be_bytes());
        b.extend_from_slice(&[self.node_type, self.protocol]);
        b.extend_from_slice(&self.highest_version.to_be_bytes());
        b.extend_from_slice(&self.lowest_version.to_be_bytes());
        b.extend_from_slice(&nlen.to_be_bytes());
        b.extend_from_slice(&self.name);
        b.extend_from_slice(&elen.to_be_bytes());
        b.extend_from_slice(&self.extra);
        b.extend_from_slice(&self.trailing);
        b
    }

    /// The framed request.
    pub fn bytes(&self) -> Vec<u8> {
        frame(&self.body())
    }
}

/// PORT_PLEASE2_REQ for `name`, sent as is (§3.2).
pub fn port_please(name: impl AsRef<[u8]>) -> Vec<u8> {
    command(b'z', name.as_ref())
}

/// STOP_REQ for `name`, sent as is (§3.6).
pub fn stop(name: impl AsRef<[u8]>) -> Vec<u8> {
    command(b's', name.as_ref())
}

/// A one-byte command code followed by `rest`, framed.
pub fn command(code: u8, rest: &[u8]) -> Vec<u8> {
    let mut body = vec![code];
    body.extend_from_slice(rest);
    frame(&body)
}

pub const NAMES: &[u8] = b"\x00\x01n";
pub const DUMP: &[u8] = b"\x00\x01d";
pub const KILL: &[u8] = b"\x00\x01k";

/// `n` 4-byte characters of U+1F608, as in OTP's `unicode_name` tests.
pub fn smileys(n: usize) -> Vec<u8> {
    "\u{1F608}".repeat(n).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alive2_matches_the_bytes_erl_epmd_sends() {
        // Captured from OTP 25's erl_epmd (protocol doc §10.3).
        let wire = [
            0x00, 0x10, 0x78, 0x8d, 0x93, 0x4d, 0x00, 0x00, 0x06, 0x00, 0x05, 0x00, 0x03, 0x63,
            0x61, 0x70, 0x00, 0x00,
        ];
        assert_eq!(Alive2::new("cap", 0x8d93).bytes(), wire);
        assert_eq!(Alive2::new("cap", 1).reply_len(), 6);
        assert_eq!(Alive2::new("cap", 1).highest(5).reply_len(), 4);
    }

    #[test]
    fn simple_requests() {
        assert_eq!(port_please("foo"), b"\x00\x04zfoo");
        assert_eq!(stop("foo"), b"\x00\x04sfoo");
        assert_eq!(with_length(3058, b"n"), b"\x0b\xf2n");
        assert_eq!(smileys(2).len(), 8);
    }
}
