//! What every element needs to join a room: the connection properties
//! (named as webrtcsink names them), their validation, and the join itself,
//! optionally with an embedded signalling server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use rtcgate_core::signalling::{
    JoinRequest, MemberMeta, Meta, ServerConfig, SignallingServer, SignallingUrl, WsSignaller,
    signaller_for_url,
};
use rtcgate_core::{Call, CallEvents, CallOptions, IceServer, LocalTrack};
use tokio::sync::broadcast;

/// Default signalling URL (the embedded server's default port, as webrtcsink's).
pub(crate) const DEFAULT_URI: &str = "ws://127.0.0.1:8443/ws";
/// Default display name.
pub(crate) const DEFAULT_DISPLAY_NAME: &str = "gstreamer";
const DEFAULT_SERVER_HOST: &str = "127.0.0.1";
const DEFAULT_SERVER_PORT: u32 = 8443;
/// How long joining may take before the element reports an error.
const JOIN_TIMEOUT: Duration = Duration::from_secs(15);

/// Which way an element moves media: it decides which signalling URLs fit
/// (WHIP publishes, WHEP plays).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// `rtcgatesink`: sends into the call.
    Send,
    /// `rtcgatesrc`, `rtcgaterecorder`: receive from the call.
    Receive,
}

/// The connection properties shared by the elements.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionSettings {
    pub uri: String,
    pub call_options: String,
    pub room: Option<String>,
    pub token: Option<String>,
    pub display_name: String,
    pub stun_server: Option<String>,
    pub turn_servers: Vec<String>,
    pub run_signalling_server: bool,
    pub signalling_server_host: String,
    pub signalling_server_port: u32,
    pub meta: Option<gst::Structure>,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            uri: DEFAULT_URI.to_owned(),
            call_options: String::new(),
            room: None,
            token: None,
            display_name: DEFAULT_DISPLAY_NAME.to_owned(),
            stun_server: None,
            turn_servers: Vec::new(),
            run_signalling_server: false,
            signalling_server_host: DEFAULT_SERVER_HOST.to_owned(),
            signalling_server_port: DEFAULT_SERVER_PORT,
            meta: None,
        }
    }
}

/// Property specs of [`ConnectionSettings`] (plus `stats`).
pub(crate) fn properties() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecString::builder("uri")
            .nick("Signalling URI")
            .blurb("Signalling URL: a room server (ws://host:port/ws, wss://…), a WHIP endpoint to publish to (whip+http(s)://…, rtcgatesink) or a WHEP endpoint to play from (whep+http(s)://…, rtcgatesrc and rtcgaterecorder); ignored with run-signalling-server")
            .default_value(Some(DEFAULT_URI))
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("call-options")
            .nick("Call options")
            .blurb("Call options in rtcgate's text form, e.g. \"tls-ca=/etc/ca.pem ice-timeouts=2s,15s,500ms\" (docs/signalling.md, Call options as text); stun-server and turn-servers are added to them")
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("room")
            .nick("Room")
            .blurb("Name of the room to join (required with a room server; not used by WHIP/WHEP)")
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("token")
            .nick("Token")
            .blurb("Access token: the room's token or signed token, or the WHIP/WHEP Bearer token")
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("display-name")
            .nick("Display name")
            .blurb("Name the other members see")
            .default_value(Some(DEFAULT_DISPLAY_NAME))
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("stun-server")
            .nick("STUN server")
            .blurb("STUN server, stun://host:port (as webrtcsink) or stun:host:port")
            .mutable_ready()
            .build(),
        gst::ParamSpecArray::builder("turn-servers")
            .nick("TURN servers")
            .blurb("TURN servers (UDP), each turn://user:password@host:port (as webrtcsink)")
            .element_spec(
                &glib::ParamSpecString::builder("turn-server")
                    .nick("TURN server")
                    .blurb("turn://user:password@host:port")
                    .build(),
            )
            .mutable_ready()
            .build(),
        glib::ParamSpecBoolean::builder("run-signalling-server")
            .nick("Run signalling server")
            .blurb("Run an embedded rtcgate signalling server on signalling-server-host:port and join through it")
            .default_value(false)
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("signalling-server-host")
            .nick("Signalling server host")
            .blurb("Address the embedded signalling server listens on")
            .default_value(Some(DEFAULT_SERVER_HOST))
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt::builder("signalling-server-port")
            .nick("Signalling server port")
            .blurb("Port the embedded signalling server listens on (0: any free port)")
            .maximum(65535)
            .default_value(DEFAULT_SERVER_PORT)
            .mutable_ready()
            .build(),
        glib::ParamSpecBoxed::builder::<gst::Structure>("meta")
            .nick("Meta")
            .blurb("Free-form metadata about this member (as webrtcsink's); the other members get it as an rtcgate/member-meta message")
            .mutable_ready()
            .build(),
        gst::ParamSpecArray::builder("stats")
            .nick("Statistics")
            .blurb("Latest statistics of the call: one structure per member with member, connection-state, candidate-pair, inbound and outbound (nested values as JSON text), refreshed every second")
            .element_spec(
                &glib::ParamSpecBoxed::builder::<gst::Structure>("member-stats")
                    .nick("Member statistics")
                    .blurb("Statistics of one member")
                    .build(),
            )
            .read_only()
            .build(),
    ]
}

