//! Just enough of the Redis protocol for a few measuring commands (`INFO`, `SCAN`, `MEMORY USAGE`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, bail};

/// A Redis reply.
#[derive(Debug)]
pub enum Reply {
    /// `+…`, `$…` and `:…` replies, as text.
    Text(String),
    /// `*…`.
    Array(Vec<Reply>),
    /// `$-1` / `*-1`.
    Nil,
}

impl Reply {
    /// The text of a text reply.
    pub fn text(&self) -> Option<&str> {
        match self {
            Reply::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The items of an array reply.
    pub fn items(&self) -> &[Reply] {
        match self {
            Reply::Array(a) => a,
            _ => &[],
        }
    }
}

/// A blocking connection to one Redis on this machine.
pub struct Redis {
    reader: BufReader<TcpStream>,
}

impl Redis {
    /// Connects to `redis://127.0.0.1:port`.
    pub fn connect(url: &str) -> anyhow::Result<Redis> {
        let addr = url
            .strip_prefix("redis://")
            .with_context(|| format!("{url:?} is not a redis:// URL"))?
            .trim_end_matches('/');
        if !addr.starts_with("127.0.0.1:") && !addr.starts_with("localhost:") {
            bail!("{url:?} does not point at this machine");
        }
        let stream = TcpStream::connect(addr).with_context(|| format!("connect to {addr}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Redis {
            reader: BufReader::new(stream),
        })
    }

    /// Sends one command and reads its reply; an error reply is an error.
    pub fn command(&mut self, args: &[&str]) -> anyhow::Result<Reply> {
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a.as_bytes());
            req.extend_from_slice(b"\r\n");
        }
        self.reader.get_mut().write_all(&req)?;
        self.read()
    }

    fn line(&mut self) -> anyhow::Result<String> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        anyhow::ensure!(line.ends_with("\r\n"), "Redis closed the connection");
        line.truncate(line.len() - 2);
        Ok(line)
    }

    fn read(&mut self) -> anyhow::Result<Reply> {
        let line = self.line()?;
        let (kind, rest) = line.split_at(1);
        match kind {
            "+" | ":" => Ok(Reply::Text(rest.to_owned())),
            "-" => bail!("Redis: {rest}"),
            "$" => {
                let n: i64 = rest.parse()?;
                if n < 0 {
                    return Ok(Reply::Nil);
                }
                let mut buf = vec![0u8; n as usize + 2];
                self.reader.read_exact(&mut buf)?;
                buf.truncate(n as usize);
                Ok(Reply::Text(String::from_utf8_lossy(&buf).into_owned()))
            }
            "*" => {
                let n: i64 = rest.parse()?;
                if n < 0 {
                    return Ok(Reply::Nil);
                }
                (0..n)
                    .map(|_| self.read())
                    .collect::<anyhow::Result<_>>()
                    .map(Reply::Array)
            }
            other => bail!("unexpected Redis reply type {other:?}"),
        }
    }

    /// A field of `INFO section` as a number.
    pub fn info_number(&mut self, section: &str, field: &str) -> anyhow::Result<u64> {
        let info = self.command(&["INFO", section])?;
        let text = info.text().context("INFO answered no text")?;
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .and_then(|v| v.trim().parse().ok())
            .with_context(|| format!("INFO {section} has no {field}"))
    }

    /// Every key matching `pattern`.
    pub fn scan(&mut self, pattern: &str) -> anyhow::Result<Vec<String>> {
        let mut cursor = "0".to_owned();
        let mut keys = Vec::new();
        loop {
            let page = self.command(&["SCAN", &cursor, "MATCH", pattern, "COUNT", "1000"])?;
            let items = page.items();
            cursor = items
                .first()
                .and_then(Reply::text)
                .context("SCAN cursor")?
                .to_owned();
            if let Some(found) = items.get(1) {
                keys.extend(found.items().iter().filter_map(|k| k.text().map(str::to_owned)));
            }
            if cursor == "0" {
                return Ok(keys);
            }
        }
    }

    /// `MEMORY USAGE key SAMPLES 0` (0 when the key is gone).
    pub fn memory_usage(&mut self, key: &str) -> anyhow::Result<u64> {
        match self.command(&["MEMORY", "USAGE", key, "SAMPLES", "0"])? {
            Reply::Text(n) => Ok(n.parse()?),
            _ => Ok(0),
        }
    }
}
