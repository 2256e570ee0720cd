//! Where our EPMD answers differently from OTP's on purpose. Each entry names
//! the exchange that shows it and the observations allowed to differ;
//! docs/COMPATIBILITY.md carries the same table, with the OTP versions each
//! shows against.

/// A deliberate difference from OTP's behaviour.
#[derive(Debug)]
pub struct Deviation {
    pub id: &'static str,
    /// Where it shows: battery exchanges, each with the label of the
    /// observation that may differ.
    pub shows: &'static [(&'static str, &'static str)],
    pub otp: &'static str,
    pub ours: &'static str,
    pub reason: &'static str,
}

pub const DEVIATIONS: &[Deviation] = &[
    Deviation {
        id: "D1",
        shows: &[("alive2/duplicate_reply_lost", "#1: PORT2 \"al-lost\"")],
        otp: "when writing the reply to a refused (duplicate) ALIVE2 fails, epmd unregisters \
          the name, which removes the other, live node of that name; its socket stays \
          open, registered nowhere",
        ours: "a failed reply write only undoes the registration that connection made; the \
           live node keeps its name",
        reason: "a client that resets its connection early must not be able to unregister \
             somebody else's node (OTP's own comment calls the registration socket the \
             node's lifeline)",
    },
    Deviation {
        id: "D2",
        shows: &[
            ("port2/255_chars_registered", "#1: PORT2 <255 bytes>"),
            ("port2/255_chars", "#1: PORT2"),
            ("port2/255_chars_and_nul", "#1: PORT2"),
            ("port2/255_smileys", "#1: PORT2"),
            ("alive2/name_255_ascii", "#1: PORT2 <255 bytes>"),
            ("alive2/name_255_ascii", "#2: PORT2 <256 bytes>"),
            ("alive2/name_1020_bytes", "#1: PORT2 <1020 bytes>"),
        ],
        otp: "PORT2 counts the C string terminator as a code point, so a name of 255 code \
              points is dropped without a reply: a node registered under it (ALIVE2 accepts \
              255) can never be looked up",
        ours: "PORT2 accepts every name ALIVE2 accepts: up to 255 code points (`w 00 …` when \
               registered, `w 01` when not)",
        reason: "a node that registers must be reachable; no client relies on the drop",
    },
    Deviation {
        id: "D3",
        shows: &[
            ("framing/slow_port2", "B: PORT2 dribbled over 2.8 s"),
            ("framing/slow_bytes", "A: PORT2 \"fr\" dribbled over 2.8 s"),
            (
                "framing/slow_alive2",
                "A: ALIVE2 reply for \"fr-slow-alive\"",
            ),
            ("framing/slow_alive2", "#1: PORT2 \"fr-slow-alive\""),
        ],
        otp: "OTP 25.2.3 restarts the packet timeout with every read, so a request dribbled \
              with gaps under the timeout is served however long it takes. From OTP 27 (the \
              CVE-2026-42792 mitigation) the timeout runs from the accept, but epmd checks it \
              only when some other connection wakes it, so the same client is closed on a \
              busy host and served on an idle one",
        ours: "the whole request must arrive within the packet timeout (plus OTP's rounding \
               to whole seconds) of the accept, whatever else the server is doing",
        reason: "a client must not hold a connection open with a byte now and then; the \
                 newer OTPs mean the same, and the outcome should not depend on other traffic",
    },
];

/// The deviation that allows observation `label` of `exchange` to differ.
pub fn explaining(exchange: &str, label: &str) -> Option<&'static Deviation> {
    DEVIATIONS
        .iter()
        .find(|d| d.shows.contains(&(exchange, label)))
}
