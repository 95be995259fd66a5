//! The local test user `ftpfstest` (password `ftpfstest-pw`) that the system-user servers (vsftpd,
//! ProFTPD, GNU inetutils ftpd; Pure-FTPd's virtual user maps to its uid) log in: created by
//! scripts/setup-test-user.sh, run once per test process, and the ownership of a test's served
//! directory handed to it, since those daemons read and write as that user after login.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub const TEST_USER: &str = "ftpfstest";
pub const TEST_PASSWORD: &str = "ftpfstest-pw";

/// Runs scripts/setup-test-user.sh once per test process; panics with its output on failure.
pub fn ensure_test_user() {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    let result = DONE.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/setup-test-user.sh");
        let out = Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} failed ({}); it must run as root:\n{}{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// uid and gid of a local user, from /etc/passwd (the setup script creates a local user).
pub fn user_ids(name: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && f[0] == name)
        .map(|f| (f[2].parse().unwrap(), f[3].parse().unwrap()))
        .unwrap_or_else(|| panic!("user {name} is not in /etc/passwd"))
}

/// Makes the test user the owner of everything under `root` (the daemons work as that user after
/// login), and lets it reach `root`: tempfile creates 0700 directories, so a root nested in one
/// would be unreachable. Only ancestors inside the temp dir get `o+x`; nothing else is touched.
pub fn give_to_user(root: &Path, uid: u32, gid: u32) {
    chown_tree(root, uid, gid);
    let tmp = std::env::temp_dir()
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("/tmp"));
    for dir in root.ancestors().skip(1) {
        if !dir.starts_with(&tmp) || dir == tmp {
            break;
        }
        let meta = std::fs::metadata(dir).unwrap();
        let mode = meta.permissions().mode();
        if mode & 0o001 == 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o001))
                .unwrap_or_else(|e| panic!("chmod o+x {}: {e}", dir.display()));
        }
    }
}

/// `chown -R uid:gid path` without following symlinks.
fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    let meta = std::fs::symlink_metadata(path).unwrap();
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid, gid);
        }
    }
}
