//! [`NegotiationPolicy`]: what a signalling protocol allows between us and one
//! remote peer — who makes offers, whether a session can be renegotiated or
//! ICE-restarted, whether it carries data channels — decided by the
//! [`Signaller`](super::Signaller), followed by the call without knowing the
//! protocol.

use crate::codec::MediaKind;

/// Who makes the offers with one remote peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OfferRole {
    /// We offer; the remote only answers (a WHIP or WHEP client). An offer
    /// from the remote is ignored.
    Offerer,
    /// The remote offers; we only answer (the server side of an offer-only
    /// protocol). We never offer, not even for ICE restarts.
    Answerer,
    /// Either side offers when it needs to (perfect negotiation, W3C WebRTC
    /// §10.7): on glare the *polite* side rolls its own offer back. The
    /// impolite side offers first and restarts ICE; the polite side offers
    /// by itself only if no offer came within a second.
    Perfect {
        /// We are the polite side.
        polite: bool,
    },
}

/// How the call negotiates with one remote peer: the signaller's decision
/// ([`Signaller::negotiation`](super::Signaller::negotiation)).
///
/// ```
/// use rtcgate_core::signalling::{NegotiationPolicy, OfferRole};
/// use rtcgate_core::MediaKind;
///
/// // A WHEP client: offers once, asks to receive audio and video, no data channels.
/// let whep = NegotiationPolicy::offer_once().with_receive_only(vec![MediaKind::Audio, MediaKind::Video]);
/// assert_eq!(whep.role, OfferRole::Offerer);
/// assert!(!whep.renegotiation && whep.ice_restart && !whep.data_channels);
/// // Members of a room: perfect negotiation, roles from the member ids.
/// assert_eq!(NegotiationPolicy::room("b", "a").role, OfferRole::Perfect { polite: true });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NegotiationPolicy {
    /// Who offers.
    pub role: OfferRole,
    /// Offers after the first one can be carried (tracks added or removed
    /// mid-call). False for WHIP/WHEP: a new track needs a new session, and
    /// [`Call::add_track`](crate::Call::add_track) then refuses.
    pub renegotiation: bool,
    /// An offer that only restarts ICE can be carried (WHIP/WHEP: a PATCH).
    pub ice_restart: bool,
    /// The first offer carries a data-channel (SCTP) section, so that data
    /// channels can open. False where the remote takes media only.
    pub data_channels: bool,
    /// Media kinds the first offer asks to receive without sending (a WHEP
    /// client: audio and video). Empty: the offer has the call's tracks only.
    pub receive_only: Vec<MediaKind>,
    /// The signaller wants to be told when candidate gathering completes, as
    /// a candidate with an empty `candidate` (end of candidates).
    pub end_of_candidates: bool,
    /// The signaller's leave ends the session at the remote (a WHIP/WHEP
    /// DELETE): the call leaves through the signaller before it closes the
    /// connection, so that the remote deletes a live session rather than
    /// finding it closed first. False in rooms: connections close, then the
    /// member leaves.
    pub leave_first: bool,
}

impl NegotiationPolicy {
    /// Perfect negotiation with a fixed politeness: renegotiation, ICE
    /// restarts and data channels.
    pub fn perfect(polite: bool) -> Self {
        Self {
            role: OfferRole::Perfect { polite },
            renegotiation: true,
            ice_restart: true,
            data_channels: true,
            receive_only: Vec::new(),
            end_of_candidates: false,
            leave_first: false,
        }
    }

    /// The room convention (`docs/signalling.md`, "Perfect negotiation
    /// convention"): perfect negotiation where the member with the
    /// lexicographically greater id is polite.
    pub fn room(self_id: &str, remote_id: &str) -> Self {
        Self::perfect(self_id > remote_id)
    }

    /// An offer-only client of a one-shot protocol (WHIP, WHEP): we offer
    /// once with everything the session will carry, no renegotiation, ICE
    /// restarts allowed, no data channels, end of candidates reported.
    pub fn offer_once() -> Self {
        Self {
            role: OfferRole::Offerer,
            renegotiation: false,
            ice_restart: true,
            data_channels: false,
            receive_only: Vec::new(),
            end_of_candidates: true,
            leave_first: true,
        }
    }

    /// The answering side of an offer-only protocol: we answer whatever
    /// comes, never offer.
    pub fn answer_only() -> Self {
        Self {
            role: OfferRole::Answerer,
            renegotiation: true,
            ice_restart: true,
            data_channels: true,
            receive_only: Vec::new(),
            end_of_candidates: false,
            leave_first: false,
        }
    }

    /// The same policy with `role`.
    pub fn with_role(mut self, role: OfferRole) -> Self {
        self.role = role;
        self
    }

    /// The same policy with renegotiation allowed or not.
    pub fn with_renegotiation(mut self, allowed: bool) -> Self {
        self.renegotiation = allowed;
        self
    }

    /// The same policy with ICE restarts allowed or not.
    pub fn with_ice_restart(mut self, allowed: bool) -> Self {
        self.ice_restart = allowed;
        self
    }

    /// The same policy with or without a data-channel section.
    pub fn with_data_channels(mut self, data_channels: bool) -> Self {
        self.data_channels = data_channels;
        self
    }

    /// The same policy asking to receive `kinds` without sending them.
    pub fn with_receive_only(mut self, kinds: Vec<MediaKind>) -> Self {
        self.receive_only = kinds;
        self
    }

    /// The same policy with end of candidates reported or not.
    pub fn with_end_of_candidates(mut self, report: bool) -> Self {
        self.end_of_candidates = report;
        self
    }

    /// The same policy leaving through the signaller before or after the
    /// connection closes.
    pub fn with_leave_first(mut self, leave_first: bool) -> Self {
        self.leave_first = leave_first;
        self
    }

    /// We make the first offer at once.
    pub(crate) fn offers_first(&self) -> bool {
        matches!(
            self.role,
            OfferRole::Offerer | OfferRole::Perfect { polite: false }
        )
    }

    /// We restart ICE when the connection fails.
    pub(crate) fn restarts_ice(&self) -> bool {
        self.ice_restart && self.offers_first()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_decide_who_offers_and_restarts() {
        assert!(NegotiationPolicy::room("a", "b").offers_first());
        assert!(!NegotiationPolicy::room("b", "a").offers_first());
        assert!(NegotiationPolicy::offer_once().restarts_ice());
        assert!(
            !NegotiationPolicy::offer_once()
                .with_ice_restart(false)
                .restarts_ice()
        );
        assert!(!NegotiationPolicy::answer_only().offers_first());
        assert!(!NegotiationPolicy::answer_only().restarts_ice());
        assert!(
            !NegotiationPolicy::room("b", "a").restarts_ice(),
            "the polite side answers restarts"
        );
    }
}
