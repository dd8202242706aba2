//! [`WhipSession`]: the client side of one WHIP (RFC 9725) or WHEP session as
//! a sans-I/O state machine. It takes the call's offer and candidates and the
//! server's HTTP responses, with the time, and says which HTTP request to
//! make next and what to tell the call; the async shell
//! ([`super::WhipSignaller`]) only carries requests and responses.
//!
//! - The first offer is held until the call's candidates are complete (or
//!   `candidate_wait` passed), so that it carries them all: that works with
//!   servers that take no PATCH. Then it is POSTed (`application/sdp`),
//!   following 307/308 redirects; 201 gives the session URL (`Location`), the
//!   entity tag (`ETag`), ICE servers (`Link: rel="ice-server"`) and the answer.
//! - Later candidates are batched and PATCHed (`application/trickle-ice-sdpfrag`,
//!   `If-Match: <etag>`), one request at a time; a 405 or 501 ends trickling
//!   for the session.
//! - An offer with new ICE credentials is an ICE restart: PATCH with
//!   `If-Match: "*"`; the 200's fragment and new ETag become a new answer.
//!   Any other later offer is refused: the session cannot be renegotiated.
//! - Leaving DELETEs the session.
//!
//! Every 4xx/5xx is an [`ErrorKind::SignallingRejected`](crate::ErrorKind)
//! error with the status and the server's problem details.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use url::Url;

use super::link_header;
use super::sdp::{self, IceCredentials};
use crate::error::{Error, ProblemDetails, ProtocolDetails, Result};
use crate::options::IceServer;
use crate::signalling::IceCandidate;

/// Which protocol the session speaks (they differ in names and in what the
/// offer asks for, not in the exchange).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WhipKind {
    /// WHIP (RFC 9725): we publish.
    Whip,
    /// WHEP (draft-ietf-wish-whep): we play.
    Whep,
}

impl WhipKind {
    /// `WHIP` or `WHEP`.
    pub fn name(self) -> &'static str {
        match self {
            WhipKind::Whip => "WHIP",
            WhipKind::Whep => "WHEP",
        }
    }
}

/// Redirects followed for one POST.
const MAX_REDIRECTS: usize = 5;

/// Largest error text quoted from a response body that has no problem details.
const QUOTED_BODY: usize = 200;

/// An HTTP method the session uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Post,
    Patch,
    Delete,
}

impl Method {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// A request for the shell to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub method: Method,
    pub url: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of header `name` (lower case), if set.
    #[cfg(test)]
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response the shell got.
#[derive(Debug, Clone, Default)]
pub(crate) struct Response {
    pub status: u16,
    /// Header names in lower case; a header may appear several times.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// What the session tells the call.
#[derive(Debug)]
pub(crate) enum Output {
    /// The server's answer (or, after an ICE restart, the answer it amounts to).
    Answer(String),
    /// ICE servers from `Link` headers.
    IceServers(Vec<IceServer>),
    /// The outcome of the offer given last (its POST, or its restart PATCH).
    OfferDone(Result<()>),
    /// Something failed that does not end the session.
    Warning(String),
    /// The session is over (left, or the DELETE answered).
    Closed,
}

/// What the request in flight is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InFlight {
    Post { redirects: usize },
    Trickle { count: usize },
    Restart,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trickle {
    /// PATCH is tried.
    Patch,
    /// The server said it takes no PATCH (405/501).
    Unsupported,
}

/// The client's state of one WHIP/WHEP session.
#[derive(Debug)]
pub(crate) struct WhipSession {
    kind: WhipKind,
    /// Where the POST goes (after redirects).
    endpoint: Url,
    token: Option<String>,
    candidate_wait: Duration,
    /// The first offer, held for its candidates until this deadline.
    held_offer: Option<(String, Instant)>,
    /// The offer as POSTed (or restarted), for fragments.
    offer: Option<String>,
    credentials: Option<IceCredentials>,
    /// Candidates not yet sent, and whether gathering completed.
    candidates: Vec<IceCandidate>,
    candidates_complete: bool,
    complete_sent: bool,
    trickle: Trickle,
    /// The session resource (`Location`), once created.
    resource: Option<Url>,
    etag: Option<String>,
    answer: Option<String>,
    /// An ICE restart waiting for the request in flight.
    pending_restart: bool,
    in_flight: Option<InFlight>,
    leaving: bool,
    closed: bool,
    requests: VecDeque<Request>,
    outputs: VecDeque<Output>,
}

impl WhipSession {
    /// A session with the endpoint at `endpoint`; `token` is sent as a Bearer token.
    pub(crate) fn new(
        kind: WhipKind,
        endpoint: Url,
        token: Option<String>,
        candidate_wait: Duration,
    ) -> Self {
        Self {
            kind,
            endpoint,
            token,
            candidate_wait,
            held_offer: None,
            offer: None,
            credentials: None,
            candidates: Vec::new(),
            candidates_complete: false,
            complete_sent: false,
            trickle: Trickle::Patch,
            resource: None,
            etag: None,
            answer: None,
            pending_restart: false,
            in_flight: None,
            leaving: false,
            closed: false,
            requests: VecDeque::new(),
            outputs: VecDeque::new(),
        }
    }

