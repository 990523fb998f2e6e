//! `cairn-config`: the TOML settings files of the three binaries (`cairn.toml`,
//! `miner.toml`, `wallet.toml`): one loader whose errors name the file, the line and
//! the key (`cairn.toml:12: key `p2p.max_inbound`: …`), and serde helpers for values
//! written as strings (addresses, multiaddrs, kernels).
//!
//! Each binary declares its file as `#[serde(deny_unknown_fields)]` structs, so that
//! an unknown key is an error. File I/O lives here rather than in `cairn-core`,
//! which holds consensus types and rules only. Must not depend on the node.

#[cfg(feature = "cli")]
pub mod settings;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::de::{DeserializeOwned, Deserializer};

/// Larger files are refused before parsing (a config is a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file could not be written.
    #[error("cannot write {}: {error}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file exists and may not be replaced.
    #[error("{} exists (--force replaces it)", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The file is larger than [`MAX_CONFIG_BYTES`].
    #[error("{}: larger than {MAX_CONFIG_BYTES} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// A key or value is wrong.
    #[error("{}", Located { path, line: *line, key, message })]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending key or value, when known.
        line: Option<usize>,
        /// Dotted key (`p2p.max_inbound`), empty for a syntax error outside any key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    /// An error about `key` found after parsing (for rules across several keys),
    /// located at the key's line when it appears in `text`.
    pub fn at_key(path: &Path, text: &str, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line: key_line(text, key),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// The dotted key the error is about, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } if !key.is_empty() => Some(key),
            _ => None,
        }
    }

    /// The 1-based line the error is about, if known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Invalid { line, .. } => *line,
            _ => None,
        }
    }
}

struct Located<'a> {
    path: &'a Path,
    line: Option<usize>,
    key: &'a str,
    message: &'a str,
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": key `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Writes a new config file (`init` commands): refuses to replace one unless
/// `force`; creates the parent directory.
pub fn write_new(path: &Path, text: &str, force: bool) -> Result<(), ConfigError> {
    use std::io::Write as _;
    let write = |error| ConfigError::Write {
        path: path.to_path_buf(),
        error,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(write)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            ConfigError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            write(e)
        }
    })?;
    file.write_all(text.as_bytes()).map_err(write)
}

/// Reads `path` if it exists: `None` when it does not.
pub fn load_if_exists<T: DeserializeOwned>(
    path: &Path,
) -> Result<Option<(T, String)>, ConfigError> {
    match load(path) {
        Ok(v) => Ok(Some(v)),
        Err(ConfigError::Read { error, .. }) if error.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Reads and parses `path`.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<(T, String), ConfigError> {
    let read = |error| ConfigError::Read {
        path: path.to_path_buf(),
        error,
    };
    let len = std::fs::metadata(path).map_err(read)?.len();
    if len > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    let value = parse(path, &text)?;
    Ok((value, text))
}

/// Parses `text` (read from `path`, which only names it in errors).
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    let invalid = |line, key: String, message: &str| ConfigError::Invalid {
        path: path.to_path_buf(),
        line,
        key,
        message: message.trim().to_string(),
    };
    let de = toml::de::Deserializer::parse(text)
        .map_err(|e| invalid(line_of(text, e.span()), String::new(), e.message()))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { String::new() } else { key };
        let inner = e.into_inner();
        let line = line_of(text, inner.span()).or_else(|| key_line(text, &key));
        invalid(line, key, inner.message())
    })
}

fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> Option<usize> {
    let start = span?.start.min(text.len());
    Some(
        text.as_bytes()[..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1,
    )
}

/// The line where the dotted `key` (`section.name`) is set, if it is set in `text`.
fn key_line(text: &str, key: &str) -> Option<usize> {
    let (section, name) = match key.rsplit_once('.') {
        Some((s, n)) => (s, n),
        None => ("", key),
    };
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = header.trim().to_string();
        } else if current == section
            && line
                .split_once('=')
                .is_some_and(|(k, _)| k.trim().trim_matches('"') == name)
        {
            return Some(i + 1);
        }
    }
    None
}

/// Deserializes any `FromStr` type from a TOML string (addresses, multiaddrs,
/// socket addresses), keeping the type's own error message.
pub fn from_str<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    display_opt::deserialize(deserializer)
}

