//! `--name value` options, nothing more.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};

/// Parsed `--name value` pairs.
pub struct Args {
    values: HashMap<String, String>,
}

impl Args {
    /// Reads `--name value` pairs; anything else is an error.
    pub fn parse(mut argv: impl Iterator<Item = String>) -> anyhow::Result<Args> {
        let mut values = HashMap::new();
        while let Some(flag) = argv.next() {
            let Some(name) = flag.strip_prefix("--") else {
                bail!("unexpected argument {flag:?}");
            };
            let value = argv.next().with_context(|| format!("--{name} needs a value"))?;
            values.insert(name.to_owned(), value);
        }
        Ok(Args { values })
    }

    /// A required string option.
    pub fn required(&self, name: &str) -> anyhow::Result<String> {
        self.values
            .get(name)
            .cloned()
            .with_context(|| format!("--{name} is required"))
    }

    /// An optional string option.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned().filter(|v| !v.is_empty())
    }

    /// A parsed option with a default.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> anyhow::Result<T> {
        match self.values.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| anyhow::anyhow!("--{name}: cannot read {v:?}")),
        }
    }

    /// A number of seconds with a default.
    pub fn seconds(&self, name: &str, default: u64) -> anyhow::Result<Duration> {
        let s: f64 = self.get(name, default as f64)?;
        if !(s > 0.0 && s < 86_400.0) {
            bail!("--{name}: {s} is not a sensible number of seconds");
        }
        Ok(Duration::from_secs_f64(s))
    }
}
