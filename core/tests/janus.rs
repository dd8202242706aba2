//! rtcgate's WHIP client publishing into a real Janus VideoRoom through
//! Meetecho's simple-whip-server (Debian's `janus` and `simple-whip-server`,
//! installed by `.ci/setup`): Janus records the room's publishers, the
//! recordings are converted with `janus-pp-rec` and must decode with FFmpeg
//! (VP8 video with enough frames, Opus audio), and the DELETE on leave must
//! reach the live session.
//!
//! Both servers run on ports picked free, in a temporary directory, and are
//! killed when the test ends. Needs `.ci/with-netns` (ICE).

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rtcgate_core::media::Clip;
use rtcgate_core::signalling::{JoinRequest, signaller_for_url};
use rtcgate_core::{Call, CallEvent, CallOptions, Codec, ConnectionState, LocalTrack};
use support::*;
use tokio::process::{Child, Command};

const WHIP_SERVER: &str = "/opt/simple-whip-server/usr/share/simple-whip-server/src";
const JANUS_LIBS: &str = "/usr/lib/x86_64-linux-gnu/janus";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed on drop, its output in a log file.
struct Process {
    child: Child,
    log: PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl Process {
    fn spawn(command: &mut Command, log: PathBuf) -> Process {
        let out = std::fs::File::create(&log).unwrap();
        let child = command
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
        Process { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then wait (Janus closes its recordings on the way out).
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// Janus with the VideoRoom (room 1234 recording into `recordings`) and the
/// WebSocket transport on `ws_port`, everything else off.
fn start_janus(dir: &Path, ws_port: u16, recordings: &Path) -> Process {
    let conf = dir.join("janus-conf");
    std::fs::create_dir_all(&conf).unwrap();
    let disabled_plugins = [
        "audiobridge",
        "duktape",
        "echotest",
        "lua",
        "nosip",
        "recordplay",
        "sip",
        "streaming",
        "textroom",
        "videocall",
        "voicemail",
    ]
    .map(|p| format!("libjanus_{p}.so"))
    .join(",");
    std::fs::write(
        conf.join("janus.jcfg"),
        format!(
            r#"general: {{
    configs_folder = "{conf}"
    plugins_folder = "{JANUS_LIBS}/plugins"
    transports_folder = "{JANUS_LIBS}/transports"
    events_folder = "{JANUS_LIBS}/events"
    loggers_folder = "{JANUS_LIBS}/loggers"
    debug_level = 4
}}
media: {{
    rtp_port_range = "20200-20399"
}}
nat: {{
    ignore_mdns = true
}}
plugins: {{
    disable = "{disabled_plugins}"
}}
transports: {{
    disable = "libjanus_http.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so"
}}
loggers: {{
    disable = "libjanus_jsonlog.so"
}}
events: {{
    broadcast = false
}}
"#,
            conf = conf.display()
        ),
    )
    .unwrap();
    std::fs::write(
        conf.join("janus.transport.websockets.jcfg"),
        format!(
            "general: {{\n    json = \"indented\"\n    ws = true\n    ws_port = {ws_port}\n    ws_ip = \"127.0.0.1\"\n    wss = false\n}}\nadmin: {{\n    admin_ws = false\n    admin_wss = false\n}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        conf.join("janus.plugin.videoroom.jcfg"),
        format!(
            "general: {{\n}}\nroom-1234: {{\n    description = \"rtcgate WHIP\"\n    publishers = 6\n    bitrate = 2000000\n    audiocodec = \"opus\"\n    videocodec = \"vp8\"\n    record = true\n    rec_dir = \"{}\"\n}}\n",
            recordings.display()
        ),
    )
    .unwrap();
    Process::spawn(
        Command::new("janus")
            .arg("--config")
            .arg(conf.join("janus.jcfg"))
            .arg("--configs-folder")
            .arg(&conf)
            .arg("--disable-colors"),
        dir.join("janus.log"),
    )
}

/// simple-whip-server (its sources copied next to a config of ours) on `port`.
fn start_whip_server(dir: &Path, port: u16, janus_port: u16) -> Process {
    let src = dir.join("whip-server");
    std::fs::create_dir_all(&src).unwrap();
    for file in ["server.js", "whip-janus.js"] {
        std::fs::copy(Path::new(WHIP_SERVER).join(file), src.join(file)).unwrap();
    }
    std::fs::write(
        src.join("config.js"),
        format!(
            "module.exports = {{ janus: {{ address: 'ws://127.0.0.1:{janus_port}' }}, port: {port}, rest: '/whip', allowTrickle: true, strictETags: false, iceServers: [] }};\n"
        ),
    )
    .unwrap();
    Process::spawn(
        Command::new("node")
            .arg(src.join("server.js"))
            .current_dir(&src)
            .env(
                "NODE_PATH",
                repo().join("core/tests/whip-server/node_modules"),
            )
            .env("DEBUG", "whip:*"),
        dir.join("whip-server.log"),
    )
}

/// Creates the WHIP endpoint `id` publishing into room 1234 (simple-whip-server's API).
async fn create_endpoint(port: u16, id: &str) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = format!(r#"{{"id":"{id}","room":1234}}"#);
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let request = format!(
        "POST /whip/create HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .map_err(|e| e.to_string())?;
    if response.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(format!("create endpoint: {response}"))
    }
}

/// The recordings Janus made for `display`'s `kind` stream (`video`/`audio`).
fn recordings_of(dir: &Path, kind: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.file_name().unwrap().to_string_lossy().into_owned();
                    name.ends_with(".mjr") && name.contains(&format!("-{kind}"))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Converts a Janus recording with janus-pp-rec and counts the frames FFmpeg decodes.
async fn decoded_frames(mjr: &Path, extension: &str) -> u64 {
    let out = mjr.with_extension(extension);
    let status = Command::new("janus-pp-rec")
        .arg(mjr)
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(status.success(), "janus-pp-rec {}", mjr.display());
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "0",
            "-show_entries",
            "stream=codec_name,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(&out)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&probe.stdout).into_owned();
    let decode = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(&out)
        .args(["-f", "null", "-"])
        .output()
        .await
        .unwrap();
    assert!(
        decode.status.success(),
        "{} does not decode: {}",
        out.display(),
        String::from_utf8_lossy(&decode.stderr)
    );
    text.trim()
        .rsplit(',')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtcgate_publishes_into_a_janus_videoroom_over_whip() {
    init_logging();
    require_interfaces();
    for tool in ["janus", "janus-pp-rec", "node"] {
        assert!(
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .unwrap()
                .status
                .success(),
            "{tool} is missing: run .ci/setup"
        );
    }
    assert!(
        Path::new(WHIP_SERVER).join("server.js").exists(),
        "simple-whip-server is missing: run .ci/setup"
    );
    let dir = tempdir();
    let recordings = dir.join("recordings");
    std::fs::create_dir_all(&recordings).unwrap();
    let (janus_port, whip_port) = (free_port(), free_port());
    let janus = start_janus(&dir, janus_port, &recordings);
    let whip_server = start_whip_server(&dir, whip_port, janus_port);
    // simple-whip-server connects to Janus by itself (retrying every 2 s).
    within(30, "simple-whip-server connected to Janus", async {
        while !whip_server.log().contains("Connected to Janus") {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    create_endpoint(whip_port, "rtcgate").await.unwrap();

    let media = repo().join("examples/media");
    let video_clip = Clip::open(media.join("testsrc-vp8.ivf")).unwrap();
    let audio_clip = Clip::open(media.join("testsrc-opus.ogg")).unwrap();
    let video = LocalTrack::new(Codec::Vp8, "video", "rtcgate").unwrap();
    let audio = LocalTrack::new(Codec::Opus, "audio", "rtcgate").unwrap();
    let url = format!("whip+http://127.0.0.1:{whip_port}/whip/endpoint/rtcgate");
    let options = CallOptions::default();
    let joined = Call::join_with_tracks(
        signaller_for_url(&url, &options).unwrap(),
        JoinRequest::new("janus", "rtcgate"),
        options,
        &[video.clone(), audio.clone()],
    )
    .await;
    let (call, mut events) = match joined {
        Ok(joined) => joined,
        Err(e) => panic!(
            "publishing failed: {e}\n--- simple-whip-server ---\n{}\n--- janus ---\n{}",
            whip_server.log(),
            janus.log()
        ),
    };
    let connected = tokio::time::timeout(
        Duration::from_secs(20),
        next_matching(&mut events, "connected to Janus", |e| match e {
            CallEvent::ConnectionStateChanged {
                state: ConnectionState::Connected,
                ..
            } => Some(()),
            _ => None,
        }),
    )
    .await;
    assert!(
        connected.is_ok(),
        "never connected\n--- janus ---\n{}",
        janus.log()
    );
    // The clips start once the connection is up, so that Janus records
    // from their first (key)frame on.
    let players =
        [(video_clip, video.clone()), (audio_clip, audio.clone())].map(|(clip, track)| {
            tokio::spawn(async move {
                let _ = clip.play(&track, None).await;
            })
        });
    // Six seconds of media into the room.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let stats = call.stats().await;
    for player in players {
        player.abort();
    }
    call.leave().await.unwrap();
    // The DELETE tears the publisher down; let Janus close the files.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let whip_log = whip_server.log();
    janus.stop().await;
    drop(whip_server);
    assert!(
        whip_log.contains("[rtcgate] Terminating WHIP session"),
        "simple-whip-server saw no DELETE of the live session:\n{whip_log}"
    );

    let videos = recordings_of(&recordings, "video");
    let audios = recordings_of(&recordings, "audio");
    assert!(
        !videos.is_empty() && !audios.is_empty(),
        "Janus recorded nothing: {:?}",
        std::fs::read_dir(&recordings)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect::<Vec<_>>()
    );
    let video_frames = decoded_frames(&videos[0], "webm").await;
    let audio_frames = decoded_frames(&audios[0], "opus").await;
    eprintln!(
        "Janus recorded {video_frames} video frames and {audio_frames} audio frames; rtcgate's stats: {stats:?}"
    );
    // 6 s of the 30 fps clip and of 20 ms Opus frames, with margin for the start.
    assert!(video_frames >= 90, "video frames decoded: {video_frames}");
    assert!(audio_frames >= 150, "audio frames decoded: {audio_frames}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rtcgate-janus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