impl ConnectionSettings {
    /// Sets a property of [`properties`]; false when `name` is not one of them.
    pub(crate) fn set_property(&mut self, name: &str, value: &glib::Value) -> bool {
        let string = || value.get::<Option<String>>().ok().flatten();
        match name {
            "uri" => self.uri = string().unwrap_or_else(|| DEFAULT_URI.to_owned()),
            "call-options" => self.call_options = string().unwrap_or_default(),
            "room" => self.room = string().filter(|s| !s.is_empty()),
            "token" => self.token = string().filter(|s| !s.is_empty()),
            "display-name" => {
                self.display_name = string().unwrap_or_else(|| DEFAULT_DISPLAY_NAME.to_owned())
            }
            "stun-server" => self.stun_server = string().filter(|s| !s.is_empty()),
            "turn-servers" => {
                self.turn_servers = value
                    .get::<gst::Array>()
                    .map(|array| {
                        array
                            .iter()
                            .filter_map(|v| v.get::<String>().ok())
                            .collect()
                    })
                    .unwrap_or_default();
            }
            "run-signalling-server" => self.run_signalling_server = value.get().unwrap_or(false),
            "signalling-server-host" => {
                self.signalling_server_host =
                    string().unwrap_or_else(|| DEFAULT_SERVER_HOST.to_owned())
            }
            "signalling-server-port" => {
                self.signalling_server_port = value.get().unwrap_or(DEFAULT_SERVER_PORT)
            }
            "meta" => self.meta = value.get().ok().flatten(),
            _ => return false,
        }
        true
    }

    /// Reads a property of [`properties`] (not `stats`).
    pub(crate) fn property(&self, name: &str) -> Option<glib::Value> {
        Some(match name {
            "uri" => self.uri.to_value(),
            "call-options" => self.call_options.to_value(),
            "room" => self.room.to_value(),
            "token" => self.token.to_value(),
            "display-name" => self.display_name.to_value(),
            "stun-server" => self.stun_server.to_value(),
            "turn-servers" => {
                gst::Array::new(self.turn_servers.iter().map(|s| s.to_send_value())).to_value()
            }
            "run-signalling-server" => self.run_signalling_server.to_value(),
            "signalling-server-host" => self.signalling_server_host.to_value(),
            "signalling-server-port" => self.signalling_server_port.to_value(),
            "meta" => self.meta.to_value(),
            _ => return None,
        })
    }

