//! An epoll set of our own, registered with the tokio runtime as a single
//! descriptor: the runtime says when something in it is ready, and the owner
//! asks the set what.
//!
//! Unlike the runtime's reactor it can hold a level-triggered entry (a
//! listening socket that reports a queued connection until it is accepted,
//! with no `accept` that fails to find out) and one-shot entries, which fire
//! once and then stay disarmed until re-armed or closed, so that closing a
//! socket is all it takes to remove one.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// How many ready entries one wait takes at most.
const BATCH: usize = 64;

/// How an entry reports its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// At every wait, while there is something to read.
    Level,
    /// Once, when there is something to read (data, EOF or an error).
    Once,
    /// Never, until switched back.
    Off,
}

impl Trigger {
    fn events(self) -> u32 {
        (match self {
            Trigger::Level => libc::EPOLLIN,
            Trigger::Once => libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT,
            Trigger::Off => 0,
        }) as u32
    }
}

pub(crate) struct EpollSet(AsyncFd<OwnedFd>);

impl EpollSet {
    /// An empty set; call it within a tokio runtime.
    pub(crate) fn new() -> io::Result<Self> {
        // SAFETY: epoll_create1 returns a new descriptor that nothing else owns.
        let epoll = match unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) } {
            -1 => return Err(io::Error::last_os_error()),
            fd => unsafe { OwnedFd::from_raw_fd(fd) },
        };
        // SAFETY: the AsyncFd owns the descriptor for as long as it is registered.
        unsafe { AsyncFd::register_with_interest(epoll, Interest::READABLE) }
            .map(EpollSet)
            .map_err(io::Error::from)
    }

    /// Adds `fd` under `token`, or changes its entry if it has one (an entry
    /// lasts until the socket is closed).
    pub(crate) fn set(&self, fd: RawFd, token: u64, trigger: Trigger) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: trigger.events(),
            u64: token,
        };
        let epoll = self.0.as_raw_fd();
        // SAFETY: both descriptors are open; the kernel copies the event.
        let mut rc = unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut event) };
        if rc == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::EEXIST) {
            rc = unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_MOD, fd, &mut event) };
        }
        match rc {
            -1 => Err(io::Error::last_os_error()),
            _ => Ok(()),
        }
    }

    /// Waits until entries are ready and appends their tokens to `out`.
    /// `level` tells which tokens are level-triggered: once every ready entry
    /// has been taken and none of them is one, the set stays quiet until a
    /// socket's next wake-up, which the runtime then reports anew; otherwise
    /// the next call looks again at once. Cancel-safe.
    pub(crate) async fn ready(
        &self,
        out: &mut Vec<u64>,
        level: impl Fn(u64) -> bool,
    ) -> io::Result<()> {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
        loop {
            let mut guard = self.0.readable().await?;
            // SAFETY: the buffer holds BATCH events; a zero timeout never blocks.
            let n = unsafe {
                libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), BATCH as i32, 0)
            };
            let n = match n {
                -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => continue,
                -1 => return Err(io::Error::last_os_error()),
                n => n as usize,
            };
            let tokens = events[..n].iter().map(|e| e.u64);
            if n < BATCH && !tokens.clone().any(&level) {
                guard.clear_ready();
            }
            out.extend(tokens);
            if n > 0 {
                return Ok(());
            }
        }
    }
}
