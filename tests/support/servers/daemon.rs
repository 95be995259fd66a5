//! A foreground FTP daemon as a child process of the test: started from a command that a server
//! module builds (its config written into a private temporary directory), on a free port of
//! 127.0.0.1 with a passive range of its own, and ready once a greeting carrying the instance's
//! banner arrives. A daemon that exits at startup because another process took the port in the
//! gap after `free_port` is started again on another port; any other early exit fails the test
//! with the daemon's output. Dropping `Daemon` kills it and every session process it forked.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::super::{free_port, passive_range};

/// How long a daemon may take to greet.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running daemon; killed with its sessions when dropped.
pub struct Daemon {
    pub port: u16,
    /// The passive (data) port range, inclusive.
    pub pasv_ports: (u16, u16),
    name: &'static str,
    child: Child,
    /// Config, password database, logs and the daemon's stdout/stderr; removed on drop.
    dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `name` (for messages) from `command(dir, port, pasv_ports)`, which writes what
    /// the daemon needs into `dir` and returns the command line; returns once the daemon's
    /// greeting contains `banner`. Panics if the binary does not run or the daemon does not come
    /// up within 10 s, with its output.
    pub fn start(
        name: &'static str,
        banner: &str,
        command: impl Fn(&Path, u16, (u16, u16)) -> Command,
    ) -> Daemon {
        let mut last_output = String::new();
        for _attempt in 0..5 {
            let dir = tempfile::Builder::new()
                .prefix("ftpfs-daemon-")
                .tempdir()
                .expect("temp dir for a daemon's config");
            let port = free_port();
            let pasv_ports = passive_range();
            let mut cmd = command(dir.path(), port, pasv_ports);
            let out = File::create(dir.path().join("daemon.out")).expect("daemon output file");
            let child = cmd
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("dup the output file"))
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {name} ({:?}): {e}", cmd.get_program()));
            let mut daemon = Daemon {
                port,
                pasv_ports,
                name,
                child,
                dir,
            };
            match daemon.wait_ready(banner) {
                Ok(()) => return daemon,
                Err(seen) => {
                    let output = daemon.output();
                    let exited = matches!(daemon.child.try_wait(), Ok(Some(_)));
                    let port_taken = ["in use", "bind"]
                        .iter()
                        .any(|w| output.to_lowercase().contains(w));
                    if !(exited && port_taken) {
                        panic!(
                            "{name} on 127.0.0.1:{port} did not come up ({seen}); its output:\n\
                             {output}\ncommand: {cmd:?}"
                        );
                    }
                    last_output = output;
                }
            }
            // `daemon` drops here: killed, temp dir removed; next attempt on another port.
        }
        panic!("{name} could not bind a free port in 5 attempts; last output:\n{last_output}");
    }

    /// The directory holding the daemon's config and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the daemon printed on stdout and stderr so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.out")).unwrap_or_default()
    }

    /// Polls for a greeting that carries `banner`, watching for the daemon exiting meanwhile.
    fn wait_ready(&mut self, banner: &str) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("{} exited: {status}", self.name));
            }
            let seen = match full_greeting(self.port) {
                Ok(text) if text.contains(banner) => return Ok(()),
                Ok(text) => format!("a foreign greeting {text:?}"),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(format!("no greeting with {banner:?} within 10 s: {seen}"));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        kill_tree(&mut self.child);
    }
}

/// The whole `220` reply on 127.0.0.1:`port`, all lines of a multi-line one (Pure-FTPd puts its
/// instance text in a continuation line).
fn full_greeting(port: u16) -> std::io::Result<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = BufReader::new(&stream);
    let mut text = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        text.push_str(&line);
        // The last line of a reply is "CODE text"; continuation lines are "CODE-text" or others.
        if line.len() >= 4 && line.as_bytes()[3] == b' ' && line[..3].parse::<u16>().is_ok() {
            break;
        }
    }
    let _ = (&stream).write_all(b"QUIT\r\n");
    Ok(text)
}

/// Kills `child` and every process below it: the daemon is stopped first (no new forks), then
/// its descendants, found through /proc, are killed (session processes may have left the
/// daemon's process group with setsid), then the daemon itself.
pub fn kill_tree(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let pid = child.id() as libc::pid_t;
        // SAFETY: kill(2) on our own child and on processes it forked.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        for p in descendants_of(pid) {
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The state letter of process `pid` (`R`, `S`, `T` stopped, `Z` zombie...), if it exists.
pub fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.trim_start().chars().next()
}

/// How many established TCP connections process `pid` has to remote port `port` (its sockets,
/// from /proc/PID/fd, looked up in its network namespace's /proc/PID/net/tcp and tcp6).
pub fn tcp_connections_to(pid: u32, port: u16) -> usize {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| {
                let target = std::fs::read_link(e.ok()?.path()).ok()?;
                let t = target.to_str()?;
                Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
            })
            .collect()
        })
        .unwrap_or_default();
    ["tcp", "tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(format!("/proc/{pid}/net/{f}")).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|line| {
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            let f: Vec<&str> = line.split_whitespace().collect();
            let remote_port = f
                .get(2)
                .and_then(|a| a.rsplit_once(':'))
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            f.len() > 9 && remote_port == Some(port) && f[3] == "01" && inodes.contains(f[9])
        })
        .count()
}

/// Every process below `pid` (children first, then their children).
pub fn descendants_of(pid: libc::pid_t) -> Vec<libc::pid_t> {
    let mut all = children_of(pid);
    let mut i = 0;
    while i < all.len() {
        let more = children_of(all[i]);
        all.extend(more);
        i += 1;
    }
    all
}

/// Direct children of `parent`, from /proc/*/stat (field 4 is the parent pid).
pub fn children_of(parent: libc::pid_t) -> Vec<libc::pid_t> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            after.split_whitespace().nth(1).and_then(|p| p.parse().ok()) == Some(parent)
        })
        .collect()
}

/// The installed file `path` (e.g. `/usr/sbin/proftpd`) of Debian package `package`: where dpkg
/// put it, or else where scripts/test.sh unpacked the package. Debian's FTP servers conflict with
/// each other (all provide `ftp-server`), so beside the installed vsftpd the others are unpacked
/// under `UNPACKED` instead. Panics, naming the script, when neither is there.
pub fn debian_file(package: &str, path: &str) -> PathBuf {
    let installed = PathBuf::from(path);
    if installed.exists() {
        return installed;
    }
    let unpacked = Path::new(UNPACKED)
        .join(package)
        .join(path.trim_start_matches('/'));
    if unpacked.exists() {
        return unpacked;
    }
    panic!(
        "{path} (Debian package {package}) is neither installed nor unpacked under {UNPACKED}: \
         run scripts/test.sh, which unpacks it"
    );
}

/// Where scripts/test.sh unpacks the Debian packages of the servers that cannot be installed
/// beside vsftpd, one folder per package.
pub const UNPACKED: &str = "/opt/ftpfs-test-servers";
