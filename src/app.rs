//! Assembly: builds the store, clients, workers and router from [`Settings`] and runs them until
//! shutdown. `main` calls [`run`] with `LISTEN_ADDR`; tests call [`run_with`] with a listener on port 0
//! and [`Hooks`]: the clock the queue runtime sleeps on, and a slot that receives the runtime, whose
//! [`Runtime::is_idle`] tells a test when the service has done its work.
//!
//! Shutdown order: `/ready` turns 503 (`draining`) at once; the listener keeps serving `/health`,
//! `/metrics` and, with Redis, the webhooks (the embedded store refuses them: its queue dies with the
//! process); the workers drain (see [`crate::queue`]); the listener closes last.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::agent::tools::catalogue::CatalogueHandle;
use crate::agent::tools::mcp::{McpOptions, McpServerConfig, McpTools};
use crate::agent::tools::{BuiltinTools, ToolRegistry};
use crate::agent::{Agent, EchoAgent, OpenAiAgent};
use crate::channel::chatwoot_bot::ChatwootBotChannel;
use crate::channel::evolution::EvolutionClient;
use crate::channel::meta::MetaClient;
use crate::channel::waha::WahaClient;
use crate::channel::web::WebChannel;
use crate::channel::{Channel, LogOnlyChannel};
use crate::chatwoot::ChatwootClient;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::domain::ChannelKind;
use crate::history::History;
use crate::http::{AppState, router};
use crate::mirror::Mirror;
use crate::queue::{Runtime, Tuning};
use crate::store::memory::MemoryStore;
use crate::store::migrations::{MigrateOptions, MigrationReport, migrate_or_wait};
use crate::store::redis::RedisStore;
use crate::store::{Store, StoreError};
use crate::worker::{Channels, Worker};

/// How long start-up (and `wa-agent migrate`) waits for another process that is migrating.
const MIGRATION_WAIT: Duration = Duration::from_secs(60);

/// Apply the pending keyspace migrations (`migrations/`) with the history settings and
/// `LEGACY_TIMEZONE`, waiting up to [`MIGRATION_WAIT`] while another process holds the migration lock.
pub async fn apply_migrations(store: &dyn Store, settings: &Settings) -> Result<MigrationReport, StoreError> {
    let opts = MigrateOptions {
        window: settings.history_window,
        ttl: settings.history_ttl,
        legacy_zone: settings.legacy_timezone.clone(),
    };
    migrate_or_wait(store, &opts, MIGRATION_WAIT).await
}

/// Start-up migrations. Serving starts after them, so no turn reads a chat before its import. A
/// failure does not stop the service: migrations only bring old state forward (0001 imports the
/// replaced system's memory, and a chat missing from the cache is read from Chatwoot), the version is
/// not recorded, and the next start or `wa-agent migrate` tries again.
async fn migrate_at_start(store: &dyn Store, settings: &Settings) {
    if settings.redis_url.is_none() {
        return;
    }
    match apply_migrations(store, settings).await {
        Ok(r) if r.locked_by_other => tracing::warn!(
            report = %r,
            "another process is still migrating the keyspace after a minute; serving meanwhile"
        ),
        Ok(r) => tracing::info!(report = %r, version = r.to_version, "keyspace migrations"),
        Err(e) => tracing::error!(
            error = %e,
            "keyspace migrations failed; serving anyway (the next start or `wa-agent migrate` retries)"
        ),
    }
}

/// Open the store `settings` ask for.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &settings.redis_url {
        Some(url) => Arc::new(
            RedisStore::connect(url.expose_secret(), &settings.redis_key_prefix)
                .await
                .context("connecting to Redis")?,
        ),
        None => {
            tracing::warn!(
                "REDIS_URL is not set: using the embedded in-process store and queue (one instance only; \
                 history and queued work are lost on restart)"
            );
            Arc::new(MemoryStore::new())
        }
    })
}

