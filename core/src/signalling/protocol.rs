//! Wire format of the embedded room protocol (JSON over WebSocket).
//!
//! Every frame is one JSON object with a `"type"` field. `docs/signalling.md`
//! documents each message; this module is the single source of truth for the
//! shapes, and both the server and the client use it.

use serde::{Deserialize, Serialize};

/// Version of the room protocol spoken by this crate.
pub const PROTOCOL_VERSION: u32 = 1;

/// Identifier the server assigns to a member for the lifetime of its connection.
pub type MemberId = String;

/// Free-form metadata a member publishes about itself with `join` (a JSON
/// object, as webrtcsink's `meta`); the server relays it as `member-meta`.
pub type Meta = serde_json::Map<String, serde_json::Value>;

/// Largest `meta` a server accepts, in bytes of its JSON text.
pub const MAX_META_BYTES: usize = 4096;

/// A member of a room as the server announces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Server-assigned id, unique on this server.
    pub id: MemberId,
    /// Display name chosen by the member.
    pub name: String,
}

/// An ICE candidate in the browser's `RTCIceCandidateInit` JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    /// The `candidate:` attribute line; empty means end of candidates.
    pub candidate: String,
    /// Media stream id the candidate belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    /// Index of the m-line the candidate belongs to.
    #[serde(
        default,
        rename = "sdpMLineIndex",
        skip_serializing_if = "Option::is_none"
    )]
    pub sdp_mline_index: Option<u16>,
    /// ICE username fragment of the generation the candidate belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

/// Messages a client sends to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum ClientMessage {
    /// Join a room. Must be the first message of a connection.
    Join {
        /// Protocol version the client speaks; defaults to [`PROTOCOL_VERSION`].
        #[serde(default = "default_version")]
        version: u32,
        /// Room name (1–64 characters).
        room: String,
        /// Display name (1–64 characters).
        name: String,
        /// Room token; required when the room has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        /// Metadata about the member for the others (at most
        /// [`MAX_META_BYTES`]); left out when there is none, so that servers
        /// older than this field accept the join.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        meta: Option<Meta>,
    },
    /// SDP offer for another member of the same room.
    Offer {
        /// Target member id.
        to: MemberId,
        /// Session description.
        sdp: String,
    },
    /// SDP answer for another member of the same room.
    Answer {
        /// Target member id.
        to: MemberId,
        /// Session description.
        sdp: String,
    },
    /// Trickled ICE candidate for another member of the same room.
    Candidate {
        /// Target member id.
        to: MemberId,
        /// The candidate.
        candidate: IceCandidate,
    },
    /// Application keepalive; answered with [`ServerMessage::Pong`].
    Ping {
        /// Echoed back in the pong.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    /// Leave the room; the server then closes the connection.
    Leave,
}

fn default_version() -> u32 {
    PROTOCOL_VERSION
}

/// Messages the server sends to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ServerMessage {
    /// Answer to a successful join.
    Welcome {
        /// Protocol version of the server.
        version: u32,
        /// The id assigned to the joining member.
        id: MemberId,
        /// Room joined.
        room: String,
        /// Members already in the room (not including the joiner).
        members: Vec<MemberInfo>,
    },
    /// Another member joined the room.
    MemberJoined {
        /// The new member.
        member: MemberInfo,
    },
    /// The metadata a member joined with: sent to the joiner for each member
    /// already there (right after `welcome`), and to the others right after
    /// `member-joined`. Only for members that gave `meta`.
    MemberMeta {
        /// The member.
        id: MemberId,
        /// Its metadata.
        meta: Meta,
    },
    /// A member left the room (or its connection closed).
    MemberLeft {
        /// Id of the member that left.
        id: MemberId,
    },
    /// Relayed SDP offer.
    Offer {
        /// Sender member id.
        from: MemberId,
        /// Session description.
        sdp: String,
    },
    /// Relayed SDP answer.
    Answer {
        /// Sender member id.
        from: MemberId,
        /// Session description.
        sdp: String,
    },
    /// Relayed ICE candidate.
    Candidate {
        /// Sender member id.
        from: MemberId,
        /// The candidate.
        candidate: IceCandidate,
    },
    /// Answer to [`ClientMessage::Ping`].
    Pong {
        /// The id of the ping, if it had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    /// A request failed.
    Error {
        /// Machine-readable error code.
        code: ErrorCode,
        /// Human-readable explanation.
        message: String,
        /// True when the server closes the connection after this error.
        #[serde(default)]
        fatal: bool,
    },
}

/// Error codes of [`ServerMessage::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame was not valid JSON (or not a JSON object).
    MalformedJson,
    /// The `type` field named no known message.
    UnknownType,
    /// A known message type with missing or invalid fields.
    InvalidMessage,
    /// The client asked for a protocol version the server does not speak.
    UnsupportedVersion,
    /// A message other than `join`/`ping` arrived before `join`.
    NotJoined,
    /// A second `join` on the same connection.
    AlreadyJoined,
    /// The room token was missing or wrong.
    WrongToken,
    /// The room has reached its member limit.
    RoomFull,
    /// The target member is not in the sender's room.
    UnknownMember,
    /// The frame exceeded the message size limit.
    TooLarge,
    /// The connection sent messages faster than the rate limit.
    RateLimited,
    /// Binary frames are not part of the protocol.
    BinaryNotSupported,
}

