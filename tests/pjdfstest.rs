//! Layer 4, POSIX corners: pjdfstest (the Rust rewrite, `cargo install --locked pjdfstest`) runs
//! its open, mkdir, rmdir, unlink, rename, truncate, ftruncate, chmod and utimensat groups on a
//! kernel mount of the real binary over vsftpd. Every case must pass but those listed in
//! `EXPECTED_FAILURES`, each with its reason (what FTP cannot do); a
//! listed case that passes or does not run fails the test too, so the list stays true. About 35 s;
//! `cargo test --test pjdfstest -- --nocapture` prints the counts of each group and every failure.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use support::mount::Mounted;
use support::vsftpd::Vsftpd;
use support::FtpServer;

/// The pjdfstest groups run, by the prefix of their case names.
const GROUPS: &[&str] = &[
    "open",
    "mkdir",
    "rmdir",
    "unlink",
    "rename",
    "truncate",
    "ftruncate",
    "chmod",
    "utimensat",
];

/// The cases that fail on an FTP mount, and why: (reason, cases). Each reason is FTP's (no command
/// exists for what the case needs).
const EXPECTED_FAILURES: &[(&str, &[&str])] = &[
    (
        // mknod(2) answers EPERM: FTP has no command to make them, so the case cannot make its
        // fixture (or, for fifo_nonblock_wronly and socket_error, the object it opens).
        "FTP cannot create fifos, sockets or device nodes",
        &[
            "chmod::change_perm::block",
            "chmod::change_perm::char",
            "chmod::change_perm::fifo",
            "chmod::change_perm::socket",
            "chmod::enotdir_component::block",
            "chmod::enotdir_component::char",
            "chmod::enotdir_component::fifo",
            "chmod::enotdir_component::socket",
            "chmod::failed_chmod_unchanged_ctime::block",
            "chmod::failed_chmod_unchanged_ctime::char",
            "chmod::failed_chmod_unchanged_ctime::fifo",
            "chmod::failed_chmod_unchanged_ctime::socket",
            "chmod::update_ctime::block",
            "chmod::update_ctime::char",
            "chmod::update_ctime::fifo",
            "chmod::update_ctime::socket",
            "mkdir::eexist_file_exists::block",
            "mkdir::eexist_file_exists::char",
            "mkdir::eexist_file_exists::fifo",
            "mkdir::eexist_file_exists::socket",
            "mkdir::enotdir_component::block",
            "mkdir::enotdir_component::char",
            "mkdir::enotdir_component::fifo",
            "mkdir::enotdir_component::socket",
            "open::eexist_file_exists::block",
            "open::eexist_file_exists::char",
            "open::eexist_file_exists::fifo",
            "open::eexist_file_exists::socket",
            "open::fifo_nonblock_wronly",
            "open::socket_error",
            "rename::changed_ctime_success::block",
            "rename::eexist_enotempty_to_non_empty::block",
            "rename::changed_ctime_success::char",
            "rename::eexist_enotempty_to_non_empty::char",
            "rename::changed_ctime_success::fifo",
            "rename::eexist_enotempty_to_non_empty::fifo",
            "rename::changed_ctime_success::socket",
            "rename::eexist_enotempty_to_non_empty::socket",
            "rename::eisdir_to_dir_from_not_dir::block",
            "rename::eisdir_to_dir_from_not_dir::char",
            "rename::eisdir_to_dir_from_not_dir::fifo",
            "rename::eisdir_to_dir_from_not_dir::socket",
            "rename::enotdir_component_either::block",
            "rename::enotdir_component_either::char",
            "rename::enotdir_component_either::fifo",
            "rename::enotdir_component_either::socket",
            "rename::enotdir_from_dir_to_not_dir::block",
            "rename::enotdir_from_dir_to_not_dir::char",
            "rename::enotdir_from_dir_to_not_dir::fifo",
            "rename::enotdir_from_dir_to_not_dir::socket",
            "rename::preserve_metadata::block",
            "rename::preserve_metadata::char",
            "rename::preserve_metadata::fifo",
            "rename::preserve_metadata::socket",
            "rename::to_multiply_linked::block",
            "rename::to_multiply_linked::char",
            "rename::to_multiply_linked::fifo",
            "rename::to_multiply_linked::socket",
            "rename::unchanged_ctime_failed::block",
            "rename::unchanged_ctime_failed::char",
            "rename::unchanged_ctime_failed::fifo",
            "rename::unchanged_ctime_failed::socket",
            "rmdir::eexist_enotempty_non_empty_dir::block",
            "rmdir::eexist_enotempty_non_empty_dir::char",
            "rmdir::eexist_enotempty_non_empty_dir::fifo",
            "rmdir::eexist_enotempty_non_empty_dir::socket",
            "rmdir::enotdir_component::block",
            "rmdir::enotdir_component::char",
            "rmdir::enotdir_component::fifo",
            "rmdir::enotdir_component::socket",
            "truncate::enotdir_component::block",
            "truncate::enotdir_component::char",
            "truncate::enotdir_component::fifo",
            "truncate::enotdir_component::socket",
            "unlink::enotdir_component::block",
            "unlink::enotdir_component::char",
            "unlink::enotdir_component::fifo",
            "unlink::enotdir_component::socket",
            "unlink::remove_type::block",
            "unlink::remove_type::char",
            "unlink::remove_type::fifo",
            "unlink::remove_type::socket",
            "unlink::unchanged_ctime_failed::block",
            "unlink::unchanged_ctime_failed::char",
            "unlink::unchanged_ctime_failed::fifo",
            "unlink::unchanged_ctime_failed::socket",
            "unlink::update_ctime_success::block",
            "unlink::update_ctime_success::char",
            "unlink::update_ctime_success::fifo",
            "unlink::update_ctime_success::socket",
            "unlink::update_mtime_ctime_success_folder::block",
            "unlink::update_mtime_ctime_success_folder::char",
            "unlink::update_mtime_ctime_success_folder::fifo",
            "unlink::update_mtime_ctime_success_folder::socket",
            "utimensat::changes_timestamps::block",
            "utimensat::changes_timestamps::char",
            "utimensat::changes_timestamps::fifo",
            "utimensat::changes_timestamps::socket",
        ],
    ),
    (
        // symlink(2) answers EPERM (listed symlinks are shown, none can be made); chmod's
        // change_perm cases chmod through a symlink they make.
        "FTP cannot create symlinks",
        &[
            "chmod::change_perm::dir",
            "chmod::change_perm::regular",
            "chmod::eloop_comp",
            "chmod::eloop_final_comp",
            "chmod::enoent_symlink",
            "mkdir::eexist_file_exists::symlink",
            "mkdir::eloop_comp",
            "open::eexist_file_exists::symlink",
            "open::eloop_comp",
            "open::open_nofollow",
            "rename::changed_ctime_success::symlink",
            "rename::eexist_enotempty_to_non_empty::symlink",
            "rename::eisdir_to_dir_from_not_dir::symlink",
            "rename::eloop_comp",
            "rename::preserve_metadata_symlink",
            "rename::unchanged_ctime_failed::symlink",
            "rmdir::eexist_enotempty_non_empty_dir::symlink",
            "rmdir::eloop_comp",
            "truncate::eloop_comp",
            "unlink::eloop_comp",
            "unlink::remove_type::symlink",
            "unlink::update_mtime_ctime_success_folder::symlink",
            "utimensat::follow_symlink",
        ],
    ),
    (
        // link(2) answers EPERM; every file has one link.
        "FTP has no hard links",
        &[
            "rename::preserve_metadata::regular",
            "rename::to_multiply_linked::regular",
            "unlink::unchanged_ctime_failed::regular",
            "unlink::update_ctime_success::regular",
        ],
    ),
    (
        // chown is accepted and not recorded; every file shows the mount's uid and gid, so a file
        // made by another user is not theirs, and a chown to them does not let them chmod.
        "FTP has no owners",
        &[
            "chmod::clear_isgid_bit",
            "mkdir::uid_gid_eq_euid_egid",
            "open::uid_gid_eq_euid_egid",
        ],
    ),
];

