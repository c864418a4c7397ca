//! [`AlertError`]: what can be wrong with a rule file or an argument.

use std::path::PathBuf;

/// Everything this crate reports as an error. Rule problems are found when the rule file is
/// loaded, never at evaluation time: a rule that loads is a rule that can fire.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// The rule file could not be read.
    #[error("reading rule file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The rule file is not valid TOML, or has a misspelt or misplaced key.
    #[error("rule file{}: {message}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Toml {
        /// The file, when loaded from one.
        path: Option<PathBuf>,
        /// The TOML parser's message, with line and column.
        message: String,
    },
    /// One rule is invalid: unknown measure, report or domain, contradictory condition...
    #[error("rule \"{rule}\": {message}")]
    Rule {
        /// The rule's `id` (or `#N`, its position, when it has none).
        rule: String,
        /// What is wrong and what would be accepted.
        message: String,
    },
    /// A setting outside the rules (`[baseline]`, `[[webhook]]`) is invalid.
    #[error("{section}: {message}")]
    Config {
        /// The section, e.g. `[baseline]` or `webhook "ops"`.
        section: String,
        /// What is wrong.
        message: String,
    },
    /// A store folder that cannot be read.
    #[error("data directory {path}: {message}")]
    Data {
        /// The folder.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The store could not be listed.
    #[error("store: {0}")]
    Store(#[from] ocelot_store::StoreError),
    /// A replay range or directory that cannot be used.
    #[error("{0}")]
    BadRange(String),
    /// Not a `YYYYMMDDHH` UTC hour.
    #[error("not an hour in the form YYYYMMDDHH (UTC): {0:?}")]
    BadHourLabel(String),
}

impl AlertError {
    pub(crate) fn rule(rule: &str, message: impl Into<String>) -> AlertError {
        AlertError::Rule {
            rule: rule.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn config(section: impl Into<String>, message: impl Into<String>) -> AlertError {
        AlertError::Config {
            section: section.into(),
            message: message.into(),
        }
    }
}
