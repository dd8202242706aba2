//! Offer/answer negotiation as a plain state machine: it decides, the peer
//! link acts. No I/O, so glare handling is unit-tested directly.
//!
//! The role comes from the signaller ([`OfferRole`]). With perfect negotiation
//! (W3C WebRTC §10.7) either side may offer whenever it needs to; on a
//! collision the impolite side ignores the incoming offer and the polite side
//! rolls its own back, answers, and offers again afterwards. An offerer-only
//! side ignores offers; an answerer-only side never offers.

use crate::signalling::OfferRole;

/// What to do with an incoming offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OfferDecision {
    /// Impolite side in a collision: drop the offer (and its candidates' errors).
    Ignore,
    /// Apply the offer; roll back our own pending offer first if `rollback`.
    Accept {
        /// Our own offer is pending and must be rolled back first.
        rollback: bool,
    },
}

/// Negotiation state of one peer connection.
#[derive(Debug, Clone)]
pub(crate) struct Negotiator {
    role: OfferRole,
    offer_in_flight: bool,
    wants_offer: bool,
    ignoring_offer: bool,
}

impl Negotiator {
    /// A negotiator for our side of a pair, in the role the signaller gave us.
    pub(crate) fn new(role: OfferRole) -> Self {
        Self {
            role,
            offer_in_flight: false,
            wants_offer: false,
            ignoring_offer: false,
        }
    }

    /// Local changes (tracks, channels, ICE restart) need an offer.
    pub(crate) fn request_offer(&mut self) {
        self.wants_offer = true;
    }

    /// True when an offer should be created now.
    pub(crate) fn should_offer(&self) -> bool {
        self.wants_offer && !self.offer_in_flight && self.role != OfferRole::Answerer
    }

    /// Our offer was set locally and sent.
    pub(crate) fn offer_sent(&mut self) {
        self.offer_in_flight = true;
        self.wants_offer = false;
    }

    /// Creating or sending our offer failed; try again on the next request.
    pub(crate) fn offer_failed(&mut self) {
        self.offer_in_flight = false;
    }

    /// An offer arrived from the remote.
    pub(crate) fn remote_offer(&mut self) -> OfferDecision {
        let collision = self.offer_in_flight;
        self.ignoring_offer = match self.role {
            OfferRole::Offerer => true,
            OfferRole::Answerer => false,
            OfferRole::Perfect { polite } => !polite && collision,
        };
        if self.ignoring_offer {
            return OfferDecision::Ignore;
        }
        if collision {
            // Our offer is discarded by the rollback; what it carried still needs offering.
            self.offer_in_flight = false;
            self.wants_offer = true;
        }
        OfferDecision::Accept {
            rollback: collision,
        }
    }

    /// An answer arrived; true if it answers our pending offer and must be applied.
    pub(crate) fn remote_answer(&mut self) -> bool {
        let expected = self.offer_in_flight;
        self.offer_in_flight = false;
        expected
    }

    /// True while the last remote offer was ignored (candidate errors are expected then).
    pub(crate) fn ignoring_offer(&self) -> bool {
        self.ignoring_offer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMPOLITE: OfferRole = OfferRole::Perfect { polite: false };
    const POLITE: OfferRole = OfferRole::Perfect { polite: true };

    #[test]
    fn one_sided_roles() {
        let mut offerer = Negotiator::new(OfferRole::Offerer);
        assert_eq!(
            offerer.remote_offer(),
            OfferDecision::Ignore,
            "an offer-only client takes no offers"
        );
        offerer.request_offer();
        assert!(offerer.should_offer());
        let mut answerer = Negotiator::new(OfferRole::Answerer);
        answerer.request_offer();
        assert!(!answerer.should_offer(), "an answer-only side never offers");
        assert_eq!(
            answerer.remote_offer(),
            OfferDecision::Accept { rollback: false }
        );
    }

    #[test]
    fn glare_resolves_with_one_offer_winning() {
        let mut impolite = Negotiator::new(IMPOLITE);
        let mut polite = Negotiator::new(POLITE);
        impolite.request_offer();
        polite.request_offer();
        assert!(impolite.should_offer() && polite.should_offer());
        impolite.offer_sent();
        polite.offer_sent();
        // Both offers cross on the wire.
        assert_eq!(impolite.remote_offer(), OfferDecision::Ignore);
        assert!(impolite.ignoring_offer());
        assert_eq!(
            polite.remote_offer(),
            OfferDecision::Accept { rollback: true }
        );
        // The polite side answers, then must offer again for its own changes.
        assert!(impolite.remote_answer());
        assert!(polite.should_offer());
        polite.offer_sent();
        assert_eq!(
            impolite.remote_offer(),
            OfferDecision::Accept { rollback: false }
        );
        assert!(polite.remote_answer());
        assert!(!polite.should_offer() && !impolite.should_offer());
    }

    #[test]
    fn requests_during_an_offer_wait_for_its_answer() {
        let mut n = Negotiator::new(IMPOLITE);
        n.request_offer();
        n.offer_sent();
        n.request_offer();
        assert!(!n.should_offer());
        assert!(n.remote_answer());
        assert!(n.should_offer());
    }

    #[test]
    fn stale_answers_are_not_applied() {
        let mut n = Negotiator::new(POLITE);
        assert!(!n.remote_answer());
    }
}
