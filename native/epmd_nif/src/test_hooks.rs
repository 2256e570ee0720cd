//! NIFs for tests only, compiled with the `test-hooks` feature.

/// Panics: the caller must get the Erlang error `nif_panicked`, and the VM
/// must live on.
#[rustler::nif]
fn inject_panic() -> rustler::Atom {
    panic!("injected by a test")
}
