//! The library's single tokio runtime, started by `rtcgate_init` and stopped
//! by `rtcgate_shutdown`.

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinHandle;

use crate::error::{Failure, FfiResult, rtcgate_error};

static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);

fn slot() -> MutexGuard<'static, Option<Runtime>> {
    RUNTIME.lock().unwrap_or_else(PoisonError::into_inner)
}

fn not_initialized() -> Failure {
    Failure::new(
        rtcgate_error::RTCGATE_ERR_NOT_INITIALIZED,
        "rtcgate_init has not been called (or rtcgate_shutdown has)",
    )
}

/// Starts the runtime.
pub fn start(worker_threads: usize) -> FfiResult<()> {
    let mut slot = slot();
    if slot.is_some() {
        return Err(Failure::new(
            rtcgate_error::RTCGATE_ERR_ALREADY_INITIALIZED,
            "rtcgate_init was already called",
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads.max(1))
        .thread_name("rtcgate-worker")
        .enable_all()
        .build()
        .map_err(|e| Failure::new(rtcgate_error::RTCGATE_ERR_IO, format!("tokio runtime: {e}")))?;
    *slot = Some(runtime);
    Ok(())
}

/// True between init and shutdown.
pub fn is_running() -> bool {
    slot().is_some()
}

/// `RTCGATE_ERR_NOT_INITIALIZED` unless between init and shutdown.
pub fn ensure_running() -> FfiResult<()> {
    if is_running() {
        Ok(())
    } else {
        Err(not_initialized())
    }
}

/// Takes the runtime out (shutdown): later calls get `RTCGATE_ERR_NOT_INITIALIZED`.
pub fn take() -> Option<Runtime> {
    slot().take()
}

/// Stops a runtime taken with [`take`], waiting a little for its tasks.
pub fn stop(runtime: Runtime) {
    runtime.shutdown_timeout(Duration::from_secs(2));
}

/// A handle to the running runtime.
pub fn handle() -> FfiResult<Handle> {
    slot()
        .as_ref()
        .map(|rt| rt.handle().clone())
        .ok_or_else(not_initialized)
}

/// Runs `future` to completion on the calling (application or callback) thread.
pub fn block_on<F: Future>(future: F) -> FfiResult<F::Output> {
    let handle = handle()?;
    if Handle::try_current().is_ok() && tokio::task::try_id().is_some() {
        return Err(Failure::new(
            rtcgate_error::RTCGATE_ERR_INVALID,
            "blocking rtcgate function called from inside an async task",
        ));
    }
    Ok(handle.block_on(future))
}

/// Like [`block_on`], with a time limit.
pub fn block_on_timeout<F: Future>(limit: Duration, future: F) -> FfiResult<F::Output> {
    block_on(async move { tokio::time::timeout(limit, future).await })?.map_err(|_| {
        Failure::new(
            rtcgate_error::RTCGATE_ERR_TIMEOUT,
            format!("timed out after {} s", limit.as_secs_f32()),
        )
    })
}

/// Spawns a task on the runtime.
pub fn spawn<F>(future: F) -> FfiResult<JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Ok(handle()?.spawn(future))
}

/// Runs a user callback on a blocking-pool thread (never on a runtime
/// worker, so the callback may call blocking library functions) and waits
/// until it returns. Events of one object are delivered one at a time, in order.
pub async fn deliver(callback: impl FnOnce() + Send + 'static) {
    let _ = tokio::task::spawn_blocking(callback).await;
}
