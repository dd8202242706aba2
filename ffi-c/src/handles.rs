//! The handle table: opaque integer handles for library objects.
//!
//! A handle is a positive `int32_t`: the low 16 bits are a slot index
//! (1..=65535), the next 15 bits the slot's generation. Destroying an object
//! bumps its slot's generation, so the old handle is *stale* and every use of
//! it is `RTCGATE_ERR_HANDLE`, until the same slot has been reused 32,767
//! times. Freed slots are reused oldest first, which spreads reuse over all
//! free slots. Each slot remembers the kind of its object, so a handle of
//! another kind is `RTCGATE_ERR_WRONG_TYPE`.
//!
//! The table lock is held only to look up, insert or remove; never while an
//! object is used or a callback runs.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::error::{Failure, FfiResult, rtcgate_error};

/// The kinds of objects a handle can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Server,
    Call,
    LocalTrack,
    RemoteTrack,
    DataChannel,
    Recorder,
    Clip,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Server => "server",
            Kind::Call => "call",
            Kind::LocalTrack => "local track",
            Kind::RemoteTrack => "remote track",
            Kind::DataChannel => "data channel",
            Kind::Recorder => "recorder",
            Kind::Clip => "clip",
        }
    }
}

/// An object that can live in the table.
pub trait Object: Any + Send + Sync {
    const KIND: Kind;
}

type Entry = (Kind, Arc<dyn Any + Send + Sync>);

struct Slot {
    generation: u16,
    entry: Option<Entry>,
}

struct Table {
    slots: Vec<Slot>,
    free: VecDeque<usize>,
}

const INDEX_BITS: u32 = 16;
const MAX_SLOTS: usize = (1 << INDEX_BITS) - 1;
const GENERATION_MASK: u16 = 0x7fff;

static TABLE: Mutex<Table> = Mutex::new(Table {
    slots: Vec::new(),
    free: VecDeque::new(),
});

fn table() -> MutexGuard<'static, Table> {
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn encode(index: usize, generation: u16) -> i32 {
    ((i32::from(generation)) << INDEX_BITS) | (index as i32 + 1)
}

fn decode(handle: i32) -> Option<(usize, u16)> {
    if handle <= 0 {
        return None;
    }
    let index = (handle & 0xffff) as usize;
    if index == 0 {
        return None;
    }
    Some((index - 1, (handle >> INDEX_BITS) as u16))
}

fn bad_handle(handle: i32) -> Failure {
    Failure::new(
        rtcgate_error::RTCGATE_ERR_HANDLE,
        format!("invalid handle {handle} (never created, or already destroyed)"),
    )
}

/// Puts `object` into the table and returns its new handle.
pub fn insert<T: Object>(object: Arc<T>) -> FfiResult<i32> {
    crate::runtime::ensure_running()?;
    let mut table = table();
    let index = match table.free.pop_front() {
        Some(index) => index,
        None if table.slots.len() < MAX_SLOTS => {
            table.slots.push(Slot {
                generation: 1,
                entry: None,
            });
            table.slots.len() - 1
        }
        None => {
            return Err(Failure::new(
                rtcgate_error::RTCGATE_ERR_LIMIT,
                format!("too many live objects ({MAX_SLOTS})"),
            ));
        }
    };
    let slot = &mut table.slots[index];
    slot.entry = Some((T::KIND, object));
    Ok(encode(index, slot.generation))
}

fn lookup(table: &Table, handle: i32, kind: Kind) -> FfiResult<(usize, &Entry)> {
    let (index, generation) = decode(handle).ok_or_else(|| bad_handle(handle))?;
    let slot = table.slots.get(index).ok_or_else(|| bad_handle(handle))?;
    match &slot.entry {
        Some(entry) if slot.generation == generation => {
            if entry.0 != kind {
                return Err(Failure::new(
                    rtcgate_error::RTCGATE_ERR_WRONG_TYPE,
                    format!(
                        "handle {handle} is a {}, not a {}",
                        entry.0.name(),
                        kind.name()
                    ),
                ));
            }
            Ok((index, entry))
        }
        _ => Err(bad_handle(handle)),
    }
}

fn downcast<T: Object>(entry: &Entry) -> Arc<T> {
    Arc::clone(&entry.1)
        .downcast::<T>()
        .unwrap_or_else(|_| unreachable!("kind tag matches the type"))
}

/// The object behind `handle`, which must be of type `T`.
pub fn get<T: Object>(handle: i32) -> FfiResult<Arc<T>> {
    crate::runtime::ensure_running()?;
    let table = table();
    let (_, entry) = lookup(&table, handle, T::KIND)?;
    Ok(downcast(entry))
}

/// Removes `handle` from the table (it becomes stale) and returns its object.
pub fn remove<T: Object>(handle: i32) -> FfiResult<Arc<T>> {
    crate::runtime::ensure_running()?;
    let mut table = table();
    let (index, entry) = lookup(&table, handle, T::KIND)?;
    let object = downcast(entry);
    let slot = &mut table.slots[index];
    slot.entry = None;
    slot.generation = (slot.generation % GENERATION_MASK) + 1;
    table.free.push_back(index);
    Ok(object)
}

/// Removes every handle (at shutdown) and returns the objects, grouped by kind.
pub fn drain() -> Vec<(i32, Kind, Arc<dyn Any + Send + Sync>)> {
    let mut table = table();
    let mut all = Vec::new();
    let mut freed = Vec::new();
    for (index, slot) in table.slots.iter_mut().enumerate() {
        if let Some((kind, object)) = slot.entry.take() {
            all.push((encode(index, slot.generation), kind, object));
            slot.generation = (slot.generation % GENERATION_MASK) + 1;
            freed.push(index);
        }
    }
    table.free.extend(freed);
    all
}

/// Number of live handles (tests, leak checks).
pub fn live() -> usize {
    table().slots.iter().filter(|s| s.entry.is_some()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct A;
    impl Object for A {
        const KIND: Kind = Kind::Clip;
    }
    #[derive(Debug)]
    struct B;
    impl Object for B {
        const KIND: Kind = Kind::Server;
    }

    #[test]
    fn stale_and_wrong_type_handles_are_errors() {
        let _ = crate::runtime::start(1);
        let a = insert(Arc::new(A)).unwrap();
        assert!(a > 0);
        assert!(get::<A>(a).is_ok());
        assert_eq!(
            get::<B>(a).unwrap_err().code,
            rtcgate_error::RTCGATE_ERR_WRONG_TYPE
        );
        remove::<A>(a).unwrap();
        assert_eq!(
            get::<A>(a).unwrap_err().code,
            rtcgate_error::RTCGATE_ERR_HANDLE
        );
        assert_eq!(
            remove::<A>(a).unwrap_err().code,
            rtcgate_error::RTCGATE_ERR_HANDLE
        );
        let again = insert(Arc::new(A)).unwrap();
        assert_ne!(again, a);
        assert_eq!(
            get::<A>(a).unwrap_err().code,
            rtcgate_error::RTCGATE_ERR_HANDLE
        );
        for bogus in [0, -1, i32::MAX, 0x7fff_0000] {
            assert_eq!(
                get::<A>(bogus).unwrap_err().code,
                rtcgate_error::RTCGATE_ERR_HANDLE
            );
        }
        remove::<A>(again).unwrap();
    }
}
