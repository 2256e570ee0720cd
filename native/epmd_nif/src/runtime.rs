//! The one tokio runtime of the library: a current-thread runtime driven by a
//! dedicated OS thread, created when the NIF library loads and never dropped
//! (the library is linked `nodelete`), so no scheduler ever blocks on it.

use std::future::Future;
use std::io;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle};

static HANDLE: OnceLock<Handle> = OnceLock::new();

pub fn start() -> io::Result<()> {
    if HANDLE.get().is_some() {
        return Ok(());
    }
    let runtime = Builder::new_current_thread().enable_all().build()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("epmd_rs".into())
        .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
    // `load` runs once per library load, so no other thread races this set.
    let _ = HANDLE.set(handle);
    Ok(())
}

fn handle() -> &'static Handle {
    HANDLE
        .get()
        .expect("runtime is started by the NIF load callback")
}

/// Runs `future` on the library's runtime thread.
pub fn spawn(future: impl Future<Output = ()> + Send + 'static) {
    handle().spawn(future);
}

/// Runs `future` as a task of its own and returns its output, or `None` if it
/// panicked: the caller can still answer whoever waits for a reply.
pub async fn guarded<T: Send + 'static>(
    future: impl Future<Output = T> + Send + 'static,
) -> Option<T> {
    handle().spawn(future).await.ok()
}