/// What pjdfstest said of each case of `group`: "ok", "FAILED" or "skipped", with the lines that
/// followed (the failed assertion, or why it was skipped).
fn run_group(
    mnt: &Path,
    conf: &Path,
    other_fs: &Path,
    group: &str,
) -> BTreeMap<String, (String, String)> {
    let out = Command::new(pjdfstest())
        .arg("-c")
        .arg(conf)
        .arg("-p")
        .arg(mnt)
        .arg("-s")
        .arg(other_fs)
        .arg(format!("{group}::"))
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("running pjdfstest");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut cases = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [name, verdict @ ("ok" | "FAILED" | "skipped")]
                if !line.starts_with(char::is_whitespace) =>
            {
                // Patterns match anywhere in a name: `truncate::` also picks `ftruncate::`.
                last = name
                    .starts_with(&format!("{group}::"))
                    .then(|| name.to_string());
                if let Some(n) = &last {
                    cases.insert(n.clone(), (verdict.to_string(), String::new()));
                }
            }
            _ => {
                if let Some(case) = last.as_ref().and_then(|n| cases.get_mut(n)) {
                    case.1.push_str(line.trim());
                    case.1.push('\n');
                }
            }
        }
    }
    assert!(
        !cases.is_empty(),
        "pjdfstest ran no case of group {group}:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    cases
}

