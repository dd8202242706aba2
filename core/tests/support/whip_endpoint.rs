//! A small WHIP endpoint for tests, on a real socket: HTTP/1.1 by hyper, the
//! WebRTC side a real rtcgate `Call` that answers through a `DirectSignaller`
//! (answer-only, end of candidates reported) whose messages this endpoint
//! carries — so media published to it really arrives. Scripted misbehaviour
//! (refusals with problem details, a 307 first, 405 to PATCH) and a log of
//! every request let tests check the client's side of RFC 9725.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rtcgate_core::signalling::{
    DirectMessage, DirectSignaller, DirectTransport, IceCandidate, JoinRequest, NegotiationPolicy,
};
use rtcgate_core::{Call, CallEvents, CallOptions, LocalTrack};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What the endpoint does besides answering.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Answer the first POST with this status, content type and body instead.
    pub refuse: Option<(u16, &'static str, &'static str)>,
    /// Extra headers on that refusal.
    pub refuse_headers: Vec<(&'static str, &'static str)>,
    /// Answer the first POST with 307 to `/whip/moved`.
    pub redirect_first: bool,
    /// Answer trickle PATCH with 405.
    pub no_trickle: bool,
    /// Require this Bearer token (401 otherwise).
    pub token: Option<&'static str>,
    /// A `Link` header for the 201.
    pub link: Option<&'static str>,
    /// Tracks the endpoint's call sends in every session (a WHEP endpoint).
    pub send: Vec<LocalTrack>,
}

/// One request as the endpoint saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub status: u16,
}

