//! A real `redis-server` per test, on a free port, that a test can stop and start again.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process owned by the test.
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    aof: bool,
    password: Option<&'static str>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl RedisServer {
    /// Start a fresh server (no persistence) on a free port.
    pub fn start() -> RedisServer {
        Self::start_with(false)
    }

    /// Start a server that keeps everything it acknowledged (AOF, fsync on every write), as the
    /// operator guide asks for production, so a crash and restart lose nothing.
    pub fn start_persistent() -> RedisServer {
        Self::start_with(true)
    }

    /// Start a fresh server that requires `password` (`requirepass`); [`Self::command`] logs in.
    pub fn start_with_password(password: &'static str) -> RedisServer {
        Self::launched(false, Some(password))
    }

    fn start_with(aof: bool) -> RedisServer {
        Self::launched(aof, None)
    }

    fn launched(aof: bool, password: Option<&'static str>) -> RedisServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = RedisServer {
            port: free_port(),
            dir,
            child: None,
            aof,
            password,
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let persistence = if self.aof { ["yes", "always"] } else { ["no", "no"] };
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", persistence[0], "--appendfsync", persistence[1]])
            .args(self.password.map(|p| ["--requirepass", p]).into_iter().flatten())
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/test.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    /// `redis://127.0.0.1:{port}` (with `default:{password}@` when it has one).
    pub fn url(&self) -> String {
        match self.password {
            Some(p) => format!("redis://default:{p}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// Whether the server answers PING.
    pub fn ping(&self) -> bool {
        self.command(&["PING"]).is_some_and(|r| r.starts_with("+PONG"))
    }

    /// Send one command in RESP and return the raw reply.
    pub fn command(&self, args: &[&str]) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        if let Some(password) = self.password {
            let reply = Self::round_trip(&mut s, &["AUTH", password])?;
            if !reply.starts_with("+OK") {
                return Some(reply);
            }
        }
        Self::round_trip(&mut s, args)
    }

    fn round_trip(s: &mut TcpStream, args: &[&str]) -> Option<String> {
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{}\r\n", a.len(), a));
        }
        s.write_all(req.as_bytes()).ok()?;
        let mut buf = vec![0u8; 1 << 20];
        let n = s.read(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// The JSON strings of a list key (LRANGE 0 -1), parsed from the raw reply.
    pub fn list(&self, key: &str) -> Vec<String> {
        let raw = self.command(&["LRANGE", key, "0", "-1"]).unwrap_or_default();
        raw.split("\r\n")
            .filter(|l| l.starts_with('{'))
            .map(str::to_owned)
            .collect()
    }

    /// Whether every process on this server has done its work (any key prefix): no inbox, no chat
    /// lease, no Chatwoot outbox, no signal left in a work stream.
    pub fn is_idle(&self) -> bool {
        let none = |pattern: &str| {
            self.command(&["KEYS", pattern])
                .is_some_and(|r| r.starts_with("*0\r\n"))
        };
        if !(none("*inbox:*") && none("*lease:*") && none("*outbox-chats")) {
            return false;
        }
        let Some(streams) = self.command(&["KEYS", "*work"]) else {
            return false;
        };
        streams
            .split("\r\n")
            .filter(|l| !l.is_empty() && !l.starts_with('*') && !l.starts_with('$'))
            .all(|key| {
                self.command(&["XLEN", key])
                    .is_some_and(|r| r.starts_with(":0\r\n"))
            })
    }

    /// Wait until [`Self::is_idle`] holds twice in a row (the built binary's work is done), polling; fails
    /// the test after `timeout`.
    pub async fn run_until_idle(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut idle_looks = 0;
        while idle_looks < 2 {
            assert!(
                Instant::now() < deadline,
                "Redis still held work after {timeout:?}"
            );
            idle_looks = if self.is_idle() { idle_looks + 1 } else { 0 };
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stop the server with SIGKILL, as a crash would.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start the server again on the same port (with whatever it persisted).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
