//! Paths shared by the C ABI's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `target/<profile>`, where cargo put `librtcgate.so` next to `deps/`.
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    assert!(
        dir.join("librtcgate.so").exists(),
        "librtcgate.so not found in {} (build the workspace, or `cargo build -p rtcgate-ffi`, first)",
        dir.display()
    );
    dir
}
