//! The minimal responder (`epmd-bench responder --port P`): the least a
//! server can do for the suite's requests. The suite measures it beside the
//! servers where a lone client's latency is the whole story, to show how
//! much of that latency is left for any server to remove.
//!
//! One thread, blocking: it accepts a connection, reads its request, writes
//! the reply and closes, as OTP's epmd does, and does nothing else: no event
//! loop, no timeouts, no limits, no check of who asks. A registration holds
//! until the responder exits, whether its connection closes or not. Not an
//! EPMD: it answers ALIVE2, PORT2 and NAMES, and closes on anything else.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};

use epmd_core::codec::{self, Alive2Reply, NodeInfo, Request};

/// Serves on 127.0.0.1:`port` until killed; returns only when the port
/// cannot be had.
pub fn serve(port: u16) -> io::Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    let mut nodes: HashMap<Vec<u8>, NodeInfo> = HashMap::new();
    let mut held = Vec::new();
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let Some(request) = read_request(&mut stream) else {
            continue;
        };
        let reply = match request {
            Request::Alive2(node) => {
                let reply = Alive2Reply {
                    extended: node.wants_extended_creation(),
                    ok: true,
                    creation: 1,
                };
                nodes.insert(node.name.clone(), node);
                if stream.write_all(&reply.encode()).is_ok() {
                    held.push(stream);
                }
                continue;
            }
            Request::PortPlease2 { name } => codec::encode_port2_reply(nodes.get(&name)),
            Request::Names => {
                let mut out = codec::encode_port_header(u32::from(port)).to_vec();
                for node in nodes.values() {
                    codec::encode_names_line(&mut out, &node.name, node.port);
                }
                out
            }
            _ => continue,
        };
        let _ = stream.write_all(&reply);
    }
    Ok(())
}

/// Reads one whole request; `None` when the connection ends first or sends
/// something that is not one.
fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    loop {
        let start = buf.len();
        buf.resize(start + codec::next_read_len(&buf), 0);
        let n = stream.read(&mut buf[start..]).ok().filter(|&n| n > 0)?;
        buf.truncate(start + n);
        if let Some(body) = codec::check_frame(&buf).ok()? {
            return codec::parse_request(body).ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{servers, wire};
    use std::net::SocketAddr;
    use std::time::Duration;

    #[tokio::test]
    async fn it_answers_what_the_suite_asks() {
        let port = servers::free_port().unwrap();
        std::thread::spawn(move || serve(port));
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let timeout = Duration::from_secs(5);
        let mut reply = Vec::new();
        // Ready once it answers NAMES, with nothing registered yet.
        while wire::exchange(addr, &wire::encode(&Request::Names), &mut reply, timeout)
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(reply, codec::encode_port_header(u32::from(port)));
        let mut held = crate::registrations::Held::default();
        held.register(addr, "n", 0, 2, timeout).await.unwrap();
        let name = crate::registrations::name("n", 1);
        let lookup = Request::PortPlease2 {
            name: name.clone().into_bytes(),
        };
        wire::exchange(addr, &wire::encode(&lookup), &mut reply, timeout)
            .await
            .unwrap();
        wire::check_port2(&reply, name.as_bytes()).unwrap();
        let missing = Request::PortPlease2 {
            name: b"none".to_vec(),
        };
        wire::exchange(addr, &wire::encode(&missing), &mut reply, timeout)
            .await
            .unwrap();
        assert_eq!(reply, codec::encode_port2_reply(None));
    }
}
