//! [`WhipSignaller`]: a WHIP (RFC 9725) or WHEP client as a [`Signaller`].
//! The endpoint is the one remote peer; the call offers once (WHEP: to
//! receive audio and video), the POST's answer comes back as the peer's
//! answer, candidates are trickled by PATCH, an ICE restart is a PATCH, and
//! leaving DELETEs the session. The protocol lives in the sans-I/O
//! [`session::WhipSession`]; this module carries its HTTP requests.

mod link_header;
mod sdp;
mod session;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use url::Url;

pub use session::WhipKind;
pub(crate) use session::{Method, Request, Response};
use session::{Output, WhipSession};

use super::http_client::HttpClient;
use super::protocol::{IceCandidate, MemberId, MemberInfo};
use super::{JoinRequest, Joined, NegotiationPolicy, PeerMessage, SignalEvent, Signaller};
use crate::codec::MediaKind;
use crate::error::{Error, Result};
use crate::media::local_track::lock;

/// Events buffered for the call.
const EVENT_QUEUE: usize = 64;

/// A WHIP or WHEP client for one session.
///
/// ```no_run
/// # async fn demo() -> rtcgate_core::Result<()> {
/// use std::sync::Arc;
/// use rtcgate_core::signalling::{JoinRequest, WhipSignaller};
/// use rtcgate_core::{Call, CallOptions, Codec, LocalTrack};
///
/// let video = LocalTrack::new(Codec::Vp8, "video", "camera")?;
/// let whip = WhipSignaller::whip("https://example.org/whip/live")?.with_token("s3cret");
/// // A WHIP session cannot be renegotiated: its tracks are given at join.
/// let (call, _events) = Call::join_with_tracks(
///     Arc::new(whip),
///     JoinRequest::new("live", "camera"),
///     CallOptions::default(),
///     &[video.clone()],
/// )
/// .await?;
/// # let _ = call;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct WhipSignaller {
    kind: WhipKind,
    endpoint: Url,
    token: Option<String>,
    ca_files: Vec<PathBuf>,
    request_timeout: Duration,
    candidate_wait: Duration,
    running: Mutex<Option<Running>>,
}

#[derive(Debug)]
struct Running {
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // The task DELETEs the session when its command channel closes; it
        // is aborted only by the runtime shutting down.
        let _ = self.commands.send(Command::Leave(None));
    }
}

#[derive(Debug)]
enum Command {
    Offer(String, oneshot::Sender<Result<()>>),
    Candidate(IceCandidate),
    Leave(Option<oneshot::Sender<()>>),
}

impl WhipSignaller {
    /// A WHIP client publishing to the endpoint at `url` (`http://` or `https://`).
    pub fn whip(url: &str) -> Result<Self> {
        Self::new(WhipKind::Whip, url)
    }

    /// A WHEP client playing from the endpoint at `url` (`http://` or `https://`).
    pub fn whep(url: &str) -> Result<Self> {
        Self::new(WhipKind::Whep, url)
    }

