//! The registry of settings: every setting's name, default, meaning, group and kind, written once.
//!
//! Everything else about a setting is derived from its row in [`SETTINGS`]: the reads in `validate`
//! and the feature modules take their defaults and number ranges from it (a literal default is parsed
//! by the same code as an operator's value), the settings file accepts exactly its lower-case names,
//! and `docs` renders `--help`, `.env.example` and the README's settings tables from it.
//! Invariants (checked by unit tests): names are unique, upper-case `[A-Z0-9_]` words; rows of one
//! group are contiguous; every literal default is a value its read accepts and yields what an unset
//! setting yields. A read names its setting through [`setting!`], which looks the row up at compile
//! time, so a read of a name missing here does not build.

mod table;

pub use table::SETTINGS;

/// Where a setting belongs; its section in `--help`, `.env.example` and the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Service,
    Logging,
    Store,
    Turns,
    Hours,
    Chatwoot,
    Waha,
    Meta,
    Evolution,
    Agent,
    Media,
}

impl Group {
    /// The section title.
    pub const fn title(self) -> &'static str {
        match self {
            Group::Service => "Service",
            Group::Logging => "Logging",
            Group::Store => "Store (Redis)",
            Group::Turns => "History and turns",
            Group::Hours => "Time and working hours",
            Group::Chatwoot => "Chatwoot (the four connection settings go together: all or none)",
            Group::Waha => "WAHA gateway",
            Group::Meta => "WhatsApp Cloud API (Meta)",
            Group::Evolution => "Evolution API",
            Group::Agent => "Agent (LLM and tools)",
            Group::Media => "Voice notes, images and files",
        }
    }
}

/// What a setting is when the operator leaves it unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// This value, read exactly as if the operator had set it.
    Value(&'static str),
    /// The empty text.
    Empty,
    /// Nothing: the feature it configures is off, or it is optional.
    Unset,
    /// Worked out at start-up (from another setting, Chatwoot or the host), as described.
    Derived(&'static str),
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The environment variable; its lower-case form is the settings file's key.
    pub name: &'static str,
    /// What it is when unset.
    pub default: DefaultValue,
    /// What it does (backticks mark code; the README keeps them, plain text drops them).
    pub help: &'static str,
    /// Its section.
    pub group: Group,
    /// A secret: read as `SecretString`, never logged, printed or echoed in an error.
    pub secret: bool,
    /// Read from the environment only, never from the settings file.
    pub env_only: bool,
    /// The accepted range of a whole-number setting (inclusive).
    pub range: Option<(u64, u64)>,
    /// A value shown in `.env.example` for a setting that is unset or derived by default.
    pub example: &'static str,
    /// `.env.example` shows its default commented out (a live line would get in another setting's way).
    pub commented: bool,
    /// The README section that says more (its title; the anchor is derived).
    pub see: Option<&'static str>,
}

impl Setting {
    const fn new(group: Group, name: &'static str, default: DefaultValue, help: &'static str) -> Self {
        Self {
            name,
            default,
            help,
            group,
            secret: false,
            env_only: false,
            range: None,
            example: "",
            commented: false,
            see: None,
        }
    }

    const fn range(mut self, min: u64, max: u64) -> Self {
        self.range = Some((min, max));
        self
    }

    const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    const fn env_only(mut self) -> Self {
        self.env_only = true;
        self
    }

    const fn example(mut self, example: &'static str) -> Self {
        self.example = example;
        self
    }

    const fn commented(mut self) -> Self {
        self.commented = true;
        self
    }

    const fn see(mut self, section: &'static str) -> Self {
        self.see = Some(section);
        self
    }

    /// The literal default, when there is one (`Empty` is the empty text).
    pub const fn literal(&self) -> Option<&'static str> {
        match self.default {
            DefaultValue::Value(v) => Some(v),
            DefaultValue::Empty => Some(""),
            DefaultValue::Unset | DefaultValue::Derived(_) => None,
        }
    }

    /// The default as the docs show it: the value, `empty`, `unset`, or the description.
    pub fn default_text(&self) -> &'static str {
        match self.default {
            DefaultValue::Value(v) | DefaultValue::Derived(v) => v,
            DefaultValue::Empty => "empty",
            DefaultValue::Unset => "unset",
        }
    }
}

/// A setting with a literal default.
const fn value(group: Group, name: &'static str, default: &'static str, help: &'static str) -> Setting {
    Setting::new(group, name, DefaultValue::Value(default), help)
}

/// A whole-number setting with a literal default and its accepted range.
const fn number(
    group: Group,
    name: &'static str,
    default: &'static str,
    (min, max): (u64, u64),
    help: &'static str,
) -> Setting {
    value(group, name, default, help).range(min, max)
}

/// A setting that is unset by default; `example` is shown in `.env.example`.
const fn unset(group: Group, name: &'static str, example: &'static str, help: &'static str) -> Setting {
    Setting::new(group, name, DefaultValue::Unset, help).example(example)
}

/// A secret that is unset by default.
const fn secret(group: Group, name: &'static str, example: &'static str, help: &'static str) -> Setting {
    unset(group, name, example, help).secret()
}

/// A setting whose default is the empty text.
const fn empty(group: Group, name: &'static str, help: &'static str) -> Setting {
    Setting::new(group, name, DefaultValue::Empty, help)
}

/// A setting whose default is worked out at start-up, as `how` says.
const fn derived(
    group: Group,
    name: &'static str,
    how: &'static str,
    example: &'static str,
    help: &'static str,
) -> Setting {
    Setting::new(group, name, DefaultValue::Derived(how), help).example(example)
}

/// The row of `name`; a compile-time error (through [`setting!`]) when there is none.
pub const fn get(name: &str) -> &'static Setting {
    let mut i = 0;
    while i < SETTINGS.len() {
        if same(SETTINGS[i].name, name) {
            return &SETTINGS[i];
        }
        i += 1;
    }
    panic!("not a registered setting: add it to config::registry::SETTINGS");
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The registry row of a setting, looked up while compiling: `setting!("HISTORY_WINDOW")`.
macro_rules! setting {
    ($name:literal) => {
        const { $crate::config::registry::get($name) }
    };
}
pub(crate) use setting;

#[cfg(test)]
mod tests;
