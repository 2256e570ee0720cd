//! The wire codec on arbitrary bytes: framing, request parsing and every
//! reply decoder must never panic, must agree with the protocol's rules, and
//! whatever they accept must encode back to what they read.

#![no_main]

use epmd_core::codec::{self, FrameError, Request, MAX_REQUEST_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_framing(data);
    // Every body, not only framed ones: parse_request must hold up alone.
    check_request(data);
    check_replies(data);
});

/// §1: lengths 1..=3057, exactly Length bytes after the prefix.
fn check_framing(data: &[u8]) {
    let want = codec::next_read_len(data);
    match codec::check_frame(data) {
        Ok(None) => {
            assert!(want > 0, "an incomplete frame asks for more");
            assert!(data.len() + want <= MAX_REQUEST_LEN + 2);
        }
        Ok(Some(body)) => {
            assert_eq!(body.len() + 2, data.len());
            assert!((1..=MAX_REQUEST_LEN).contains(&body.len()));
            assert_eq!(want, 0, "a complete frame asks for nothing");
            if let Ok(request) = codec::parse_request(body) {
                let wire = request.encode().expect("a parsed request fits the wire");
                assert!(
                    wire.len() <= data.len(),
                    "encoding drops only ignored bytes"
                );
            }
        }
        Err(FrameError::BadLength(n)) => {
            assert!(n == 0 || n > MAX_REQUEST_LEN);
            assert_eq!(usize::from(u16::from_be_bytes([data[0], data[1]])), n);
        }
        Err(FrameError::TrailingBytes { got, expected }) => {
            assert_eq!(got, data.len());
            assert!(got > expected);
        }
    }
}

/// A parsed request re-encodes to a frame that parses to the same request.
fn check_request(body: &[u8]) {
    let Ok(request) = codec::parse_request(body) else {
        return;
    };
    match &request {
        Request::Alive2(node) => assert!(!node.name.contains(&0)),
        Request::PortPlease2 { name } => {
            assert!(!name.is_empty() && !name.contains(&0));
            assert!(std::str::from_utf8(name).is_ok());
        }
        Request::Stop { name } => assert!(!name.contains(&0)),
        Request::Names | Request::Dump | Request::Kill => {}
    }
    let wire = request
        .encode()
        .expect("fields of a parsed body fit 16 bits");
    if body.len() > MAX_REQUEST_LEN {
        // Bodies this long never reach parse_request from the server.
        return;
    }
    let again = codec::check_frame(&wire)
        .expect("a re-encoded request is a valid frame")
        .expect("and a complete one");
    // The two requests OTP's lenient parsing makes of bodies no client sends
    // (see `Request::encode`): their encoding is what OTP's clients send,
    // which the server drops.
    let lenient = match &request {
        Request::Stop { name } => name.is_empty(),
        Request::Alive2(node) => node.name.is_empty() && node.extra.is_empty(),
        _ => false,
    };
    if lenient {
        assert!(codec::parse_request(again).is_err());
        return;
    }
    assert_eq!(codec::parse_request(again), Ok(request));
}

/// Decoded replies encode back to the bytes decoded.
fn check_replies(data: &[u8]) {
    if let Ok(Some(reply)) = codec::decode_alive2_reply(data) {
        // Any non-zero result is a refusal, as for erl_epmd; the rest is exact.
        let wire = reply.encode();
        assert_eq!((wire[0], &wire[2..]), (data[0], &data[2..]));
        assert_eq!(reply.ok, data[1] == 0);
        assert_eq!(codec::decode_alive2_reply(&wire), Ok(Some(reply)));
    }
    match codec::decode_port2_reply(data) {
        Ok(Some(node)) => assert_eq!(codec::encode_port2_reply(Some(&node)), data),
        Ok(None) => assert!(data.len() == 2 && data[0] == b'w' && data[1] != 0),
        Err(_) => {}
    }
    if let Ok((port, text)) = codec::decode_names_reply(data) {
        assert_eq!([&codec::encode_port_header(port)[..], text].concat(), data);
    }
}