impl Logged {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Session {
    transport: Arc<tokio::sync::Mutex<DirectTransport>>,
    call: Call,
    offer: String,
    etag: String,
    deleted: bool,
}

#[derive(Default)]
struct State {
    script: Script,
    posts: usize,
    log: Vec<Logged>,
    sessions: Vec<Session>,
    restarts: usize,
}

/// The running endpoint; dropping it stops the server (the calls stay until left).
pub struct WhipEndpoint {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    calls: mpsc::UnboundedReceiver<(Call, CallEvents)>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for WhipEndpoint {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl WhipEndpoint {
    /// Listens on 127.0.0.1 (any port) with `script`.
    pub async fn start(script: Script) -> WhipEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            script,
            ..State::default()
        }));
        let (calls_tx, calls) = mpsc::unbounded_channel();
        let shared = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                let calls = calls_tx.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let state = state.clone();
                        let calls = calls.clone();
                        async move { Ok::<_, Infallible>(handle(state, calls, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        WhipEndpoint {
            addr,
            state,
            calls,
            server,
        }
    }

    /// `http://127.0.0.1:PORT/whip/endpoint`.
    pub fn url(&self) -> String {
        format!("http://{}/whip/endpoint", self.addr)
    }

    /// The next call a POST created (the endpoint's side of a session).
    pub async fn next_call(&mut self) -> (Call, CallEvents) {
        super::within(30, "a session at the endpoint", self.calls.recv())
            .await
            .expect("endpoint running")
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Logged> {
        self.state.lock().unwrap().log.clone()
    }

    /// ICE restarts answered.
    pub fn restarts(&self) -> usize {
        self.state.lock().unwrap().restarts
    }
}

fn reply(status: u16, headers: &[(&str, String)], body: String) -> Response<Full<Bytes>> {
    let mut response = Response::builder().status(StatusCode::from_u16(status).unwrap());
    for (name, value) in headers {
        response = response.header(*name, value.as_str());
    }
    response.body(Full::new(Bytes::from(body))).unwrap()
}

async fn handle(
    state: Arc<Mutex<State>>,
    calls: mpsc::UnboundedSender<(Call, CallEvents)>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8_lossy(&body).into_owned();
    let mut logged = Logged {
        method: method.clone(),
        path: path.clone(),
        headers,
        body: body.clone(),
        status: 0,
    };
    let response = route(&state, calls, &logged).await;
    logged.status = response.status().as_u16();
    state.lock().unwrap().log.push(logged);
    response
}

async fn route(
    state: &Arc<Mutex<State>>,
    calls: mpsc::UnboundedSender<(Call, CallEvents)>,
    request: &Logged,
) -> Response<Full<Bytes>> {
    let script = state.lock().unwrap().script.clone();
    if let Some(token) = script.token
        && request.header("authorization") != Some(&format!("Bearer {token}"))
    {
        return reply(
            401,
            &[("content-type", "application/problem+json".into())],
            r#"{"title":"Unauthorized","status":401,"detail":"a valid Bearer token is required"}"#
                .into(),
        );
    }
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/whip/endpoint" | "/whip/moved") => {
            let first = {
                let mut state = state.lock().unwrap();
                state.posts += 1;
                state.posts == 1
            };
            if first && script.redirect_first {
                return reply(307, &[("location", "/whip/moved".into())], String::new());
            }
            if first && let Some((status, content_type, body)) = script.refuse {
                let mut headers = vec![("content-type", content_type.to_owned())];
                headers.extend(
                    script
                        .refuse_headers
                        .iter()
                        .map(|(n, v)| (*n, v.to_string())),
                );
                return reply(status, &headers, body.into());
            }
            if request.header("content-type") != Some("application/sdp") {
                return reply(415, &[], "an SDP offer, please".into());
            }
            create_session(state, calls, &request.body, script.link, &script.send).await
        }
        ("PATCH", path) if path.starts_with("/whip/session/") => {
            patch(state, path, request, script.no_trickle).await
        }
        ("DELETE", path) if path.starts_with("/whip/session/") => {
            let index: usize = path["/whip/session/".len()..].parse().unwrap_or(usize::MAX);
            let call = {
                let mut state = state.lock().unwrap();
                match state.sessions.get_mut(index) {
                    Some(session) if !session.deleted => {
                        session.deleted = true;
                        Some(session.call.clone())
                    }
                    _ => None,
                }
            };
            match call {
                Some(call) => {
                    let _ = call.leave().await;
                    reply(200, &[], String::new())
                }
                None => reply(404, &[], "no such session".into()),
            }
        }
        _ => reply(404, &[], "not found".into()),
    }
}

/// Starts the answering call, hands it the offer, and gathers its answer
/// and all its candidates (a WHIP answer carries them all).
async fn create_session(
    state: &Arc<Mutex<State>>,
    calls: mpsc::UnboundedSender<(Call, CallEvents)>,
    offer: &str,
    link: Option<&'static str>,
    send: &[LocalTrack],
) -> Response<Full<Bytes>> {
    let (signaller, transport) = DirectSignaller::new();
    let signaller = signaller.with_negotiation(
        NegotiationPolicy::answer_only()
            .with_data_channels(false)
            .with_end_of_candidates(true),
    );
    let (call, events) = Call::join_with_tracks(
        signaller.into(),
        JoinRequest::new("whip", "endpoint"),
        CallOptions::default(),
        send,
    )
    .await
    .expect("the endpoint's call joins");
    let mut transport = transport;
    transport
        .deliver(DirectMessage::Hello {
            id: "whip-client".into(),
            name: "publisher".into(),
        })
        .unwrap();
    transport
        .deliver(DirectMessage::Offer {
            sdp: offer.to_owned(),
        })
        .unwrap();
    let answer = collect_answer(&mut transport).await;
    let Some(answer) = answer else {
        return reply(500, &[], "the endpoint could not answer".into());
    };
    let index = {
        let mut state = state.lock().unwrap();
        state.sessions.push(Session {
            transport: Arc::new(tokio::sync::Mutex::new(transport)),
            call: call.clone(),
            offer: offer.to_owned(),
            etag: "\"e1\"".into(),
            deleted: false,
        });
        state.sessions.len() - 1
    };
    let _ = calls.send((call, events));
    let mut headers = vec![
        ("content-type", "application/sdp".to_owned()),
        ("location", format!("/whip/session/{index}")),
        ("etag", "\"e1\"".into()),
    ];
    if let Some(link) = link {
        headers.push(("link", link.into()));
    }
    reply(201, &headers, answer)
}

/// Reads the answering call's messages until its answer and the end of its
/// candidates; returns the answer with the candidates in it.
async fn collect_answer(transport: &mut DirectTransport) -> Option<String> {
    let mut answer = None;
    let mut candidates = Vec::new();
    let mut complete = false;
    let gathered = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(message) = transport.recv().await {
            match message {
                DirectMessage::Answer { sdp } => answer = Some(sdp),
                DirectMessage::Candidate { candidate } if candidate.candidate.is_empty() => {
                    complete = true
                }
                DirectMessage::Candidate { candidate } => candidates.push(candidate.candidate),
                _ => {}
            }
            if complete && answer.is_some() {
                return;
            }
        }
    })
    .await;
    if gathered.is_err() {
        tracing::warn!("the endpoint's candidates did not complete within 10 s");
    }
    let answer = answer?;
    Some(insert_candidates(&answer, &candidates))
}