fn channels(settings: &Settings, store: &Arc<dyn Store>) -> Channels {
    let waha: Arc<dyn Channel> = match &settings.waha {
        Some(w) => Arc::new(WahaClient::new(w, settings.http_timeout)),
        None => {
            tracing::warn!("WAHA_BASE_URL is not set: replies to WAHA chats are logged, not sent");
            Arc::new(LogOnlyChannel::new(ChannelKind::Waha))
        }
    };
    let meta: Arc<dyn Channel> = match MetaClient::new(&settings.meta, settings.http_timeout) {
        Some(client) => Arc::new(client),
        None => {
            let m = &settings.meta;
            if m.access_token.is_some()
                || m.phone_number_id.is_some()
                || m.app_secret.is_some()
                || m.verify_token.is_some()
            {
                tracing::warn!(
                    "META_ACCESS_TOKEN and META_PHONE_NUMBER_ID are not both set: replies to Cloud API chats \
                     are logged, not sent"
                );
            }
            Arc::new(LogOnlyChannel::new(ChannelKind::Meta))
        }
    };
    let web: Arc<dyn Channel> = Arc::new(WebChannel::new(store.clone()));
    let mut channels = Channels::new().with(waha).with(meta).with(web);
    if let Some(bot) = &settings.agent_bot {
        let user_token = settings.chatwoot.as_ref().map(|cw| cw.api_token.clone());
        if user_token.is_none() {
            tracing::warn!(
                "CHATWOOT_AGENT_BOT_TOKEN without CHATWOOT_API_TOKEN: Agent Bot chats get no typing indicator and \
                 no history read-back from Chatwoot (a bot token may not call those endpoints)"
            );
        }
        channels = channels.with(Arc::new(ChatwootBotChannel::new(
            &bot.base_url,
            bot.token.clone(),
            user_token,
            settings.http_timeout,
        )));
    }
    if let Some(evolution) = &settings.evolution {
        channels = channels.with(Arc::new(EvolutionClient::new(evolution, settings.http_timeout)));
    }
    channels
}

fn agent(settings: &Settings) -> Arc<dyn Agent> {
    match &settings.llm {
        Some(llm) => Arc::new(OpenAiAgent::new(llm, settings.llm_timeout)),
        None => {
            tracing::warn!("LLM_BASE_URL is not set: the built-in echo agent answers (no model is asked)");
            Arc::new(EchoAgent)
        }
    }
}

/// The agent's tools: the built-ins, `search_catalogue` when `CATALOGUE_FILE` is set (a bad file
/// fails start-up with its line) and every MCP server's tools (connected in the background).
pub fn tool_registry(
    settings: &Settings,
    humans: bool,
    shutdown: &CancellationToken,
) -> anyhow::Result<ToolRegistry> {
    let mut registry = ToolRegistry::new().with(Arc::new(BuiltinTools {
        humans,
        attributes: settings.tools.contact_attributes.clone(),
    }));
    if let Some(path) = &settings.tools.catalogue_file {
        let catalogue = CatalogueHandle::open(path).map_err(|e| anyhow::anyhow!("CATALOGUE_FILE: {e}"))?;
        tracing::info!(rows = catalogue.current().len(), "catalogue loaded");
        registry = registry.with(Arc::new(catalogue));
    }
    if !settings.mcp_servers.is_empty() {
        let servers = settings
            .mcp_servers
            .iter()
            .map(|m| McpServerConfig {
                name: m.name.clone(),
                url: m.url.clone(),
                headers: m.headers.clone(),
            })
            .collect();
        let mcp = McpTools::start(servers, McpOptions::default(), shutdown.clone());
        registry = registry.with(Arc::new(mcp));
    }
    Ok(registry)
}

/// What a test may give the service at start: the clock, and where to put the queue runtime.
#[derive(Clone)]
pub struct Hooks {
    /// The clock the worker (debounce, the gate's now) and the queue runtime's own waits run on.
    pub clock: SharedClock,
    /// Filled with the queue runtime once the workers start (never, when the role runs none).
    pub runtime: Arc<OnceLock<Arc<Runtime>>>,
}

impl Default for Hooks {
    fn default() -> Self {
        Self {
            clock: crate::clock::system(),
            runtime: Arc::default(),
        }
    }
}

/// Run the service on `listener` until `shutdown` is cancelled.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    run_with(settings, listener, shutdown, Hooks::default()).await
}

