//! A raw HTTP/1.1 server that streams one large file slowly and counts the body bytes it managed to
//! write before the client hung up, to prove a download stops at its limit. Its send buffer is kept
//! small so the count tracks what the client actually took.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::task::JoinHandle;

/// The running server; it stops when dropped.
pub struct SlowFile {
    addr: SocketAddr,
    written: Arc<AtomicUsize>,
    finished: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Drop for SlowFile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SlowFile {
    /// Serves `total` bytes of `image/jpeg` in `chunk`-byte writes, 2 ms apart, to the first client;
    /// with `Content-Length` when `with_length`, else delimited by closing the connection.
    pub async fn start(total: usize, chunk: usize, with_length: bool) -> SlowFile {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_send_buffer_size(4096).expect("send buffer");
        socket.bind("127.0.0.1:0".parse().unwrap()).expect("bind");
        let listener = socket.listen(8).expect("listen");
        let addr = listener.local_addr().expect("address");
        let written = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicBool::new(false));
        let (w, f) = (written.clone(), finished.clone());
        let task = tokio::spawn(async move {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|win| win == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let length = if with_length {
                format!("Content-Length: {total}\r\n")
            } else {
                String::new()
            };
            let head =
                format!("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n{length}Connection: close\r\n\r\n");
            if stream.write_all(head.as_bytes()).await.is_ok() {
                let data = vec![0xAB_u8; chunk];
                let mut sent = 0;
                while sent < total {
                    let n = chunk.min(total - sent);
                    if stream.write_all(&data[..n]).await.is_err() {
                        break;
                    }
                    sent += n;
                    w.store(sent, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            f.store(true, Ordering::SeqCst);
        });
        SlowFile {
            addr,
            written,
            finished,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until the server stopped writing (client gone or file done); the body bytes written.
    pub async fn written_when_done(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        while !self.finished.load(Ordering::SeqCst) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            self.finished.load(Ordering::SeqCst),
            "the slow server never stopped writing"
        );
        self.written.load(Ordering::SeqCst)
    }
}
