//! What the test suites of epmd_core and epmd_cli share: raw request bytes,
//! built by hand so that tests do not trust the codec they check, and the
//! masking of what cannot match between two servers. (The differential
//! battery keeps an encoder of its own, `epmd_conformance::wire`, on purpose.)

/// A request on the wire: the 2-byte length, then `body` (§1).
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// The fields of an ALIVE2 request (§3.1).
#[derive(Debug, Clone)]
pub struct Alive2<'a> {
    pub name: &'a [u8],
    pub port: u16,
    pub node_type: u8,
    pub highest_version: u16,
    pub lowest_version: u16,
    pub extra: &'a [u8],
}

impl<'a> Alive2<'a> {
    /// As erl_epmd registers a node: type `M`, versions 6 and 5, no extra.
    pub fn erl_epmd(name: &'a [u8], port: u16) -> Self {
        Alive2 {
            name,
            port,
            node_type: b'M',
            highest_version: 6,
            lowest_version: 5,
            extra: b"",
        }
    }

    /// The framed request.
    pub fn bytes(&self) -> Vec<u8> {
        let mut body = vec![b'x'];
        body.extend_from_slice(&self.port.to_be_bytes());
        body.extend_from_slice(&[self.node_type, 0]);
        body.extend_from_slice(&self.highest_version.to_be_bytes());
        body.extend_from_slice(&self.lowest_version.to_be_bytes());
        body.extend_from_slice(&(self.name.len() as u16).to_be_bytes());
        body.extend_from_slice(self.name);
        body.extend_from_slice(&(self.extra.len() as u16).to_be_bytes());
        body.extend_from_slice(self.extra);
        frame(&body)
    }
}

/// Replaces each `fd = <digits>` with `fd = #`: DUMP shows the server's own
/// descriptors, which no two servers share (§3.4).
pub fn mask_fds(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(b"fd = ") {
            out.extend_from_slice(b"fd = #");
            i += 5;
            let digits = text[i..].iter().take_while(|b| b.is_ascii_digit()).count();
            assert!(digits > 0, "fd without a number");
            i += digits;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alive2_as_erl_epmd_sends_it() {
        // Captured from OTP 25's erl_epmd registering `cap` on port 36243.
        assert_eq!(
            Alive2::erl_epmd(b"cap", 36243).bytes(),
            b"\x00\x10\x78\x8d\x93\x4d\x00\x00\x06\x00\x05\x00\x03cap\x00\x00"
        );
    }

    #[test]
    fn fds_are_masked() {
        assert_eq!(
            mask_fds(b"active name     <a> at port 1, fd = 12\n\0"),
            b"active name     <a> at port 1, fd = #\n\0"
        );
    }
}
