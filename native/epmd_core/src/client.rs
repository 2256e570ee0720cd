//! A client for any EPMD (OTP's daemon or ours): lookups, listings and a held
//! registration, each bounded by a timeout so that a silent server cannot hang
//! the caller.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use crate::codec::{self, Alive2Reply, NodeInfo, ReplyError, Request, TooLarge};

/// Why a client request failed.
#[derive(Debug)]
pub enum ClientError {
    /// No EPMD could be reached.
    Connect(io::Error),
    /// The connection failed after it was made.
    Io(io::Error),
    /// The server closed the connection before a complete reply.
    Closed,
    /// No complete reply in time.
    Timeout,
    /// The reply is not what EPMD sends.
    Reply(ReplyError),
    /// The request does not fit in an EPMD packet.
    TooLarge,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect(e) => write!(f, "cannot connect to EPMD: {e}"),
            ClientError::Io(e) => write!(f, "EPMD connection failed: {e}"),
            ClientError::Closed => f.write_str("EPMD closed the connection"),
            ClientError::Timeout => f.write_str("EPMD did not answer in time"),
            ClientError::Reply(e) => e.fmt(f),
            ClientError::TooLarge => TooLarge.fmt(f),
        }
    }
}

impl std::error::Error for ClientError {}

async fn connect(addr: SocketAddr, deadline: Instant) -> Result<TcpStream, ClientError> {
    match timeout_at(deadline, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(ClientError::Connect(e)),
        Err(_) => Err(ClientError::Timeout),
    }
}

/// Sends one request and returns every byte the server sends before it closes.
pub async fn exchange(
    addr: SocketAddr,
    request: &Request,
    timeout: Duration,
) -> Result<Vec<u8>, ClientError> {
    let bytes = request.encode().map_err(|_| ClientError::TooLarge)?;
    let deadline = Instant::now() + timeout;
    let mut stream = connect(addr, deadline).await?;
    let mut reply = Vec::new();
    let io = async {
        stream.write_all(&bytes).await?;
        stream.read_to_end(&mut reply).await
    };
    match timeout_at(deadline, io).await {
        Ok(Ok(_)) => Ok(reply),
        Ok(Err(e)) => Err(ClientError::Io(e)),
        Err(_) => Err(ClientError::Timeout),
    }
}

/// PORT_PLEASE2: `Ok(None)` when the name is not registered there.
pub async fn port_please(
    addr: SocketAddr,
    name: &[u8],
    timeout: Duration,
) -> Result<Option<NodeInfo>, ClientError> {
    let request = Request::PortPlease2 {
        name: name.to_vec(),
    };
    let reply = exchange(addr, &request, timeout).await?;
    if reply.is_empty() {
        return Err(ClientError::Closed);
    }
    codec::decode_port2_reply(&reply).map_err(ClientError::Reply)
}

/// NAMES: the port the server reports and the text of its listing.
pub async fn names(addr: SocketAddr, timeout: Duration) -> Result<(u32, Vec<u8>), ClientError> {
    let reply = exchange(addr, &Request::Names, timeout).await?;
    if reply.is_empty() {
        return Err(ClientError::Closed);
    }
    let (port, text) = codec::decode_names_reply(&reply).map_err(ClientError::Reply)?;
    Ok((port, text.to_vec()))
}

/// A registration held open on an EPMD connection; dropping it unregisters.
#[derive(Debug)]
pub struct HeldRegistration {
    stream: TcpStream,
}

impl HeldRegistration {
    /// Completes when the server ends the registration (it closed the
    /// connection, or sent anything at all).
    pub async fn ended(&mut self) {
        let mut byte = [0u8; 1];
        let _ = self.stream.read(&mut byte).await;
    }
}

/// ALIVE2: registers `node`. On success the returned connection holds the
/// registration; a refusal comes back as a reply with `ok == false`.
pub async fn register(
    addr: SocketAddr,
    node: NodeInfo,
    timeout: Duration,
) -> Result<(Alive2Reply, Option<HeldRegistration>), ClientError> {
    let bytes = Request::Alive2(node)
        .encode()
        .map_err(|_| ClientError::TooLarge)?;
    let deadline = Instant::now() + timeout;
    let mut stream = connect(addr, deadline).await?;
    let io = async {
        stream.write_all(&bytes).await.map_err(ClientError::Io)?;
        let mut reply = Vec::with_capacity(6);
        let mut chunk = [0u8; 16];
        loop {
            let n = stream.read(&mut chunk).await.map_err(ClientError::Io)?;
            if n == 0 {
                return Err(ClientError::Closed);
            }
            reply.extend_from_slice(&chunk[..n]);
            if let Some(r) = codec::decode_alive2_reply(&reply).map_err(ClientError::Reply)? {
                return Ok(r);
            }
        }
    };
    let reply = match timeout_at(deadline, io).await {
        Ok(r) => r?,
        Err(_) => return Err(ClientError::Timeout),
    };
    let held = reply.ok.then_some(HeldRegistration { stream });
    Ok((reply, held))
}