impl ErrorCode {
    /// The wire name of the code, as in `docs/signalling.md`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed-json",
            ErrorCode::UnknownType => "unknown-type",
            ErrorCode::InvalidMessage => "invalid-message",
            ErrorCode::UnsupportedVersion => "unsupported-version",
            ErrorCode::NotJoined => "not-joined",
            ErrorCode::AlreadyJoined => "already-joined",
            ErrorCode::WrongToken => "wrong-token",
            ErrorCode::RoomFull => "room-full",
            ErrorCode::UnknownMember => "unknown-member",
            ErrorCode::TooLarge => "too-large",
            ErrorCode::RateLimited => "rate-limited",
            ErrorCode::BinaryNotSupported => "binary-not-supported",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Names of every client message type, used to tell `unknown-type` from `invalid-message`.
pub const CLIENT_MESSAGE_TYPES: &[&str] =
    &["join", "offer", "answer", "candidate", "ping", "leave"];

/// Parses one client text frame, classifying failures by [`ErrorCode`].
pub fn parse_client_message(text: &str) -> Result<ClientMessage, (ErrorCode, String)> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| (ErrorCode::MalformedJson, format!("not valid JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err((
            ErrorCode::MalformedJson,
            "a message must be a JSON object".into(),
        ));
    };
    let kind = match object.get("type") {
        Some(serde_json::Value::String(kind)) => kind.clone(),
        Some(_) => return Err((ErrorCode::InvalidMessage, "`type` must be a string".into())),
        None => return Err((ErrorCode::InvalidMessage, "missing `type` field".into())),
    };
    if !CLIENT_MESSAGE_TYPES.contains(&kind.as_str()) {
        return Err((
            ErrorCode::UnknownType,
            format!("unknown message type `{kind}`"),
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        (
            ErrorCode::InvalidMessage,
            format!("invalid `{kind}` message: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_round_trips_with_default_version() {
        let parsed = parse_client_message(r#"{"type":"join","room":"r","name":"n"}"#).unwrap();
        assert_eq!(
            parsed,
            ClientMessage::Join {
                version: PROTOCOL_VERSION,
                room: "r".into(),
                name: "n".into(),
                token: None,
                meta: None,
            }
        );
    }

    #[test]
    fn join_meta_is_optional_and_left_out_when_absent() {
        let without = ClientMessage::Join {
            version: PROTOCOL_VERSION,
            room: "r".into(),
            name: "n".into(),
            token: None,
            meta: None,
        };
        assert!(!serde_json::to_string(&without).unwrap().contains("meta"));
        let parsed = parse_client_message(
            r#"{"type":"join","room":"r","name":"n","meta":{"camera":"front","n":3}}"#,
        )
        .unwrap();
        let ClientMessage::Join {
            meta: Some(meta), ..
        } = parsed
        else {
            panic!("{parsed:?}");
        };
        assert_eq!(meta["camera"], "front");
        assert_eq!(meta["n"], 3);
        assert_eq!(
            parse_client_message(r#"{"type":"join","room":"r","name":"n","meta":"x"}"#)
                .unwrap_err()
                .0,
            ErrorCode::InvalidMessage
        );
        let relayed = ServerMessage::MemberMeta {
            id: "a".into(),
            meta,
        };
        assert_eq!(
            serde_json::to_string(&relayed).unwrap(),
            r#"{"type":"member-meta","id":"a","meta":{"camera":"front","n":3}}"#
        );
    }

    #[test]
    fn candidate_uses_browser_field_names() {
        let msg = ClientMessage::Candidate {
            to: "a".into(),
            candidate: IceCandidate {
                candidate: "candidate:1 1 udp 1 10.0.0.1 5000 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
                username_fragment: None,
            },
        };
        let json = serde_json::to_string(&msg).unwrap();
        assert!(json.contains("\"sdpMid\":\"0\""), "{json}");
        assert!(json.contains("\"sdpMLineIndex\":0"), "{json}");
        assert_eq!(parse_client_message(&json).unwrap(), msg);
    }

    #[test]
    fn classifies_bad_frames() {
        assert_eq!(
            parse_client_message("{").unwrap_err().0,
            ErrorCode::MalformedJson
        );
        assert_eq!(
            parse_client_message("[1]").unwrap_err().0,
            ErrorCode::MalformedJson
        );
        assert_eq!(
            parse_client_message(r#"{"type":"dance"}"#).unwrap_err().0,
            ErrorCode::UnknownType
        );
        assert_eq!(
            parse_client_message(r#"{"type":"offer"}"#).unwrap_err().0,
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            parse_client_message(r#"{"room":"x"}"#).unwrap_err().0,
            ErrorCode::InvalidMessage
        );
    }

    #[test]
    fn server_error_serialises_code_in_kebab_case() {
        let msg = ServerMessage::Error {
            code: ErrorCode::WrongToken,
            message: "no".into(),
            fatal: false,
        };
        let json = serde_json::to_string(&msg).unwrap();
        assert_eq!(
            json,
            r#"{"type":"error","code":"wrong-token","message":"no","fatal":false}"#
        );
    }
}
