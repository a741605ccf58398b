use super::*;

fn headers(retry_after: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(RETRY_AFTER, retry_after.parse().unwrap());
    h
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap()
}

#[test]
fn temporary_statuses_are_retryable_with_their_retry_after() {
    for code in [408u16, 425, 429, 500, 502, 503, 504, 599] {
        let err = OutboundError::from_status("waha", status(code), &headers("7"), format!("answered {code}"));
        assert!(err.is_retryable(), "{code}");
        assert_eq!(err.status(), Some(code));
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)), "{code}");
        assert_eq!(err.service(), "waha");
        assert_eq!(
            err.to_string(),
            format!("waha temporarily unavailable: answered {code}")
        );
    }
    let no_header =
        OutboundError::from_status("agent", StatusCode::SERVICE_UNAVAILABLE, &HeaderMap::new(), "x");
    assert!(no_header.is_retryable());
    assert_eq!(no_header.retry_after(), None);
}

#[test]
fn other_client_errors_are_fatal_and_keep_their_status() {
    for code in [400u16, 401, 403, 404, 409, 410, 413, 422] {
        let err = OutboundError::from_status("chatwoot", status(code), &headers("7"), "refused");
        assert!(!err.is_retryable(), "{code}");
        assert_eq!(err.status(), Some(code), "{code}");
        assert_eq!(err.retry_after(), None, "a fatal error has nothing to wait for");
        assert_eq!(err.to_string(), "chatwoot failed: refused");
    }
    assert!(matches!(
        OutboundError::from_status("chatwoot", StatusCode::NOT_FOUND, &HeaderMap::new(), "gone"),
        OutboundError::Fatal { service: "chatwoot", status: Some(404), ref message } if message == "gone"
    ));
}

#[test]
fn a_remote_may_widen_but_not_narrow_the_classification() {
    let session_not_ready =
        OutboundError::from_status("waha", StatusCode::UNPROCESSABLE_ENTITY, &HeaderMap::new(), "x")
            .retryable_if(true, Some(Duration::from_secs(60)));
    assert!(matches!(
        session_not_ready,
        OutboundError::Retryable { status: Some(422), retry_after: Some(d), .. } if d == Duration::from_secs(60)
    ));
    let unchanged =
        OutboundError::from_status("waha", StatusCode::UNPROCESSABLE_ENTITY, &HeaderMap::new(), "x")
            .retryable_if(false, Some(Duration::from_secs(60)));
    assert!(!unchanged.is_retryable());
    // An already retryable error keeps its own Retry-After.
    let limited = OutboundError::from_status("meta", StatusCode::TOO_MANY_REQUESTS, &headers("3"), "x")
        .retryable_if(true, Some(Duration::from_secs(60)));
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
}