    /// The session resource's URL, once the server created it.
    #[cfg(test)]
    pub(crate) fn resource(&self) -> Option<&Url> {
        self.resource.as_ref()
    }

    /// The call's offer. The first is held for candidates; a later one must
    /// only restart ICE (new credentials), else it is refused.
    pub(crate) fn offer(&mut self, sdp: String, now: Instant) -> Result<()> {
        if self.leaving || self.closed {
            return Err(Error::closed(format!(
                "the {} session ended",
                self.kind.name()
            )));
        }
        let credentials = sdp::ice_credentials(&sdp);
        if self.offer.is_none() && self.held_offer.is_none() {
            self.credentials = credentials;
            self.held_offer = Some((sdp, now + self.candidate_wait));
            if self.candidates_complete {
                // The candidates came first (they race the offer to us).
                self.release_offer();
            }
            return Ok(());
        }
        if self.resource.is_none() {
            return Err(Error::negotiation(format!(
                "a second offer before the {} session exists",
                self.kind.name()
            )));
        }
        if credentials.is_none() || credentials == self.credentials {
            return Err(Error::negotiation(format!(
                "a {} session cannot be renegotiated (a new track needs a new session); only ICE restarts can be sent",
                self.kind.name()
            )));
        }
        // An ICE restart: candidates of the old generation are moot.
        self.credentials = credentials;
        self.offer = Some(sdp);
        self.candidates.clear();
        self.candidates_complete = false;
        self.complete_sent = false;
        self.pending_restart = true;
        self.pump();
        Ok(())
    }

    /// A local candidate (an empty one: gathering complete).
    pub(crate) fn candidate(&mut self, candidate: IceCandidate, now: Instant) {
        if self.closed || self.leaving {
            return;
        }
        if let (Some(ufrag), Some(credentials)) = (&candidate.username_fragment, &self.credentials)
            && ufrag != &credentials.ufrag
        {
            return; // a candidate of an earlier ICE generation
        }
        if candidate.candidate.is_empty() {
            self.candidates_complete = true;
        } else {
            self.candidates.push(candidate);
        }
        if self.held_offer.is_some() {
            if self.candidates_complete {
                self.release_offer();
            }
            return;
        }
        let _ = now;
        self.pump();
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to be called.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.held_offer.as_ref().map(|(_, deadline)| *deadline)
    }

    /// Time passed: a held offer whose wait is over is sent.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if matches!(&self.held_offer, Some((_, deadline)) if *deadline <= now) {
            self.release_offer();
        }
    }

    /// Leaving: DELETE the session (after the request in flight).
    pub(crate) fn leave(&mut self) {
        if self.leaving || self.closed {
            return;
        }
        self.leaving = true;
        self.held_offer = None;
        if self.resource.is_none() && self.in_flight.is_none() {
            self.close();
            return;
        }
        self.pump();
    }

