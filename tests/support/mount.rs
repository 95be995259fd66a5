//! Kernel mounts of the real binary for the layer-4 tests: `Mounted` mounts on a temporary
//! directory and always unmounts when dropped (also when a test panics); `sh` runs a shell command
//! in a directory and insists that it succeeded; `walk` lists a tree with sizes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The ftpfs binary cargo built for the integration tests (the demo server example, which shares
/// this support code, has none).
pub const BIN: &str = match option_env!("CARGO_BIN_EXE_ftpfs") {
    Some(path) => path,
    None => "ftpfs",
};

/// A live mount; unmounted on drop.
pub struct Mounted {
    dir: tempfile::TempDir,
    /// The daemon's log (`-v`), for mounts made with `with_log`.
    log: Option<tempfile::NamedTempFile>,
}

impl Mounted {
    pub fn new(url: &str, password: &str, opts: &str) -> Mounted {
        assert!(
            Path::new("/dev/fuse").exists(),
            "/dev/fuse is missing: kernel mount tests cannot run"
        );
        let dir = tempfile::tempdir().unwrap();
        let out = run_ftpfs(url, dir.path(), password, opts);
        assert!(
            out.status.success(),
            "ftpfs failed to mount: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let m = Mounted { dir, log: None };
        assert!(m.is_mounted(), "ftpfs returned but nothing is mounted");
        m
    }

    /// Like `new`, with debug logging (`-v`): the background daemon keeps writing its log to a
    /// file that `log()` reads.
    pub fn with_log(url: &str, password: &str, opts: &str) -> Mounted {
        let dir = tempfile::tempdir().unwrap();
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg(url)
            .arg(dir.path())
            .arg("-v")
            .env("FTPFS_PASSWORD", password)
            .env_remove("RUST_LOG")
            .stderr(log.reopen().unwrap());
        if !opts.is_empty() {
            cmd.args(["-o", opts]);
        }
        let status = cmd.status().unwrap();
        let m = Mounted {
            dir,
            log: Some(log),
        };
        assert!(status.success(), "ftpfs failed to mount: {}", m.log());
        assert!(m.is_mounted(), "ftpfs returned but nothing is mounted");
        m
    }

    /// What the daemon logged so far (empty for mounts without a log).
    pub fn log(&self) -> String {
        self.log
            .as_ref()
            .map(|f| std::fs::read_to_string(f.path()).unwrap_or_default())
            .unwrap_or_default()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn mounts_line(&self) -> Option<String> {
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
        let me = self.path().to_str().unwrap().to_string();
        mounts
            .lines()
            .find(|l| l.split(' ').nth(1) == Some(me.as_str()))
            .map(str::to_string)
    }

    pub fn is_mounted(&self) -> bool {
        self.mounts_line().is_some()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        for _ in 0..50 {
            if !self.is_mounted() {
                return;
            }
            let _ = Command::new("fusermount3")
                .arg("-u")
                .arg(self.path())
                .output();
            if !self.is_mounted() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("fusermount3")
            .args(["-u", "-z"])
            .arg(self.path())
            .output();
    }
}

pub fn run_ftpfs(url: &str, mnt: &Path, password: &str, opts: &str) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg(url).arg(mnt).env("FTPFS_PASSWORD", password);
    if !opts.is_empty() {
        cmd.args(["-o", opts]);
    }
    cmd.output().unwrap()
}

/// Everything a child wrote to its piped stderr (read to the end).
pub fn child_stderr(child: &mut std::process::Child) -> String {
    use std::io::Read;
    let mut err = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut err).unwrap();
    }
    err
}

pub fn sh(cmd: &str, cwd: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// relative path → (is_dir, size) for a whole tree.
pub fn walk(root: &Path) -> BTreeMap<PathBuf, (bool, u64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
            if m.is_dir() {
                stack.push(e.path());
                out.insert(rel, (true, 0));
            } else {
                out.insert(rel, (false, m.len()));
            }
        }
    }
    out
}
