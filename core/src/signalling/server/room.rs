//! Rooms and their members: joining (tokens, limits, ids), leaving, and
//! relaying between two members of the same room.
//!
//! Every operation takes the registry lock once, does only non-blocking work
//! under it (pushing into [`Outbox`]es never waits), and returns.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::extract::ws::Utf8Bytes;
use rand::Rng;

use super::outbox::{Outbox, encode};
use crate::signalling::protocol::{
    ErrorCode, MemberId, MemberInfo, Meta, PROTOCOL_VERSION, ServerMessage,
};

/// Limits and pre-set tokens the registry enforces.
#[derive(Debug, Clone)]
pub(crate) struct RoomRules {
    /// Operator-fixed tokens: room name → token.
    pub(crate) room_tokens: HashMap<String, String>,
    /// Most rooms at once.
    pub(crate) max_rooms: usize,
    /// Most members per room.
    pub(crate) max_members_per_room: usize,
}

/// A refused join: the error code and explanation to send back.
pub(crate) type Refusal = (ErrorCode, String);

#[derive(Debug)]
struct Member {
    id: MemberId,
    name: String,
    meta: Option<Meta>,
    outbox: Outbox,
}

#[derive(Debug, Default)]
struct Room {
    /// Token set by the join that created the room (not used for pre-set rooms).
    token: Option<String>,
    /// Members in join order.
    members: Vec<Member>,
}

#[derive(Debug, Default)]
struct Inner {
    rooms: HashMap<String, Room>,
    ids: HashSet<MemberId>,
}

/// All rooms of one server.
#[derive(Debug)]
pub(crate) struct Registry {
    rules: RoomRules,
    inner: Mutex<Inner>,
}

