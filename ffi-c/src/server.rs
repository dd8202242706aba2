//! The embedded signalling server (rooms over WebSocket + JSON).

use std::ffi::{c_char, c_int};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use rtcgate_core::signalling::{ServerConfig, SignallingServer};

use crate::error::{Failure, FfiResult, rtcgate_error};
use crate::handles::{self, Kind, Object};
use crate::{guard, runtime, strings};

/// Handle of a running signalling server.
#[allow(non_camel_case_types)]
pub type rtcgate_server = i32;

/// Options of `rtcgate_server_start`. Zero-initialise it (`= {0}`) and set
/// what you need; the library only reads it during the call.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct rtcgate_server_config {
    /// `HOST:PORT` to listen on (UTF-8). NULL: `127.0.0.1:0` (a free port on
    /// loopback). Use `0.0.0.0:8080` to accept other machines.
    pub bind_address: *const c_char,
    /// Folder served at `/` (e.g. the web page `examples/web`). NULL: none.
    pub web_root: *const c_char,
}

pub struct ServerObj {
    server: Mutex<Option<SignallingServer>>,
    url: String,
    port: u16,
}

impl Object for ServerObj {
    const KIND: Kind = Kind::Server;
}

impl ServerObj {
    pub fn stop(&self) {
        let server = self
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(server) = server {
            let _ = runtime::block_on(server.shutdown());
        }
    }
}

fn start(config: *const rtcgate_server_config) -> FfiResult<rtcgate_server> {
    let (bind, web_root) = if config.is_null() {
        (None, None)
    } else {
        // SAFETY: the caller passes a valid config or NULL.
        let config = unsafe { &*config };
        // SAFETY: strings of a valid config are NULL or NUL-terminated.
        unsafe {
            (
                strings::optional(config.bind_address, "bind_address")?,
                strings::optional(config.web_root, "web_root")?,
            )
        }
    };
    let addr: SocketAddr = bind.unwrap_or("127.0.0.1:0").parse().map_err(|e| {
        Failure::new(
            rtcgate_error::RTCGATE_ERR_INVALID,
            format!("bind_address {bind:?}: {e}"),
        )
    })?;
    let mut server_config = ServerConfig::default();
    server_config.web_root = web_root.map(Into::into);
    let server = runtime::block_on(SignallingServer::bind(addr, server_config))??;
    let object = Arc::new(ServerObj {
        url: server.url(),
        port: server.local_addr().port(),
        server: Mutex::new(Some(server)),
    });
    match handles::insert(Arc::clone(&object)) {
        Ok(handle) => Ok(handle),
        Err(failure) => {
            object.stop();
            Err(failure)
        }
    }
}

/// Starts a signalling server on the library's runtime.
///
/// `config` may be NULL (defaults). Returns the server's handle (> 0), or a
/// negative error code (`RTCGATE_ERR_IO` when the address cannot be bound).
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_server_start(config: *const rtcgate_server_config) -> rtcgate_server {
    guard::int(|| start(config))
}

/// Copies the server's WebSocket URL (`ws://HOST:PORT/ws`, the `url` of
/// `rtcgate_call_config`) into `buffer` with its terminating NUL.
///
/// With `buffer` NULL, returns the size needed. Otherwise returns the number
/// of bytes written (including the NUL), or `RTCGATE_ERR_TOO_SMALL`.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_server_url(
    server: rtcgate_server,
    buffer: *mut c_char,
    size: c_int,
) -> c_int {
    guard::int(|| {
        let object = handles::get::<ServerObj>(server)?;
        // SAFETY: the caller's buffer has `size` bytes, or is NULL.
        unsafe { strings::to_buffer(&object.url, buffer, size) }
    })
}

/// The TCP port the server listens on, or a negative error code.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_server_port(server: rtcgate_server) -> c_int {
    guard::int(|| Ok(c_int::from(handles::get::<ServerObj>(server)?.port)))
}

/// Stops the server (closing every connection; takes at most a few seconds)
/// and releases the handle, which becomes invalid.
#[unsafe(no_mangle)]
pub extern "C" fn rtcgate_server_stop(server: rtcgate_server) -> c_int {
    guard::int(|| {
        let object = handles::remove::<ServerObj>(server)?;
        object.stop();
        Ok(0)
    })
}
