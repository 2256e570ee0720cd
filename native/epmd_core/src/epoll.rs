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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    /// The tokens of the next report, or none within a short window (a
    /// negative check needs one).
    async fn report(set: &EpollSet) -> Vec<u64> {
        let mut out = Vec::new();
        let wait =
            tokio::time::timeout(Duration::from_millis(100), set.ready(&mut out, |t| t < 10));
        match wait.await {
            Ok(result) => result.expect("epoll_wait"),
            Err(_) => assert!(out.is_empty()),
        }
        out
    }

    fn pair() -> (UnixStream, UnixStream) {
        let (a, b) = UnixStream::pair().expect("socketpair");
        b.set_nonblocking(true).expect("nonblocking");
        (a, b)
    }

    #[tokio::test]
    async fn a_one_shot_entry_fires_once_until_set_again() {
        let set = EpollSet::new().unwrap();
        let (mut peer, ours) = pair();
        set.set(ours.as_raw_fd(), 20, Trigger::Once).unwrap();
        assert_eq!(report(&set).await, Vec::<u64>::new());
        peer.write_all(b"x").unwrap();
        assert_eq!(report(&set).await, [20]);
        peer.write_all(b"y").unwrap();
        assert_eq!(report(&set).await, Vec::<u64>::new(), "fired twice");
        // Set again (the entry is still there, disarmed): data already
        // waiting is reported under the new token.
        set.set(ours.as_raw_fd(), 21, Trigger::Once).unwrap();
        assert_eq!(report(&set).await, [21]);
    }

    #[tokio::test]
    async fn a_level_entry_reports_until_drained_and_off_silences_it() {
        let set = EpollSet::new().unwrap();
        let (mut peer, mut ours) = pair();
        set.set(ours.as_raw_fd(), 1, Trigger::Level).unwrap();
        peer.write_all(b"xy").unwrap();
        assert_eq!(report(&set).await, [1]);
        assert_eq!(
            report(&set).await,
            [1],
            "level: reported again while readable"
        );
        let mut buf = [0u8; 8];
        assert_eq!(ours.read(&mut buf).unwrap(), 2);
        assert_eq!(report(&set).await, Vec::<u64>::new());
        set.set(ours.as_raw_fd(), 1, Trigger::Off).unwrap();
        peer.write_all(b"z").unwrap();
        assert_eq!(report(&set).await, Vec::<u64>::new(), "reported while off");
        set.set(ours.as_raw_fd(), 1, Trigger::Level).unwrap();
        assert_eq!(report(&set).await, [1]);
    }

    #[tokio::test]
    async fn a_peer_that_closes_is_reported() {
        let set = EpollSet::new().unwrap();
        let (peer, ours) = pair();
        set.set(ours.as_raw_fd(), 30, Trigger::Once).unwrap();
        drop(peer);
        assert_eq!(report(&set).await, [30]);
    }

    #[tokio::test]
    async fn a_closed_socket_leaves_the_set() {
        let set = EpollSet::new().unwrap();
        let (mut peer, ours) = pair();
        let (mut other_peer, other) = pair();
        set.set(ours.as_raw_fd(), 40, Trigger::Once).unwrap();
        set.set(other.as_raw_fd(), 41, Trigger::Once).unwrap();
        drop(ours);
        let _ = peer.write_all(b"x");
        other_peer.write_all(b"x").unwrap();
        assert_eq!(report(&set).await, [41]);
    }
}