impl Registry {
    /// An empty registry.
    pub(crate) fn new(rules: RoomRules) -> Self {
        Self {
            rules,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The lock guards plain maps updated in single steps; a panic elsewhere
        // cannot leave them half-updated, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a member to `room`, creating the room if needed.
    ///
    /// On success the welcome is already queued on `outbox` (before any
    /// message another member could send to the newcomer) and the other
    /// members have been told (with `member-meta` after `welcome` for the
    /// members that have metadata, and after `member-joined` for the
    /// newcomer's); returns the new member's id.
    pub(crate) fn join(
        &self,
        room: &str,
        name: &str,
        token: Option<&str>,
        meta: Option<Meta>,
        outbox: &Outbox,
    ) -> Result<MemberId, Refusal> {
        let token = token.filter(|t| !t.is_empty());
        let preset = self.rules.room_tokens.get(room);
        let mut inner = self.lock();
        let inner = &mut *inner;

        let required = preset
            .map(String::as_str)
            .or_else(|| inner.rooms.get(room).and_then(|r| r.token.as_deref()));
        if let Some(required) = required {
            let accepted =
                token.is_some_and(|given| constant_time_eq(required.as_bytes(), given.as_bytes()));
            if !accepted {
                let what = if token.is_some() {
                    "wrong room token"
                } else {
                    "this room requires a token"
                };
                return Err((ErrorCode::WrongToken, what.into()));
            }
        }
        match inner.rooms.get(room) {
            Some(existing) if existing.members.len() >= self.rules.max_members_per_room => {
                return Err((
                    ErrorCode::RoomFull,
                    format!("room is full ({} members)", self.rules.max_members_per_room),
                ));
            }
            None if inner.rooms.len() >= self.rules.max_rooms => {
                return Err((
                    ErrorCode::RoomFull,
                    "the server has reached its room limit".into(),
                ));
            }
            _ => {}
        }

        let id = loop {
            let candidate = new_member_id();
            if !inner.ids.contains(&candidate) {
                break candidate;
            }
        };
        let entry = inner.rooms.entry(room.to_owned()).or_insert_with(|| Room {
            token: if preset.is_some() {
                None
            } else {
                token.map(str::to_owned)
            },
            members: Vec::new(),
        });

        outbox.send(&ServerMessage::Welcome {
            version: PROTOCOL_VERSION,
            id: id.clone(),
            room: room.to_owned(),
            members: entry.members.iter().map(Member::info).collect(),
        });
        let joined = encode(&ServerMessage::MemberJoined {
            member: MemberInfo {
                id: id.clone(),
                name: name.to_owned(),
            },
        });
        for member in &entry.members {
            if let Some(meta) = &member.meta {
                outbox.send(&ServerMessage::MemberMeta {
                    id: member.id.clone(),
                    meta: meta.clone(),
                });
            }
        }
        let meta_message = meta.as_ref().map(|meta| {
            encode(&ServerMessage::MemberMeta {
                id: id.clone(),
                meta: meta.clone(),
            })
        });
        for member in &entry.members {
            member.outbox.push(joined.clone());
            if let Some(message) = &meta_message {
                member.outbox.push(message.clone());
            }
        }
        entry.members.push(Member {
            id: id.clone(),
            name: name.to_owned(),
            meta,
            outbox: outbox.clone(),
        });
        inner.ids.insert(id.clone());
        Ok(id)
    }

    /// Removes a member; tells the others, and removes the room once empty.
    /// Returns false if the member was not there.
    pub(crate) fn leave(&self, room: &str, id: &str) -> bool {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let Some(entry) = inner.rooms.get_mut(room) else {
            return false;
        };
        let Some(index) = entry.members.iter().position(|m| m.id == id) else {
            return false;
        };
        entry.members.remove(index);
        inner.ids.remove(id);
        if entry.members.is_empty() {
            inner.rooms.remove(room);
        } else {
            let left = encode(&ServerMessage::MemberLeft { id: id.to_owned() });
            for member in &entry.members {
                member.outbox.push(left.clone());
            }
        }
        true
    }

    /// Delivers an already serialised message from `from` to `to`, both in
    /// `room`. Returns false (and delivers nothing) when `to` is not another
    /// member of that room.
    pub(crate) fn relay(&self, room: &str, from: &str, to: &str, message: Utf8Bytes) -> bool {
        if from == to {
            return false;
        }
        let inner = self.lock();
        let target = inner
            .rooms
            .get(room)
            .and_then(|r| r.members.iter().find(|m| m.id == to));
        match target {
            Some(target) => {
                // A full queue kicks the target; the sender is not told (the
                // target's member-left follows shortly).
                target.outbox.push(message);
                true
            }
            None => false,
        }
    }

    /// Number of rooms that exist now.
    #[cfg(test)]
    pub(crate) fn room_count(&self) -> usize {
        self.lock().rooms.len()
    }
}

impl Member {
    fn info(&self) -> MemberInfo {
        MemberInfo {
            id: self.id.clone(),
            name: self.name.clone(),
        }
    }
}

/// A random member id: 12 lowercase hex characters (48 bits).
fn new_member_id() -> MemberId {
    let value: u64 = rand::rng().random::<u64>() & 0xffff_ffff_ffff;
    format!("{value:012x}")
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::super::outbox::Outgoing;
    use super::*;

    fn registry(tokens: &[(&str, &str)]) -> Registry {
        Registry::new(RoomRules {
            room_tokens: tokens
                .iter()
                .map(|(r, t)| (r.to_string(), t.to_string()))
                .collect(),
            max_rooms: 2,
            max_members_per_room: 2,
        })
    }

    fn drain(rx: &mut mpsc::Receiver<Outgoing>) -> Vec<ServerMessage> {
        let mut out = Vec::new();
        while let Ok(item) = rx.try_recv() {
            if let Outgoing::Text(text) = item {
                out.push(serde_json::from_str(text.as_str()).unwrap());
            }
        }
        out
    }

    #[test]
    fn join_welcomes_and_announces() {
        let reg = registry(&[]);
        let (a, mut a_rx, _) = Outbox::new(8);
        let (b, mut b_rx, _) = Outbox::new(8);
        let a_id = reg.join("r", "alice", None, None, &a).unwrap();
        assert_eq!(a_id.len(), 12);
        assert!(a_id.chars().all(|c| c.is_ascii_hexdigit()));
        let b_id = reg.join("r", "bob", None, None, &b).unwrap();
        assert_ne!(a_id, b_id);
        let a_msgs = drain(&mut a_rx);
        assert!(matches!(&a_msgs[0], ServerMessage::Welcome { members, .. } if members.is_empty()));
        assert_eq!(
            a_msgs[1],
            ServerMessage::MemberJoined {
                member: MemberInfo {
                    id: b_id.clone(),
                    name: "bob".into()
                }
            }
        );
        let b_msgs = drain(&mut b_rx);
        assert!(
            matches!(&b_msgs[0], ServerMessage::Welcome { id, members, .. } if *id == b_id && members[0].id == a_id)
        );
        assert!(reg.leave("r", &b_id));
        assert_eq!(
            drain(&mut a_rx),
            vec![ServerMessage::MemberLeft { id: b_id.clone() }]
        );
        assert!(!reg.leave("r", &b_id));
        assert!(reg.leave("r", &a_id));
        assert_eq!(reg.room_count(), 0);
    }

    #[test]
    fn meta_goes_to_members_there_and_to_later_ones() {
        let reg = registry(&[]);
        let (a, mut a_rx, _) = Outbox::new(8);
        let (b, mut b_rx, _) = Outbox::new(8);
        let meta: Meta = serde_json::from_str(r#"{"camera":"front"}"#).unwrap();
        let a_id = reg
            .join("r", "alice", None, Some(meta.clone()), &a)
            .unwrap();
        let b_id = reg.join("r", "bob", None, Some(meta.clone()), &b).unwrap();
        // alice: welcome, bob joined, bob's meta.
        let a_msgs = drain(&mut a_rx);
        assert_eq!(a_msgs.len(), 3, "{a_msgs:?}");
        assert!(matches!(&a_msgs[1], ServerMessage::MemberJoined { member } if member.id == b_id));
        assert_eq!(
            a_msgs[2],
            ServerMessage::MemberMeta {
                id: b_id.clone(),
                meta: meta.clone()
            }
        );
        // bob: welcome, then alice's meta.
        let b_msgs = drain(&mut b_rx);
        assert_eq!(b_msgs.len(), 2, "{b_msgs:?}");
        assert!(matches!(&b_msgs[0], ServerMessage::Welcome { .. }));
        assert_eq!(b_msgs[1], ServerMessage::MemberMeta { id: a_id, meta });
        // Without meta, nothing more than before.
        let reg = registry(&[]);
        let (c, mut c_rx, _) = Outbox::new(8);
        let (d, mut d_rx, _) = Outbox::new(8);
        reg.join("r", "c", None, None, &c).unwrap();
        reg.join("r", "d", None, None, &d).unwrap();
        assert_eq!(drain(&mut c_rx).len(), 2);
        assert_eq!(drain(&mut d_rx).len(), 1);
    }

    #[test]
    fn token_of_creator_holds_while_room_exists() {
        let reg = registry(&[]);
        let (o, _rx, _) = Outbox::new(8);
        let first = reg.join("r", "a", Some("secret"), None, &o).unwrap();
        assert_eq!(
            reg.join("r", "b", None, None, &o).unwrap_err().0,
            ErrorCode::WrongToken
        );
        assert_eq!(
            reg.join("r", "b", Some("nope"), None, &o).unwrap_err().0,
            ErrorCode::WrongToken
        );
        let second = reg.join("r", "b", Some("secret"), None, &o).unwrap();
        reg.leave("r", &first);
        reg.leave("r", &second);
        // The room is gone, so a new creator picks a new token (or none).
        reg.join("r", "c", None, None, &o).unwrap();
    }

    #[test]
    fn preset_token_always_applies() {
        let reg = registry(&[("r", "fixed")]);
        let (o, _rx, _) = Outbox::new(8);
        assert_eq!(
            reg.join("r", "a", None, None, &o).unwrap_err().0,
            ErrorCode::WrongToken
        );
        assert_eq!(
            reg.join("r", "a", Some("other"), None, &o).unwrap_err().0,
            ErrorCode::WrongToken
        );
        reg.join("r", "a", Some("fixed"), None, &o).unwrap();
        // Open rooms stay open even when the joiner brings a token.
        reg.join("open", "a", Some("whatever"), None, &o).unwrap();
    }

    #[test]
    fn limits_give_room_full() {
        let reg = registry(&[]);
        let (o, _rx, _) = Outbox::new(64);
        reg.join("r1", "a", None, None, &o).unwrap();
        reg.join("r1", "b", None, None, &o).unwrap();
        assert_eq!(
            reg.join("r1", "c", None, None, &o).unwrap_err().0,
            ErrorCode::RoomFull
        );
        reg.join("r2", "c", None, None, &o).unwrap();
        assert_eq!(
            reg.join("r3", "d", None, None, &o).unwrap_err().0,
            ErrorCode::RoomFull
        );
    }

    #[test]
    fn relay_stays_inside_the_room() {
        let reg = registry(&[]);
        let (a, _a_rx, _) = Outbox::new(8);
        let (b, mut b_rx, _) = Outbox::new(8);
        let (c, _c_rx, _) = Outbox::new(8);
        let a_id = reg.join("r1", "a", None, None, &a).unwrap();
        let b_id = reg.join("r1", "b", None, None, &b).unwrap();
        let c_id = reg.join("r2", "c", None, None, &c).unwrap();
        drain(&mut b_rx);
        let msg = encode(&ServerMessage::Offer {
            from: a_id.clone(),
            sdp: "x".into(),
        });
        assert!(reg.relay("r1", &a_id, &b_id, msg.clone()));
        assert!(!reg.relay("r1", &a_id, &c_id, msg.clone()));
        assert!(!reg.relay("r1", &a_id, &a_id, msg.clone()));
        assert!(!reg.relay("r1", &a_id, "nobody", msg));
        assert_eq!(
            drain(&mut b_rx),
            vec![ServerMessage::Offer {
                from: a_id,
                sdp: "x".into()
            }]
        );
    }

    #[test]
    fn constant_time_eq_compares_contents() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
