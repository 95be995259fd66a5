//! Debian's vsftpd as a test server: a real, independent FTP implementation, started by the test
//! as a child process on 127.0.0.1 with a private config, logging in the local user `ftpfstest`
//! (created by scripts/setup-test-user.sh, with the PAM service `ftpfs-vsftpd`) and chrooted into
//! the test's root directory, over plain FTP (`start`) or FTPS only (`start_tls`, explicit or
//! implicit). Dropping `Vsftpd` kills the daemon and its sessions. A missing vsftpd fails the test:
//! nothing is skipped.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use ftpfs::config::{TlsConfig, TlsMode};
use ftpfs::remote::ftp::tls::TlsSetup;

use super::local_user::{ensure_test_user, give_to_user, user_ids};
use super::servers::daemon::{children_of, descendants_of, proc_state};
use super::tls::ServerCert;
use super::{free_port, passive_range, unique_seed, wait_for_greeting};

const VSFTPD: &str = "/usr/sbin/vsftpd";
pub use super::local_user::{TEST_PASSWORD, TEST_USER};
const SECURE_CHROOT_DIR: &str = "/var/run/vsftpd/empty";

/// A running vsftpd on 127.0.0.1; killed (with its session processes) when dropped.
pub struct Vsftpd {
    pub port: u16,
    pub root: PathBuf,
    pub user: String,
    pub password: String,
    /// The passive (data) port range, inclusive.
    pub pasv_ports: (u16, u16),
    /// The generated config file (inside `dir`).
    pub conf: PathBuf,
    /// The greeting text unique to this instance (recognised again after a restart).
    banner: String,
    /// How it greets: in clear, or inside TLS from the first byte.
    tls: Option<TlsListen>,
    /// Environment for the daemon (kept for restarts).
    env: Vec<(String, PathBuf)>,
    child: Child,
    /// Config and vsftpd's stdout/stderr; removed on drop.
    dir: tempfile::TempDir,
}

impl Vsftpd {
    /// Serves `root` (made readable and writable by the test user) with the settings below;
    /// `extra` pairs override a setting of the same name or are appended. Returns once vsftpd
    /// sent its greeting; panics with vsftpd's output if it does not within 10 s.
    pub fn start(root: &Path, extra: &[(&str, &str)]) -> Vsftpd {
        let extra: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Vsftpd::launch(root, &extra, None, &[])
    }

    /// Serves `root` over FTPS only, with `cert` as the server's certificate: TLS is mandatory on
    /// the control connection and on every data connection (force_local_logins_ssl,
    /// force_local_data_ssl), so plain transfers cannot pass, and data connections must resume the
    /// control connection's TLS session (require_ssl_reuse=YES, vsftpd's default, kept). vsftpd
    /// logs every command and every TLS handshake (`debug_ssl`) to `log_path()`. `Implicit`: TLS
    /// from the first byte (implicit_ssl=YES). `extra` overrides settings as in `start`.
    pub fn start_tls(
        root: &Path,
        cert: &ServerCert,
        listen: TlsListen,
        extra: &[(&str, &str)],
    ) -> Vsftpd {
        Vsftpd::start_tls_with_env(root, cert, listen, extra, &[])
    }

