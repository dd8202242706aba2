//! The async runtime a call's peer connections run on: webrtc's tokio runtime,
//! with larger UDP socket buffers.
//!
//! The kernel's default receive buffer (`net.core.rmem_default`, 212,992 bytes on
//! Debian) holds ~150 full datagrams. A data-channel burst overflows it, the kernel
//! drops what does not fit (`RcvbufErrors` in `/proc/net/snmp`), and SCTP repairs
//! the loss only after its retransmission timeout (≥ 1 s): the transfer stalls.
//! Asking for more is free until the memory is used, and the kernel caps the
//! request at `net.core.rmem_max` / `wmem_max` (docs/transport.md).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime,
    TokioRuntime,
};

/// [`TokioRuntime`] whose UDP sockets ask for `buffer_size`-byte send and receive buffers.
#[derive(Debug)]
pub(crate) struct SocketBufferRuntime {
    inner: TokioRuntime,
    buffer_size: usize,
}

impl SocketBufferRuntime {
    /// A runtime for peer connections; `buffer_size == 0` keeps the kernel defaults.
    pub(crate) fn new(buffer_size: usize) -> Arc<Self> {
        Arc::new(Self {
            inner: TokioRuntime,
            buffer_size,
        })
    }
}

/// Asks for `size`-byte buffers on `socket` (the kernel may grant less) and logs
/// what it got. A refusal is not an error: the socket works with its defaults.
fn enlarge_buffers(socket: &std::net::UdpSocket, size: usize) {
    let socket = socket2::SockRef::from(socket);
    if let Err(error) = socket.set_recv_buffer_size(size) {
        tracing::debug!(%error, size, "UDP receive buffer size not set");
    }
    if let Err(error) = socket.set_send_buffer_size(size) {
        tracing::debug!(%error, size, "UDP send buffer size not set");
    }
    tracing::debug!(
        requested = size,
        // Linux reports twice the usable size (it counts its own bookkeeping).
        receive = socket.recv_buffer_size().unwrap_or(0),
        send = socket.send_buffer_size().unwrap_or(0),
        "UDP socket buffers"
    );
}

impl Runtime for SocketBufferRuntime {
    #[track_caller]
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.inner.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(reactor_pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        if self.buffer_size > 0 {
            enlarge_buffers(&socket, self.buffer_size);
        }
        self.inner.wrap_udp_socket(socket)
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        self.inner.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        self.inner.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }

    fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        "tokio (rtcgate socket buffers)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_grow_beyond_the_kernel_default() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let before = socket2::SockRef::from(&socket).recv_buffer_size().unwrap();
        enlarge_buffers(&socket, 4 << 20);
        let after = socket2::SockRef::from(&socket).recv_buffer_size().unwrap();
        let max = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|text| text.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if max > before / 2 {
            assert!(
                after > before,
                "receive buffer {before} → {after} (rmem_max {max})"
            );
        } else {
            assert_eq!(
                after, before,
                "rmem_max {max} leaves no room above the default"
            );
        }
    }
}
