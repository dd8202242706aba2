//! RTP-level building blocks shared by the receive path of a
//! [`RemoteTrack`](crate::RemoteTrack) (one simulcast layer at a time into
//! its frames) and the forwarding unit (`crate::forward`): what a packet is
//! ([`packet_info`]), the encodings of a track ([`encodings`]), which packets
//! one outgoing stream takes ([`layer_switch`]) and its numbers
//! ([`rewriter`], [`sequence`]). Sans-I/O: time is an argument.

pub(crate) mod encodings;
pub(crate) mod layer_switch;
pub(crate) mod packet_info;
pub(crate) mod rewriter;
pub(crate) mod sequence;
