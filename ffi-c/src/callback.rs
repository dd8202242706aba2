//! Callback delivery: the user's function pointer and `user_data` behind a
//! gate that makes destroy wait for running callbacks.
//!
//! Rules (written in the header too):
//! - no library lock is held while a callback runs (the gate's lock is
//!   released before the call);
//! - closing the gate (destroy) waits until no callback of the object runs on
//!   *another* thread; a callback that destroys its own object does not wait
//!   for itself;
//! - after the gate is closed, no new callback starts.

use std::cell::Cell;
use std::ffi::c_void;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};

/// The application's opaque pointer, passed back untouched.
#[derive(Clone, Copy)]
pub struct UserData(pub *mut c_void);

// SAFETY: the library never dereferences it; the header tells the
// application that callbacks run on library threads.
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// True while this thread runs a user callback (of any object).
pub fn in_callback() -> bool {
    DEPTH.with(|d| d.get() > 0)
}

/// Marks the current thread as running a user callback for the guard's lifetime.
pub struct CallbackScope;

impl CallbackScope {
    pub fn enter() -> CallbackScope {
        DEPTH.with(|d| d.set(d.get() + 1));
        CallbackScope
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get() - 1));
    }
}

struct GateState<F> {
    callback: Option<(F, UserData)>,
    closed: bool,
    running: Vec<ThreadId>,
}

/// A callback slot of one object.
pub struct Gate<F: Copy + Send> {
    state: Mutex<GateState<F>>,
    idle: Condvar,
}

impl<F: Copy + Send> Gate<F> {
    pub fn new(callback: Option<(F, UserData)>) -> Self {
        Gate {
            state: Mutex::new(GateState {
                callback,
                closed: false,
                running: Vec::new(),
            }),
            idle: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, GateState<F>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the callback (`None` removes it). Callbacks already running
    /// finish with the old one.
    pub fn set(&self, callback: Option<(F, UserData)>) {
        let mut state = self.lock();
        if !state.closed {
            state.callback = callback;
        }
    }

    /// Calls `call` with the callback, unless there is none or the gate is
    /// closed. Returns whether it was called.
    pub fn invoke(&self, call: impl FnOnce(F, *mut c_void)) -> bool {
        let me = thread::current().id();
        let (f, user_data) = {
            let mut state = self.lock();
            let Some((f, user_data)) = state.callback.filter(|_| !state.closed) else {
                return false;
            };
            state.running.push(me);
            (f, user_data)
        };
        {
            let _scope = CallbackScope::enter();
            crate::guard::callback(|| call(f, user_data.0));
        }
        let mut state = self.lock();
        if let Some(pos) = state.running.iter().position(|t| *t == me) {
            state.running.swap_remove(pos);
        }
        drop(state);
        self.idle.notify_all();
        true
    }

    /// True when the current thread is inside a callback of this gate.
    pub fn current_thread_inside(&self) -> bool {
        let me = thread::current().id();
        self.lock().running.contains(&me)
    }

    /// Stops further callbacks and waits until none runs on another thread.
    pub fn close(&self) {
        let me = thread::current().id();
        let mut state = self.lock();
        state.closed = true;
        state.callback = None;
        while state.running.iter().any(|t| *t != me) {
            state = self
                .idle
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}
