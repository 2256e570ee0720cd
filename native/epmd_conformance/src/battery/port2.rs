//! PORT_PLEASE2_REQ (§3.2): lookups, the trailing-NUL rule, name checks and
//! the 254-character limit.

use crate::script::{Exchange, A};
use crate::wire::{self, smileys, Alive2};

/// A malformed or unservable lookup: dropped without a reply.
fn dropped(name: &str, about: &'static str, lookup: &[u8]) -> Exchange {
    Exchange::new(format!("port2/{name}"), about).request("PORT2", wire::port_please(lookup))
}

/// A name of `n` ASCII characters starting with `prefix`.
fn chars(prefix: &str, n: usize) -> Vec<u8> {
    let mut name = prefix.as_bytes().to_vec();
    name.resize(n, b'c');
    name
}

pub fn exchanges() -> Vec<Exchange> {
    vec![
        Exchange::new("port2/not_found", "an unknown name gets `w 01`").port_please("pp-nobody"),
        Exchange::new(
            "port2/found",
            "a registered name, with and without one trailing NUL",
        )
        .register(A, &Alive2::new("pp-found", 4501))
        .port_please("pp-found")
        .port_please(b"pp-found\0"),
        Exchange::new(
            "port2/two_trailing_nuls",
            "only one trailing NUL is tolerated",
        )
        .register(A, &Alive2::new("pp-nul2", 4502))
        .port_please(b"pp-nul2\0\0"),
        dropped("nul_inside", "a NUL inside the name", b"pp\0x"),
        dropped("leading_nul", "a NUL first", b"\0pp-x"),
        dropped("empty", "no name", b""),
        dropped("only_nul", "a name that is one NUL", b"\0"),
        dropped("bad_byte", "0xff is not UTF-8", b"pp-\xff"),
        dropped("overlong", "overlong encoding", b"pp-\xc0\xaf"),
        dropped("surrogate", "UTF-16 surrogate", b"pp-\xed\xa0\x80"),
        dropped(
            "truncated",
            "a sequence cut by the end of the name",
            b"pp-\xe2\x82",
        ),
        dropped(
            "truncated_before_nul",
            "a sequence cut by the trailing NUL",
            b"pp-\xe2\x82\0",
        ),
        Exchange::new("port2/254_chars", "254 characters are looked up")
            .port_please(chars("pp-a-", 254)),
        dropped(
            "255_chars",
            "255 characters: OTP counts its NUL and drops it (D2)",
            &chars("pp-a-", 255),
        ),
        dropped(
            "255_chars_and_nul",
            "255 characters and a trailing NUL (D2)",
            &[chars("pp-a-", 255), vec![0]].concat(),
        ),
        Exchange::new("port2/254_smileys", "254 4-byte characters are looked up")
            .port_please(smileys(254)),
        dropped("255_smileys", "255 4-byte characters (D2)", &smileys(255)),
        dropped(
            "3056_bytes",
            "the longest name a request can carry",
            &chars("pp-a-", 3056),
        ),
        Exchange::new(
            "port2/254_chars_registered",
            "a registered 254-character name is found",
        )
        .register(A, &Alive2::new(chars("pp-r-", 254), 4503))
        .port_please(chars("pp-r-", 254)),
        Exchange::new(
            "port2/255_chars_registered",
            "a registered 255-character name: OTP cannot find it, we do (D2)",
        )
        .register(A, &Alive2::new(chars("pp-m-", 255), 4506))
        .port_please(chars("pp-m-", 255)),
        Exchange::new(
            "port2/prefixes_do_not_match",
            "no prefix or extension matches",
        )
        .register(A, &Alive2::new("pp-long", 4504))
        .port_please("pp-lon")
        .port_please("pp-longer"),
        Exchange::new(
            "port2/bytes_after_name",
            "a NUL and more after the name is dropped",
        )
        .register(A, &Alive2::new("pp-after", 4505))
        .port_please(b"pp-after\0x"),
    ]
}
