//! An element's running session: the task that joins the room and works in
//! it, and the flag that tells it to stop.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

use crate::runtime::{block_on, runtime};

/// A session task and its stop flag.
pub(crate) struct Session {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Session {
    /// Spawns `start(stop)` on the runtime; the task is to end once `stop`
    /// turns true.
    pub(crate) fn spawn<F>(start: impl FnOnce(watch::Receiver<bool>) -> F) -> Session
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (stop, stop_rx) = watch::channel(false);
        let task = runtime().spawn(start(stop_rx));
        Session { stop, task }
    }

    /// The stop flag, to ask the task to stop without waiting for it.
    pub(crate) fn stopper(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }

    /// Asks the task to stop and waits for it at most `limit`; false when it
    /// did not end in time.
    pub(crate) fn stop(self, limit: Duration) -> bool {
        let _ = self.stop.send(true);
        let task = self.task;
        block_on(async move { tokio::time::timeout(limit, task).await }).is_ok()
    }
}
