//! ALIVE2_REQ (§3.1, §5): valid and malformed registrations, name and extra
//! limits, UTF-8, duplicates, creations, and the life of the registration
//! socket.

use crate::script::{Delay, Exchange, A, B, C};
use crate::wire::{self, smileys, Alive2};

/// Longer than OTP's packet timeout (1 s, checked in whole seconds).
const PAST_TIMEOUT_MS: u64 = 2500;

/// A name of exactly `len` ASCII bytes starting with `prefix`.
fn ascii_name(prefix: &str, len: usize) -> Vec<u8> {
    let mut name = prefix.as_bytes().to_vec();
    name.resize(len, b'a');
    name
}

/// A registration that OTP refuses with creation 99; its socket stays open
/// past the packet timeout.
fn refused(name: &str, about: &'static str, req: Alive2) -> Exchange {
    Exchange::new(format!("alive2/{name}"), about)
        .register(A, &req)
        .pause_ms(PAST_TIMEOUT_MS)
        .check_open(A, "refused registration socket, past the packet timeout")
}

/// A malformed ALIVE2 body: dropped without a reply.
fn malformed(name: &str, about: &'static str, body: Vec<u8>) -> Exchange {
    Exchange::new(format!("alive2/{name}"), about).request("malformed ALIVE2", wire::frame(&body))
}

/// A registration, then a lookup of the same name.
fn registers(name: &str, about: &'static str, req: Alive2) -> Exchange {
    let lookup = req.name.clone();
    Exchange::new(format!("alive2/{name}"), about)
        .register(A, &req)
        .port_please(lookup)
}

fn registrations() -> Vec<Exchange> {
    vec![
        Exchange::new(
            "alive2/v6",
            "HighestVersion 6 gets a `v` reply; the socket holds the name",
        )
        .register(A, &Alive2::new("al-v6", 4301))
        .check_open(A, "registration socket")
        .port_please("al-v6")
        .unregister(A, "al-v6")
        .port_please("al-v6"),
        registers(
            "v5",
            "HighestVersion 5 gets a `y` reply",
            Alive2::new("al-v5", 4302).highest(5),
        ),
        registers(
            "hv0",
            "HighestVersion 0 gets a `y` reply",
            Alive2::new("al-hv0", 4303).highest(0).lowest(0),
        ),
        registers(
            "hv7",
            "HighestVersion 7 gets a `v` reply",
            Alive2::new("al-hv7", 4304).highest(7),
        ),
        registers(
            "hv_max",
            "HighestVersion 65535 gets a `v` reply",
            Alive2::new("al-hvmax", 4305).highest(0xffff),
        ),
        registers(
            "lowest_above_highest",
            "LowestVersion is never checked",
            Alive2::new("al-low", 4306).lowest(9),
        ),
        Exchange::new(
            "alive2/fields_echoed",
            "type, protocol, versions and extra come back verbatim",
        )
        .register(
            A,
            &Alive2::new("al-echo", 2345)
                .node_type(200)
                .protocol(7)
                .highest(5)
                .lowest(5)
                .extra(b"EX\0\x01"),
        )
        .port_please(b"al-echo\0"),
        registers(
            "hidden_node",
            "node type 72 (hidden)",
            Alive2::new("al-hidden", 4307).node_type(72),
        ),
        registers(
            "c_node",
            "what ei_publish sends: type 104, versions 6..6",
            Alive2::new("al-cnode", 4308).node_type(104).lowest(6),
        ),
        registers("port_zero", "port 0", Alive2::new("al-port0", 0)),
        registers("port_max", "port 65535", Alive2::new("al-portmax", 65535)),
        registers(
            "extra_with_nuls",
            "OTP's returns_valid_populated_extra_with_nulls",
            Alive2::new("al-xnul", 4309).extra(b"ABC\0\0"),
        ),
        registers(
            "extra_1020",
            "the longest extra, 1020 bytes",
            Alive2::new("al-x1020", 4310).extra([0xff; 1020]),
        ),
        registers(
            "trailing_after_extra",
            "bytes after Extra are ignored",
            Alive2::new("al-trail", 4311).trailing(b"junk"),
        ),
        registers(
            "length_3057",
            "a registration padded to the largest Length",
            Alive2::new("al-pad", 4312)
                .extra([7; 1020])
                .trailing([0x55; 3057 - 13 - 6 - 1020]),
        ),
        registers(
            "unicode_name",
            "OTP's unicode_name: one 4-byte character, type 72",
            Alive2::new(smileys(1), 4313).node_type(72),
        ),
        registers(
            "long_unicode_name",
            "OTP's long_unicode_name: 201 4-byte characters",
            Alive2::new(smileys(201), 4314),
        ),
        registers(
            "mixed_unicode_name",
            "1-, 2- and 3-byte characters",
            Alive2::new("al-nöde-名前", 4315),
        ),
        registers(
            "name_with_space",
            "a space in a name",
            Alive2::new("al with space", 4316),
        ),
        Exchange::new(
            "alive2/name_255_ascii",
            "255 characters register; PORT2 cannot find them",
        )
        .register(A, &Alive2::new(ascii_name("al-255-", 255), 4317))
        .port_please(ascii_name("al-255-", 255))
        .port_please([ascii_name("al-255-", 255), vec![0]].concat()),
        Exchange::new(
            "alive2/name_1020_bytes",
            "255 4-byte characters, 1020 bytes, register",
        )
        .register(A, &Alive2::new(smileys(255), 4318))
        .port_please(smileys(255)),
        Exchange::new(
            "alive2/empty_name",
            "an empty name registers when one byte follows the 13-byte body",
        )
        .isolated()
        .register(A, &Alive2::new("", 1000).trailing(b"!"))
        .names("NAMES with the empty name")
        .port_please("")
        .unregister(A, "")
        .names("NAMES after it left"),
        Exchange::new(
            "alive2/empty_name_with_extra",
            "an empty name with a 1-byte extra",
        )
        .isolated()
        .register(A, &Alive2::new("", 1001).extra(b"E"))
        .names("NAMES with the empty name"),
    ]
}