/// [`run`] with the given [`Hooks`].
pub async fn run_with(
    settings: Settings,
    listener: TcpListener,
    shutdown: CancellationToken,
    hooks: Hooks,
) -> anyhow::Result<()> {
    let settings = Arc::new(settings);
    tracing::info!(settings = %settings.summary(), "wa-agent starting");
    let store = open_store(&settings).await?;
    migrate_at_start(store.as_ref(), &settings).await;
    let chatwoot = settings
        .chatwoot
        .as_ref()
        .map(|c| ChatwootClient::new(c, settings.http_timeout));
    if chatwoot.is_none() {
        tracing::warn!("Chatwoot is not configured: no mirroring; history lives in the store only");
    }
    let media = Arc::new(crate::media::Media::from_settings(&settings));
    let mirror = Mirror::new(store.clone(), chatwoot).with_media(media.clone());
    let history = History::new(
        store.clone(),
        Arc::new(mirror.clone()),
        settings.history_window,
        settings.history_ttl,
    );
    let accepting = Arc::new(AtomicBool::new(true));

    let bot_user = Arc::new(std::sync::OnceLock::new());
    if let (Some(cw), true) = (mirror.chatwoot(), settings.role.runs_workers()) {
        crate::worker::learn_bot_user(cw.clone(), bot_user.clone());
    }
    let hours = crate::hours::source::HoursSource::new(settings.hours.clone());
    if let (Some(cw), true) = (mirror.chatwoot(), settings.role.runs_workers()) {
        hours.spawn_refresh(cw.clone(), crate::hours::source::REFRESH_EVERY);
    }
    let workers = if settings.role.runs_workers() {
        let tools = tool_registry(&settings, mirror.enabled(), &shutdown)?;
        let worker = Arc::new(Worker {
            store: store.clone(),
            history,
            states: crate::chat_state::ChatStates::new(store.clone()),
            mirror,
            agent: agent(&settings),
            channels: channels(&settings, &store),
            system_prompt: settings.system_prompt.clone(),
            handoff_message: settings.handoff_message.clone(),
            reply_max_chars: settings.reply_max_chars,
            send_presence: settings.send_presence,
            bot_user: bot_user.clone(),
            tools,
            max_steps: settings.tools.max_steps,
            tool_timeout: settings.tools.timeout,
            hours,
            history_summary: settings.hours.history_summary,
            media,
            clock: hooks.clock.clone(),
        });
        let tuning = Tuning::new(
            settings.debounce,
            settings.reclaim_after,
            settings.worker_concurrency,
        );
        let runtime = Arc::new(
            Runtime::new(store.clone(), worker, tuning, settings.consumer_name.clone())
                .with_clock(hooks.clock.clone()),
        );
        let _ = hooks.runtime.set(runtime.clone());
        Some(tokio::spawn(
            runtime.run(shutdown.clone(), settings.shutdown_grace),
        ))
    } else {
        None
    };
    // Cancelled once the workers have stopped (at once without workers): the listener closes last.
    let workers_done = CancellationToken::new();
    let workers = {
        let done = workers_done.clone();
        tokio::spawn(async move {
            if let Some(w) = workers {
                let _ = w.await;
            }
            done.cancel();
        })
    };

    let draining = Arc::new(AtomicBool::new(false));
    let state = AppState {
        settings: settings.clone(),
        store: store.clone(),
        metrics: crate::telemetry::metrics_handle(),
        accepting: accepting.clone(),
        draining: draining.clone(),
    };
    let app = router(state, settings.role.runs_api());
    let addr = listener.local_addr().ok();
    tracing::info!(addr = ?addr, role = ?settings.role, "listening");
    if settings.playground
        && settings.role.runs_api()
        && let Some(a) = addr
    {
        let host = if a.ip().is_unspecified() {
            "localhost".to_owned()
        } else {
            a.ip().to_string()
        };
        tracing::info!(url = %format!("http://{host}:{}/playground", a.port()), "playground on");
    }
    let stop = shutdown.clone();
    let embedded = settings.redis_url.is_none();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        stop.cancelled().await;
        draining.store(true, Ordering::SeqCst);
        if embedded {
            // The embedded queue dies with this process: nothing accepted now could be worked.
            accepting.store(false, Ordering::SeqCst);
        }
        tracing::info!(
            accepting_webhooks = !embedded,
            "draining: /ready answers 503; the listener stays open until the workers have stopped"
        );
        workers_done.cancelled().await;
    });
    server.await.context("HTTP server")?;
    let _ = workers.await;
    tracing::info!("wa-agent stopped");
    Ok(())
}

/// Cancel `token` on SIGINT or SIGTERM.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => tracing::info!("SIGINT received: draining"),
            _ = term => tracing::info!("SIGTERM received: draining"),
        }
        token.cancel();
    });
}
