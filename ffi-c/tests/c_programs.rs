//! Builds the C test programs in `ffi-c/tests/c/` with the system C compiler
//! against `include/rtcgate.h` and the freshly built `librtcgate.so`, and
//! runs them. They need real interfaces: run inside `.ci/with-netns`
//! (docs/testing.md).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{lib_dir, root};

fn require_netns() {
    assert!(
        std::env::var_os("RTCGATE_NETNS").is_some(),
        "this test needs real interfaces: run it inside .ci/with-netns (see docs/testing.md)"
    );
}

fn build(source: &str, out: &Path) {
    let lib = lib_dir();
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g"])
        .arg(format!("-I{}", root().join("include").display()))
        .arg(root().join("ffi-c/tests/c").join(source))
        .arg("-o")
        .arg(out)
        .arg(format!("-L{}", lib.display()))
        .arg("-lrtcgate")
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-lpthread")
        .status()
        .expect("run the C compiler");
    assert!(status.success(), "compiling {source} failed");
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rtcgate-ffi-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(program: &Path, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .expect("run the C program");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "{} failed: {}",
        program.display(),
        output.status
    );
    stdout
}

#[test]
fn header_compiles_as_c99_and_cpp17() {
    let dir = scratch("header");
    let include = root().join("include");
    let c = dir.join("h.c");
    std::fs::write(
        &c,
        "#include \"rtcgate.h\"\nint main(void) { return rtcgate_version()[0] == 0; }\n",
    )
    .unwrap();
    let cpp = dir.join("h.cpp");
    std::fs::copy(&c, &cpp).unwrap();
    for (compiler, std, file) in [("cc", "-std=c99", &c), ("c++", "-std=c++17", &cpp)] {
        let status = Command::new(compiler)
            .args([std, "-Wall", "-Wextra", "-Werror", "-pedantic", "-c"])
            .arg(format!("-I{}", include.display()))
            .arg(file)
            .arg("-o")
            .arg(dir.join("h.o"))
            .status()
            .expect("run the compiler");
        assert!(
            status.success(),
            "{compiler} {std} rejects include/rtcgate.h"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_function_and_its_misuse_from_c() {
    require_netns();
    let dir = scratch("api");
    let program = dir.join("api_test");
    build("api_test.c", &program);
    let media = root().join("examples/media");
    let out = run(&program, &[media.to_str().unwrap(), dir.to_str().unwrap()]);
    assert!(out.contains(" 0 failed"), "some checks failed");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The C examples, built like a user would: `ffi-c/install.sh` into a
/// prefix, then plain `cc` with `pkg-config --cflags --libs rtcgate`.
/// `send` plays the VP8 + Opus clips into a room that `record` records; the
/// file must decode with FFmpeg.
#[test]
fn examples_install_build_with_pkg_config_and_record_a_room() {
    require_netns();
    let dir = scratch("examples");
    let prefix = dir.join("prefix");
    let lib = lib_dir();
    let target = lib.parent().unwrap();
    let status = Command::new(root().join("ffi-c/install.sh"))
        .arg(&prefix)
        .args(["--debug", "--no-build"])
        .env("CARGO_TARGET_DIR", target)
        .status()
        .unwrap();
    assert!(status.success(), "install.sh failed");
    let pkg = Command::new("pkg-config")
        .args(["--cflags", "--libs", "rtcgate"])
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
        .output()
        .expect("pkg-config");
    assert!(pkg.status.success(), "pkg-config does not find rtcgate");
    let flags = String::from_utf8(pkg.stdout).unwrap();
    find_package_works(&dir, &prefix);
    for name in ["record", "send"] {
        let status = Command::new("cc")
            .args(["-std=c99", "-Wall", "-Wextra", "-Werror"])
            .arg(root().join(format!("examples/c/{name}.c")))
            .args(flags.split_whitespace())
            .arg(format!("-Wl,-rpath,{}", prefix.join("lib").display()))
            .arg("-o")
            .arg(dir.join(name))
            .status()
            .unwrap();
        assert!(status.success(), "building examples/c/{name}.c failed");
    }

    let folder = dir.join("recordings");
    // Port 0: the embedded server picks a free port and prints its URL first.
    let mut recorder = Command::new(dir.join("record"))
        .args(["embedded", "c-demo"])
        .arg(&folder)
        .arg("9")
        .env("RTCGATE_PORT", "0")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(recorder.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    let url = first
        .trim()
        .strip_prefix("server: ")
        .unwrap_or_else(|| panic!("record printed {first:?}, not its server URL"))
        .to_owned();
    let media = root().join("examples/media");
    let sent = run(
        &dir.join("send"),
        &[
            &url,
            "c-demo",
            "sender",
            "5",
            media.join("testsrc-vp8.ivf").to_str().unwrap(),
            media.join("testsrc-opus.ogg").to_str().unwrap(),
        ],
    );
    assert!(sent.contains("connected to"), "send never connected");
    let mut log = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut log).unwrap();
    println!("{log}");
    assert!(recorder.wait().unwrap().success(), "record failed");
    assert!(log.contains("stopped: 1 file(s)"), "one file expected");
    let file = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "webm"))
        .expect("a .webm file");
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
        ])
        .arg(&file)
        .output()
        .expect("ffprobe");
    let codecs = String::from_utf8_lossy(&probe.stdout);
    assert!(
        codecs.contains("vp8") && codecs.contains("opus"),
        "codecs: {codecs}"
    );
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(&file)
        // The file's own time base: FFmpeg 5.1 would round variable-rate
        // video onto 1/guessed-fps ticks and reject close frames.
        .args(["-enc_time_base", "-1", "-f", "null", "-"])
        .status()
        .expect("ffmpeg");
    assert!(decode.success(), "the recording does not decode");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A CMake project finds the installed library with `find_package(rtcgate)`.
fn find_package_works(dir: &Path, prefix: &Path) {
    let project = dir.join("cmake-project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("CMakeLists.txt"),
        "cmake_minimum_required(VERSION 3.16)\nproject(check C)\n\
         find_package(rtcgate 0.1 REQUIRED)\nadd_executable(check main.c)\n\
         target_link_libraries(check PRIVATE rtcgate::rtcgate)\n",
    )
    .unwrap();
    std::fs::write(
        project.join("main.c"),
        "#include <rtcgate.h>\nint main(void) { return rtcgate_init(NULL) || rtcgate_shutdown(); }\n",
    )
    .unwrap();
    let build = project.join("build");
    let configure = Command::new("cmake")
        .arg("-S")
        .arg(&project)
        .arg("-B")
        .arg(&build)
        .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display()))
        .arg(format!(
            "-DCMAKE_BUILD_RPATH={}",
            prefix.join("lib").display()
        ))
        .status()
        .expect("cmake");
    assert!(configure.success(), "cmake does not find rtcgate");
    let status = Command::new("cmake")
        .arg("--build")
        .arg(&build)
        .status()
        .unwrap();
    assert!(status.success(), "cmake build failed");
    let status = Command::new(build.join("check")).status().unwrap();
    assert!(status.success(), "the CMake-built program failed");
}