/// Names that are not UTF-8, or not in its shortest form.
const BAD_UTF8_NAMES: &[(&str, &str, &[u8])] = &[
    ("name_bad_byte", "0xff is not UTF-8", b"al-\xff"),
    ("name_overlong", "overlong encoding", b"al-\xc0\xaf"),
    (
        "name_overlong_3",
        "overlong 3-byte encoding",
        b"al-\xe0\x80\xaf",
    ),
    ("name_surrogate", "UTF-16 surrogate", b"al-\xed\xa0\x80"),
    ("name_above_max", "above U+10FFFF", b"al-\xf4\x90\x80\x80"),
    ("name_truncated", "truncated sequence", b"al-\xe2\x82"),
    ("name_continuation", "lone continuation byte", b"al-\x80x"),
    (
        "name_five_bytes",
        "5-byte sequence",
        b"al-\xf8\x88\x80\x80\x80",
    ),
];

fn refusals() -> Vec<Exchange> {
    let bad_utf8 = BAD_UTF8_NAMES
        .iter()
        .map(|&(name, about, bytes)| refused(name, about, Alive2::new(bytes, 1)));
    vec![
        refused(
            "extra_1021",
            "extra of 1021 bytes",
            Alive2::new("al-x1021", 1).extra([0xff; 1021]),
        ),
        refused(
            "extra_3039",
            "OTP's buffer_overrun_2: extra filling Length 3057",
            Alive2::new("al-e9", 1).extra([0xff; 3039]),
        ),
        refused(
            "name_256_ascii",
            "256 characters",
            Alive2::new(ascii_name("al-256-", 256), 1),
        ),
        refused(
            "name_1021_ascii",
            "1021 bytes",
            Alive2::new(ascii_name("al-1021-", 1021), 1),
        ),
        refused(
            "name_1024_bytes",
            "256 4-byte characters",
            Alive2::new(smileys(256), 1),
        ),
        refused(
            "alive_req_too_large",
            "OTP's alive_req_too_large: 600 characters",
            Alive2::new(ascii_name("al-600-", 600), 1).highest(5),
        ),
    ]
    .into_iter()
    .chain(bad_utf8)
    .chain([refused(
        "refused_v5",
        "a refusal in `y` form",
        Alive2::new(b"al-\xff5", 1).highest(5),
    )])
    .collect()
}

