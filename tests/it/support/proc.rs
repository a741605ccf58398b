//! The built `wa-agent` binary as a child process: started with settings, killed, stopped politely.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One running instance.
pub struct Instance {
    child: Child,
    /// `http://127.0.0.1:{port}`.
    pub url: String,
    logs: Arc<Mutex<String>>,
}

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_wa-agent")
}

impl Instance {
    /// Start `wa-agent serve` with only these settings (plus PATH and a free LISTEN_ADDR).
    pub fn start(vars: &[(&str, String)]) -> Instance {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(binary());
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn wa-agent");
        let logs = Arc::new(Mutex::new(String::new()));
        let out: Vec<Box<dyn std::io::Read + Send>> = vec![
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        for stream in out {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut l = logs.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        Instance {
            child,
            url: format!("http://127.0.0.1:{port}"),
            logs,
        }
    }

    /// Wait until `/health` answers.
    pub async fn wait_up(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let http = reqwest::Client::new();
        while Instant::now() < deadline {
            if http
                .get(format!("{}/health", self.url))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Everything it printed so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as an orchestrator stopping it would.
    pub fn sigterm(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
    }

    /// Wait for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Wait until the logs contain `needle`.
    pub async fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.logs().contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.logs().contains(needle)
    }

    /// GET a path: the status code and body (0 and empty when the connection failed).
    pub async fn get(&self, path: &str) -> (u16, String) {
        match reqwest::Client::new()
            .get(format!("{}{}", self.url, path))
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(_) => (0, String::new()),
        }
    }

    /// POST a webhook body to a route; the status code (0 when the connection failed).
    pub async fn post(&self, path: &str, body: Vec<u8>) -> u16 {
        reqwest::Client::new()
            .post(format!("{}{}", self.url, path))
            .header("Content-Type", "application/json")
            .body(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `wa-agent <args>` with these settings and return (exit code, stdout+stderr).
pub fn run_command(args: &[&str], vars: &[(&str, String)]) -> (i32, String) {
    let mut cmd = Command::new(binary());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run wa-agent");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// What one run of a command printed, apart.
pub struct Ran {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output: the command's report.
    pub stdout: String,
    /// Standard error: its logs and errors.
    pub stderr: String,
}

/// Run `wa-agent <args>` in `dir` (the working directory, for `.env` and `wa-agent.toml`) with only
/// these variables (plus PATH), keeping stdout and stderr apart.
pub fn run_in(dir: &std::path::Path, args: &[&str], vars: &[(&str, String)]) -> Ran {
    let mut cmd = Command::new(binary());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir)
        .args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run wa-agent");
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