    /// Checks the settings for an element of `role` and turns them into
    /// what core takes; the error says which property is wrong.
    pub(crate) fn validate(&self, role: Role) -> Result<Plan, String> {
        let (server, endpoint) = if self.run_signalling_server {
            let ip = self.signalling_server_host.parse().map_err(|_| {
                format!(
                    "signalling-server-host {:?} is not an IP address",
                    self.signalling_server_host
                )
            })?;
            let addr = SocketAddr::new(ip, self.signalling_server_port as u16);
            (Some(addr), false)
        } else {
            let url: SignallingUrl = self
                .uri
                .parse()
                .map_err(|e: rtcgate_core::Error| format!("uri: {}", e.message()))?;
            match (&url, role) {
                (SignallingUrl::Room(_), _) => (None, false),
                (SignallingUrl::Whip(_), Role::Send) | (SignallingUrl::Whep(_), Role::Receive) => {
                    (None, true)
                }
                (SignallingUrl::Whip(_), Role::Receive) => {
                    return Err(format!(
                        "uri {:?} is a WHIP endpoint, which takes media; this element receives (use a whep+ URL)",
                        self.uri
                    ));
                }
                (SignallingUrl::Whep(_), Role::Send) => {
                    return Err(format!(
                        "uri {:?} is a WHEP endpoint, which gives media; this element sends (use a whip+ URL)",
                        self.uri
                    ));
                }
                (_, _) => return Err(format!("uri {:?}: unsupported signalling URL", self.uri)),
            }
        };
        // WHIP/WHEP sessions have no room: the endpoint URL names the stream.
        let room = match (&self.room, endpoint) {
            (Some(room), _) => room.clone(),
            (None, true) => "whip".to_owned(),
            (None, false) => return Err("the room property is not set".to_owned()),
        };
        let mut ice_servers = Vec::new();
        if let Some(stun) = &self.stun_server {
            ice_servers.push(IceServer::stun(parse_stun(stun)?));
        }
        for turn in &self.turn_servers {
            ice_servers.push(parse_turn(turn)?);
        }
        let meta = self
            .meta
            .as_ref()
            .map(|m| crate::meta::to_json(m))
            .unwrap_or_default();
        let size = serde_json::Value::Object(meta.clone()).to_string().len();
        if size > rtcgate_core::signalling::protocol::MAX_META_BYTES {
            return Err(format!(
                "meta is {size} bytes of JSON; the room protocol takes at most {}",
                rtcgate_core::signalling::protocol::MAX_META_BYTES
            ));
        }
        let options = CallOptions::default()
            .apply(&self.call_options)
            .map_err(|e| format!("call-options: {}", e.message()))?;
        let mut all_ice_servers = options.ice_servers.clone();
        all_ice_servers.extend(ice_servers);
        Ok(Plan {
            uri: self.uri.clone(),
            server,
            endpoint,
            initial_tracks: Vec::new(),
            meta,
            request: {
                let request = JoinRequest::new(room, self.display_name.clone());
                match &self.token {
                    Some(token) => request.with_token(token.clone()),
                    None => request,
                }
            },
            options: options.with_ice_servers(all_ice_servers),
        })
    }
}

fn parse_stun(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("stun://")
        .or_else(|| url.strip_prefix("stun:"))
        .ok_or_else(|| format!("stun-server {url:?} is not a stun:// URL"))?;
    if rest.is_empty() {
        return Err(format!("stun-server {url:?} has no host"));
    }
    Ok(format!("stun:{rest}"))
}

/// `turn://user:password@host:port` (webrtcsink's form) to a core TURN server.
fn parse_turn(url: &str) -> Result<IceServer, String> {
    let bad = || format!("turn-servers entry {url:?} is not turn://user:password@host:port");
    let rest = url.strip_prefix("turn://").ok_or_else(bad)?;
    let (credentials, host) = rest.rsplit_once('@').ok_or_else(bad)?;
    let (user, password) = credentials.split_once(':').ok_or_else(bad)?;
    if host.is_empty() || user.is_empty() {
        return Err(bad());
    }
    Ok(IceServer::turn(format!("turn:{host}"), user, password))
}

