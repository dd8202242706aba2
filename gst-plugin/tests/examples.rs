//! The `examples/gst` scripts, run with gst-launch-1.0 against each other:
//! the sender hosts the signalling server (`run-signalling-server`), the
//! others join it; the files they leave are read back by FFmpeg.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// The freshly built plugin: `libgstrtcgate.so` in the `deps/` folder this
/// test runs from (cargo builds the cdylib there for the tests) or in the
/// profile folder above it (`cargo build -p gst-plugin-rtcgate`).
fn plugin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    [deps, deps.parent().unwrap()]
        .into_iter()
        .find(|dir| dir.join("libgstrtcgate.so").exists())
        .unwrap_or_else(|| {
            panic!(
                "no libgstrtcgate.so next to {}: cargo build -p gst-plugin-rtcgate first",
                deps.display()
            )
        })
        .to_path_buf()
}

fn script(name: &str, registry: &Path, envs: &[(&str, &str)], args: &[&str]) -> Child {
    let mut command = Command::new(repo().join("examples/gst").join(name));
    command
        .args(args)
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env("GST_REGISTRY", registry)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in envs {
        command.env(key, value);
    }
    command
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"))
}

/// Interrupts gst-launch like Ctrl-C (with `-e` it sends EOS and waits for
/// it) and returns its output once it exited.
fn interrupt(name: &str, mut child: Child) -> String {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "{name} did not stop after SIGINT: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{name} failed: {text}");
    assert!(!text.contains("ERROR"), "{name}: {text}");
    text
}

#[test]
fn example_scripts_send_record_and_play() {
    init();
    require_interfaces();
    let dir = temp_dir("examples");
    let registry = dir.join("registry.bin");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let uri = format!("ws://127.0.0.1:{port}/ws");
    let room = [("ROOM", "examples")];

    let sender = script(
        "send-test-pattern.sh",
        &registry,
        &[room[0], ("SERVER_PORT", &port)],
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err() {
        assert!(
            Instant::now() < deadline,
            "the sender's signalling server never listened"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let webm = dir.join("call.webm");
    let folder = dir.join("recordings");
    let env = [room[0], ("URI", uri.as_str())];
    let recorder = script("record-room.sh", &registry, &env, &[webm.to_str().unwrap()]);
    let folder_recorder = script(
        "record-folder.sh",
        &registry,
        &env,
        &[folder.to_str().unwrap()],
    );
    let player = script(
        "play-participant.sh",
        &registry,
        &[env[0], env[1], ("VIDEO_SINK", "fakesink")],
        &[],
    );
    std::thread::sleep(Duration::from_secs(8));

    let played = interrupt("play-participant.sh", player);
    assert!(played.contains("Got EOS"), "{played}");
    interrupt("record-room.sh", recorder);
    interrupt("record-folder.sh", folder_recorder);
    interrupt("send-test-pattern.sh", sender);

    let codecs = stream_codecs(&webm);
    assert!(codecs.contains(&"vp8".to_owned()), "{codecs:?}");
    assert!(codecs.contains(&"opus".to_owned()), "{codecs:?}");
    assert!(packet_count(&webm, "vp8") > 30);
    assert_decodes(&webm);

    // One file for the sender (the other members send nothing).
    let files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("gst-test-pattern-"))
        })
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(packet_count(&files[0], "vp8") > 30);
    assert_decodes(&files[0]);
    let _ = std::fs::remove_dir_all(dir);
}