/// [`from_str`] for a list.
pub fn from_str_list<'de, D, T>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    display_list::deserialize(deserializer).map(Some)
}

/// `#[serde(with = "cairn_config::display")]`: a `FromStr` + `Display` value written
/// as a TOML string.
pub mod display {
    use std::fmt;
    use std::str::FromStr;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `value` with `Display`.
    pub fn serialize<S: Serializer, T: fmt::Display>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    /// Reads a string and parses it with `FromStr`, keeping the type's error message.
    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr,
        T::Err: fmt::Display,
    {
        String::deserialize(deserializer)?
            .parse()
            .map_err(D::Error::custom)
    }
}

/// [`display`] for an `Option` (skip `None` when writing: TOML has no null).
pub mod display_opt {
    use std::fmt;
    use std::str::FromStr;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the value with `Display`.
    pub fn serialize<S: Serializer, T: fmt::Display>(
        value: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    /// Reads a string and parses it with `FromStr`.
    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr,
        T::Err: fmt::Display,
    {
        match Option::<String>::deserialize(deserializer)? {
            Some(s) => s.parse().map(Some).map_err(D::Error::custom),
            None => Ok(None),
        }
    }
}

/// [`display`] for a list: each entry a string.
pub mod display_list {
    use std::fmt;
    use std::str::FromStr;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes each entry with `Display`.
    pub fn serialize<S: Serializer, T: fmt::Display>(value: &[T], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(value.iter().map(ToString::to_string))
    }

    /// Reads a list of strings and parses each, naming the entry in the error.
    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr,
        T::Err: fmt::Display,
    {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|s| {
                s.parse()
                    .map_err(|e| D::Error::custom(format!("`{s}`: {e}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct File {
        name: Option<String>,
        p2p: Option<P2p>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct P2p {
        max_inbound: Option<u32>,
        #[serde(default, deserialize_with = "from_str")]
        listen: Option<std::net::SocketAddr>,
    }

    fn err(text: &str) -> ConfigError {
        parse::<File>(Path::new("cairn.toml"), text).expect_err("must fail")
    }

    #[test]
    fn good_file_parses() {
        let f: File = parse(
            Path::new("x"),
            "name = \"a\"\n[p2p]\nmax_inbound = 3\nlisten = \"127.0.0.1:1\"\n",
        )
        .unwrap();
        assert_eq!(f.p2p.unwrap().max_inbound, Some(3));
    }

    #[test]
    fn errors_name_key_and_line() {
        let e = err("name = \"a\"\n\n[p2p]\nmax_inbound = \"many\"\n");
        assert_eq!(e.key(), Some("p2p.max_inbound"), "{e}");
        assert_eq!(e.line(), Some(4), "{e}");
        assert!(
            e.to_string()
                .starts_with("cairn.toml:4: key `p2p.max_inbound`"),
            "{e}"
        );

        let e = err("[p2p]\nmax_inbound = -1\n");
        assert_eq!(
            (e.key(), e.line()),
            (Some("p2p.max_inbound"), Some(2)),
            "{e}"
        );

        let e = err("[p2p]\nlisten = \"nowhere\"\n");
        assert_eq!((e.key(), e.line()), (Some("p2p.listen"), Some(2)), "{e}");

        let e = err("name = \"a\"\n[p2p]\nmax_inbund = 1\n");
        assert_eq!(e.line(), Some(3), "{e}");
        assert!(e.to_string().contains("max_inbund"), "{e}");

        let e = err("colour = 1\n");
        assert!(e.to_string().contains("colour"), "{e}");
        assert_eq!(e.line(), Some(1), "{e}");
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let e = err("name = \"a\"\n[p2p\n");
        assert_eq!(e.line(), Some(2), "{e}");
    }

    #[test]
    fn key_line_finds_sections() {
        let text = "a = 1\n[x]\nb = 2\n[y]\n b = 3\n";
        assert_eq!(key_line(text, "a"), Some(1));
        assert_eq!(key_line(text, "x.b"), Some(3));
        assert_eq!(key_line(text, "y.b"), Some(5));
        assert_eq!(key_line(text, "z.b"), None);
    }
}