/// Validated settings, ready to join.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    uri: String,
    server: Option<SocketAddr>,
    /// A WHIP or WHEP endpoint rather than a room server.
    endpoint: bool,
    /// Tracks sent from the start (a WHIP session cannot add any later).
    initial_tracks: Vec<LocalTrack>,
    meta: Meta,
    request: JoinRequest,
    pub options: CallOptions,
}

/// A joined room: the call, and the embedded server when the element runs one.
pub(crate) struct Connection {
    pub call: Call,
    server: Option<SignallingServer>,
    member_meta: std::sync::Mutex<Option<broadcast::Receiver<MemberMeta>>>,
}

impl Plan {
    /// The room name.
    pub(crate) fn room(&self) -> &str {
        &self.request.room
    }

    /// Whether the URL is a WHIP or WHEP endpoint: one session, fixed
    /// tracks, no renegotiation.
    pub(crate) fn is_endpoint(&self) -> bool {
        self.endpoint
    }

    /// Sends `tracks` from the start of the session.
    pub(crate) fn with_tracks(mut self, tracks: Vec<LocalTrack>) -> Self {
        self.initial_tracks = tracks;
        self
    }

    /// Starts the embedded server if asked, then joins the room.
    pub(crate) async fn join(self) -> Result<(Connection, CallEvents), String> {
        let (url, server) = match self.server {
            Some(addr) => {
                let server = SignallingServer::bind(addr, ServerConfig::default())
                    .await
                    .map_err(|e| format!("could not start the signalling server on {addr}: {e}"))?;
                (server.url(), Some(server))
            }
            None => (self.uri.clone(), None),
        };
        let (signaller, member_meta): (Arc<dyn rtcgate_core::signalling::Signaller>, _) =
            if self.endpoint {
                let signaller = signaller_for_url(&url, &self.options)
                    .map_err(|e| format!("uri {url:?}: {e}"))?;
                (signaller, None)
            } else {
                let signaller = WsSignaller::new(url.clone())
                    .with_meta(self.meta.clone())
                    .with_ca_files(self.options.tls_ca_files.clone());
                let member_meta = signaller.subscribe_meta();
                (Arc::new(signaller), Some(member_meta))
            };
        let joined = tokio::time::timeout(
            JOIN_TIMEOUT,
            Call::join_with_tracks(
                signaller,
                self.request.clone(),
                self.options.clone(),
                &self.initial_tracks,
            ),
        )
        .await;
        let failure = match joined {
            Ok(Ok((call, events))) => {
                let member_meta = std::sync::Mutex::new(member_meta);
                return Ok((
                    Connection {
                        call,
                        server,
                        member_meta,
                    },
                    events,
                ));
            }
            Ok(Err(e)) => format!("could not join room {:?} at {url}: {e}", self.request.room),
            Err(_) => format!(
                "could not join room {:?} at {url}: no answer within {}s",
                self.request.room,
                JOIN_TIMEOUT.as_secs()
            ),
        };
        if let Some(server) = server {
            server.shutdown().await;
        }
        Err(failure)
    }
}