/// The installed pjdfstest; a missing one fails the test and says how to install it.
fn pjdfstest() -> String {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let path = format!("{home}/.cargo/bin/pjdfstest");
    assert!(
        Path::new(&path).exists(),
        "{path} is missing: run scripts/test.sh, or `cargo install --locked pjdfstest`"
    );
    path
}

/// Why `case` is expected to fail, if it is.
fn expected_failure(case: &str) -> Option<&'static str> {
    EXPECTED_FAILURES
        .iter()
        .find(|(_, cases)| cases.contains(&case))
        .map(|(reason, _)| *reason)
}

/// pjdfstest's settings: the opt-in features ftpfs has (utimensat, UTIME_NOW, a rename that
/// changes the ctime), a nap of a second between changes whose times are compared (the servers'
/// times have seconds), and the two users it switches to (the mount has `allow_other`, so the
/// kernel checks their access against the modes shown).
const CONFIG: &str = "[features]\nutimensat = {}\nutime_now = {}\nrename_ctime = {}\n\
    [settings]\nnaptime = 1.0\n\
    [dummy_auth]\nentries = [[\"nobody\", \"nogroup\"], [\"ftpfstest\", \"ftpfstest\"]]\n";

#[test]
fn pjdfstest_groups_pass_but_what_ftp_cannot_do() {
    let root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let server = Vsftpd::start(root.path(), &[]);
    let m = Mounted::new(
        &server.url("/"),
        server.password(),
        &format!("cache_dir={},allow_other", cache.path().display()),
    );
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("pjdfstest.toml");
    std::fs::write(&conf, CONFIG).unwrap();
    // For rename's EXDEV case: a directory on another file system than the mount.
    let other_fs = tempfile::tempdir().unwrap();
    let mut unexpected = Vec::new();
    let mut seen = Vec::new();
    for group in GROUPS {
        let t = Instant::now();
        let cases = run_group(m.path(), &conf, other_fs.path(), group);
        let count = |v: &str| cases.values().filter(|c| c.0 == v).count();
        println!(
            "{group}: {} passed, {} failed, {} skipped ({:.1} s)",
            count("ok"),
            count("FAILED"),
            count("skipped"),
            t.elapsed().as_secs_f64()
        );
        for (name, (verdict, detail)) in &cases {
            seen.push(name.clone());
            let detail = detail.trim().replace('\n', " / ");
            let expected = expected_failure(name);
            match (verdict.as_str(), expected) {
                ("FAILED", Some(why)) => println!("  failed as expected ({why}): {name}: {detail}"),
                ("FAILED", None) => {
                    println!("  FAILED {name}: {detail}");
                    unexpected.push(format!("{name} failed: {detail}"));
                }
                ("ok", Some(why)) => {
                    unexpected.push(format!("{name} passed but is listed as failing ({why})"))
                }
                ("skipped", _) => println!("  skipped {name}: {detail}"),
                _ => {}
            }
        }
    }
    for (_, cases) in EXPECTED_FAILURES {
        for case in *cases {
            if !seen.iter().any(|s| s == case) {
                unexpected.push(format!("{case} is listed as failing but did not run"));
            }
        }
    }
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
}
