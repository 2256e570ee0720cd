//! `-daemon`: detach the way OTP's epmd does (§9.4). The first parent exits 0
//! before anything is bound, so `epmd -daemon` always "succeeds"; problems
//! after that go to syslog.
//!
//! Must run while the process has a single thread (before any runtime), so
//! that `fork` copies a consistent process.

use std::fmt;
use std::io;

/// A step of detaching that failed; the process then exits 1.
#[derive(Debug)]
pub enum DetachError {
    Fork(io::Error),
    Setsid(io::Error),
    Chdir(io::Error),
    DevNull(io::Error),
}

impl fmt::Display for DetachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetachError::Fork(e) => write!(f, "erlang mapper daemon cant fork: {e}"),
            DetachError::Setsid(e) => write!(f, "Cant setsid(): {e}"),
            DetachError::Chdir(e) => write!(f, "chdir() failed: {e}"),
            DetachError::DevNull(e) => write!(f, "cannot open /dev/null: {e}"),
        }
    }
}

impl std::error::Error for DetachError {}

/// OTP closes descriptors up to its connection limit, at most `FD_SETSIZE`.
const MAX_INHERITED_FD: libc::c_int = 1024;

/// Forks twice, leaving only the grandchild running: in a new session,
/// ignoring SIGHUP, in `/`, with umask 0, no inherited descriptors and stdio
/// on /dev/null. Both parents exit 0 here.
pub fn detach() -> Result<(), DetachError> {
    fork_and_leave_parent().map_err(DetachError::Fork)?;
    // SAFETY: plain system calls on a single-threaded process.
    unsafe {
        if libc::setsid() < 0 {
            return Err(DetachError::Setsid(io::Error::last_os_error()));
        }
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
    // Not a session leader any more, so no terminal can be acquired.
    fork_and_leave_parent().map_err(DetachError::Fork)?;
    // SAFETY: as above; the descriptors closed belong to no Rust object.
    unsafe {
        if libc::chdir(c"/".as_ptr()) < 0 {
            return Err(DetachError::Chdir(io::Error::last_os_error()));
        }
        libc::umask(0);
        for fd in 3..MAX_INHERITED_FD {
            libc::close(fd);
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null < 0 {
            return Err(DetachError::DevNull(io::Error::last_os_error()));
        }
        for fd in 0..3 {
            libc::dup2(null, fd);
        }
        if null > 2 {
            libc::close(null);
        }
    }
    Ok(())
}

fn fork_and_leave_parent() -> io::Result<()> {
    // SAFETY: the caller guarantees a single thread; the parent leaves with
    // _exit, running no destructors or atexit handlers twice.
    match unsafe { libc::fork() } {
        n if n < 0 => Err(io::Error::last_os_error()),
        0 => Ok(()),
        _ => unsafe { libc::_exit(0) },
    }
}
