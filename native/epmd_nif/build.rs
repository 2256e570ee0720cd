//! Links the NIF library with `-z nodelete`: the library must never be
//! unmapped while its runtime thread runs (rust-lang/rust#91979), even if the
//! module is purged. Here, rather than in a RUSTFLAGS setting, so that a
//! user's own RUSTFLAGS cannot drop it; epmd_rs_dist_SUITE checks the result.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    }
}