    /// The response to the request last taken from [`poll_request`](Self::poll_request).
    pub(crate) fn handle_response(&mut self, response: Response) {
        let Some(in_flight) = self.in_flight.take() else {
            return;
        };
        match in_flight {
            InFlight::Post { redirects } => self.on_post(response, redirects),
            InFlight::Trickle { count } => self.on_trickle(response, count),
            InFlight::Restart => self.on_restart(response),
            InFlight::Delete => self.close(),
        }
        self.pump();
    }

    /// The request last taken could not be made (network, TLS, timeout).
    pub(crate) fn handle_failure(&mut self, error: Error) {
        let Some(in_flight) = self.in_flight.take() else {
            return;
        };
        match in_flight {
            InFlight::Post { .. } | InFlight::Restart => {
                self.outputs.push_back(Output::OfferDone(Err(error)))
            }
            InFlight::Trickle { .. } => self
                .outputs
                .push_back(Output::Warning(format!("sending candidates: {error}"))),
            InFlight::Delete => {
                self.outputs
                    .push_back(Output::Warning(format!("ending the session: {error}")));
                self.close();
            }
        }
        self.pump();
    }

    /// The next request to make; one at a time: the next comes after the
    /// response to this one.
    pub(crate) fn poll_request(&mut self) -> Option<Request> {
        self.requests.pop_front()
    }

    /// The next thing to tell the call.
    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn release_offer(&mut self) {
        if let Some((offer, _)) = self.held_offer.take() {
            let complete = self.candidates_complete;
            let sdp = sdp::with_candidates(&offer, &std::mem::take(&mut self.candidates), complete);
            self.complete_sent = complete;
            self.post(sdp);
        }
    }

    fn post(&mut self, sdp: String) {
        self.offer = Some(sdp);
        self.in_flight = Some(InFlight::Post { redirects: 0 });
        self.requests.push_back(self.post_request());
    }

    fn post_request(&self) -> Request {
        let mut headers = vec![
            ("content-type".into(), "application/sdp".into()),
            ("accept".into(), "application/sdp".into()),
        ];
        self.authorize(&mut headers);
        Request {
            method: Method::Post,
            url: self.endpoint.to_string(),
            headers,
            body: self.offer.clone().unwrap_or_default().into_bytes(),
        }
    }

    fn authorize(&self, headers: &mut Vec<(String, String)>) {
        if let Some(token) = &self.token {
            headers.push(("authorization".into(), format!("Bearer {token}")));
        }
    }

    /// Starts the next request if none is in flight.
    fn pump(&mut self) {
        if self.in_flight.is_some() || self.closed {
            return;
        }
        let Some(resource) = self.resource.clone() else {
            return;
        };
        if self.pending_restart && !self.leaving {
            self.pending_restart = false;
            let Some(credentials) = self.credentials.clone() else {
                return;
            };
            let mut headers = vec![
                (
                    "content-type".into(),
                    "application/trickle-ice-sdpfrag".into(),
                ),
                ("if-match".into(), "\"*\"".into()),
            ];
            self.authorize(&mut headers);
            self.in_flight = Some(InFlight::Restart);
            self.requests.push_back(Request {
                method: Method::Patch,
                url: resource.to_string(),
                headers,
                body: sdp::restart_fragment(&credentials).into_bytes(),
            });
            return;
        }
        let unsent_end = self.candidates_complete && !self.complete_sent;
        if !self.leaving
            && self.trickle == Trickle::Patch
            && (!self.candidates.is_empty() || unsent_end)
            && let (Some(offer), Some(credentials)) = (&self.offer, &self.credentials)
        {
            let body = sdp::trickle_fragment(offer, credentials, &self.candidates, unsent_end);
            let mut headers = vec![(
                "content-type".into(),
                "application/trickle-ice-sdpfrag".into(),
            )];
            // RFC 9725 §4.3.1: the latest entity tag (a server without one gets "*").
            let etag = self.etag.clone().unwrap_or_else(|| "\"*\"".into());
            headers.push(("if-match".into(), etag));
            self.authorize(&mut headers);
            self.in_flight = Some(InFlight::Trickle {
                count: self.candidates.len(),
            });
            self.complete_sent |= unsent_end;
            self.requests.push_back(Request {
                method: Method::Patch,
                url: resource.to_string(),
                headers,
                body: body.into_bytes(),
            });
            return;
        }
        if self.leaving {
            let mut headers = Vec::new();
            self.authorize(&mut headers);
            self.in_flight = Some(InFlight::Delete);
            self.requests.push_back(Request {
                method: Method::Delete,
                url: resource.to_string(),
                headers,
                body: Vec::new(),
            });
        }
    }

