//! The in-process FTP server: libunftp serving a local directory through unftp-sbe-fs, with one
//! user and password. Used by the tests (`Unftp::start`, user `alice`, password `secret`) and by the
//! demo server `examples/ftpserver.rs` (`Unftp::start_with`), so there is one implementation.
//!
//! Each server owns a std::thread with its own tokio runtime: the tests are synchronous, and a
//! server must not depend on (or block) a runtime of the code under test. The control socket is
//! bound here, before the thread starts, and kept: `Server::listen` takes an address string and
//! binds by itself, which would leave a gap between "find a free port" and "bind it" in which a
//! parallel test could take the port. Instead the thread accepts connections itself and hands
//! each one to `Server::service`, the same control loop that `listen` runs per connection.
//!
//! Stopping: dropping `Unftp` sets a flag that ends the accept loop, then shuts the runtime
//! down, which drops every session task and so closes every client socket at once. libunftp's
//! `shutdown_indicator` only applies to `listen`, and its graceful mode waits for connected
//! clients (e.g. a still-mounted ftpfs pool) until a grace period expires; tests want a prompt
//! stop.
#![allow(dead_code)]

use std::fmt;
use std::net::{Ipv4Addr, TcpListener};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use unftp_core::auth::{AuthenticationError, Authenticator, Credentials, DefaultUser, Principal};

use super::{passive_range, wait_for_greeting};

/// A running libunftp server on 127.0.0.1; stopped when dropped.
pub struct Unftp {
    pub port: u16,
    pub root: PathBuf,
    pub user: String,
    pub password: String,
    /// The passive (data) port range, inclusive.
    pub pasv_ports: (u16, u16),
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Unftp {
    /// Serves `root` as user `alice`, password `secret`, on a free port.
    pub fn start(root: &Path) -> Unftp {
        Unftp::start_with(root, 0, "alice", "secret")
    }

    /// Serves `root` on 127.0.0.1:`port` (0: a free port) for one user. Returns once the server
    /// has sent a `220` greeting to a probe connection; panics if it does not within 10 s.
    pub fn start_with(root: &Path, port: u16, user: &str, password: &str) -> Unftp {
        Unftp::try_start_with(root, port, user, password)
            .unwrap_or_else(|e| panic!("libunftp test server: {e}"))
    }

    /// `start_with`, returning the failure instead (for examples/ftpserver.rs's message).
    pub fn try_start_with(
        root: &Path,
        port: u16,
        user: &str,
        password: &str,
    ) -> Result<Unftp, String> {
        // unftp-sbe-fs opens the root per session; check it once here so that a bad root fails
        // the caller with a message instead of panicking in a server thread later.
        unftp_sbe_fs::Filesystem::new(root)
            .map_err(|e| format!("cannot serve {}: {e}", root.display()))?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .map_err(|e| format!("cannot bind 127.0.0.1:{port}: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("set_nonblocking: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let pasv_ports = passive_range();
        let stop = Arc::new(AtomicBool::new(false));

        let auth = Arc::new(OneUser {
            user: user.to_string(),
            password: password.to_string(),
        });
        let thread = {
            let root = root.to_path_buf();
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name(format!("unftp-{port}"))
                .spawn(move || serve(listener, root, auth, pasv_ports.0..=pasv_ports.1, stop))
                .map_err(|e| format!("cannot spawn the server thread: {e}"))?
        };
        let server = Unftp {
            port,
            root: root.to_path_buf(),
            user: user.to_string(),
            password: password.to_string(),
            pasv_ports,
            stop,
            thread: Some(thread),
        };
        // On error `server` is dropped, which stops the thread.
        wait_for_greeting(port, Duration::from_secs(10))
            .map_err(|e| format!("the server did not start: {e}"))?;
        Ok(server)
    }
}

impl Drop for Unftp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            // A panicked server thread must not turn this drop (maybe during a test's unwinding)
            // into a double panic; the test has already failed or will fail on its own checks.
            let _ = t.join();
        }
    }
}

/// Accepts one user with one password (libunftp only ships an accept-everyone authenticator).
struct OneUser {
    user: String,
    password: String,
}

// libunftp requires Debug; keep the password out of any log line.
impl fmt::Debug for OneUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneUser")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Authenticator for OneUser {
    async fn authenticate(
        &self,
        username: &str,
        creds: &Credentials,
    ) -> Result<Principal, AuthenticationError> {
        if username != self.user {
            Err(AuthenticationError::BadUser)
        } else if creds.password.as_deref() != Some(self.password.as_str()) {
            Err(AuthenticationError::BadPassword)
        } else {
            Ok(Principal {
                username: username.to_string(),
            })
        }
    }
}

/// The server thread: accept loop on the pre-bound listener until `stop` is set.
fn serve(
    listener: TcpListener,
    root: PathBuf,
    auth: Arc<OneUser>,
    passive: RangeInclusive<u16>,
    stop: Arc<AtomicBool>,
) {
    // Two workers: the machines running the tests are small, and many servers may run at once.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("unftp-worker")
        .enable_all()
        .build()
        .expect("build the libunftp server's tokio runtime");
    rt.block_on(async move {
        let listener =
            tokio::net::TcpListener::from_std(listener).expect("register the control listener");
        // Polling a flag keeps `Drop` synchronous and needs no extra tokio feature.
        let stopped = async {
            while !stop.load(Ordering::Acquire) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _peer)) => {
                        let server = build_server(&root, &auth, &passive);
                        tokio::spawn(async move {
                            let _ = server.service(stream).await;
                        });
                    }
                    // EMFILE and friends: back off instead of spinning; the client retries.
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                },
            }
        }
        // The listener is dropped here: new connections are refused from now on.
    });
    // Drops all session tasks (closing their sockets); waits briefly for blocking file I/O.
    rt.shutdown_timeout(Duration::from_secs(2));
}

/// One libunftp `Server` per control connection (what `Server::service` consumes). Building one
/// is cheap: options only, no sockets or tasks.
fn build_server(
    root: &Path,
    auth: &Arc<OneUser>,
    passive: &RangeInclusive<u16>,
) -> libunftp::Server<unftp_sbe_fs::Filesystem, DefaultUser> {
    let root = root.to_path_buf();
    libunftp::ServerBuilder::with_authenticator(
        Box::new(move || {
            unftp_sbe_fs::Filesystem::new(root.clone())
                .unwrap_or_else(|e| panic!("libunftp: cannot open {}: {e}", root.display()))
        }),
        Arc::clone(auth) as Arc<dyn Authenticator + Send + Sync>,
    )
    .passive_ports(passive.clone())
    .build()
    .expect("build the libunftp server")
}

impl super::FtpServer for Unftp {
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
