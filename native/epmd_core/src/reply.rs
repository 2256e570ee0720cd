//! How a reply leaves the server, on both paths: the accept thread's
//! non-blocking write and a task's.
//!
//! On the accept thread, a reply after which the connection closes (all but
//! ALIVE2's) is sent with the connection's FIN in the same TCP segment:
//! written with `MSG_MORE`, so the kernel holds it back, then released by
//! `shutdown(SHUT_WR)`, which marks the held segment with the FIN. OTP writes
//! and then closes, which takes two segments and the peer's acknowledgement
//! of each; on loopback all of it is the server's own CPU time. Shutting down
//! rather than closing also delivers the reply to a client that sent bytes
//! after its request: a close with unread bytes resets the connection and
//! would drop a reply still held back.
//!
//! A task's reply (one that had to wait for the socket, or `-delay_write`)
//! is rare, and written, then shut down, so that such a client sees the same.

use std::io;
use std::net::Shutdown;
use std::os::fd::AsRawFd;

use tokio::io::AsyncWriteExt;

/// Writes what the socket takes of `bytes` without waiting, and ends the
/// connection's sending side once a `last` reply is all written. The count
/// written, as `write` returns it.
pub(crate) fn write(stream: &std::net::TcpStream, bytes: &[u8], last: bool) -> io::Result<usize> {
    // MSG_NOSIGNAL: a peer that is gone must not raise SIGPIPE in the
    // process that embeds the server.
    let flags = libc::MSG_NOSIGNAL | if last { libc::MSG_MORE } else { 0 };
    // SAFETY: the descriptor is open for as long as `stream` lives, and the
    // pointer and length describe `bytes`.
    let sent = unsafe {
        libc::send(
            stream.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            flags,
        )
    };
    let sent = usize::try_from(sent).map_err(|_| io::Error::last_os_error())?;
    if last && sent == bytes.len() {
        stream.shutdown(Shutdown::Write)?;
    }
    Ok(sent)
}

/// Writes all of `bytes`, waiting for the socket, and ends the sending side
/// after a `last` reply, as [`write`] does.
pub(crate) async fn write_all(
    stream: &mut tokio::net::TcpStream,
    bytes: &[u8],
    last: bool,
) -> io::Result<()> {
    stream.write_all(bytes).await?;
    if last {
        stream.shutdown().await?;
    }
    Ok(())
}
