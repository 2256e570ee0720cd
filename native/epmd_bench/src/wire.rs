//! One EPMD exchange on one connection, as a node or `erl_epmd` makes it:
//! connect (optionally from a chosen loopback source address), send the
//! request, read the reply. Encoding and decoding are epmd_core's codec.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use epmd_core::codec::{self, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

/// Why an exchange did not produce the expected reply.
#[derive(Debug)]
pub enum WireError {
    Io(io::Error),
    Timeout,
    /// The server answered something other than what was expected.
    Unexpected,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Io(e) => e.fmt(f),
            WireError::Timeout => f.write_str("no reply in time"),
            WireError::Unexpected => f.write_str("unexpected reply"),
        }
    }
}

impl From<io::Error> for WireError {
    /// A blocking socket reports its timeout as an I/O error.
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => WireError::Timeout,
            _ => WireError::Io(e),
        }
    }
}

/// The request bytes, ready to send.
pub fn encode(request: &Request) -> Vec<u8> {
    request
        .encode()
        .expect("benchmark requests fit in an EPMD packet")
}

/// Connects to `addr`, from `source` when given. Binding without a port
/// (IP_BIND_ADDRESS_NO_PORT) lets the kernel pick the port per destination,
/// so each source address adds a full ephemeral range of connections.
async fn connect(addr: SocketAddr, source: Option<Ipv4Addr>) -> io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect(addr).await;
    };
    let socket = TcpSocket::new_v4()?;
    bind_address_no_port(&socket)?;
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    socket.connect(addr).await
}

fn bind_address_no_port(socket: &TcpSocket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    setsockopt(
        socket.as_raw_fd(),
        libc::IPPROTO_IP,
        libc::IP_BIND_ADDRESS_NO_PORT,
        &on,
    )
}

/// `setsockopt(2)` with a value of any plain C type.
pub fn setsockopt<T>(
    fd: std::os::fd::RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` is a live `T`, and its size is passed with it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sends a one-shot request (PORT2, NAMES) and reads the reply until the
/// server closes, into `reply`.
pub async fn exchange(
    addr: SocketAddr,
    request: &[u8],
    reply: &mut Vec<u8>,
    limit: Duration,
) -> Result<(), WireError> {
    reply.clear();
    let io = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(request).await?;
        stream.read_to_end(reply).await?;
        Ok::<_, io::Error>(())
    };
    match timeout(limit, io).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(WireError::Timeout),
    }
}

/// [`exchange`] with blocking calls on the caller's thread, as a lone
/// client makes it: no event loop of its own between the server's reply
/// and the clock. `limit` bounds the connect and each read and write.
pub fn exchange_blocking(
    addr: SocketAddr,
    request: &[u8],
    reply: &mut Vec<u8>,
    limit: Duration,
) -> Result<(), WireError> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, limit)?;
    stream.set_read_timeout(Some(limit))?;
    stream.set_write_timeout(Some(limit))?;
    stream.write_all(request)?;
    reply.clear();
    stream.read_to_end(reply).map(drop).map_err(WireError::from)
}

/// Checks a PORT2 reply: the node `name` must be found.
pub fn check_port2(reply: &[u8], name: &[u8]) -> Result<(), WireError> {
    match codec::decode_port2_reply(reply) {
        Ok(Some(node)) if node.name == name => Ok(()),
        _ => Err(WireError::Unexpected),
    }
}

/// Checks a NAMES reply: exactly `nodes` lines.
pub fn check_names(reply: &[u8], nodes: usize) -> Result<(), WireError> {
    match codec::decode_names_reply(reply) {
        Ok((_, text)) if text.iter().filter(|&&b| b == b'\n').count() == nodes => Ok(()),
        _ => Err(WireError::Unexpected),
    }
}

/// Registers with ALIVE2 and returns the connection that holds the
/// registration; the registration ends when it is dropped.
pub async fn register(
    addr: SocketAddr,
    source: Option<Ipv4Addr>,
    request: &[u8],
    limit: Duration,
) -> Result<TcpStream, WireError> {
    let io = async {
        let mut stream = connect(addr, source).await?;
        stream.write_all(request).await?;
        let mut reply = Vec::with_capacity(8);
        let mut chunk = [0u8; 8];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(WireError::Unexpected);
            }
            reply.extend_from_slice(&chunk[..n]);
            match codec::decode_alive2_reply(&reply) {
                Ok(None) => continue,
                Ok(Some(r)) if r.ok => return Ok(stream),
                _ => return Err(WireError::Unexpected),
            }
        }
    };
    match timeout(limit, io).await {
        Ok(r) => r,
        Err(_) => Err(WireError::Timeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocking_exchange_that_gets_no_reply_times_out() {
        // The kernel completes the handshake; nobody accepts or answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut reply = Vec::new();
        let outcome = exchange_blocking(
            silent.local_addr().unwrap(),
            &encode(&Request::Names),
            &mut reply,
            Duration::from_millis(50),
        );
        assert!(matches!(outcome, Err(WireError::Timeout)), "{outcome:?}");
    }

    #[test]
    fn replies_are_checked_with_the_codec() {
        let found = codec::encode_port2_reply(Some(&codec::NodeInfo::normal("a", 7)));
        assert!(check_port2(&found, b"a").is_ok());
        assert!(check_port2(&found, b"b").is_err());
        assert!(check_port2(&codec::encode_port2_reply(None), b"a").is_err());
        let mut names = codec::encode_port_header(4369).to_vec();
        codec::encode_names_line(&mut names, b"a", 7);
        codec::encode_names_line(&mut names, b"b", 8);
        assert!(check_names(&names, 2).is_ok());
        assert!(check_names(&names, 1).is_err());
        assert!(check_names(&[0, 0], 0).is_err());
    }
}