    fn on_post(&mut self, response: Response, redirects: usize) {
        let status = response.status;
        if matches!(status, 307 | 308) {
            let target = response
                .header("location")
                .and_then(|l| self.endpoint.join(l).ok());
            match target {
                Some(target) if redirects < MAX_REDIRECTS => {
                    tracing::debug!(from = %self.endpoint, to = %target, "{} POST redirected", self.kind.name());
                    self.endpoint = target;
                    self.in_flight = Some(InFlight::Post {
                        redirects: redirects + 1,
                    });
                    self.requests.push_back(self.post_request());
                }
                Some(_) => self.offer_failed(Error::signalling(format!(
                    "{} POST: more than {MAX_REDIRECTS} redirects",
                    self.kind.name()
                ))),
                None => self.offer_failed(Error::signalling(format!(
                    "{} POST: redirect {status} without a usable Location",
                    self.kind.name()
                ))),
            }
            return;
        }
        if status >= 400 {
            let error = http_error(self.kind, "POST", &self.endpoint, &response);
            self.offer_failed(error);
            return;
        }
        if !matches!(status, 200 | 201) {
            self.offer_failed(Error::signalling(format!(
                "{} POST to {}: unexpected status {status}",
                self.kind.name(),
                self.endpoint
            )));
            return;
        }
        let Some(resource) = response
            .header("location")
            .and_then(|l| self.endpoint.join(l).ok())
        else {
            self.offer_failed(Error::signalling(format!(
                "{} POST to {}: {status} without a Location header",
                self.kind.name(),
                self.endpoint
            )));
            return;
        };
        let answer = match String::from_utf8(response.body.clone()) {
            Ok(answer) if answer.trim_start().starts_with("v=") => answer,
            _ => {
                self.offer_failed(Error::negotiation(format!(
                    "{} POST to {}: the answer is not an SDP description",
                    self.kind.name(),
                    self.endpoint
                )));
                return;
            }
        };
        self.resource = Some(resource);
        self.etag = response.header("etag").map(str::to_owned);
        let servers = link_header::ice_servers(&response.headers_named("link"));
        if !servers.is_empty() {
            self.outputs.push_back(Output::IceServers(servers));
        }
        self.answer = Some(answer.clone());
        self.outputs.push_back(Output::Answer(answer));
        self.outputs.push_back(Output::OfferDone(Ok(())));
        if self.leaving {
            self.pump();
        }
    }

    fn offer_failed(&mut self, error: Error) {
        self.outputs.push_back(Output::OfferDone(Err(error)));
        if self.resource.is_none() {
            // Nothing was created: nothing to delete.
            self.close();
        }
    }

    fn on_trickle(&mut self, response: Response, count: usize) {
        match response.status {
            200..=299 => {
                self.candidates.drain(..count.min(self.candidates.len()));
            }
            405 | 501 => {
                tracing::debug!(
                    status = response.status,
                    "{} session takes no trickled candidates",
                    self.kind.name()
                );
                self.trickle = Trickle::Unsupported;
                self.candidates.clear();
            }
            _ => {
                // Keep nothing that the server refused; the session goes on.
                self.candidates.drain(..count.min(self.candidates.len()));
                let error = http_error(
                    self.kind,
                    "PATCH",
                    self.resource.as_ref().unwrap_or(&self.endpoint),
                    &response,
                );
                self.outputs
                    .push_back(Output::Warning(format!("candidates refused: {error}")));
            }
        }
    }

