//! Strings across the boundary: UTF-8 checks on the way in, caller buffers
//! and library-allocated strings on the way out.

use std::collections::HashSet;
use std::ffi::{CStr, CString, c_char, c_int};
use std::sync::{Mutex, PoisonError};

use crate::error::{Failure, FfiResult, rtcgate_error};

/// A required NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid for `'a`.
pub unsafe fn required<'a>(ptr: *const c_char, name: &str) -> FfiResult<&'a str> {
    if ptr.is_null() {
        return Err(Failure::new(
            rtcgate_error::RTCGATE_ERR_NULL,
            format!("{name} is NULL"),
        ));
    }
    // SAFETY: non-NULL and NUL-terminated per the function's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes.to_str().map_err(|e| {
        Failure::new(
            rtcgate_error::RTCGATE_ERR_UTF8,
            format!("{name} is not valid UTF-8 ({e})"),
        )
    })
}

/// An optional string argument: NULL gives `None`.
///
/// # Safety
/// As for [`required`].
pub unsafe fn optional<'a>(ptr: *const c_char, name: &str) -> FfiResult<Option<&'a str>> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { required(ptr, name) }.map(Some)
    }
}

/// A required non-empty string argument.
///
/// # Safety
/// As for [`required`].
pub unsafe fn non_empty<'a>(ptr: *const c_char, name: &str) -> FfiResult<&'a str> {
    // SAFETY: forwarded contract.
    let text = unsafe { required(ptr, name) }?;
    if text.is_empty() {
        return Err(Failure::new(
            rtcgate_error::RTCGATE_ERR_INVALID,
            format!("{name} is empty"),
        ));
    }
    Ok(text)
}

/// A C string for a callback (NUL bytes, impossible in practice, become spaces).
pub fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', " ")).unwrap_or_default()
}

/// Copies `text` and a terminating NUL into the caller's buffer, libdatachannel
/// style: with a NULL `buffer`, returns the size needed (bytes including the
/// NUL); otherwise `RTCGATE_ERR_TOO_SMALL` when `size` is below that.
///
/// # Safety
/// `buffer` is NULL or points to at least `size` writable bytes.
pub unsafe fn to_buffer(text: &str, buffer: *mut c_char, size: c_int) -> FfiResult<c_int> {
    let needed = text.len() + 1;
    let needed_int = c_int::try_from(needed).map_err(|_| {
        Failure::new(
            rtcgate_error::RTCGATE_ERR_INTERNAL,
            "string longer than INT_MAX",
        )
    })?;
    if buffer.is_null() {
        return Ok(needed_int);
    }
    if size < needed_int {
        return Err(Failure::new(
            rtcgate_error::RTCGATE_ERR_TOO_SMALL,
            format!("buffer of {size} bytes, {needed} needed"),
        ));
    }
    // SAFETY: `buffer` has room for `needed` bytes (checked above).
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buffer.cast::<u8>(), text.len());
        *buffer.add(text.len()) = 0;
    }
    Ok(needed_int)
}

/// Strings handed to the application that it frees with `rtcgate_string_free`.
/// Remembering them turns a double free (or freeing a foreign pointer) into
/// an error code instead of heap corruption.
static OWNED: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

/// Gives `text` to the application as a library-allocated string.
pub fn give(text: &str) -> *mut c_char {
    let ptr = c_string(text).into_raw();
    OWNED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashSet::new)
        .insert(ptr as usize);
    ptr
}

/// Frees a string made by [`give`].
pub fn free(ptr: *mut c_char) -> FfiResult<()> {
    if ptr.is_null() {
        return Ok(());
    }
    let known = OWNED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_mut()
        .is_some_and(|set| set.remove(&(ptr as usize)));
    if !known {
        return Err(Failure::new(
            rtcgate_error::RTCGATE_ERR_INVALID,
            "not a string allocated by rtcgate (or already freed)",
        ));
    }
    // SAFETY: made by `CString::into_raw` in `give` and not freed before.
    drop(unsafe { CString::from_raw(ptr) });
    Ok(())
}

/// Checks a NULL-able out pointer.
pub fn out_ptr<T>(ptr: *mut T, name: &str) -> FfiResult<()> {
    if ptr.is_null() {
        Err(Failure::new(
            rtcgate_error::RTCGATE_ERR_NULL,
            format!("{name} is NULL"),
        ))
    } else {
        Ok(())
    }
}
