//! [`CatalogueHandle`]: the service's shared view of `CATALOGUE_FILE`, re-read when the file changes.
//!
//! Invariants: at most one file-system check per check interval (1 s by default), made by the
//! search that finds the interval elapsed; a change is a different modification time or size; a
//! reload that fails keeps the previous catalogue and logs one warning naming the file and line
//! (per change of the file, not per search); searches never wait for a reload done by another
//! thread (they use the catalogue they find). Writers should replace the file atomically (write,
//! then rename) so a half-written file is never read.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value};

use super::{Catalogue, CatalogueError, SearchError, SearchResult};

/// How often a handle looks at the file by default.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// A cheap-to-clone handle on the catalogue file that reloads it when it changes.
#[derive(Clone, Debug)]
pub struct CatalogueHandle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    catalogue: Arc<Catalogue>,
    stamp: Option<Stamp>,
    checked: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
    })
}

impl CatalogueHandle {
    /// Loads `path`; start-up should fail when this fails (the error names the file and line).
    pub fn open(path: impl Into<PathBuf>) -> Result<CatalogueHandle, CatalogueError> {
        CatalogueHandle::open_with_interval(path, CHECK_INTERVAL)
    }

    /// As [`CatalogueHandle::open`], looking at the file at most once per `interval`.
    pub fn open_with_interval(
        path: impl Into<PathBuf>,
        interval: Duration,
    ) -> Result<CatalogueHandle, CatalogueError> {
        let path = path.into();
        let stamp = stamp(&path);
        let catalogue = Arc::new(Catalogue::load(&path)?);
        tracing::info!(path = %path.display(), rows = catalogue.len(), "catalogue loaded");
        let state = State {
            catalogue,
            stamp,
            checked: Instant::now(),
        };
        Ok(CatalogueHandle {
            inner: Arc::new(Inner {
                path,
                interval,
                state: Mutex::new(state),
            }),
        })
    }

    /// The catalogue file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current catalogue, after re-reading the file if the interval has passed and it changed.
    pub fn current(&self) -> Arc<Catalogue> {
        let (catalogue, known) = {
            let mut state = self.lock();
            let now = Instant::now();
            if now.duration_since(state.checked) < self.inner.interval {
                return state.catalogue.clone();
            }
            state.checked = now;
            (state.catalogue.clone(), state.stamp)
        };
        let fresh = stamp(&self.inner.path);
        if fresh == known {
            return catalogue;
        }
        let path = &self.inner.path;
        match Catalogue::load(path) {
            Ok(loaded) => {
                tracing::info!(path = %path.display(), rows = loaded.len(), "catalogue changed; reloaded");
                let loaded = Arc::new(loaded);
                let mut state = self.lock();
                state.catalogue = loaded.clone();
                state.stamp = fresh;
                loaded
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), line = e.line(), error = %e,
                    "catalogue changed but cannot be read; keeping the previous catalogue");
                self.lock().stamp = fresh;
                catalogue
            }
        }
    }

    /// [`Catalogue::search`] on the current catalogue.
    pub fn search(
        &self,
        query: &str,
        filters: Option<&Map<String, Value>>,
    ) -> Result<SearchResult, SearchError> {
        self.current().search(query, filters)
    }

    /// [`Catalogue::run_tool`] on the current catalogue.
    pub fn run_tool(&self, arguments: &Value) -> Result<String, SearchError> {
        self.current().run_tool(arguments)
    }

    /// [`Catalogue::tool_schema`] of the current catalogue.
    pub fn tool_schema(&self) -> Value {
        self.current().tool_schema()
    }
}
