//! `wa-agent healthcheck`: a container's health check. It asks the running server's `/health` and
//! reports one line: healthy when it answered 200, otherwise why not.
//!
//! Invariants: it connects only where the server listens, found from `LISTEN_ADDR`'s port: an
//! unspecified address (`0.0.0.0`, `[::]`) becomes that family's loopback (`127.0.0.1`, `[::1]`), a
//! specific one is asked as given (the server listens only there). No proxy is ever used, and the
//! whole exchange is bounded by [`TIMEOUT`], well inside the image's `HEALTHCHECK --timeout`. The
//! line never spans more than one line, whatever the error.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// How long the whole request may take: connect, send, the status line.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// The `/health` URL of a server listening at `listen`.
pub fn health_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/health", SocketAddr::new(ip, listen.port()))
}

/// Ask the server listening at `listen`: `Ok` with the line to print when `/health` answered 200,
/// else `Err` with the reason.
pub async fn probe(listen: SocketAddr) -> Result<String, String> {
    let url = health_url(listen);
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| format!("cannot set up an HTTP client: {}", one_line(&e)))?;
    match client.get(&url).send().await {
        Ok(answer) if answer.status() == reqwest::StatusCode::OK => {
            Ok(format!("healthy: {url} answered 200"))
        }
        Ok(answer) => Err(format!("unhealthy: {url} answered {}", answer.status())),
        Err(e) if e.is_timeout() => Err(format!(
            "unhealthy: {url} did not answer within {} s",
            TIMEOUT.as_secs()
        )),
        Err(e) if e.is_connect() => Err(format!("unhealthy: cannot connect to {url}: {}", root_cause(&e))),
        Err(e) => Err(format!("unhealthy: {url}: {}", one_line(&e))),
    }
}

/// The innermost cause of an error ("Connection refused (os error 111)"), on one line.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    one_line(cause)
}

/// An error and its causes joined with `: `, with any line break made a space.
fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_become_loopback_and_specific_ones_stay() {
        let url = |a: &str| health_url(a.parse().unwrap());
        assert_eq!(url("0.0.0.0:3000"), "http://127.0.0.1:3000/health");
        assert_eq!(url("[::]:8080"), "http://[::1]:8080/health");
        assert_eq!(url("127.0.0.1:9"), "http://127.0.0.1:9/health");
        assert_eq!(url("[::1]:3000"), "http://[::1]:3000/health");
        assert_eq!(url("10.1.2.3:3000"), "http://10.1.2.3:3000/health");
    }

    #[tokio::test]
    async fn a_closed_port_is_unhealthy_in_one_line() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = probe(SocketAddr::from(([0, 0, 0, 0], port))).await.unwrap_err();
        assert!(
            err.starts_with("unhealthy: cannot connect to http://127.0.0.1:"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }
}