#[test]
fn retry_after_reads_whole_and_decimal_seconds_only() {
    assert_eq!(retry_after(&headers("2")), Some(Duration::from_secs(2)));
    assert_eq!(retry_after(&headers(" 12 ")), Some(Duration::from_secs(12)));
    assert_eq!(retry_after(&headers("0.5")), Some(Duration::from_millis(500)));
    assert_eq!(retry_after(&headers("0")), Some(Duration::ZERO));
    assert_eq!(
        retry_after(&headers("999999999")),
        Some(Duration::from_secs(86_400))
    );
    assert_eq!(retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    assert_eq!(retry_after(&headers("-1")), None);
    assert_eq!(retry_after(&headers("NaN")), None);
    assert_eq!(retry_after(&headers("soon")), None);
    assert_eq!(retry_after(&HeaderMap::new()), None);
}

#[test]
fn retry_after_reads_an_http_date_as_the_wait_until_it() {
    let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
    let at = |value: &str| retry_after_at(&headers(value), now);
    assert_eq!(at("Wed, 21 Oct 2026 07:28:30 GMT"), Some(Duration::from_secs(30)));
    // The other two forms HTTP allows (RFC 850, asctime) are read too.
    assert_eq!(
        at("Wednesday, 21-Oct-26 07:29:00 GMT"),
        Some(Duration::from_secs(60))
    );
    assert_eq!(at("Wed Oct 21 07:28:05 2026"), Some(Duration::from_secs(5)));
    // A date far ahead is capped at a day, like seconds.
    assert_eq!(
        at("Sat, 21 Oct 2028 07:28:00 GMT"),
        Some(Duration::from_secs(86_400))
    );
}

#[test]
fn retry_after_ignores_an_http_date_that_has_passed() {
    let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
    let at = |value: &str| retry_after_at(&headers(value), now);
    assert_eq!(at("Wed, 21 Oct 2026 07:27:59 GMT"), None);
    assert_eq!(at("Wed, 21 Oct 2026 07:28:00 GMT"), None, "now is no wait");
    assert_eq!(at("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    assert_eq!(at("Wed, 32 Oct 2026 07:28:00 GMT"), None, "not a date");
    // The form the stock clock reads: a date in the past is ignored against the real clock too.
    assert_eq!(retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT")), None);
}

#[test]
fn fatal_and_retryable_constructors_and_redaction() {
    let fatal = OutboundError::fatal("agent", "empty reply");
    assert_eq!(
        (fatal.is_retryable(), fatal.status(), fatal.retry_after()),
        (false, None, None)
    );
    assert_eq!(fatal.to_string(), "agent failed: empty reply");
    assert_eq!(fatal.message(), "empty reply");
    let retry = OutboundError::retryable("web", "store down");
    assert_eq!((retry.is_retryable(), retry.status()), (true, None));
    assert_eq!(retry.to_string(), "web temporarily unavailable: store down");

    let echoed =
        OutboundError::fatal("meta", "echoed EAAG-secret back, EAAG-secret again").redacted("EAAG-secret");
    assert_eq!(
        echoed.to_string(),
        "meta failed: echoed [redacted] back, [redacted] again"
    );
    assert_eq!(
        OutboundError::fatal("meta", "kept").redacted("").message(),
        "kept"
    );
}

#[test]
fn snippets_are_short_and_trimmed() {
    assert_eq!(
        snippet(b"  <html>Bad Gateway</html>\n"),
        "<html>Bad Gateway</html>"
    );
    assert_eq!(snippet(&[b'x'; 500]).len(), SNIPPET_CHARS);
    assert_eq!(snippet(b"caf\xc3\xa9 \xff"), "caf\u{e9} \u{fffd}");
}

#[tokio::test]
async fn a_timeout_is_retryable_and_says_so_without_the_url() {
    // A server that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let url = format!("http://{addr}/secret-path?token=abc");
    let error = http_client(Duration::from_millis(200))
        .get(&url)
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    let err = OutboundError::from_transport("waha", "WAHA", &error);
    assert!(err.is_retryable(), "{err}");
    assert_eq!((err.status(), err.retry_after()), (None, None));
    let text = err.to_string();
    assert!(
        text.starts_with("waha temporarily unavailable: WAHA request failed"),
        "{text}"
    );
    assert!(text.contains("timed out"), "{text}");
    assert!(
        !text.contains("secret-path") && !text.contains("token=abc") && !text.contains("127.0.0.1"),
        "{text}"
    );
    server.abort();
}

#[tokio::test]
async fn a_refused_connection_is_retryable_and_an_unbuildable_request_fatal() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/x", listener.local_addr().unwrap());
    drop(listener);
    let client = http_client(Duration::from_secs(2));
    let refused = client.get(&url).send().await.unwrap_err();
    let err = OutboundError::from_transport("chatwoot", "GET x", &refused);
    assert!(
        matches!(
            err,
            OutboundError::Retryable {
                service: "chatwoot",
                status: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.message().starts_with("GET x request failed: "), "{err}");

    let unbuildable = client.get("not a url").send().await.unwrap_err();
    assert!(unbuildable.is_builder(), "{unbuildable:?}");
    let err = OutboundError::from_transport("agent", "LLM", &unbuildable);
    assert!(
        matches!(
            err,
            OutboundError::Fatal {
                service: "agent",
                status: None,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn exchange_limited_reads_a_2xx_body_up_to_its_limit_and_classifies_the_rest() {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/small",
            get(|| async { ([("content-type", "audio/ogg")], "12345") }),
        )
        .route(
            "/busy",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "4")], "x") }),
        )
        .route(
            "/streamed",
            get(|| async {
                let chunks = (0..4).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"abcd")));
                axum::body::Body::from_stream(futures_util::stream::iter(chunks))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = http_client(Duration::from_secs(5));
    let get =
        |path: &str, max: u64| exchange_limited("media", "file", client.get(format!("{base}{path}")), max);

    match get("/small", 5).await.unwrap() {
        Limited::Read { headers, body } => {
            assert_eq!(&body[..], b"12345");
            assert_eq!(headers["content-type"], "audio/ogg");
        }
        Limited::TooLarge => panic!("5 bytes fit a limit of 5"),
    }
    assert!(
        matches!(get("/small", 4).await.unwrap(), Limited::TooLarge),
        "announced length"
    );
    assert!(
        matches!(get("/streamed", 15).await.unwrap(), Limited::TooLarge),
        "counted length"
    );
    assert!(matches!(get("/streamed", 16).await.unwrap(), Limited::Read { body, .. } if body.len() == 16));
    let Err(busy) = get("/busy", 100).await else {
        panic!("a 503 is an error")
    };
    assert!(busy.is_retryable(), "{busy}");
    assert_eq!(
        (busy.status(), busy.retry_after()),
        (Some(503), Some(Duration::from_secs(4)))
    );
    assert_eq!(
        busy.to_string(),
        "media temporarily unavailable: file answered 503"
    );
    server.abort();
}
