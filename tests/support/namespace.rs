//! A private mount namespace for the tests that go through mount(8). mount(8) runs its helpers with
//! a fixed PATH (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, whatever the caller's
//! is), so mount.fuse3 finds `ftpfs` only there. Inside the namespace a small tmpfs covers
//! /usr/local/sbin and holds a link to the binary cargo built, so the real chain mount(8) →
//! mount.fuse3 → sh → ftpfs runs the code under test, while the host's installed files and mounts
//! stay untouched: every mount made inside is invisible outside.
//!
//! Commands run inside with `nsenter`; the test reads the mount through `/proc/PID/root`, which
//! resolves paths in the namespace. Dropping `MountNamespace` unmounts every ftpfs mount inside,
//! kills the processes still in it (all started by the test) and ends the holder.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::mount::BIN;

/// A mount namespace held open by a sleeping child process.
pub struct MountNamespace {
    holder: Child,
}

impl MountNamespace {
    /// Starts the holder and waits until the link to the test binary is in place.
    pub fn new() -> MountNamespace {
        assert!(
            Path::new("/dev/fuse").exists(),
            "/dev/fuse is missing: kernel mount tests cannot run"
        );
        let bin = std::fs::canonicalize(BIN).expect("the ftpfs binary cargo built");
        let script = format!(
            "mount -t tmpfs -o size=1m,mode=755 ftpfs-test-bin /usr/local/sbin && \
             ln -s '{}' /usr/local/sbin/ftpfs && exec sleep 3600",
            bin.display()
        );
        let holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .expect("cannot run unshare (util-linux)");
        let ns = MountNamespace { holder };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ns.inside("/usr/local/sbin/ftpfs").exists() {
            assert!(
                Instant::now() < deadline,
                "the test namespace did not come up (unshare --mount failed?)"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        ns
    }

    /// The holder's process id: `nsenter -t PID -m` enters the namespace.
    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// `path` as the namespace sees it, for the test's own reads.
    pub fn inside(&self, path: impl AsRef<Path>) -> PathBuf {
        let rel = path.as_ref().strip_prefix("/").unwrap_or(path.as_ref());
        PathBuf::from(format!("/proc/{}/root", self.pid())).join(rel)
    }

    /// Runs `sh -c cmd` in the namespace, with `env` added, standard input closed (no terminal,
    /// as at boot or under autofs), and returns what it printed.
    pub fn sh_env(&self, cmd: &str, env: &[(&str, &str)]) -> Output {
        let mut c = self.command(cmd);
        for (k, v) in env {
            c.env(k, v);
        }
        c.stdin(Stdio::null()).output().expect("cannot run nsenter")
    }

    pub fn sh(&self, cmd: &str) -> Output {
        self.sh_env(cmd, &[])
    }

    /// Runs `cmd` and insists that it succeeded; returns its standard output.
    pub fn ok(&self, cmd: &str) -> String {
        let out = self.sh(cmd);
        assert!(
            out.status.success(),
            "`{cmd}` failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// A command in the namespace, not started yet (for long-running children such as automount).
    pub fn command(&self, cmd: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.pid().to_string(), "-m", "--", "sh", "-c", cmd]);
        c
    }

    /// The lines of the namespace's mount table.
    pub fn mounts(&self) -> Vec<String> {
        std::fs::read_to_string(format!("/proc/{}/mounts", self.pid()))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The mount table line for mountpoint `dir`, if mounted.
    pub fn mount_line(&self, dir: &Path) -> Option<String> {
        let dir = dir.to_str().unwrap();
        self.mounts()
            .into_iter()
            .find(|l| l.split(' ').nth(1) == Some(dir))
    }

    /// Waits until `dir` is (or is no longer) a mountpoint; false on timeout.
    pub fn wait_mounted(&self, dir: &Path, mounted: bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.mount_line(dir).is_some() == mounted {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Processes in this namespace other than the holder (ftpfs daemons, automount).
    pub fn processes(&self) -> Vec<i32> {
        let Ok(me) = std::fs::read_link(format!("/proc/{}/ns/mnt", self.pid())) else {
            return Vec::new();
        };
        let holder = self.pid() as i32;
        std::fs::read_dir("/proc")
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                    .filter(|&p| p != holder)
                    .filter(|p| {
                        std::fs::read_link(format!("/proc/{p}/ns/mnt")).ok() == Some(me.clone())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Command lines of the processes in the namespace.
    pub fn command_lines(&self) -> Vec<String> {
        self.processes()
            .into_iter()
            .filter_map(|p| std::fs::read(format!("/proc/{p}/cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .collect()
    }
}

impl Drop for MountNamespace {
    fn drop(&mut self) {
        // Innermost first: ftpfs mounts (under an autofs mount too), then autofs mounts.
        let mut ours: Vec<String> = self
            .mounts()
            .iter()
            .filter(|l| {
                let ty = l.split(' ').nth(2).unwrap_or("");
                ty.starts_with("fuse") || ty == "autofs"
            })
            .filter_map(|l| l.split(' ').nth(1).map(str::to_string))
            .collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ours {
            let _ = self.sh(&format!("umount -l '{m}'"));
        }
        // Unmounted ftpfs processes end by themselves; whatever is left after a while is killed.
        let deadline = Instant::now() + Duration::from_secs(3);
        while !self.processes().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        for p in self.processes() {
            // SAFETY: plain kill(2) of a process this test started inside its own namespace.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
