//! The embedded server with TLS (`https://`, `wss://`) and signed access
//! tokens (JWT): native members and headless Chromium join over TLS with
//! tokens; the programs `rtcgate-server`, `rtcgate token` and `rtcgate
//! publish` do the same from the command line; forged tokens, garbage before
//! the TLS handshake and untrusted certificates are refused without
//! disturbing the server.
//!
//! Certificates are made here (a test CA and a server certificate for
//! 127.0.0.1 and 10.99.0.1). Needs `.ci/with-netns` (and, for the browser,
//! `.ci/setup`).

mod support;

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use base64::Engine as _;
use rtcgate_core::signalling::token::{AccessToken, TokenKey, VideoGrant};
use rtcgate_core::signalling::{
    ErrorCode, JoinRequest, ServerConfig, SignallingServer, TlsConfig, signaller_for_url,
};
use rtcgate_core::{Call, CallEvent, CallEvents, CallOptions, Codec, ErrorKind};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "a test secret that is long enough!";

/// A test CA and a server certificate it signed, as PEM files in a temp dir.
struct TestPki {
    dir: PathBuf,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    /// base64(SHA-256(SubjectPublicKeyInfo)) of the server key, for Chromium.
    spki_sha256: String,
}

impl TestPki {
    fn new(tag: &str) -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
        };
        let dir = std::env::temp_dir().join(format!("rtcgate-pki-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "rtcgate test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);

        let key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        for ip in ["127.0.0.1", "10.99.0.1"] {
            leaf.subject_alt_names
                .push(SanType::IpAddress(ip.parse::<IpAddr>().unwrap()));
        }
        leaf.distinguished_name
            .push(DnType::CommonName, "rtcgate test server");
        leaf.is_ca = IsCa::ExplicitNoCa;
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_cert = leaf.signed_by(&key, &issuer).unwrap();

        let digest = ring::digest::digest(&ring::digest::SHA256, &key.subject_public_key_info());
        let pki = Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            spki_sha256: base64::engine::general_purpose::STANDARD.encode(digest.as_ref()),
            dir,
        };
        std::fs::write(&pki.ca, ca_cert.pem()).unwrap();
        std::fs::write(&pki.cert, leaf_cert.pem()).unwrap();
        std::fs::write(&pki.key, key.serialize_pem()).unwrap();
        pki
    }

    fn tls(&self) -> TlsConfig {
        TlsConfig::from_pem_files(&self.cert, &self.key).unwrap()
    }

    fn trusting(&self) -> CallOptions {
        CallOptions::default().with_tls_ca_file(&self.ca)
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn token(identity: &str, room: &str) -> String {
    AccessToken::new("k1", identity)
        .with_grant(VideoGrant::join(room))
        .sign_hs256(SECRET)
        .unwrap()
}

async fn join_with(
    url: &str,
    room: &str,
    token: Option<&str>,
    options: CallOptions,
) -> rtcgate_core::Result<(Call, CallEvents)> {
    let signaller = signaller_for_url(url, &options)?;
    let mut request = JoinRequest::new(room, "ignored-with-tokens");
    if let Some(token) = token {
        request = request.with_token(token);
    }
    Call::join(signaller, request, options).await
}

async fn secure_server(pki: &TestPki, at: [u8; 4]) -> SignallingServer {
    let config = ServerConfig::default()
        .with_tls(pki.tls())
        .with_token_key(TokenKey::hs256("k1", SECRET).unwrap());
    SignallingServer::bind(SocketAddr::from((at, 0)), config)
        .await
        .unwrap()
}

/// The name the first member that joins after `call` has, as `call` sees it.
async fn next_member_name(events: &mut CallEvents) -> String {
    loop {
        match within(20, "a member to join", events.recv()).await {
            Some(CallEvent::MemberJoined(member)) => return member.name,
            Some(_) => {}
            None => panic!("events ended"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_join_over_wss_with_tokens_and_refusals_say_why() {
    init_logging();
    require_interfaces();
    let pki = TestPki::new("wss");
    let server = secure_server(&pki, [127, 0, 0, 1]).await;
    let url = server.url();
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");
    assert!(server.http_url().starts_with("https://"));

    let (first, mut first_events) = join_with(
        &url,
        "vault",
        Some(&token("alice", "vault")),
        pki.trusting(),
    )
    .await
    .expect("alice joins over wss with a token");
    let second_token = AccessToken::new("k1", "bob")
        .with_name("Bob B.")
        .with_grant(VideoGrant::join("vault"))
        .sign_hs256(SECRET)
        .unwrap();
    let (second, _second_events) = join_with(&url, "vault", Some(&second_token), pki.trusting())
        .await
        .expect("bob joins");
    // The token names the member, not the join message.
    assert_eq!(next_member_name(&mut first_events).await, "Bob B.");
    // Media flows between them (the TLS side is signalling only).
    let track = rtcgate_core::LocalTrack::new(Codec::Vp8, "v", "s").unwrap();
    second.add_track(&track).await.unwrap();
    let sender = spawn_sender(track, 10_000);
    let remote = next_matching(&mut first_events, "bob's track", |e| match e {
        CallEvent::TrackAdded(t) => Some(t.clone()),
        _ => None,
    })
    .await;
    within(20, "frames from bob", async {
        for _ in 0..10 {
            remote.recv().await.expect("frame");
        }
    })
    .await;
    sender.abort();

    // Refusals: each a typed rejection with the reason, the server unharmed.
    let forged = |claims: serde_json::Value, secret: &str| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |room: &str, exp: u64| {
        serde_json::json!({"iss": "k1", "sub": "eve", "exp": exp,
            "video": {"room": room, "roomJoin": true}})
    };
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let alg_none = format!(
        "{}.{}.",
        b64(r#"{"alg":"none","typ":"JWT"}"#),
        b64(&claims("vault", now + 600).to_string())
    );
    let no_join = {
        let mut c = claims("vault", now + 600);
        c["video"]["roomJoin"] = serde_json::json!(false);
        forged(c, SECRET)
    };
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no token", None, "requires a signed access token"),
        ("garbage", Some("not-a-jwt".into()), "malformed"),
        (
            "bad signature",
            Some(forged(
                claims("vault", now + 600),
                "somebody else's secret, long enough",
            )),
            "signature is invalid",
        ),
        ("alg none", Some(alg_none), "algorithm `none`"),
        (
            "expired",
            Some(forged(claims("vault", now - 120), SECRET)),
            "expired",
        ),
        ("other room", Some(token("eve", "lobby")), "not `vault`"),
        ("no roomJoin grant", Some(no_join), "roomJoin"),
        (
            "unknown key",
            Some(
                AccessToken::new("k9", "eve")
                    .with_grant(VideoGrant::join("vault"))
                    .sign_hs256(SECRET)
                    .unwrap(),
            ),
            "unknown key `k9`",
        ),
    ];
    for (what, token, reason) in cases {
        let err = join_with(&url, "vault", token.as_deref(), pki.trusting())
            .await
            .err()
            .unwrap_or_else(|| panic!("{what}: joined"));
        assert_eq!(err.kind(), ErrorKind::SignallingRejected, "{what}: {err}");
        assert_eq!(
            err.signalling_code(),
            Some(ErrorCode::WrongToken),
            "{what}: {err}"
        );
        assert!(err.message().contains(reason), "{what}: {err}");
    }

    // Without our CA the certificate is not trusted; plain ws:// gets nothing.
    let Err(err) = join_with(
        &url,
        "vault",
        Some(&token("carol", "vault")),
        CallOptions::default(),
    )
    .await
    else {
        panic!("joined without trusting the CA");
    };
    assert_eq!(err.kind(), ErrorKind::Signalling, "{err}");
    assert!(
        err.message().to_lowercase().contains("certificate"),
        "{err}"
    );
    let plain = url.replacen("wss://", "ws://", 1);
    let Err(err) = join_with(
        &plain,
        "vault",
        Some(&token("carol", "vault")),
        CallOptions::default(),
    )
    .await
    else {
        panic!("joined over plain ws");
    };
    assert_eq!(err.kind(), ErrorKind::Signalling, "{err}");

    // Still serving: a third member joins and is seen.
    let (third, _third_events) = join_with(
        &url,
        "vault",
        Some(&token("carol", "vault")),
        pki.trusting(),
    )
    .await
    .expect("carol joins after the refusals");
    assert_eq!(next_member_name(&mut first_events).await, "carol");
    for call in [first, second, third] {
        call.leave().await.unwrap();
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_before_the_tls_handshake_ends_that_connection_only() {
    init_logging();
    let pki = TestPki::new("garbage");
    let server = secure_server(&pki, [127, 0, 0, 1]).await;
    let addr = server.local_addr();
    let inputs: [&[u8]; 3] = [
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n",
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0],
        &[0xAB; 4096],
    ];
    for input in inputs {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(input).await.unwrap();
        // The server ends the connection (maybe after a TLS alert), never
        // answering with HTTP.
        let mut answer = Vec::new();
        let read = within(15, "the server to close", stream.read_to_end(&mut answer)).await;
        assert!(
            !String::from_utf8_lossy(&answer).contains("HTTP/1.1"),
            "answered {:?} to {:?}",
            String::from_utf8_lossy(&answer),
            &input[..8]
        );
        drop(read);
    }
    // A client that connects and says nothing is cut after the handshake timeout;
    // meanwhile a real client is served.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let signaller = signaller_for_url(&server.url(), &pki.trusting()).unwrap();
    let joined = signaller
        .join(JoinRequest::new("r", "x").with_token(token("dave", "r")))
        .await
        .expect("served while a silent connection waits");
    drop(joined);
    let mut buf = [0u8; 16];
    let n = within(20, "the silent connection to be cut", silent.read(&mut buf))
        .await
        .unwrap_or(0);
    assert_eq!(n, 0, "the server sent something to a silent client");
    server.shutdown().await;
}

/// Reads a child's stderr on a thread and passes on the first URL with `scheme`.
fn url_from_log(
    stderr: std::process::ChildStderr,
    scheme: &'static str,
) -> tokio::sync::oneshot::Receiver<String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(start) = line.find(scheme) {
                let url: String = line[start..]
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != ',')
                    .collect();
                if let Some(tx) = tx.take() {
                    let _ = tx.send(url);
                }
            }
        }
    });
    rx
}

struct KillOnDrop(std::process::Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rtcgate_token(args: &[&str], secret_file: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rtcgate"))
        .arg("token")
        .args(args)
        .arg("--secret-file")
        .arg(secret_file)
        .output()
        .expect("run rtcgate token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_line_server_tokens_and_publisher_over_tls() {
    init_logging();
    require_interfaces();
    let pki = TestPki::new("cli");
    let secret_file = pki.dir.join("secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let mut server = KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_rtcgate-server"))
            .args(["--listen", "10.99.0.1:0", "--token-key-id", "k1"])
            .arg("--token-secret-file")
            .arg(&secret_file)
            .arg("--tls-cert")
            .arg(&pki.cert)
            .arg("--tls-key")
            .arg(&pki.key)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rtcgate-server"),
    );
    let url = within(
        20,
        "rtcgate-server to start",
        url_from_log(server.0.stderr.take().unwrap(), "wss://"),
    )
    .await
    .expect("a wss:// URL in its log");

    // Tokens from the command line.
    let minted = rtcgate_token(
        &[
            "--key-id",
            "k1",
            "--identity",
            "viewer",
            "--room",
            "studio",
            "--ttl",
            "10m",
        ],
        &secret_file,
    );
    assert!(minted.status.success(), "{minted:?}");
    let viewer_token = String::from_utf8(minted.stdout).unwrap().trim().to_owned();
    let refused = rtcgate_token(
        &[
            "--key-id",
            "k1",
            "--identity",
            "x",
            "--room",
            "studio",
            "--grants",
            "join,fly",
        ],
        &secret_file,
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("unknown grant `fly`"));
    let publisher = rtcgate_token(
        &[
            "--key-id",
            "k1",
            "--identity",
            "cam",
            "--name",
            "Camera 1",
            "--room",
            "studio",
        ],
        &secret_file,
    );
    let publisher_token = String::from_utf8(publisher.stdout)
        .unwrap()
        .trim()
        .to_owned();

    let (viewer, mut events) = join_with(&url, "studio", Some(&viewer_token), pki.trusting())
        .await
        .expect("the viewer joins with a minted token");
    let mut publish = KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_rtcgate"))
            .args([
                "publish",
                "--to",
                &url,
                "--room",
                "studio",
                "--duration",
                "30",
            ])
            .args(["--token", &publisher_token])
            .arg("--call-options")
            .arg(format!("tls-ca={}", pki.ca.display()))
            .arg("--media")
            .arg(repo().join("examples/media"))
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn rtcgate publish"),
    );
    assert_eq!(next_member_name(&mut events).await, "Camera 1");
    let video = next_matching(&mut events, "the publisher's video", |e| match e {
        CallEvent::TrackAdded(t) if t.codec() == Codec::Vp8 => Some(t.clone()),
        _ => None,
    })
    .await;
    let (mut frames, mut keyframes) = (0, 0);
    within(30, "30 VP8 frames from rtcgate publish", async {
        while frames < 30 {
            let frame = video.recv().await.expect("frame");
            frames += 1;
            keyframes += usize::from(frame.keyframe);
        }
    })
    .await;
    assert!(keyframes >= 1);
    viewer.leave().await.unwrap();
    let _ = publish.0.kill();
    let _ = publish.0.wait();
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_sends_its_camera_from_an_https_page_on_a_lan_address() {
    init_logging();
    require_interfaces();
    let pki = TestPki::new("chromium");
    let config = ServerConfig::default()
        .with_web_root(repo().join("examples/web"))
        .with_tls(pki.tls())
        .with_token_key(TokenKey::hs256("k1", SECRET).unwrap());
    // Not localhost: only TLS makes this origin a secure context, where the
    // page may open the camera.
    let server = SignallingServer::bind(SocketAddr::from(([10, 99, 0, 1], 0)), config)
        .await
        .unwrap();
    assert!(server.http_url().starts_with("https://10.99.0.1:"));
    let (call, mut events) = join_with(
        &server.url(),
        "tls-room",
        Some(&token("native", "tls-room")),
        pki.trusting(),
    )
    .await
    .unwrap();
    let players = send_test_pattern(&call).await;
    let browser_token = AccessToken::new("k1", "chromium")
        .with_name("Chromium")
        .with_grant(VideoGrant::join("tls-room"))
        .sign_hs256(SECRET)
        .unwrap();
    let url = format!(
        "{}?room=tls-room&name=x&autojoin=1&token={browser_token}",
        server.http_url()
    );
    let browser = tokio::process::Command::new("node")
        .arg(repo().join("core/tests/browser/peer.mjs"))
        .args(["--url", &url, "--min-frames-decoded", "20"])
        .arg(format!(
            "--chromium-arg=--ignore-certificate-errors-spki-list={}",
            pki.spki_sha256
        ))
        .args(["--timeout-ms", "90000", "--hold-ms", "3000"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run node core/tests/browser/peer.mjs (run .ci/setup first)");

    assert_eq!(next_member_name(&mut events).await, "Chromium");
    let video = next_matching(&mut events, "the browser's camera track", |e| match e {
        CallEvent::TrackAdded(t) if t.codec() == Codec::Vp8 => Some(t.clone()),
        _ => None,
    })
    .await;
    video.request_keyframe().await.unwrap();
    within(60, "30 frames of the browser's camera", async {
        for _ in 0..30 {
            video.recv().await.expect("browser video ended");
        }
    })
    .await;
    let verdict = verdict(browser, 120, "browser harness").await;
    assert_eq!(verdict["secureContext"], true, "{verdict}");
    for player in players {
        player.abort();
    }
    call.leave().await.unwrap();
    server.shutdown().await;
}
