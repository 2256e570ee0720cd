//! Framing (§1, §4): lengths, partial and pipelined requests, slow clients
//! and the packet timeout.

use crate::script::{Exchange, Reply, Until, A, B};
use crate::wire::{self, Alive2};

/// A gap OTP 25 always tolerates with `-packet_timeout 1` (it closes after 1
/// to 2 whole seconds of silence). Four of them make a request that takes
/// longer than the timeout as a whole: OTP 25 serves it, OTP 27 and later
/// close it when busy, and ours always does (deviation D3).
const DRIBBLE_MS: u64 = 700;
/// Long enough for OTP to read what came before as a separate packet.
const SPLIT_MS: u64 = 150;

/// NAMES padded with ignored body bytes to a given Length.
pub(super) fn padded_names(len: u16) -> Vec<u8> {
    let mut body = vec![b'n'];
    body.resize(usize::from(len), b'.');
    wire::with_length(len, &body)
}

pub fn exchanges() -> Vec<Exchange> {
    let slow_alive2 = Alive2::new("fr-slow-alive", 4201);
    let split_alive2 = Alive2::new("fr-split-alive", 4202);
    vec![
        Exchange::new("framing/length_3057", "the largest Length, 3057, is served")
            .isolated()
            .request_as("NAMES with Length 3057", padded_names(3057), Reply::Names),
        Exchange::new(
            "framing/length_3058",
            "Length 3058 is refused without a reply",
        )
        .request("NAMES with Length 3058", padded_names(3058)),
        Exchange::new("framing/length_63000", "a huge Length is refused").request(
            "Length 63000 and its data",
            wire::with_length(63000, &[b'n'; 63000]),
        ),
        Exchange::new(
            "framing/length_65535_header_only",
            "a 2-byte header of 65535 is refused at once",
        )
        .request("header ff ff", [0xff, 0xff]),
        Exchange::new("framing/length_0", "Length 0 is refused at once")
            .request("header 00 00", [0, 0]),
        Exchange::new("framing/ten_zero_bytes", "OTP's zero_length test")
            .request("ten zero bytes", [0; 10]),
        Exchange::new(
            "framing/no_data",
            "a silent connection is closed by the packet timeout",
        )
        .connect(A)
        .read_to_close(A, "silence"),
        Exchange::new(
            "framing/one_byte",
            "one byte, then silence: closed by the timeout",
        )
        .request("a lone 00", [0]),
        Exchange::new(
            "framing/header_only",
            "a header, then silence: closed by the timeout",
        )
        .request("header 00 03", [0, 3]),
        Exchange::new(
            "framing/partial_packet",
            "Length 100 with 16 bytes: closed by the timeout",
        )
        .request("16 of 100 bytes", wire::with_length(100, &[b'z'; 16])),
        Exchange::new(
            "framing/partial_then_half_close",
            "EOF before the packet is complete",
        )
        .connect(A)
        .send(A, wire::with_length(5, b"zab"))
        .shutdown(A)
        .read_to_close(A, "3 of 5 bytes, then EOF"),
        Exchange::new(
            "framing/complete_then_half_close",
            "EOF right after a complete request",
        )
        .connect(A)
        .send(A, wire::port_please("fr-nobody"))
        .shutdown(A)
        .read_to_close(A, "PORT2 then EOF"),
        Exchange::new(
            "framing/pipelined_names",
            "two requests in one write: refused",
        )
        .request("NAMES NAMES", [wire::NAMES, wire::NAMES].concat()),
        Exchange::new("framing/pipelined_port2", "two PORT2 in one write: refused").request(
            "PORT2 PORT2",
            [wire::port_please("fr-p1"), wire::port_please("fr-p2")].concat(),
        ),
        Exchange::new(
            "framing/port2_with_junk",
            "junk after a request, same write: refused",
        )
        .request(
            "PORT2 + junk",
            [wire::port_please("fr-j").as_slice(), b"junk"].concat(),
        ),
        Exchange::new(
            "framing/alive2_with_junk",
            "ALIVE2 and more in one write: no registration",
        )
        .connect(A)
        .send(
            A,
            [
                Alive2::new("fr-aj", 4203).bytes(),
                wire::port_please("fr-aj"),
            ]
            .concat(),
        )
        .read_to_close(A, "ALIVE2 + PORT2")
        .port_please("fr-aj"),
        Exchange::new(
            "framing/split_header",
            "the length arrives a byte at a time",
        )
        .connect(A)
        .send_pieces(A, SPLIT_MS, &[&[0][..], &[5], b"zfr-x"])
        .read_to_close(A, "PORT2 in three writes"),
        Exchange::new(
            "framing/split_then_junk",
            "once the length is known only that much is read: junk in a later write is left unread",
        )
        .register(A, &Alive2::new("fr-sj", 4204))
        .connect(B)
        .send_pieces(B, SPLIT_MS, &[&b"\x00\x06z"[..], b"fr-sjjunk"])
        .read_to_close(B, "PORT2 completed by a write with junk"),
        Exchange::new(
            "framing/split_alive2_then_junk",
            "an ALIVE2 completed by a write with junk registers, then the junk ends it",
        )
        .connect(A)
        .send_pieces(
            A,
            SPLIT_MS,
            &[
                split_alive2.bytes()[..5].to_vec(),
                [&split_alive2.bytes()[5..], b"J"].concat(),
            ],
        )
        .alive2_reply(A, &split_alive2, Until::Closed)
        .wait_gone("fr-split-alive"),
        Exchange::new(
            "framing/one_byte_then_too_much",
            "while the length is unknown a read takes all it can, so overflow is seen",
        )
        .connect(A)
        .send_pieces(A, SPLIT_MS, &[&[0][..], b"\x05zfr-yjunk"])
        .read_to_close(A, "00, then the rest with junk"),
        Exchange::new(
            "framing/slow_port2",
            "each gap under the timeout, the whole over it",
        )
        .register(A, &Alive2::new("fr-slow", 4205))
        .connect(B)
        .send_pieces(
            B,
            DRIBBLE_MS,
            &[&b"\x00\x08z"[..], b"fr", b"-s", b"l", b"ow"],
        )
        .read_to_close(B, "PORT2 dribbled over 2.8 s"),
        Exchange::new(
            "framing/slow_bytes",
            "a request a byte at a time, slower than the timeout overall",
        )
        .connect(A)
        .send_pieces(A, DRIBBLE_MS, &[[0], [3], *b"z", *b"f", *b"r"])
        .read_to_close(A, "PORT2 \"fr\" dribbled over 2.8 s"),
        Exchange::new(
            "framing/slow_alive2",
            "an ALIVE2 dribbled in five parts over 2.8 s",
        )
        .connect(A)
        .send_pieces(A, DRIBBLE_MS, &{
            let b = slow_alive2.bytes();
            [
                b[..1].to_vec(),
                b[1..7].to_vec(),
                b[7..15].to_vec(),
                b[15..20].to_vec(),
                b[20..].to_vec(),
            ]
        })
        .alive2_reply(A, &slow_alive2, Until::Bytes(6))
        .port_please("fr-slow-alive"),
        Exchange::new(
            "framing/stall_after_progress",
            "progress, then silence: closed by the timeout",
        )
        .connect(A)
        .send_pieces(A, DRIBBLE_MS, &[&b"\x00\x09zfr"[..], b"-st"])
        .read_to_close(A, "6 of 11 bytes, then silence"),
        Exchange::new(
            "framing/fast_bytewise",
            "a request a byte at a time, quickly",
        )
        .dribble(
            A,
            "PORT2 in 1-byte writes",
            &wire::port_please("fr-bytewise"),
            20,
        ),
    ]
}
