//! Names the target family the kqueue backend serves, so that the list of
//! kqueue systems is written once (`burrow_kqueue`) instead of at every
//! `cfg` that chooses a backend (`src/sys/mod.rs`, `src/tests/mod.rs`).
//! Reads only Cargo's `CARGO_CFG_*` variables; no dependencies.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(burrow_kqueue)");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let width = std::env::var("CARGO_CFG_TARGET_POINTER_WIDTH").unwrap_or_default();
    // 64-bit only: kqueue's `udata` carries the 64-bit token (sys/mod.rs).
    let kqueue = matches!(
        os.as_str(),
        "macos" | "ios" | "freebsd" | "netbsd" | "openbsd" | "dragonfly"
    ) && width == "64";
    if kqueue {
        println!("cargo::rustc-cfg=burrow_kqueue");
    }
}
