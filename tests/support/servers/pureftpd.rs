//! Pure-FTPd (Debian's `pure-ftpd`) as a test server: standalone in the foreground (its default
//! without `-B`), on 127.0.0.1 only, with a virtual user made by `pure-pw` in a PureDB file of its
//! own: the test user's name and password, mapped to the local test user's uid and gid, its home
//! the served directory, in which Pure-FTPd chroots it (virtual users are always chrooted). No
//! anonymous logins, no syslog.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::super::local_user::{ensure_test_user, give_to_user, user_ids};
use super::super::unique_seed;
use super::daemon::{debian_file, Daemon};
use super::{TEST_PASSWORD, TEST_USER};

/// A running Pure-FTPd; killed with its sessions when dropped.
pub struct PureFtpd {
    pub root: PathBuf,
    daemon: Daemon,
}

impl PureFtpd {
    /// Serves `root` (handed to the test user) to the virtual test user; returns once it greets.
    pub fn start(root: &Path) -> PureFtpd {
        let binary = debian_file("pure-ftpd", "/usr/sbin/pure-ftpd");
        let pure_pw = debian_file("pure-ftpd", "/usr/bin/pure-pw");
        ensure_test_user();
        let (uid, gid) = user_ids(TEST_USER);
        let root = root.canonicalize().expect("the served directory exists");
        give_to_user(&root, uid, gid);
        // Pure-FTPd has no banner setting; a "fortune" file's text joins the 220 greeting.
        let banner = format!("ftpfs test Pure-FTPd {:016x}", unique_seed());
        let daemon = Daemon::start("Pure-FTPd", &banner, |dir, port, pasv| {
            let pdb = dir.join("pureftpd.pdb");
            add_virtual_user(&pure_pw, dir, &pdb, &root);
            let fortunes = dir.join("banner");
            std::fs::write(&fortunes, format!("{banner}\n")).expect("write the banner");
            let mut cmd = Command::new(&binary);
            cmd.arg("-S")
                .arg(format!("127.0.0.1,{port}"))
                .arg("-p")
                .arg(format!("{}:{}", pasv.0, pasv.1))
                .arg("-l")
                .arg(format!("puredb:{}", pdb.display()))
                .arg("-F")
                .arg(&fortunes)
                // No anonymous logins, no reverse DNS, IPv4 only, no syslog; room for ftpfs's
                // connection pools; uploads 0644 and directories 0755.
                .args(["-E", "-H", "-4", "-f", "none", "-c", "500", "-C", "500"])
                .args(["-U", "133:022"]);
            cmd
        });
        PureFtpd { root, daemon }
    }
}

/// `pure-pw useradd`: the test user with home `root`, written to `dir`/pureftpd.passwd and
/// compiled into `pdb` (`-m`). pure-pw reads the password twice from stdin.
fn add_virtual_user(pure_pw: &Path, dir: &Path, pdb: &Path, root: &Path) {
    let mut child = Command::new(pure_pw)
        .args(["useradd", TEST_USER, "-u", TEST_USER, "-d"])
        .arg(root)
        .arg("-f")
        .arg(dir.join("pureftpd.passwd"))
        .arg("-F")
        .arg(pdb)
        .arg("-m")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", pure_pw.display()));
    let twice = format!("{TEST_PASSWORD}\n{TEST_PASSWORD}\n");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(twice.as_bytes())
        .expect("give pure-pw the password");
    let out = child.wait_with_output().expect("wait for pure-pw");
    assert!(
        out.status.success() && pdb.exists(),
        "pure-pw useradd failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

logs_in_the_test_user!(PureFtpd, |s| s.daemon.port);