fn malformed_bodies() -> Vec<Exchange> {
    let base = Alive2::new("gurka", 1).highest(5).lowest(5);
    let full = base.body();
    vec![
        malformed("body_1", "just the command code", b"x".to_vec()),
        malformed("body_9", "OTP's alive_req_too_small_2", full[..9].to_vec()),
        malformed(
            "body_11",
            "OTP's alive_req_too_small_1",
            Alive2::new("", 1).body()[..11].to_vec(),
        ),
        malformed(
            "body_13",
            "empty name and extra, nothing more",
            Alive2::new("", 1).body(),
        ),
        malformed(
            "elen_beyond",
            "OTP's buffer_overrun_1: Elen 10, no extra",
            base.body_with_lengths(5, 10),
        ),
        malformed(
            "elen_one_short",
            "Elen one more than sent",
            base.clone().extra(b"1234").body_with_lengths(5, 5),
        ),
        malformed(
            "nlen_beyond",
            "Nlen past the body",
            base.body_with_lengths(200, 0),
        ),
        malformed("nlen_max", "Nlen 65535", base.body_with_lengths(0xffff, 0)),
        malformed(
            "name_with_nul",
            "OTP's name_with_null_inside",
            Alive2::new(b"foo\0bar", 1).body(),
        ),
        malformed(
            "name_nul_terminated",
            "OTP's name_null_terminated",
            Alive2::new(b"al-nt\0", 1).body(),
        ),
        malformed(
            "name_only_nul",
            "a name that is one NUL",
            Alive2::new(b"\0", 1).body(),
        ),
        Exchange::new(
            "alive2/extra_3040",
            "extra of 3040 makes Length 3058: closed",
        )
        .request(
            "ALIVE2 with Length 3058",
            Alive2::new("al-e0", 1).extra([0xff; 3040]).bytes(),
        ),
    ]
}

