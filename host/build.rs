//! Builds the wxcoupon component (the `guest` crate, for wasm32-wasip2) so the host embeds the
//! exact component of this source tree.
//!
//! It runs a nested `cargo build` with its own target directory (`<target>/guest/<checkout>`):
//! the outer build holds the lock on the main one, and two checkouts sharing one target directory
//! must not overwrite each other's component. Set `WXCOUPON_COMPONENT=/path/x.wasm` to embed a
//! component built elsewhere instead.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("host/ sits in the workspace")
        .to_path_buf();
    // Every crate the component is built from (the guest and its path dependencies; the
    // test `build_script_watches_every_crate_of_the_component` holds this list to
    // guest/Cargo.toml), the WIT, and the workspace's manifest and lock.
    for input in [
        "guest",
        "core/src",
        "core/Cargo.toml",
        "api/src",
        "api/Cargo.toml",
        "wit",
        "Cargo.lock",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(input).display());
    }
    println!("cargo:rerun-if-env-changed=WXCOUPON_COMPONENT");

    if let Some(prebuilt) = env::var_os("WXCOUPON_COMPONENT") {
        println!(
            "cargo:rustc-env=WXCOUPON_COMPONENT_PATH={}",
            PathBuf::from(prebuilt).display()
        );
        return;
    }

    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("guest")
        .join(checkout_id(&root));
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(&root)
        .args(["build", "--locked", "-p", "wxcoupon-guest"])
        .args([
            "--target",
            "wasm32-wasip2",
            "--profile",
            "component",
            "--target-dir",
        ])
        .arg(&target_dir);
    // What cargo sets for this build script must not leak into the nested build: flags meant
    // for the host target, clippy's wrapper, the outer jobserver and target directory.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        build.env_remove(var);
    }
    let status = build.status().expect("run cargo to build the component");
    if !status.success() {
        panic!(
            "building the wxcoupon component failed (see above). Is the target installed? \
             Run `rustup target add wasm32-wasip2`."
        );
    }
    let wasm = target_dir.join("wasm32-wasip2/component/wxcoupon_guest.wasm");
    assert!(
        wasm.exists(),
        "the component build left no {}",
        wasm.display()
    );
    println!("cargo:rustc-env=WXCOUPON_COMPONENT_PATH={}", wasm.display());
}

/// A short, stable name for this checkout (a hash of its path).
fn checkout_id(root: &std::path::Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    root.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}
