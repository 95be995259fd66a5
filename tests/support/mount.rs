//! Kernel mounts of the real binary for the layer-4 tests: `Mounted` mounts on a temporary
//! directory and always unmounts when dropped (also when a test panics); `failing_mount` insists
//! that a mount fails fast with one line; `foreground_session` runs a foreground mount and returns its
//! stderr; `sh` runs a shell command in a directory and insists that it succeeded; `walk` lists a
//! tree with sizes.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The ftpfs binary cargo built for the integration tests (the demo server example, which shares
/// this support code, has none).
pub const BIN: &str = match option_env!("CARGO_BIN_EXE_ftpfs") {
    Some(path) => path,
    None => "ftpfs",
};

/// A tmpfs of a given size (a small server disk that fills up); unmounted on drop.
pub struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    pub fn new(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(st.success(), "cannot mount a tmpfs (the tests run as root)");
        Tmpfs(dir)
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    /// Unmounts, lazily if a server or ftpfs still holds a file there (a test that failed early),
    /// so that no tmpfs outlives its test.
    fn drop(&mut self) {
        let done = Command::new("umount").arg(self.0.path()).status();
        if !done.is_ok_and(|st| st.success()) {
            let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
        }
    }
}

/// A live mount; unmounted on drop.
pub struct Mounted {
    dir: tempfile::TempDir,
    /// The daemon's log (`-v`), for mounts made with `with_log`.
    log: Option<tempfile::NamedTempFile>,
}

impl Mounted {
    pub fn new(url: &str, password: &str, opts: &str) -> Mounted {
        Mounted::started_in(None, url, password, opts).0
    }

    /// Mounts like `new`, with ftpfs started in directory `cwd` (the current one if `None`), and
    /// returns what ftpfs printed on stderr while mounting (warnings).
    pub fn started_in(
        cwd: Option<&Path>,
        url: &str,
        password: &str,
        opts: &str,
    ) -> (Mounted, String) {
        assert!(
            Path::new("/dev/fuse").exists(),
            "/dev/fuse is missing: kernel mount tests cannot run"
        );
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = ftpfs_command(url, dir.path(), password, opts);
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "ftpfs failed to mount: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let m = Mounted { dir, log: None };
        assert!(m.is_mounted(), "ftpfs returned but nothing is mounted");
        (m, String::from_utf8_lossy(&out.stderr).into_owned())
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

    /// The pid of the ftpfs process serving this mount.
    pub fn daemon_pid(&self) -> u32 {
        let me = self.path().to_str().unwrap();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let args: Vec<String> = cmdline
                .split(|&b| b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if args.first().is_some_and(|a| a.ends_with("ftpfs")) && args.iter().any(|a| a == me) {
                return pid;
            }
        }
        panic!("no ftpfs process serves {me}");
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

/// Runs `ftpfs URL MNT ARGS` in the foreground (ARGS should hold `-f` or `-d`), waits until
/// `ready_file` in the mount reads as `ready_text`, runs `work` on the mount, unmounts, insists that
/// ftpfs then exits 0 within 10 s, and returns what it printed on stderr.
pub fn foreground_session(
    url: &str,
    password: &str,
    args: &[&str],
    ready: (&str, &str),
    work: impl FnOnce(&Path),
) -> String {
    foreground_session_with_env(url, password, args, &[], ready, work)
}

/// `foreground_session` with more environment variables for ftpfs (`RUST_LOG`).
pub fn foreground_session_with_env(
    url: &str,
    password: &str,
    args: &[&str],
    env: &[(&str, &str)],
    (ready_file, ready_text): (&str, &str),
    work: impl FnOnce(&Path),
) -> String {
    let mnt = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .arg(url)
        .arg(mnt.path())
        .args(args)
        .env("FTPFS_PASSWORD", password)
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read stderr as it comes: debug logs could fill the pipe and block ftpfs.
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut err = String::new();
        let _ = stderr.read_to_string(&mut err);
        err
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(mnt.path().join(ready_file))
        .ok()
        .as_deref()
        != Some(ready_text)
    {
        assert!(
            Instant::now() < deadline,
            "foreground mount never became ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    work(mnt.path());
    let st = Command::new("fusermount3")
        .arg("-u")
        .arg(mnt.path())
        .status()
        .unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ftpfs -f did not exit after unmount"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

pub fn run_ftpfs(url: &str, mnt: &Path, password: &str, opts: &str) -> Output {
    ftpfs_command(url, mnt, password, opts).output().unwrap()
}

fn ftpfs_command(url: &str, mnt: &Path, password: &str, opts: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg(url).arg(mnt).env("FTPFS_PASSWORD", password);
    if !opts.is_empty() {
        cmd.args(["-o", opts]);
    }
    cmd
}

/// Runs ftpfs expecting failure within 10 s with one line on stderr and nothing mounted: returns
/// (stderr, elapsed).
pub fn failing_mount(url: &str, mnt: &Path, password: &str, opts: &str) -> (String, Duration) {
    let t = Instant::now();
    let out = run_ftpfs(url, mnt, password, opts);
    let elapsed = t.elapsed();
    assert!(!out.status.success(), "ftpfs should have failed");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(mnt.to_str().unwrap()), "nothing mounted");
    (err, elapsed)
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

/// relative path → (is_dir, size, sha256 of a file's content) for a whole tree.
pub fn digests(root: &Path) -> Vec<(PathBuf, bool, u64, String)> {
    walk(root)
        .into_iter()
        .map(|(rel, (is_dir, size))| {
            let sum = if is_dir {
                String::new()
            } else {
                super::sha256_file(&root.join(&rel))
            };
            (rel, is_dir, size, sum)
        })
        .collect()
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