impl Plan {
    /// [`join`](Self::join), unless `stop` is set first: then the join goes
    /// on in the background and whatever it joined is left at once (a join
    /// cut short could otherwise leave a member behind on the server).
    pub(crate) async fn join_unless_stopped(
        self,
        stop: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Option<Result<(Connection, CallEvents), String>> {
        let mut join = tokio::spawn(self.join());
        tokio::select! {
            joined = &mut join => {
                Some(joined.unwrap_or_else(|e| Err(format!("joining failed: {e}"))))
            }
            _ = stop.changed() => {
                tokio::spawn(async move {
                    if let Ok(Ok((connection, _))) = join.await {
                        connection.close().await;
                    }
                });
                None
            }
        }
    }
}

impl Connection {
    /// The other members' metadata (`member-meta`) since the join; `None`
    /// after the first call.
    pub(crate) fn take_member_meta(&self) -> Option<broadcast::Receiver<MemberMeta>> {
        self.member_meta
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Leaves the room and stops the embedded server.
    pub(crate) async fn close(self) {
        if let Err(error) = self.call.leave().await {
            tracing::debug!(%error, "leaving the call");
        }
        if let Some(server) = self.server {
            server.shutdown().await;
        }
    }
}

/// The `stats` property value: one structure per member.
pub(crate) fn stats_array(stats: &rtcgate_core::CallStats) -> gst::Array {
    let json = serde_json::to_value(stats).unwrap_or_default();
    let members = json["members"].as_array().cloned().unwrap_or_default();
    gst::Array::new(members.iter().map(|member| {
        let mut s = gst::Structure::builder("rtcgate-member-stats");
        if let Some(object) = member.as_object() {
            for (key, value) in object {
                let key = key.replace('_', "-");
                s = match value {
                    serde_json::Value::String(v) => s.field(key, v.as_str()),
                    serde_json::Value::Number(n) if n.is_u64() => {
                        s.field(key, n.as_u64().unwrap_or_default())
                    }
                    serde_json::Value::Number(n) => s.field(key, n.as_f64().unwrap_or_default()),
                    serde_json::Value::Bool(b) => s.field(key, *b),
                    serde_json::Value::Null => s,
                    other => s.field(key, other.to_string()),
                };
            }
        }
        s.build().to_send_value()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webrtcsink_style_ice_urls() {
        assert_eq!(parse_stun("stun://h:3478").unwrap(), "stun:h:3478");
        assert_eq!(parse_stun("stun:h:3478").unwrap(), "stun:h:3478");
        assert!(parse_stun("http://h").is_err());
        let turn = parse_turn("turn://u:p@10.0.0.1:3478").unwrap();
        assert_eq!(turn.urls, ["turn:10.0.0.1:3478"]);
        assert_eq!(
            (turn.username.as_str(), turn.credential.as_str()),
            ("u", "p")
        );
        assert!(parse_turn("turn://10.0.0.1:3478").is_err());
    }

    #[test]
    fn room_and_uri_are_checked() {
        let mut settings = ConnectionSettings::default();
        assert!(settings.validate(Role::Send).unwrap_err().contains("room"));
        settings.room = Some("r".into());
        settings.uri = "http://x".into();
        assert!(settings.validate(Role::Send).unwrap_err().contains("uri"));
        settings.uri = DEFAULT_URI.into();
        assert_eq!(settings.validate(Role::Send).unwrap().room(), "r");
    }

    #[test]
    fn whip_sends_and_whep_receives_without_a_room() {
        let mut settings = ConnectionSettings {
            uri: "whip+http://127.0.0.1:9/whip/x".into(),
            ..Default::default()
        };
        assert!(settings.validate(Role::Send).is_ok());
        assert!(
            settings
                .validate(Role::Receive)
                .unwrap_err()
                .contains("WHIP")
        );
        settings.uri = "whep+https://example.org/whep/x".into();
        assert!(settings.validate(Role::Receive).is_ok());
        assert!(settings.validate(Role::Send).unwrap_err().contains("WHEP"));
    }

    #[test]
    fn call_options_text_is_parsed_and_ice_servers_add_up() {
        let mut settings = ConnectionSettings {
            room: Some("r".into()),
            call_options: "ice-server=stun:a.example:3478 ice-timeouts=2s,9s,500ms".into(),
            stun_server: Some("stun://b.example:3478".into()),
            ..Default::default()
        };
        let plan = settings.validate(Role::Receive).unwrap();
        let urls: Vec<String> = plan
            .options
            .ice_servers
            .iter()
            .flat_map(|s| s.urls.clone())
            .collect();
        assert_eq!(urls, ["stun:a.example:3478", "stun:b.example:3478"]);
        settings.call_options = "no-such-option=1".into();
        assert!(
            settings
                .validate(Role::Receive)
                .unwrap_err()
                .starts_with("call-options:")
        );
    }
}
