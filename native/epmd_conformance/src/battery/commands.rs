//! Unknown and legacy command codes (§2): dropped without a reply.

use crate::script::Exchange;
use crate::wire;

pub fn exchanges() -> Vec<Exchange> {
    let legacy_alive = [b"\x10\x68".as_slice(), b"cm-legacy"].concat();
    let cases: [(u8, &[u8], &'static str); 12] = [
        (b'a', &legacy_alive, "legacy ALIVE_REQ"),
        (b'p', b"cm-legacy", "legacy PORT_REQ"),
        (b'Y', b"\x00\x01", "legacy ALIVE_OK_RESP"),
        (b'y', b"\x00\x00\x01", "a reply code, ALIVE2_RESP"),
        (b'v', b"\x00\x00\x00\x00\x01", "a reply code, ALIVE2_X_RESP"),
        (b'w', b"\x01", "a reply code, PORT2_RESP"),
        (b'Q', b"", "unknown command"),
        (b'N', b"", "NAMES in upper case"),
        (b'X', b"cm", "ALIVE2 in upper case"),
        (0x00, b"", "command code 0"),
        (0xff, b"\xff\xff", "command code 255"),
        (b'\n', b"", "a newline"),
    ];
    cases
        .into_iter()
        .map(|(code, rest, about)| {
            Exchange::new(format!("commands/unknown_{code:02x}"), about)
                .request(format!("command {code:#04x}"), wire::command(code, rest))
        })
        .collect()
}
