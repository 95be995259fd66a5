//! The documentation and the program agree on the `-o` options: every option `ftpfs --help` lists
//! is in the options table of docs/configuration.md, every option that table documents is one
//! `--help` lists, and every option accepted and ignored for mount(8), fstab and systemd is named in
//! the paragraph after the table. `--help` is read from the real binary, as a user would; the man
//! page is generated from the same definition (src/bin/ftpfs-docs.rs).

use std::collections::BTreeSet;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ftpfs");
const CONFIGURATION: &str = include_str!("../docs/configuration.md");

/// What `ftpfs --help` says of the options: (documented options, ignored ones).
fn help() -> (BTreeSet<String>, Vec<String>) {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let section = text
        .split_once("\nMOUNT OPTIONS (")
        .expect("--help has a MOUNT OPTIONS section")
        .1;
    // An option's line is indented by two spaces; its description by six.
    let options = section
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .map(|l| l.trim().to_string())
        .collect();
    let ignored = section
        .lines()
        .find_map(|l| l.strip_prefix("Ignored (for mount(8), fstab and systemd): "))
        .expect("--help names the ignored options")
        .trim_end_matches('.')
        .split(", ")
        .map(str::to_string)
        .collect();
    (options, ignored)
}

/// The first cell of each row of the options table in docs/configuration.md.
fn documented() -> BTreeSet<String> {
    let table = CONFIGURATION
        .split_once("| option | default | meaning |")
        .expect("docs/configuration.md has the options table")
        .1;
    // The rest of the header line, then the separator row.
    table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cell = row.split(" | ").next().unwrap();
            // `name`, with a '|' inside written '\|' for Markdown.
            cell.trim_start_matches("| ")
                .trim_matches('`')
                .replace("\\|", "|")
        })
        .collect()
}

#[test]
fn every_option_in_help_is_documented_and_every_documented_option_exists() {
    let (options, _) = help();
    let docs = documented();
    assert!(options.len() >= 20, "{options:?}");
    let undocumented: Vec<_> = options.difference(&docs).collect();
    assert!(
        undocumented.is_empty(),
        "options --help knows that docs/configuration.md does not document: {undocumented:?}"
    );
    let unknown: Vec<_> = docs.difference(&options).collect();
    assert!(
        unknown.is_empty(),
        "options docs/configuration.md documents that --help does not know: {unknown:?}"
    );
}

/// The options the paragraph on ignored options names in code spans (`noauto`, `x-*`).
fn documented_ignored() -> BTreeSet<String> {
    let paragraph = CONFIGURATION
        .split("\n\n")
        .find(|p| p.contains("accepted and ignored"))
        .expect("docs/configuration.md says which options are accepted and ignored");
    paragraph
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|name| name.trim_end_matches('=').to_string())
        .filter(|name| !name.contains(','))
        .collect()
}

#[test]
fn the_docs_name_exactly_the_ignored_options_of_help() {
    let (_, ignored) = help();
    assert!(ignored.contains(&"noauto".to_string()), "{ignored:?}");
    let ignored: BTreeSet<String> = ignored
        .into_iter()
        .map(|name| name.trim_end_matches("=*").to_string())
        .collect();
    let documented: BTreeSet<String> = documented_ignored()
        .into_iter()
        .map(|name| name.trim_end_matches("=*").to_string())
        .filter(|name| !name.starts_with("x-systemd"))
        .collect();
    let missing: Vec<_> = ignored.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "ignored options --help names that docs/configuration.md does not: {missing:?}"
    );
    let extra: Vec<_> = documented.difference(&ignored).collect();
    assert!(
        extra.is_empty(),
        "docs/configuration.md names as ignored what --help does not: {extra:?}"
    );
}
