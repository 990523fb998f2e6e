//! Settings defined once, for any binary (feature `cli`): a struct that derives
//! `clap::Args` (flag, default, help) and serde (its key in the file) is the whole
//! definition of its settings. From it come the defaults ([`defaults`]), the merge of
//! the file with the command line ([`merge`]), and the commented file that `init`
//! writes ([`template`]).
//!
//! Keys are the arguments' ids: `name` for a top-level key, `section.name` for a key
//! in `[section]` (the node's `rpc.listen`). Flags that only turn a key off (the
//! node's `--no-mine`) are listed as negations: `(flag id, key)`.

use std::fmt::Write as _;

use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A settings struct with every argument at its declared default: the command line
/// without arguments, environment variables ignored.
///
/// # Panics
/// If a setting has neither a default nor an `Option` type (a definition error,
/// which each binary's tests catch by calling this).
pub fn defaults<T: Args + FromArgMatches>() -> T {
    let cmd = T::augment_args(Command::new("defaults")).mut_args(|a| a.env(None::<&'static str>));
    let matches = cmd
        .try_get_matches_from(["defaults"])
        .expect("every setting has a default or is optional");
    T::from_arg_matches(&matches).expect("the defaults parse")
}

/// The arguments that define `T`'s settings.
pub fn command<T: Args>() -> Command {
    T::augment_args(Command::new("settings"))
}

/// `file` with every key that the command line gave replaced by `flags`' value:
/// `flags` and `matches` come from one parse of a command line that flattens `T`.
/// A flag listed in `negations` sets its key to `false`.
pub fn merge<T: Args + Serialize + DeserializeOwned>(
    file: &T,
    flags: &T,
    matches: &ArgMatches,
    negations: &[(&str, &str)],
) -> Result<T, toml::de::Error> {
    let mut merged = to_table(file);
    let given = to_table(flags);
    for arg in command::<T>().get_arguments() {
        let id = arg.get_id().as_str();
        if !matches!(
            matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        match negations.iter().find(|(flag, _)| *flag == id) {
            Some((_, key)) => set(&mut merged, key, Some(toml::Value::Boolean(false))),
            None => set(&mut merged, id, get(&given, id).cloned()),
        }
    }
    // Both tables come from `T` values, so this only fails on a definition bug.
    toml::Value::Table(merged).try_into()
}

/// `value` as a TOML table (keys without a value left out).
pub fn to_table<T: Serialize>(value: &T) -> toml::Table {
    match toml::Value::try_from(value) {
        Ok(toml::Value::Table(t)) => t,
        _ => toml::Table::new(),
    }
}

/// A key's section and name.
pub fn split(key: &str) -> (Option<&str>, &str) {
    match key.split_once('.') {
        Some((section, name)) => (Some(section), name),
        None => (None, key),
    }
}

/// The value of `key` in `table`.
pub fn get<'a>(table: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    match split(key) {
        (Some(section), name) => table.get(section)?.as_table()?.get(name),
        (None, name) => table.get(name),
    }
}

fn set(table: &mut toml::Table, key: &str, value: Option<toml::Value>) {
    let (section, name) = split(key);
    let table = match section {
        Some(section) => {
            let entry = table
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry.as_table_mut() {
                Some(t) => t,
                None => return,
            }
        }
        None => table,
    };
    match value {
        Some(v) => table.insert(name.to_string(), v),
        None => table.remove(name),
    };
}

/// The settings' arguments with their keys, in the order of `--help`, without the
/// negating flags (they have no key of their own).
pub fn keyed_args<T: Args>(negations: &[(&str, &str)]) -> Vec<(String, Arg)> {
    command::<T>()
        .get_arguments()
        .filter(|a| !negations.iter().any(|(id, _)| *id == a.get_id().as_str()))
        .map(|a| (a.get_id().to_string(), a.clone()))
        .collect()
}

/// The help text of `arg` as sentences (clap drops the last full stop), with the
/// environment variable that also sets it.
pub fn help(arg: &Arg) -> String {
    let mut text = arg
        .get_long_help()
        .or(arg.get_help())
        .map(ToString::to_string)
        .unwrap_or_default();
    if !text.ends_with(['.', ':']) {
        text.push('.');
    }
    if let Some(env) = arg.get_env() {
        let _ = write!(
            text,
            " The environment variable {} also sets it.",
            env.to_string_lossy()
        );
    }
    text
}

/// `text` as `# ` comment lines of at most 80 columns.
pub fn comment(text: &str) -> String {
    let mut out = String::new();
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() + 1 + word.len() > 80 && line.len() > 1 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// The commented file `init` writes: `header`, then every key with its help and its
/// value in `values` (the defaults, so that reading the file changes nothing), in
/// `[section]`s under their help heading. Keys without a value are shown commented
/// out, with the kind of value they take.
pub fn template<T: Args + Serialize>(
    header: &str,
    values: &T,
    negations: &[(&str, &str)],
) -> String {
    let values = to_table(values);
    let mut out = String::from(header);
    let mut section: Option<String> = None;
    for (key, arg) in keyed_args::<T>(negations) {
        let (this, name) = split(&key);
        if this != section.as_deref() {
            section = this.map(str::to_string);
            if let Some(s) = this {
                out.push('\n');
                let heading = arg.get_help_heading().unwrap_or_default();
                let heading = heading.trim_end_matches(&format!(" [{s}]"));
                let _ = write!(out, "[{s}]\n{}", comment(heading));
            }
        }
        out.push_str(&comment(&help(&arg)));
        match get(&values, &key) {
            Some(value) => {
                let _ = writeln!(out, "{name} = {value}");
            }
            None => {
                let kind = arg
                    .get_value_names()
                    .and_then(|n| n.first())
                    .map_or("...".to_string(), ToString::to_string);
                let _ = writeln!(out, "# {name} = \"{kind}\"");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_wrap_at_80_columns() {
        assert_eq!(comment("a b"), "# a b\n");
        let wrapped = comment(&"word ".repeat(40));
        assert!(wrapped.lines().count() > 1);
        assert!(
            wrapped
                .lines()
                .all(|l| l.starts_with("# ") && l.len() <= 80)
        );
    }
}