fn insert_candidates(sdp: &str, candidates: &[String]) -> String {
    let mut out = String::new();
    let mut media_seen = 0;
    let lines: Vec<&str> = sdp
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    for line in &lines {
        if line.starts_with("m=") {
            media_seen += 1;
            if media_seen == 2 {
                push_candidates(&mut out, candidates);
            }
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    if media_seen < 2 {
        push_candidates(&mut out, candidates);
    }
    out
}

fn push_candidates(out: &mut String, candidates: &[String]) {
    for candidate in candidates {
        let candidate = candidate.strip_prefix("candidate:").unwrap_or(candidate);
        out.push_str(&format!("a=candidate:{candidate}\r\n"));
    }
    out.push_str("a=end-of-candidates\r\n");
}

fn attribute<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .filter_map(|l| l.trim_end().strip_prefix("a="))
        .find_map(|a| a.strip_prefix(name)?.strip_prefix(':'))
}

async fn patch(
    state: &Arc<Mutex<State>>,
    path: &str,
    request: &Logged,
    no_trickle: bool,
) -> Response<Full<Bytes>> {
    let index: usize = path["/whip/session/".len()..].parse().unwrap_or(usize::MAX);
    let found = {
        let state = state.lock().unwrap();
        state
            .sessions
            .get(index)
            .filter(|s| !s.deleted)
            .map(|s| (s.transport.clone(), s.offer.clone(), s.etag.clone()))
    };
    let Some((transport, offer, etag)) = found else {
        return reply(404, &[], "no such session".into());
    };
    if request.header("content-type") != Some("application/trickle-ice-sdpfrag") {
        return reply(415, &[], "a trickle-ice-sdpfrag, please".into());
    }
    let Some(if_match) = request.header("if-match") else {
        return reply(428, &[], "If-Match is required".into());
    };
    if if_match == "\"*\"" || if_match == "*" {
        // An ICE restart: the answering call gets the offer with the new
        // credentials, and its answer's credentials go back.
        let (Some(ufrag), Some(pwd)) = (
            attribute(&request.body, "ice-ufrag"),
            attribute(&request.body, "ice-pwd"),
        ) else {
            return reply(400, &[], "no ICE credentials".into());
        };
        let restarted: String = offer
            .lines()
            .map(str::trim_end)
            .filter(|l| {
                !l.is_empty() && !l.starts_with("a=candidate:") && *l != "a=end-of-candidates"
            })
            .map(|l| {
                if l.starts_with("a=ice-ufrag:") {
                    format!("a=ice-ufrag:{ufrag}\r\n")
                } else if l.starts_with("a=ice-pwd:") {
                    format!("a=ice-pwd:{pwd}\r\n")
                } else {
                    format!("{l}\r\n")
                }
            })
            .collect();
        let mut transport = transport.lock().await;
        transport
            .deliver(DirectMessage::Offer {
                sdp: restarted.clone(),
            })
            .unwrap();
        let Some(answer) = collect_answer(&mut transport).await else {
            return reply(500, &[], "no answer to the restart".into());
        };
        let mut fragment = String::new();
        for name in ["ice-ufrag", "ice-pwd"] {
            fragment.push_str(&format!(
                "a={name}:{}\r\n",
                attribute(&answer, name).unwrap_or("")
            ));
        }
        for line in answer.lines().filter(|l| l.starts_with("a=candidate:")) {
            fragment.push_str(line.trim_end());
            fragment.push_str("\r\n");
        }
        let new_etag = {
            let mut state = state.lock().unwrap();
            state.restarts += 1;
            let etag = format!("\"e{}\"", state.restarts + 1);
            let session = &mut state.sessions[index];
            session.etag = etag.clone();
            session.offer = restarted;
            etag
        };
        return reply(
            200,
            &[
                ("etag", new_etag),
                ("content-type", "application/trickle-ice-sdpfrag".into()),
            ],
            fragment,
        );
    }
    if no_trickle {
        return reply(405, &[], "no trickle here".into());
    }
    if if_match != etag {
        return reply(412, &[], format!("the entity tag is {etag}"));
    }
    let transport = transport.lock().await;
    let mid = attribute(&request.body, "mid").map(str::to_owned);
    for line in request.body.lines().map(str::trim_end) {
        if let Some(candidate) = line.strip_prefix("a=")
            && candidate.starts_with("candidate:")
        {
            let _ = transport.deliver(DirectMessage::Candidate {
                candidate: IceCandidate {
                    candidate: candidate.to_owned(),
                    sdp_mid: mid.clone().or(Some("0".into())),
                    sdp_mline_index: Some(0),
                    username_fragment: None,
                },
            });
        }
    }
    reply(204, &[], String::new())
}
