//! The wrapper around every entry point: clears the last error, turns
//! failures into codes and catches panics so none crosses the boundary.

use std::any::Any;
use std::ffi::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::{self, Failure, FfiResult, rtcgate_error};

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic".to_owned()
    }
}

/// Runs `body`; a failure or a panic becomes a negative code and this
/// thread's last error.
pub fn run<T>(body: impl FnOnce() -> FfiResult<T>) -> Result<T, c_int> {
    error::clear();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(failure)) => Err(error::record(failure)),
        Err(payload) => Err(error::record(Failure::new(
            rtcgate_error::RTCGATE_ERR_INTERNAL,
            format!(
                "internal error (panic): {}",
                panic_message(payload.as_ref())
            ),
        ))),
    }
}

/// [`run`] for functions that return an `int` code or count.
pub fn int(body: impl FnOnce() -> FfiResult<c_int>) -> c_int {
    run(body).unwrap_or_else(|code| code)
}

/// [`run`] for functions that return a 64-bit count or a negative code.
pub fn int64(body: impl FnOnce() -> FfiResult<i64>) -> i64 {
    run(body).unwrap_or_else(i64::from)
}

/// Calls `f` (a user callback) and swallows a panic of our own glue code
/// around it; C code cannot unwind into Rust.
pub fn callback(f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        tracing::error!(
            "panic while preparing a callback: {}",
            panic_message(payload.as_ref())
        );
    }
}