    /// A client of `kind` for the endpoint at `url`.
    pub fn new(kind: WhipKind, url: &str) -> Result<Self> {
        let endpoint = Url::parse(url).map_err(|e| {
            Error::invalid_argument(format!("{} endpoint {url:?}: {e}", kind.name()))
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") || !endpoint.has_host() {
            return Err(Error::invalid_argument(format!(
                "{} endpoint {url:?} is not an http:// or https:// URL",
                kind.name()
            )));
        }
        Ok(Self {
            kind,
            endpoint,
            token: None,
            ca_files: Vec::new(),
            request_timeout: Duration::from_secs(10),
            candidate_wait: Duration::from_millis(500),
            running: Mutex::new(None),
        })
    }

    /// Sends `token` as a Bearer token with every request (the join
    /// request's token is used when this is not set).
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Trusts the CA certificates of these PEM files besides the system's.
    #[must_use]
    pub fn with_ca_files(mut self, files: Vec<PathBuf>) -> Self {
        self.ca_files = files;
        self
    }

    /// Sets how long one HTTP request may take (default 10 s).
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets how long the offer waits for the call's candidates before it is
    /// POSTed (default 500 ms); candidates found later are trickled by PATCH.
    #[must_use]
    pub fn with_candidate_wait(mut self, wait: Duration) -> Self {
        self.candidate_wait = wait;
        self
    }

    /// WHIP or WHEP.
    pub fn kind(&self) -> WhipKind {
        self.kind
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    fn commands(&self) -> Result<mpsc::UnboundedSender<Command>> {
        lock(&self.running)
            .as_ref()
            .map(|r| r.commands.clone())
            .ok_or_else(|| {
                Error::signalling(format!("the {} session is not joined", self.kind.name()))
            })
    }

    /// The remote peer's id: the endpoint.
    fn peer_id(&self) -> MemberId {
        self.kind.name().to_ascii_lowercase()
    }
}

#[async_trait]
impl Signaller for WhipSignaller {
    async fn join(&self, request: JoinRequest) -> Result<Joined> {
        let client = HttpClient::new(&self.ca_files, self.request_timeout)?;
        let token = self.token.clone().or(request.token.clone());
        let session =
            WhipSession::new(self.kind, self.endpoint.clone(), token, self.candidate_wait);
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        {
            let mut running = lock(&self.running);
            if running.as_ref().is_some_and(|r| !r.task.is_finished()) {
                return Err(Error::invalid_argument(format!(
                    "a {} signaller holds one session: join once",
                    self.kind.name()
                )));
            }
            let task = tokio::spawn(drive(
                session,
                client,
                commands_rx,
                events_tx,
                self.peer_id(),
            ));
            *running = Some(Running { commands, task });
        }
        Ok(Joined {
            self_id: format!("{}-client", self.kind.name().to_ascii_lowercase()),
            members: vec![MemberInfo {
                id: self.peer_id(),
                name: self.endpoint.to_string(),
            }],
            events,
        })
    }

    async fn send(&self, to: &MemberId, message: PeerMessage) -> Result<()> {
        if to != &self.peer_id() {
            return Err(Error::invalid_argument(format!(
                "no peer {to} in a {} session",
                self.kind.name()
            )));
        }
        let commands = self.commands()?;
        let gone = || Error::closed(format!("the {} session ended", self.kind.name()));
        match message {
            PeerMessage::Offer(sdp) => {
                let (reply, outcome) = oneshot::channel();
                commands
                    .send(Command::Offer(sdp, reply))
                    .map_err(|_| gone())?;
                outcome.await.map_err(|_| gone())?
            }
            PeerMessage::Candidate(candidate) => commands
                .send(Command::Candidate(candidate))
                .map_err(|_| gone()),
            PeerMessage::Answer(_) => Err(Error::negotiation(format!(
                "a {} client only offers",
                self.kind.name()
            ))),
        }
    }

    async fn leave(&self) -> Result<()> {
        let Some(running) = lock(&self.running).take() else {
            return Ok(());
        };
        let (ack, done) = oneshot::channel();
        if running.commands.send(Command::Leave(Some(ack))).is_ok() {
            // The DELETE has its own timeout; this bounds a stuck task too.
            let _ = tokio::time::timeout(self.request_timeout * 2, done).await;
        }
        Ok(())
    }

    /// An offer-only client: one offer with everything (WHEP: receiving
    /// audio and video), no renegotiation, ICE restarts by PATCH, no data
    /// channels, end of candidates wanted (the offer waits for them).
    fn negotiation(&self, _self_id: &MemberId, _remote: &MemberInfo) -> NegotiationPolicy {
        let policy = NegotiationPolicy::offer_once();
        match self.kind {
            WhipKind::Whip => policy,
            WhipKind::Whep => policy.with_receive_only(vec![MediaKind::Audio, MediaKind::Video]),
        }
    }
}

/// The session's task: feeds commands, responses and time to the state
/// machine, makes its requests, and hands its outputs to the call.
async fn drive(
    mut session: WhipSession,
    client: HttpClient,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<SignalEvent>,
    peer: MemberId,
) {
    let mut offer_reply: Option<oneshot::Sender<Result<()>>> = None;
    let mut leave_acks: Vec<oneshot::Sender<()>> = Vec::new();
    let mut in_flight: Option<std::pin::Pin<Box<dyn Future<Output = Result<Response>> + Send>>> =
        None;
    let mut commands_open = true;
    let mut closed_reason: Option<String> = None;
    loop {
        if in_flight.is_none()
            && let Some(request) = session.poll_request()
        {
            tracing::debug!(method = request.method.as_str(), url = %request.url, "WHIP/WHEP request");
            let client = client.clone();
            in_flight = Some(Box::pin(async move { client.send(&request).await }));
        }
        let mut closed = false;
        while let Some(output) = session.poll_output() {
            match output {
                Output::Answer(sdp) => {
                    let _ = events
                        .send(SignalEvent::Peer {
                            from: peer.clone(),
                            message: PeerMessage::Answer(sdp),
                        })
                        .await;
                }
                Output::IceServers(servers) => {
                    let _ = events.send(SignalEvent::IceServers(servers)).await;
                }
                Output::OfferDone(result) => {
                    if let Err(err) = &result
                        && closed_reason.is_none()
                    {
                        closed_reason = Some(err.to_string());
                    }
                    match offer_reply.take() {
                        Some(reply) => {
                            let _ = reply.send(result);
                        }
                        None => {
                            if let Err(err) = result {
                                let _ = events.send(SignalEvent::Error(err.to_string())).await;
                            }
                        }
                    }
                }
                Output::Warning(message) => {
                    let _ = events.send(SignalEvent::Error(message)).await;
                }
                Output::Closed => closed = true,
            }
        }
        if closed {
            let reason = if leave_acks.is_empty() && commands_open {
                closed_reason.take()
            } else {
                None
            };
            let _ = events.send(SignalEvent::Closed(reason)).await;
            for ack in leave_acks.drain(..) {
                let _ = ack.send(());
            }
            // Offers that come now are refused by the state machine.
            while let Some(command) = commands.recv().await {
                match command {
                    Command::Offer(sdp, reply) => {
                        let _ = reply.send(session.offer(sdp, Instant::now()));
                    }
                    Command::Leave(Some(ack)) => {
                        let _ = ack.send(());
                    }
                    _ => {}
                }
            }
            return;
        }
        let deadline = session.poll_timeout();
        tokio::select! {
            command = commands.recv(), if commands_open => match command {
                Some(Command::Offer(sdp, reply)) => match session.offer(sdp, Instant::now()) {
                    Ok(()) => offer_reply = Some(reply),
                    Err(err) => {
                        let _ = reply.send(Err(err));
                    }
                },
                Some(Command::Candidate(candidate)) => session.candidate(candidate, Instant::now()),
                Some(Command::Leave(ack)) => {
                    leave_acks.extend(ack);
                    session.leave();
                }
                None => {
                    commands_open = false;
                    session.leave();
                }
            },
            response = async { in_flight.as_mut().expect("checked").await }, if in_flight.is_some() => {
                in_flight = None;
                match response {
                    Ok(response) => session.handle_response(response),
                    Err(error) => session.handle_failure(error),
                }
            }
            _ = async {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
                    None => std::future::pending().await,
                }
            } => session.handle_timeout(Instant::now()),
        }
    }
}