fn lifecycle() -> Vec<Exchange> {
    let dup = |port| Alive2::new("al-dup", port);
    let dup5 = |port| Alive2::new("al-dup5", port).highest(5);
    let again = |port| Alive2::new("al-again", port);
    vec![
        Exchange::new(
            "alive2/duplicate_v6",
            "a taken name is refused; the refused socket stays open",
        )
        .register(A, &dup(4401))
        .register(B, &dup(4402))
        .port_please("al-dup")
        .pause_ms(PAST_TIMEOUT_MS)
        .check_open(B, "refused socket, past the packet timeout")
        .send(B, b"!")
        .read_to_close(B, "refused socket after it sent data")
        .port_please("al-dup")
        .check_open(A, "registration socket"),
        Exchange::new(
            "alive2/duplicate_v5",
            "a refusal in `y` form; closing it unregisters nothing",
        )
        .register(A, &dup5(4403))
        .register(B, &dup5(4404))
        .close(B)
        .pause_ms(200)
        .port_please("al-dup5"),
        Exchange::new(
            "alive2/duplicate_then_owner_leaves",
            "the name is free once its owner leaves",
        )
        .register(A, &Alive2::new("al-owner", 4405))
        .register(B, &Alive2::new("al-owner", 4406))
        .unregister(A, "al-owner")
        .register(C, &Alive2::new("al-owner", 4407))
        .close(B)
        .pause_ms(200)
        .port_please("al-owner"),
        Exchange::new(
            "alive2/reregister_bumps",
            "each re-registration bumps the creation by one",
        )
        .register(A, &again(4408))
        .unregister(A, "al-again")
        .register(B, &again(4409))
        .unregister(B, "al-again")
        .register(C, &again(4410)),
        Exchange::new(
            "alive2/reregister_v5_after_v6",
            "creation 1..3 follows the 32-bit counter",
        )
        .register(A, &Alive2::new("al-mix", 4411))
        .unregister(A, "al-mix")
        .register(B, &Alive2::new("al-mix", 4412).highest(5))
        .unregister(B, "al-mix")
        .register(C, &Alive2::new("al-mix", 4413)),
        Exchange::new(
            "alive2/data_on_registered_socket",
            "any data ends the registration",
        )
        .register(A, &Alive2::new("al-data", 4414))
        .send(A, b"?")
        .read_to_close(A, "registration socket after one byte")
        .wait_gone("al-data")
        .port_please("al-data"),
        Exchange::new(
            "alive2/second_alive2_on_socket",
            "a second ALIVE2 on a registered socket ends it",
        )
        .register(A, &Alive2::new("al-first", 4415))
        .send(A, Alive2::new("al-second", 4416).bytes())
        .read_to_close(A, "registration socket after a second ALIVE2")
        .wait_gone("al-first")
        .port_please("al-second"),
        Exchange::new(
            "alive2/half_close_registered",
            "EOF from the node ends the registration",
        )
        .register(A, &Alive2::new("al-eof", 4417))
        .shutdown(A)
        .read_to_close(A, "registration socket after EOF")
        .wait_gone("al-eof"),
        Exchange::new(
            "alive2/reset_registered",
            "a reset from the node ends the registration",
        )
        .register(A, &Alive2::new("al-rst", 4418))
        .reset(A)
        .wait_gone("al-rst")
        .port_please("al-rst"),
        Exchange::new(
            "alive2/close_before_reply",
            "a node that closes before the reply is not left registered",
        )
        .connect(A)
        .send(A, Alive2::new("al-gone", 4419).bytes())
        .close(A)
        .wait_gone("al-gone"),
        Exchange::new(
            "alive2/outlives_packet_timeout",
            "registrations never time out",
        )
        .register(A, &Alive2::new("al-long", 4420))
        .pause_ms(PAST_TIMEOUT_MS)
        .check_open(A, "registration socket, past the packet timeout")
        .port_please("al-long"),
        Exchange::new(
            "alive2/refused_socket_then_data",
            "data on a refused socket closes it",
        )
        .register(A, &Alive2::new(b"al-\xfe", 1))
        .send(A, b"?")
        .read_to_close(A, "refused socket after one byte"),
        Exchange::new("alive2/case_sensitive", "names compare byte for byte")
            .register(A, &Alive2::new("al-Case", 4421))
            .port_please("al-case")
            .port_please("al-Case"),
        Exchange::new(
            "alive2/duplicate_reply_lost",
            "a refused duplicate that resets before its reply must not unregister the owner (D1)",
        )
        .needs(Delay::Write)
        .register(A, &Alive2::new("al-lost", 4422))
        .connect(B)
        .send(B, Alive2::new("al-lost", 4423).bytes())
        // Accepted and read by now; the 1 s write delay is still running.
        .pause_ms(300)
        .reset(B)
        .pause_ms(PAST_TIMEOUT_MS)
        .port_please("al-lost")
        .check_open(A, "registration socket"),
    ]
}

pub fn exchanges() -> Vec<Exchange> {
    [registrations(), refusals(), malformed_bodies(), lifecycle()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_registration_is_exactly_the_largest_length() {
        let req = Alive2::new("al-pad", 1)
            .extra([7; 1020])
            .trailing([0x55; 3057 - 13 - 6 - 1020]);
        assert_eq!(req.body().len(), 3057);
        assert_eq!(
            Alive2::new("al-e9", 1).extra([0xff; 3039]).body().len(),
            3057
        );
        assert_eq!(
            Alive2::new("al-e0", 1).extra([0xff; 3040]).body().len(),
            3058
        );
        assert_eq!(smileys(255).len(), 1020);
        assert_eq!(ascii_name("al-", 255).len(), 255);
    }
}