    /// `start_tls` with environment variables for vsftpd (`OPENSSL_CONF`, to cap its TLS version).
    pub fn start_tls_with_env(
        root: &Path,
        cert: &ServerCert,
        listen: TlsListen,
        extra: &[(&str, &str)],
        env: &[(&str, &Path)],
    ) -> Vsftpd {
        let path = |p: &Path| p.to_str().expect("certificate paths are UTF-8").to_string();
        let implicit = if listen == TlsListen::Implicit {
            "YES"
        } else {
            "NO"
        };
        let mut settings: Vec<(String, String)> = [
            ("ssl_enable", "YES".to_string()),
            ("implicit_ssl", implicit.to_string()),
            ("rsa_cert_file", path(&cert.cert)),
            ("rsa_private_key_file", path(&cert.key)),
            ("force_local_logins_ssl", "YES".to_string()),
            ("force_local_data_ssl", "YES".to_string()),
            ("require_ssl_reuse", "YES".to_string()),
            ("debug_ssl", "YES".to_string()),
            // vsftpd writes its log only with xferlog_enable; the non-standard format carries
            // the protocol and debug_ssl lines.
            ("xferlog_enable", "YES".to_string()),
            ("xferlog_std_format", "NO".to_string()),
            ("log_ftp_protocol", "YES".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        settings.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Vsftpd::launch(root, &settings, Some(listen), env)
    }

    /// What vsftpd logged (commands, and TLS handshakes with `debug_ssl`), when `vsftpd_log_file`
    /// was not set elsewhere.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("vsftpd.log")
    }

    /// The data-connection TLS handshakes a `start_tls` server logged, as (resumed the control
    /// connection's session, did not). debug_ssl logs one line per handshake; those after login
    /// carry the user name, the control connection's own does not.
    pub fn data_handshakes(&self) -> (usize, usize) {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let data: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.contains(&format!("[{}] DEBUG", self.user)) && l.contains("SSL version: ")
            })
            .collect();
        let reused = data.iter().filter(|l| l.contains(", reused,")).count();
        (reused, data.len() - reused)
    }

    /// How many transfer commands (listings, downloads, uploads) the server logged: each opens one
    /// data connection.
    pub fn transfer_commands(&self) -> usize {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        text.lines()
            .filter_map(|l| l.split("FTP command: Client \"127.0.0.1\", \"").nth(1))
            .filter(|c| {
                ["LIST", "NLST", "RETR", "STOR", "APPE"]
                    .iter()
                    .any(|v| c.starts_with(v))
            })
            .count()
    }

    fn launch(
        root: &Path,
        extra: &[(String, String)],
        tls: Option<TlsListen>,
        env: &[(&str, &Path)],
    ) -> Vsftpd {
        if !Path::new(VSFTPD).exists() {
            panic!("vsftpd is not installed: run scripts/test.sh (apt-get install vsftpd)");
        }
        ensure_test_user();
        let (uid, gid) = user_ids(TEST_USER);
        let abs_root = root
            .canonicalize()
            .unwrap_or_else(|e| panic!("vsftpd root {}: {e}", root.display()));
        give_to_user(&abs_root, uid, gid);

        // free_port() leaves a gap before vsftpd binds; if another process takes the port,
        // vsftpd exits with "could not bind" and we try again with a new one.
        let mut last_error = String::new();
        for _attempt in 0..5 {
            let dir = tempfile::Builder::new()
                .prefix("ftpfs-vsftpd-")
                .tempdir()
                .expect("temp dir for the vsftpd config");
            let port = free_port();
            let pasv_ports = passive_range();
            // A banner unique to this instance proves that the greeting comes from our vsftpd,
            // not from some other server that took the port in the meantime.
            let banner = format!("ftpfs test vsFTPd {:016x}", unique_seed());
            let conf = dir.path().join("vsftpd.conf");
            let log = dir.path().join("vsftpd.log");
            let conf_text = config_text(&abs_root, port, pasv_ports, &banner, &log, extra);
            std::fs::write(&conf, &conf_text).expect("write the vsftpd config");
            let out_path = dir.path().join("vsftpd.out");
            let env: Vec<(String, PathBuf)> = env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_path_buf()))
                .collect();
            let child = spawn_daemon(&conf, &out_path, &env);
            let mut server = Vsftpd {
                port,
                root: root.to_path_buf(),
                user: TEST_USER.to_string(),
                password: TEST_PASSWORD.to_string(),
                pasv_ports,
                conf,
                banner,
                tls,
                env,
                child,
                dir,
            };
            let ready = server.wait_ready(Duration::from_secs(10));
            let output = || {
                let text = std::fs::read_to_string(&out_path).unwrap_or_default();
                text.trim().to_string()
            };
            match ready {
                Ok(()) => return server,
                Err(Exited) if output().contains("could not bind") => last_error = output(),
                Err(Exited) => panic!(
                    "vsftpd exited at startup; its output:\n{}\nconfig:\n{conf_text}",
                    output()
                ),
                Err(TimedOut(seen)) => panic!(
                    "vsftpd on 127.0.0.1:{port} sent no greeting within 10 s ({seen}); \
                     its output:\n{}\nconfig:\n{conf_text}",
                    output()
                ),
            }
            // `server` drops here: killed, temp dir removed; next attempt on another port.
        }
        panic!("vsftpd could not bind a free port in 5 attempts; last output:\n{last_error}");
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Like `start`, with every FTP command logged (vsftpd's `log_ftp_protocol`) to the file
    /// that `command_log` and `logged_commands` read.
    pub fn start_logging_commands(root: &Path) -> Vsftpd {
        Vsftpd::start(
            root,
            &[
                ("xferlog_enable", "YES"),
                ("xferlog_std_format", "NO"),
                ("log_ftp_protocol", "YES"),
            ],
        )
    }

    /// The raw log (commands, with `start_logging_commands` or `start_tls`).
    pub fn command_log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The data ports the client named in the `PORT` commands logged so far (active mode).
    pub fn data_ports(&self) -> Vec<u16> {
        self.logged_commands()
            .iter()
            .filter_map(|c| c.strip_prefix("PORT "))
            .map(|a| {
                let n: Vec<u16> = a.split(',').map(|x| x.parse().unwrap()).collect();
                n[4] * 256 + n[5]
            })
            .collect()
    }

    /// The FTP commands logged so far, e.g. `LIST -a /tree/d003`.
    pub fn logged_commands(&self) -> Vec<String> {
        self.command_log()
            .lines()
            .filter_map(|l| l.split("FTP command: Client \"127.0.0.1\", \"").nth(1))
            .map(|c| c.trim_end_matches('"').to_string())
            .collect()
    }

    /// Stops the daemon and every session at once, as a crash or a reboot of the server would:
    /// the port is closed (connects are refused) and open control connections are reset.
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Starts the daemon again on the same port, root and config after `stop`; returns once it
    /// greets. Panics if the port was taken meanwhile or vsftpd does not come up within 10 s.
    pub fn restart(&mut self) {
        self.kill();
        let out_path = self.dir.path().join("vsftpd.out");
        self.child = spawn_daemon(&self.conf, &out_path, &self.env);
        if self.wait_ready(Duration::from_secs(10)).is_err() {
            panic!(
                "vsftpd did not come back on port {}: {}",
                self.port,
                std::fs::read_to_string(&out_path).unwrap_or_default()
            );
        }
    }

    /// Freezes the daemon and every session (SIGSTOP): the port still accepts TCP connections
    /// (the kernel's backlog) but nothing answers, as with a hung server or a dead link.
    /// Returns once every process of the server is stopped: a session that was starting as the
    /// signals went out (the pool warming up) is stopped on a later pass, and none is left
    /// answering.
    pub fn freeze(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            self.signal_all(libc::SIGSTOP);
            let pid = self.child.id() as libc::pid_t;
            let running: Vec<_> = std::iter::once(pid)
                .chain(descendants_of(pid))
                .filter(|p| !matches!(proc_state(*p as u32), Some('T' | 't' | 'Z' | 'X') | None))
                .collect();
            if running.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "vsftpd processes {running:?} still run after SIGSTOP"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Lets a frozen server go on (SIGCONT), sessions included.
    pub fn thaw(&mut self) {
        self.signal_all(libc::SIGCONT);
    }

    fn signal_all(&mut self, sig: libc::c_int) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on our daemon, on the process groups of its sessions and on every
        // process below it (a session's worker may sit in a group of its own).
        unsafe { libc::kill(pid, sig) };
        for session in children_of(pid) {
            unsafe { libc::kill(-session, sig) };
        }
        for p in descendants_of(pid) {
            unsafe { libc::kill(p, sig) };
        }
    }

    /// Cuts every client connection at once (SIGKILL to each session's processes; the daemon
    /// goes on listening): what a NAT timeout, a firewall or a network change does to a client.
    pub fn cut_sessions(&mut self) {
        for session in children_of(self.child.id() as libc::pid_t) {
            // SAFETY: kill(2) on the process groups and processes of our daemon's sessions.
            unsafe { libc::kill(-session, libc::SIGKILL) };
            unsafe { libc::kill(session, libc::SIGKILL) };
        }
    }

    /// Client sessions the daemon serves right now (one process per control connection).
    pub fn sessions(&self) -> usize {
        children_of(self.child.id() as libc::pid_t)
            .into_iter()
            // An ended session the daemon has not reaped yet serves nobody.
            .filter(|p| proc_state(*p as u32) != Some('Z'))
            .count()
    }

    /// Waits for a greeting carrying our banner, watching for vsftpd exiting meanwhile. With
    /// implicit TLS the greeting comes inside TLS.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), StartError> {
        let banner = self.banner.clone();
        let banner = banner.as_str();
        let tls = self.tls;
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Err(Exited);
            }
            let greeting = if tls == Some(TlsListen::Implicit) {
                tls_greeting(self.port)
            } else {
                wait_for_greeting(self.port, Duration::from_millis(200))
            };
            let seen = match greeting {
                Ok(line) if line.contains(banner) => return Ok(()),
                Ok(line) => format!("a foreign greeting {line:?}"),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(TimedOut(seen));
            }
        }
    }

    /// Kills the daemon and every session. Each session calls setsid(), so it is neither in
    /// the daemon's process group nor killed with it (no parent-death signal either): it would
    /// keep serving its client. So: freeze the daemon (no new forks), kill the process group of
    /// each direct child (a session's privileged and unprivileged process), then the daemon.
    fn kill(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        if let Ok(None) = self.child.try_wait() {
            unsafe { libc::kill(pid, libc::SIGSTOP) };
            for session in children_of(pid) {
                unsafe { libc::kill(-session, libc::SIGKILL) };
                unsafe { libc::kill(session, libc::SIGKILL) };
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs vsftpd with `conf` and `env`, its output going to `out_path`.
fn spawn_daemon(conf: &Path, out_path: &Path, env: &[(String, PathBuf)]) -> Child {
    // vsftpd reports startup failures ("500 OOPS: could not bind listening IPv4 socket", config
    // errors) on fd 0, its control connection in inetd mode, and prints nothing on stdout/stderr.
    // So stdin is the (writable) output file too.
    let out = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(out_path)
        .expect("vsftpd output file");
    let dup = || out.try_clone().expect("dup the vsftpd output file");
    Command::new(VSFTPD)
        .arg(conf)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(dup())
        .stdout(dup())
        .stderr(dup())
        // Deliberately in the test's process group: a ^C on `cargo test` then stops the
        // daemon too instead of leaving it orphaned. (Sessions setsid(); see kill().)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {VSFTPD}: {e}"))
}

impl Drop for Vsftpd {
    fn drop(&mut self) {
        self.kill();
    }
}

enum StartError {
    Exited,
    TimedOut(String),
}
use StartError::{Exited, TimedOut};

/// The first line an implicit-TLS server sends, read through TLS without checking its certificate
/// (this only tells that our vsftpd is up; the tests check certificates through ftpfs).
fn tls_greeting(port: u16) -> Result<String, String> {
    use std::io::{BufRead, BufReader};
    let setup = TlsSetup::new(&TlsConfig {
        mode: TlsMode::Implicit,
        cafile: None,
        no_verify: true,
    })?
    .expect("a TLS mode");
    let tcp = std::net::TcpStream::connect_timeout(
        &(std::net::Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(500),
    )
    .map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(2)))
        .and_then(|()| tcp.set_write_timeout(Some(Duration::from_secs(2))))
        .map_err(|e| e.to_string())?;
    let (stream, _) = setup.control("127.0.0.1", tcp)?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    match line.trim_end() {
        l if l.starts_with("220") => Ok(l.to_string()),
        l => Err(format!("unexpected greeting {l:?}")),
    }
}

/// How a TLS vsftpd offers TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsListen {
    /// `AUTH TLS` on the plain port (ftpes://).
    Explicit,
    /// TLS from the first byte (ftps://, implicit_ssl=YES).
    Implicit,
}

/// The config: the settings the tests rely on, then `extra` overriding by name.
fn config_text(
    root: &Path,
    port: u16,
    pasv: (u16, u16),
    banner: &str,
    log: &Path,
    extra: &[(String, String)],
) -> String {
    let mut settings: Vec<(String, String)> = [
        // Standalone, in the foreground (so that we own the process), IPv4 loopback only.
        // listen_ipv6 must be NO: Debian builds accept only one of listen / listen_ipv6.
        ("listen", "YES"),
        ("listen_ipv6", "NO"),
        ("listen_address", "127.0.0.1"),
        ("listen_port", &port.to_string()),
        ("background", "NO"),
        // Local users only, with write access, chrooted into the test's root.
        ("anonymous_enable", "NO"),
        ("local_enable", "YES"),
        ("write_enable", "YES"),
        ("local_umask", "022"),
        ("chroot_local_user", "YES"),
        // vsftpd refuses a chroot it can write to ("500 OOPS: refusing to run with writable root
        // inside chroot()") unless told otherwise; the tests need a writable root.
        ("allow_writeable_chroot", "YES"),
        (
            "local_root",
            root.to_str().expect("vsftpd root must be UTF-8"),
        ),
        // pam_unix only: no /etc/ftpusers or /etc/shells checks (scripts/setup-test-user.sh).
        ("pam_service_name", "ftpfs-vsftpd"),
        ("userlist_enable", "NO"),
        // Passive mode on a private range. pasv_address stays unset: vsftpd then announces the
        // address the control connection arrived on, 127.0.0.1.
        ("pasv_enable", "YES"),
        ("pasv_min_port", &pasv.0.to_string()),
        ("pasv_max_port", &pasv.1.to_string()),
        ("connect_from_port_20", "NO"),
        // The seccomp filter of 3.0.3 kills sessions on syscalls of newer kernels and libcs.
        ("seccomp_sandbox", "NO"),
        ("secure_chroot_dir", SECURE_CHROOT_DIR),
        ("xferlog_enable", "NO"),
        // Only written with log_ftp_protocol or xferlog settings; tests read it via log_path().
        (
            "vsftpd_log_file",
            log.to_str().expect("temp paths are UTF-8"),
        ),
        // Parallel tests and ftpfs's connection pools open many sessions from 127.0.0.1.
        ("max_clients", "500"),
        ("max_per_ip", "500"),
        ("ftpd_banner", banner),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let index: HashMap<String, usize> = settings
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (k.clone(), i))
        .collect();
    for (k, v) in extra {
        match index.get(k) {
            Some(&i) => settings[i].1 = v.to_string(),
            None => settings.push((k.to_string(), v.to_string())),
        }
    }
    let mut text = String::new();
    for (k, v) in settings {
        text.push_str(&format!("{k}={v}\n"));
    }
    text
}

impl super::FtpServer for Vsftpd {
    fn port(&self) -> u16 {
        self.port
    }
    fn user(&self) -> &str {
        &self.user
    }
    fn password(&self) -> &str {
        &self.password
    }
}