    fn on_restart(&mut self, response: Response) {
        if response.status != 200 {
            let error = http_error(
                self.kind,
                "PATCH (ICE restart)",
                self.resource.as_ref().unwrap_or(&self.endpoint),
                &response,
            );
            self.outputs.push_back(Output::OfferDone(Err(error)));
            return;
        }
        let fragment = String::from_utf8_lossy(&response.body).into_owned();
        let merged = self
            .answer
            .as_deref()
            .and_then(|answer| sdp::apply_restart(answer, &fragment));
        match merged {
            Some(answer) => {
                if let Some(etag) = response.header("etag") {
                    self.etag = Some(etag.to_owned());
                }
                self.answer = Some(answer.clone());
                self.outputs.push_back(Output::Answer(answer));
                self.outputs.push_back(Output::OfferDone(Ok(())));
            }
            None => self
                .outputs
                .push_back(Output::OfferDone(Err(Error::negotiation(format!(
                    "{} ICE restart: the server's fragment has no ICE credentials",
                    self.kind.name()
                ))))),
        }
    }

    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.requests.clear();
            self.outputs.push_back(Output::Closed);
        }
    }
}

/// A 4xx/5xx response as a typed error with the server's problem details.
fn http_error(kind: WhipKind, request: &str, url: &Url, response: &Response) -> Error {
    let is_problem = response.header("content-type").is_some_and(|t| {
        t.to_ascii_lowercase()
            .starts_with("application/problem+json")
    });
    let problem = if is_problem {
        ProblemDetails::from_json(&response.body)
    } else {
        None
    };
    let text = match problem.as_ref().and_then(|p| p.summary()) {
        Some(summary) => summary.to_owned(),
        None => {
            let body = String::from_utf8_lossy(&response.body);
            let body = body.trim();
            let mut quoted: String = body.chars().take(QUOTED_BODY).collect();
            if body.chars().count() > QUOTED_BODY {
                quoted.push('…');
            }
            quoted
        }
    };
    let retry_after = response
        .header("retry-after")
        .and_then(|v| v.trim().parse().ok());
    let mut message = format!(
        "{} {request} to {url} refused with {}",
        kind.name(),
        response.status
    );
    if !text.is_empty() {
        message.push_str(": ");
        message.push_str(&text);
    }
    Error::rejected(
        ProtocolDetails::Http {
            status: response.status,
            problem,
            retry_after,
        },
        message,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=ice-ufrag:AAAA\r\na=ice-pwd:aaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    const ANSWER: &str = "v=0\r\no=- 3 4 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=ice-ufrag:SSSS\r\na=ice-pwd:ssssssssssssssssssssssss\r\na=candidate:1 1 udp 1 192.0.2.1 5000 typ host\r\n";

    fn session() -> WhipSession {
        WhipSession::new(
            WhipKind::Whip,
            Url::parse("http://h/whip/endpoint").unwrap(),
            Some("tok".into()),
            Duration::from_millis(500),
        )
    }

    fn candidate(n: u32) -> IceCandidate {
        IceCandidate {
            candidate: format!("candidate:{n} 1 udp 1 10.0.0.{n} 5000 typ host"),
            sdp_mid: Some("0".into()),
            ..Default::default()
        }
    }

    fn end() -> IceCandidate {
        IceCandidate::default()
    }

    fn created(location: &str, etag: &str) -> Response {
        Response {
            status: 201,
            headers: vec![
                ("location".into(), location.into()),
                ("etag".into(), etag.into()),
                ("content-type".into(), "application/sdp".into()),
                (
                    "link".into(),
                    "<turn:10.0.0.9:3478?transport=udp>; rel=\"ice-server\"; username=\"u\"; credential=\"p\"".into(),
                ),
            ],
            body: ANSWER.as_bytes().to_vec(),
        }
    }

    fn status(status: u16) -> Response {
        Response {
            status,
            ..Default::default()
        }
    }

    fn outputs(s: &mut WhipSession) -> Vec<Output> {
        std::iter::from_fn(|| s.poll_output()).collect()
    }

    /// Offer, candidates complete, POST answered: the usual start.
    fn started(now: Instant) -> WhipSession {
        let mut s = session();
        s.offer(OFFER.into(), now).unwrap();
        s.candidate(candidate(1), now);
        s.candidate(end(), now);
        let post = s.poll_request().unwrap();
        s.handle_response(created("/whip/session/1", "\"e1\""));
        let _ = outputs(&mut s);
        assert_eq!(post.method, Method::Post);
        s
    }

    #[test]
    fn the_offer_waits_for_its_candidates_then_posts_them() {
        let now = Instant::now();
        let mut s = session();
        s.offer(OFFER.into(), now).unwrap();
        assert!(s.poll_request().is_none(), "held for candidates");
        assert_eq!(s.poll_timeout(), Some(now + Duration::from_millis(500)));
        s.candidate(candidate(1), now);
        s.candidate(candidate(2), now);
        assert!(s.poll_request().is_none());
        s.candidate(end(), now);
        let post = s.poll_request().unwrap();
        assert_eq!(post.method, Method::Post);
        assert_eq!(post.url, "http://h/whip/endpoint");
        assert_eq!(post.header("content-type"), Some("application/sdp"));
        assert_eq!(post.header("authorization"), Some("Bearer tok"));
        let body = String::from_utf8(post.body).unwrap();
        assert!(body.contains("a=candidate:1 ") && body.contains("a=candidate:2 "));
        assert!(body.contains("a=end-of-candidates"));
        assert!(s.poll_request().is_none(), "one request at a time");
        s.handle_response(created("/whip/session/1", "\"e1\""));
        assert_eq!(s.resource().unwrap().as_str(), "http://h/whip/session/1");
        let out = outputs(&mut s);
        assert!(matches!(&out[0], Output::IceServers(servers) if servers[0].username == "u"));
        assert!(matches!(&out[1], Output::Answer(a) if a == ANSWER));
        assert!(matches!(&out[2], Output::OfferDone(Ok(()))));
        assert!(s.poll_request().is_none(), "nothing left to trickle");
    }

    #[test]
    fn a_slow_gatherer_is_not_waited_for_past_the_deadline() {
        let now = Instant::now();
        let mut s = session();
        s.offer(OFFER.into(), now).unwrap();
        s.candidate(candidate(1), now);
        s.handle_timeout(now + Duration::from_millis(499));
        assert!(s.poll_request().is_none());
        s.handle_timeout(now + Duration::from_millis(500));
        let post = s.poll_request().unwrap();
        assert!(
            !String::from_utf8(post.body)
                .unwrap()
                .contains("end-of-candidates")
        );
        // Candidates found meanwhile wait for the session, then go in one PATCH.
        s.candidate(candidate(2), now);
        s.candidate(candidate(3), now);
        s.candidate(end(), now);
        assert!(s.poll_request().is_none());
        s.handle_response(created("http://other/s/9", "\"e1\""));
        let patch = s.poll_request().unwrap();
        assert_eq!(patch.method, Method::Patch);
        assert_eq!(patch.url, "http://other/s/9");
        assert_eq!(patch.header("if-match"), Some("\"e1\""));
        assert_eq!(
            patch.header("content-type"),
            Some("application/trickle-ice-sdpfrag")
        );
        let frag = String::from_utf8(patch.body).unwrap();
        assert!(frag.starts_with("a=ice-ufrag:AAAA\r\na=ice-pwd:"), "{frag}");
        assert!(frag.contains("a=candidate:2 ") && frag.contains("a=candidate:3 "));
        assert!(frag.ends_with("a=end-of-candidates\r\n"));
        s.handle_response(status(204));
        assert!(s.poll_request().is_none());
    }

    #[test]
    fn patch_refused_with_405_or_501_ends_trickling() {
        for code in [405, 501] {
            let now = Instant::now();
            let mut s = session();
            s.offer(OFFER.into(), now).unwrap();
            s.handle_timeout(now + Duration::from_secs(1));
            s.poll_request().unwrap();
            s.candidate(candidate(2), now);
            s.handle_response(created("/s", "\"e\""));
            s.poll_request().unwrap();
            s.handle_response(status(code));
            s.candidate(candidate(3), now);
            s.candidate(end(), now);
            assert!(s.poll_request().is_none(), "{code}: no more PATCH");
            assert!(
                !outputs(&mut s)
                    .iter()
                    .any(|o| matches!(o, Output::Warning(_)))
            );
        }
    }

    #[test]
    fn redirects_are_followed_and_the_location_resolved_against_the_last() {
        let now = Instant::now();
        let mut s = session();
        s.offer(OFFER.into(), now).unwrap();
        s.candidate(end(), now);
        let first = s.poll_request().unwrap();
        s.handle_response(Response {
            status: 307,
            headers: vec![("location".into(), "http://lb2:8080/whip/x".into())],
            body: Vec::new(),
        });
        let second = s.poll_request().unwrap();
        assert_eq!(second.url, "http://lb2:8080/whip/x");
        assert_eq!(second.body, first.body, "the same offer, POSTed again");
        assert_eq!(second.method, Method::Post);
        s.handle_response(created("sessions/7", "\"e\""));
        assert_eq!(
            s.resource().unwrap().as_str(),
            "http://lb2:8080/whip/sessions/7"
        );
    }

    #[test]
    fn refusals_are_typed_with_problem_details() {
        let now = Instant::now();
        let mut s = session();
        s.offer(OFFER.into(), now).unwrap();
        s.candidate(end(), now);
        s.poll_request().unwrap();
        s.handle_response(Response {
            status: 403,
            headers: vec![(
                "content-type".into(),
                "application/problem+json; charset=utf-8".into(),
            )],
            body: br#"{"type":"https://rtcgate.dev/problems/token","title":"Forbidden","status":403,"detail":"the token has expired"}"#.to_vec(),
        });
        let out = outputs(&mut s);
        let Output::OfferDone(Err(err)) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(err.kind(), ErrorKind::SignallingRejected);
        assert!(err.to_string().contains("the token has expired"), "{err}");
        match err.protocol_details() {
            Some(ProtocolDetails::Http {
                status: 403,
                problem: Some(problem),
                ..
            }) => assert_eq!(
                problem.type_uri.as_deref(),
                Some("https://rtcgate.dev/problems/token")
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(out[1], Output::Closed), "nothing to delete");
        // A 503 with Retry-After and a plain body.
        let mut s = session();
        s.offer(OFFER.into(), now).unwrap();
        s.candidate(end(), now);
        s.poll_request().unwrap();
        s.handle_response(Response {
            status: 503,
            headers: vec![("retry-after".into(), "30".into())],
            body: b"busy".to_vec(),
        });
        let Some(Output::OfferDone(Err(err))) = s.poll_output() else {
            panic!()
        };
        assert!(matches!(
            err.protocol_details(),
            Some(ProtocolDetails::Http {
                status: 503,
                problem: None,
                retry_after: Some(30)
            })
        ));
        assert!(err.to_string().ends_with("refused with 503: busy"), "{err}");
    }

    #[test]
    fn ice_restart_patches_with_if_match_star_and_yields_a_new_answer() {
        let now = Instant::now();
        let mut s = started(now);
        let restart_offer = OFFER.replace("AAAA", "BBBB").replace("aaaa", "bbbb");
        s.offer(restart_offer, now).unwrap();
        let patch = s.poll_request().unwrap();
        assert_eq!(patch.method, Method::Patch);
        assert_eq!(patch.header("if-match"), Some("\"*\""));
        assert_eq!(
            String::from_utf8(patch.body).unwrap(),
            "a=ice-ufrag:BBBB\r\na=ice-pwd:bbbbbbbbbbbbbbbbbbbbbbbb\r\n"
        );
        // Candidates of the new generation wait for the restart's entity tag.
        s.candidate(
            IceCandidate {
                username_fragment: Some("AAAA".into()),
                ..candidate(8)
            },
            now,
        );
        s.candidate(candidate(9), now);
        assert!(s.poll_request().is_none());
        s.handle_response(Response {
            status: 200,
            headers: vec![
                ("etag".into(), "\"e2\"".into()),
                (
                    "content-type".into(),
                    "application/trickle-ice-sdpfrag".into(),
                ),
            ],
            body: b"a=ice-lite\r\na=ice-ufrag:TTTT\r\na=ice-pwd:tttttttttttttttttttttttt\r\n"
                .to_vec(),
        });
        let out = outputs(&mut s);
        assert!(
            matches!(&out[0], Output::Answer(a) if a.contains("a=ice-ufrag:TTTT") && !a.contains("SSSS"))
        );
        assert!(matches!(out[1], Output::OfferDone(Ok(()))));
        let trickle = s.poll_request().unwrap();
        assert_eq!(trickle.header("if-match"), Some("\"e2\""));
        let frag = String::from_utf8(trickle.body).unwrap();
        assert!(frag.contains("a=ice-ufrag:BBBB") && frag.contains("a=candidate:9 "));
        assert!(!frag.contains("a=candidate:8 "), "old generation dropped");
    }

    #[test]
    fn a_refused_restart_keeps_the_session() {
        let now = Instant::now();
        let mut s = started(now);
        s.offer(OFFER.replace("AAAA", "CCCC"), now).unwrap();
        s.poll_request().unwrap();
        s.handle_response(status(412));
        let out = outputs(&mut s);
        assert!(
            matches!(&out[0], Output::OfferDone(Err(e)) if e.protocol_details().and_then(|d| d.http_status()) == Some(412))
        );
        s.leave();
        assert_eq!(s.poll_request().unwrap().method, Method::Delete);
    }

    #[test]
    fn renegotiation_is_refused() {
        let now = Instant::now();
        let mut s = started(now);
        let err = s.offer(OFFER.into(), now).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Negotiation);
        assert!(err.to_string().contains("cannot be renegotiated"));
    }

    #[test]
    fn leaving_deletes_once_after_the_request_in_flight() {
        let now = Instant::now();
        let mut s = started(now);
        s.candidate(candidate(5), now);
        let patch = s.poll_request().unwrap();
        assert_eq!(patch.method, Method::Patch);
        s.leave();
        s.leave();
        assert!(s.poll_request().is_none(), "the DELETE waits for the PATCH");
        s.handle_response(status(204));
        let delete = s.poll_request().unwrap();
        assert_eq!(delete.method, Method::Delete);
        assert_eq!(delete.url, "http://h/whip/session/1");
        assert_eq!(delete.header("authorization"), Some("Bearer tok"));
        s.handle_response(status(200));
        assert!(matches!(outputs(&mut s).as_slice(), [Output::Closed]));
        assert!(s.poll_request().is_none());
        assert!(s.offer(OFFER.into(), now).is_err());
    }

    #[test]
    fn leaving_before_any_session_sends_nothing() {
        let mut s = session();
        s.offer(OFFER.into(), Instant::now()).unwrap();
        s.leave();
        assert!(s.poll_request().is_none());
        assert!(matches!(outputs(&mut s).as_slice(), [Output::Closed]));
    }

    #[test]
    fn a_created_session_without_location_or_sdp_is_an_error() {
        for response in [
            Response {
                status: 201,
                body: ANSWER.as_bytes().to_vec(),
                ..Default::default()
            },
            Response {
                status: 201,
                headers: vec![("location".into(), "/s".into())],
                body: b"<html>".to_vec(),
            },
        ] {
            let mut s = session();
            s.offer(OFFER.into(), Instant::now()).unwrap();
            s.candidate(end(), Instant::now());
            s.poll_request().unwrap();
            s.handle_response(response);
            assert!(matches!(s.poll_output(), Some(Output::OfferDone(Err(_)))));
        }
    }
}
