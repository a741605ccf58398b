//! A slow sender: a body that never finishes gets a 408 within the request timeout.

use super::*;

#[tokio::test]
async fn a_sender_that_never_finishes_its_body_gets_a_408_within_the_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = support::app::spawn_app(&[]).await;
    let addr = app.url.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let mut answers = Vec::new();
    for route in ["/webhooks/waha", "/webhooks/meta"] {
        answers.push(tokio::spawn({
            let addr = addr.clone();
            async move {
                let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
                let head = format!(
                    "POST {route} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
                     Content-Length: 1000\r\n\r\n{{\"event\":\"mess"
                );
                stream.write_all(head.as_bytes()).await.expect("write");
                // Read until the connection closes or a whole JSON error has arrived.
                let mut answer = Vec::new();
                let read = tokio::time::timeout(REQUEST_TIMEOUT + Duration::from_secs(5), async {
                    let mut chunk = [0u8; 1024];
                    loop {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => answer.extend_from_slice(&chunk[..n]),
                        }
                        if answer.ends_with(b"}}") {
                            break;
                        }
                    }
                })
                .await;
                (route, read.is_ok(), String::from_utf8_lossy(&answer).into_owned())
            }
        }));
    }
    for answer in answers {
        let (route, finished, answer) = answer.await.expect("task");
        assert!(finished, "{route}: the connection hung past the request timeout");
        let closed_or_408 = answer.is_empty() || answer.starts_with("HTTP/1.1 408");
        assert!(closed_or_408, "{route}: {answer}");
        if !answer.is_empty() {
            assert!(
                answer.contains("\"request_timeout\""),
                "{route}: a JSON error: {answer}"
            );
        }
    }
    assert!(started.elapsed() < REQUEST_TIMEOUT + Duration::from_secs(5));
    app.stop().await;
}
