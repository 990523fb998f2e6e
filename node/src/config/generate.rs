//! The commented `cairn.toml` that `cairn-node init` writes, and the node's part of
//! `docs/CONFIGURATION.md`, both generated from the settings' definitions.

use std::fmt::Write as _;

use clap::ArgAction;

use cairn_config::settings::{get, help};

use crate::config::{NEGATIONS, Settings};

const HEADER: &str = "\
# cairn.toml: settings for cairn-node.
#
# Every key is optional: a missing key takes the default shown here, and a
# command-line flag overrides the key (docs/CONFIGURATION.md lists which flag
# sets which key). `cairn-node --check-config` prints the settings in effect.

";

/// Where the generated part of `docs/CONFIGURATION.md` starts and ends.
pub(crate) const DOC_BEGIN: &str =
    "<!-- Generated from node/src/config by `make docs`: edit the settings, not this. -->";
/// See [`DOC_BEGIN`].
pub(crate) const DOC_END: &str = "<!-- End of the generated part. -->";

/// The commented file `cairn-node init` writes: every key with its default (for the
/// dev network if `dev`), so that reading it changes nothing (a test checks this).
/// Keys without a default are shown commented out, with the kind of value they take.
pub fn template(dev: bool) -> String {
    let values = Settings {
        dev,
        ..Settings::default()
    }
    .resolved();
    cairn_config::settings::template(HEADER, &values, NEGATIONS)
}

/// The node's part of `docs/CONFIGURATION.md`: every flag with its key, default
/// and help, then the file `cairn-node init` writes.
pub fn markdown() -> String {
    let values = Settings::default().to_table();
    let mut out = format!("{DOC_BEGIN}\n\n");
    out.push_str("| Flag | Key in `cairn.toml` | Default | What it sets |\n");
    out.push_str("|---|---|---|---|\n");
    for arg in Settings::command().get_arguments() {
        let id = arg.get_id().as_str();
        let Some(flag) = arg.get_long() else { continue };
        let (key, default) = match NEGATIONS.iter().find(|(n, _)| *n == id) {
            Some((_, key)) => (*key, "".to_string()),
            None => (
                id,
                get(&values, id).map_or_else(String::new, |v| format!("`{v}`")),
            ),
        };
        let sets = match arg.get_action() {
            _ if key != id => Some("false".to_string()),
            ArgAction::SetTrue => Some("true".to_string()),
            ArgAction::SetFalse => Some("false".to_string()),
            // A flag without a value that sets a tri-state key (`--mine`).
            _ if arg.get_num_args().is_some_and(|n| n.max_values() == 0) => {
                Some("true".to_string())
            }
            _ => None,
        };
        let help = help(arg).replace('|', "\\|");
        let what = match sets {
            Some(v) if !help.contains(&format!("--{flag}")) => {
                format!("`--{flag}` sets it to `{v}`. ")
            }
            _ => String::new(),
        };
        let _ = writeln!(out, "| `--{flag}` | `{key}` | {default} | {what}{help} |");
    }
    out.push_str(
        "\nThe file `cairn-node init` writes (main network; `init --dev` writes `dev = true`\n\
         and `mining.enabled = true`):\n\n```toml\n",
    );
    out.push_str(&template(false));
    let _ = write!(out, "```\n\n{DOC_END}\n");
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use cairn_config::settings::{comment, keyed_args, split};
    use clap::Arg;

    use super::*;

    /// A setting's argument, with its key (negating flags such as `--no-mine` have
    /// none of their own).
    fn settings_args() -> Vec<(String, Arg)> {
        keyed_args::<Settings>(NEGATIONS)
    }

    /// The generated part of docs/CONFIGURATION.md is this build's; `CAIRN_BLESS=1`
    /// rewrites it (which is what `make docs` does).
    #[test]
    fn configuration_docs_are_generated_from_the_settings() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/CONFIGURATION.md");
        let on_disk = std::fs::read_to_string(&path).expect("read docs/CONFIGURATION.md");
        let (Some(begin), Some(end)) = (on_disk.find(DOC_BEGIN), on_disk.find(DOC_END)) else {
            panic!("docs/CONFIGURATION.md lacks the generated part's markers");
        };
        let current = &on_disk[begin..end + DOC_END.len() + 1];
        let generated = markdown();
        if std::env::var_os("CAIRN_BLESS").is_some() && current != generated {
            let updated = on_disk.replacen(current, &generated, 1);
            std::fs::write(&path, updated).expect("write docs/CONFIGURATION.md");
            return;
        }
        assert!(
            current == generated,
            "docs/CONFIGURATION.md is out of date: run `make docs`"
        );
    }

    #[test]
    fn every_key_is_in_the_template_with_its_help() {
        let text = template(false);
        for (key, arg) in settings_args() {
            let (section, name) = split(&key);
            let mut current = None;
            let found = text.lines().any(|line| {
                if let Some(h) = line.strip_prefix('[') {
                    current = Some(h.trim_end_matches(']'));
                }
                current == section
                    && line
                        .trim_start_matches("# ")
                        .starts_with(&format!("{name} ="))
            });
            assert!(found, "{key} is not in the template");
            let first_word = help(&arg)
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            assert!(text.contains(&format!("# {first_word}")), "{key}: no help");
        }
    }

    #[test]
    fn template_lines_fit_80_columns() {
        for dev in [false, true] {
            for line in template(dev).lines() {
                assert!(line.len() <= 80, "{line}");
            }
        }
        assert_eq!(comment("a b"), "# a b\n");
    }
}
