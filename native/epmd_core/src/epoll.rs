//! An epoll set of our own, waited on by the accept thread.
//!
//! Unlike the runtime's reactor it can hold a level-triggered entry (a
//! listening socket that reports a queued connection until it is accepted,
//! with no `accept` that fails to find out) and one-shot entries, which fire
//! once and then stay disarmed until re-armed or closed, so that closing a
//! socket is all it takes to remove one.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

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

pub(crate) struct EpollSet(OwnedFd);

impl EpollSet {
    /// An empty set.
    pub(crate) fn new() -> io::Result<Self> {
        // SAFETY: epoll_create1 returns a new descriptor that nothing else owns.
        match unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) } {
            -1 => Err(io::Error::last_os_error()),
            fd => Ok(EpollSet(unsafe { OwnedFd::from_raw_fd(fd) })),
        }
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

    /// Blocks until entries are ready or `timeout` passes (never, without
    /// one), and appends the ready entries' tokens to `out`. A signal ends
    /// the wait early with nothing appended.
    pub(crate) fn wait(&self, out: &mut Vec<u64>, timeout: Option<Duration>) -> io::Result<()> {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
        // Whole milliseconds, rounded up: waking before the time would only
        // mean waiting again.
        let ms = timeout.map_or(-1, |t| {
            let ms = t.as_nanos().div_ceil(1_000_000);
            i32::try_from(ms).unwrap_or(i32::MAX)
        });
        // SAFETY: the buffer holds BATCH events.
        let n =
            unsafe { libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), BATCH as i32, ms) };
        match n {
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => Ok(()),
            -1 => Err(io::Error::last_os_error()),
            n => {
                out.extend(events[..n as usize].iter().map(|e| e.u64));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    /// The tokens of the next report, or none within a short window (a
    /// negative check needs one).
    fn report(set: &EpollSet) -> Vec<u64> {
        let mut out = Vec::new();
        set.wait(&mut out, Some(Duration::from_millis(100)))
            .expect("epoll_wait");
        out
    }

    fn pair() -> (UnixStream, UnixStream) {
        let (a, b) = UnixStream::pair().expect("socketpair");
        b.set_nonblocking(true).expect("nonblocking");
        (a, b)
    }

    #[test]
    fn a_one_shot_entry_fires_once_until_set_again() {
        let set = EpollSet::new().unwrap();
        let (mut peer, ours) = pair();
        set.set(ours.as_raw_fd(), 20, Trigger::Once).unwrap();
        assert_eq!(report(&set), Vec::<u64>::new());
        peer.write_all(b"x").unwrap();
        assert_eq!(report(&set), [20]);
        peer.write_all(b"y").unwrap();
        assert_eq!(report(&set), Vec::<u64>::new(), "fired twice");
        // Set again (the entry is still there, disarmed): data already
        // waiting is reported under the new token.
        set.set(ours.as_raw_fd(), 21, Trigger::Once).unwrap();
        assert_eq!(report(&set), [21]);
    }

    #[test]
    fn a_level_entry_reports_until_drained_and_off_silences_it() {
        let set = EpollSet::new().unwrap();
        let (mut peer, mut ours) = pair();
        set.set(ours.as_raw_fd(), 1, Trigger::Level).unwrap();
        peer.write_all(b"xy").unwrap();
        assert_eq!(report(&set), [1]);
        assert_eq!(report(&set), [1], "level: reported again while readable");
        let mut buf = [0u8; 8];
        assert_eq!(ours.read(&mut buf).unwrap(), 2);
        assert_eq!(report(&set), Vec::<u64>::new());
        set.set(ours.as_raw_fd(), 1, Trigger::Off).unwrap();
        peer.write_all(b"z").unwrap();
        assert_eq!(report(&set), Vec::<u64>::new(), "reported while off");
        set.set(ours.as_raw_fd(), 1, Trigger::Level).unwrap();
        assert_eq!(report(&set), [1]);
    }

    #[test]
    fn a_peer_that_closes_is_reported() {
        let set = EpollSet::new().unwrap();
        let (peer, ours) = pair();
        set.set(ours.as_raw_fd(), 30, Trigger::Once).unwrap();
        drop(peer);
        assert_eq!(report(&set), [30]);
    }

    #[test]
    fn a_closed_socket_leaves_the_set() {
        let set = EpollSet::new().unwrap();
        let (mut peer, ours) = pair();
        let (mut other_peer, other) = pair();
        set.set(ours.as_raw_fd(), 40, Trigger::Once).unwrap();
        set.set(other.as_raw_fd(), 41, Trigger::Once).unwrap();
        drop(ours);
        let _ = peer.write_all(b"x");
        other_peer.write_all(b"x").unwrap();
        assert_eq!(report(&set), [41]);
    }
}
