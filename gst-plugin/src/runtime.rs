//! The tokio runtime the elements run core on (one per process, two workers).

use std::future::Future;
use std::sync::OnceLock;

/// The process-wide runtime, started on first use.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rtcgate-gst")
            .enable_all()
            .build()
            .expect("start the rtcgate tokio runtime")
    })
}

/// Runs `fut` on the runtime and waits for it from a GStreamer thread. Works
/// from any thread, also one inside another tokio runtime (an application's).
pub(crate) fn block_on<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().expect("the rtcgate runtime dropped a task")
}
