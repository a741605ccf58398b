//! A bare HTTP/1.1 client on one kept-alive connection, for measuring with little overhead of its own.

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where requests go: `host:port` and the path of an `http://` URL on this machine.
pub struct Target {
    /// `host:port`.
    pub authority: String,
    /// The path (`default_path` when the URL has none).
    pub path: String,
}

impl Target {
    /// Reads an `http://127.0.0.1:port[/path]` URL; other hosts are refused.
    pub fn parse(url: &str, default_path: &str) -> anyhow::Result<Target> {
        let Some(rest) = url.strip_prefix("http://") else {
            bail!("{url:?} is not an http:// URL");
        };
        let (authority, path) = match rest.find('/') {
            Some(i) if i + 1 < rest.len() => (&rest[..i], &rest[i..]),
            Some(i) => (&rest[..i], default_path),
            None => (rest, default_path),
        };
        let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
        if !(host == "127.0.0.1" || host == "localhost" || host == "[::1]") {
            bail!("{url:?} does not point at this machine (127.0.0.1)");
        }
        Ok(Target {
            authority: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

/// One connection to a [`Target`], reopened when it closes.
pub struct Conn {
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    /// Not connected yet; the first request connects.
    pub fn new() -> Conn {
        Conn { sender: None }
    }

    async fn connect(t: &Target) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(&t.authority)
            .await
            .with_context(|| format!("connect to {}", t.authority))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Opens the connection if it is not open.
    pub async fn ensure(&mut self, t: &Target) -> anyhow::Result<()> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.sender = Some(Self::connect(t).await?);
        }
        Ok(())
    }

    /// POSTs a JSON `body` (with an `X-Webhook-Hmac` when `hmac` is given) and reads the whole answer.
    /// Call [`Conn::ensure`] first: the time of a connect is not part of a request.
    pub async fn post(
        &mut self,
        t: &Target,
        body: Vec<u8>,
        hmac: Option<String>,
    ) -> anyhow::Result<StatusCode> {
        let mut req = Request::post(t.path.as_str())
            .header("host", t.authority.as_str())
            .header("content-type", "application/json");
        if let Some(sig) = hmac {
            req = req.header("x-webhook-hmac", sig);
        }
        let req = req.body(Full::new(Bytes::from(body)))?;
        let sender = self.sender.as_mut().context("not connected")?;
        let outcome = async {
            sender.ready().await?;
            let resp = sender.send_request(req).await?;
            let status = resp.status();
            resp.into_body().collect().await?;
            Ok::<_, hyper::Error>(status)
        }
        .await;
        outcome.map_err(|e| {
            self.sender = None;
            e.into()
        })
    }
}
