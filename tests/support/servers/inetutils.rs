//! GNU inetutils ftpd (Debian's `inetutils-ftpd`), a classic BSD-derived FTP server, as a test
//! server. It is an inetd service: its standalone mode (`-D`) only listens on port 21 and goes to
//! the background. So the test plays inetd: it binds a free port on 127.0.0.1 itself and starts
//! one `ftpd` per connection with the connection as its stdin and stdout, as inetd would. ftpd
//! logs in the local test user with its password from /etc/shadow (`-a default`, no PAM), does
//! not chroot it, and starts the session in the user's home directory; the served directory is
//! reached through its absolute path (`served_path`). Passive data ports are whatever free port
//! the kernel gives ftpd (it has no range setting).

use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::super::local_user::{ensure_test_user, give_to_user, user_ids};
use super::super::wait_for_greeting;
use super::daemon::{debian_file, kill_tree};
use super::TEST_USER;

/// The test's inetd for GNU ftpd on 127.0.0.1; stops listening and kills every session when
/// dropped.
pub struct InetutilsFtpd {
    pub port: u16,
    pub root: PathBuf,
    stop: Arc<AtomicBool>,
    sessions: Arc<Mutex<Vec<Child>>>,
    thread: Option<JoinHandle<()>>,
    /// What the sessions printed on stderr.
    log: tempfile::NamedTempFile,
}

impl InetutilsFtpd {
    /// Serves the file system, `root` (handed to the test user) among it; returns once the first
    /// session greets.
    pub fn start(root: &Path) -> InetutilsFtpd {
        let binary = debian_file("inetutils-ftpd", "/usr/sbin/ftpd");
        ensure_test_user();
        let (uid, gid) = user_ids(TEST_USER);
        let root = root.canonicalize().expect("the served directory exists");
        give_to_user(&root, uid, gid);
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0 for ftpd");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = listener.local_addr().unwrap().port();
        let log = tempfile::NamedTempFile::new().expect("a log file for ftpd");
        let stop = Arc::new(AtomicBool::new(false));
        let sessions = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, sessions) = (Arc::clone(&stop), Arc::clone(&sessions));
            let log = log.path().to_path_buf();
            std::thread::spawn(move || serve(listener, &binary, &log, &stop, &sessions))
        };
        let server = InetutilsFtpd {
            port,
            root,
            stop,
            sessions,
            thread: Some(thread),
            log,
        };
        if let Err(e) = wait_for_greeting(port, Duration::from_secs(10)) {
            panic!("GNU ftpd did not greet: {e}; its stderr:\n{}", server.log());
        }
        server
    }

    /// The URL path of the served directory: absolute (`%2F`), since sessions start in the
    /// test user's home.
    pub fn served_path(&self) -> String {
        let abs = self.root.to_str().expect("temp paths are UTF-8");
        format!("/%2F{}", abs.trim_start_matches('/'))
    }

    /// What the sessions printed on stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

/// Accepts connections until `stop`, each served by a new `ftpd` process.
fn serve(
    listener: TcpListener,
    binary: &Path,
    log: &Path,
    stop: &AtomicBool,
    sessions: &Mutex<Vec<Child>>,
) {
    while !stop.load(Ordering::Acquire) {
        let conn = match listener.accept() {
            Ok((conn, _)) => conn,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Err(e) => panic!("accept for GNU ftpd: {e}"),
        };
        // The accepted socket is blocking (accept4 does not inherit O_NONBLOCK), as ftpd expects.
        let fd = OwnedFd::from(conn);
        let err = std::fs::OpenOptions::new()
            .append(true)
            .open(log)
            .expect("open ftpd's log");
        let child = Command::new(binary)
            // Passwords from /etc/shadow; uploads 0644 (its default umask is 027).
            .args(["-a", "default", "-u", "022"])
            .stdin(Stdio::from(fd.try_clone().expect("dup the connection")))
            .stdout(Stdio::from(fd))
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        sessions.lock().unwrap().push(child);
    }
}

impl Drop for InetutilsFtpd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for child in self.sessions.lock().unwrap().iter_mut() {
            kill_tree(child);
        }
    }
}

logs_in_the_test_user!(InetutilsFtpd, |s| s.port);
