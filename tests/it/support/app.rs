//! Start wa-agent in-process on port 0 with settings built from variables, as `main` would, and wait
//! for it by events: [`TestApp::run_until_idle`] (the service has done all its work) and
//! [`eventually`] (a condition holds).
//!
//! Invariant: `run_until_idle` never reports idle while a message waits out its debounce (its chat
//! task is running then), and needs two idle looks in a row, so a step between two stores (a turn's
//! commit, then its mirror job) is not mistaken for the end.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wa_agent::app::Hooks;

use super::fake_chatwoot::FakeChatwoot;
use wa_agent::clock::{ManualClock, SharedClock};
use wa_agent::config::Settings;
use wa_agent::queue::Runtime;

/// How long [`TestApp::run_until_idle`] waits before failing the test.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A running wa-agent.
pub struct TestApp {
    /// `http://127.0.0.1:{port}`.
    pub url: String,
    /// Cancel to shut it down.
    pub shutdown: CancellationToken,
    /// The server task.
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// A client for requests.
    pub http: reqwest::Client,
    /// The queue runtime, once the workers started.
    pub runtime: Arc<OnceLock<Arc<Runtime>>>,
}

/// Start the app with these environment-style settings.
pub async fn spawn_app(vars: &[(&str, String)]) -> TestApp {
    spawn_app_with(vars, wa_agent::clock::system()).await
}

/// Start the app on a manual clock the test moves (see [`advancing`]): the worker (debounce, the
/// gate's and the hours' now) and the queue runtime read and sleep on it.
pub async fn spawn_app_on(vars: &[(&str, String)], clock: &Arc<ManualClock>) -> TestApp {
    spawn_app_with(vars, Arc::new(Arc::clone(clock))).await
}

/// Start the app with these settings, its worker and queue runtime on `clock`.
pub async fn spawn_app_with(vars: &[(&str, String)], clock: SharedClock) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let url = format!("http://{addr}");
    let mut map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    // Apps of one test share a Redis: each gets its own consumer name, as instances on their own ports do.
    map.entry("CONSUMER_NAME".into())
        .or_insert_with(|| format!("test-app:{}", addr.port()));
    let settings = Settings::from_vars(|k| map.get(k).cloned()).expect("test settings are valid");
    let shutdown = CancellationToken::new();
    let hooks = Hooks {
        clock,
        ..Hooks::default()
    };
    let runtime = hooks.runtime.clone();
    let task = tokio::spawn(wa_agent::app::run_with(
        settings,
        listener,
        shutdown.clone(),
        hooks,
    ));
    TestApp {
        url,
        shutdown,
        task,
        http: reqwest::Client::new(),
        runtime,
    }
}

impl TestApp {
    /// POST a JSON body (bytes as given) with extra headers.
    pub async fn post(
        &self,
        path: &str,
        body: impl Into<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}{}", self.url, path))
            .header("Content-Type", "application/json")
            .body(body.into());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("request")
    }

    /// GET a path.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{}", self.url, path))
            .send()
            .await
            .expect("request")
    }

    /// Wait until the service has done all its work: no inbox, outbox or signal left, no chat
    /// leased, no turn running (see the module's invariant). Fails the test after [`IDLE_TIMEOUT`].
    pub async fn run_until_idle(&self) {
        let deadline = Instant::now() + IDLE_TIMEOUT;
        let mut idle_looks = 0;
        while idle_looks < 2 {
            assert!(
                Instant::now() < deadline,
                "{}",
                match self.runtime.get() {
                    Some(_) => format!("the service was still busy after {IDLE_TIMEOUT:?}"),
                    None => "the app runs no queue runtime (ROLE without workers?): it is never idle".into(),
                }
            );
            let idle = match self.runtime.get() {
                Some(runtime) => runtime.is_idle().await,
                None => false,
            };
            idle_looks = if idle { idle_looks + 1 } else { 0 };
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// [`Self::run_until_idle`] beside a fake Chatwoot that posts webhooks back: also until every
    /// webhook it queued (the echoes of what the service wrote included) was delivered and worked.
    pub async fn run_until_quiet(&self, chatwoot: &FakeChatwoot) {
        loop {
            assert!(
                chatwoot.wait_for_webhooks(IDLE_TIMEOUT).await,
                "Chatwoot's webhooks were still in flight after {IDLE_TIMEOUT:?}"
            );
            self.run_until_idle().await;
            if !chatwoot.webhooks_in_flight() {
                return;
            }
        }
    }

    /// Stop and wait for the app.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(40), self.task).await;
    }
}

/// Poll `cond` every 20 ms until it holds or `timeout` passes.
pub async fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}

/// Poll the async `cond` every 20 ms until it holds or `timeout` passes.
pub async fn eventually_async<F: Future<Output = bool>>(
    timeout: Duration,
    mut cond: impl FnMut() -> F,
) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond().await
}

/// Poll the async `probe` every 20 ms until it gives `Some` (returned) or `timeout` passes (`None`).
pub async fn eventually_some<T, F: Future<Output = Option<T>>>(
    timeout: Duration,
    mut probe: impl FnMut() -> F,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = probe().await {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Move `clock` on by `step` every 20 ms of real time until `cond` holds or `timeout` (real) passes:
/// whatever the service sleeps on that clock wakes as the test needs it.
pub async fn advancing(
    clock: &ManualClock,
    step: Duration,
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        clock.advance(step);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}

/// A JSON error answer as `(status, error.code, error.message)`.
pub async fn error_of(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.expect("a JSON error body");
    (
        status,
        body["error"]["code"].as_str().unwrap().into(),
        body["error"]["message"].as_str().unwrap().into(),
    )
}

/// The value of one series (`name{labels}` exactly as exported) in a `/metrics` text; 0 when absent.
///
/// The Prometheus recorder is process-wide, so tests that share a process (plain `cargo test`) see each
/// other's counts: assert the change across an action, never an absolute value.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

impl TestApp {
    /// The current value of one series of this process's `/metrics`.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self.get("/metrics").await.text().await.expect("metrics text");
        metric(&text, series)
    }
}
