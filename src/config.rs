//! Plain configuration structs with defaults and a doc comment on every field. The CLI fills them in
//! (`cli.rs`); the core and the FTP store read them and never see clap.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::names::Names;

/// A password that never prints itself (Debug and Display show `***`), so it cannot leak into logs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The password itself, for the one place that sends it (`PASS`).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Whether and how the FTP connections are protected with TLS (FTPS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Plain FTP (`ftp://`): nothing is encrypted, the password included.
    #[default]
    None,
    /// Explicit FTPS (`ftpes://`, `-o tls=explicit`): `AUTH TLS` right after the greeting, on the
    /// ordinary FTP port.
    Explicit,
    /// Implicit FTPS (`ftps://`): TLS from the first byte, by convention on port 990.
    Implicit,
}

impl TlsMode {
    /// The URL scheme that names this mode.
    pub fn scheme(self) -> &'static str {
        match self {
            TlsMode::None => "ftp",
            TlsMode::Explicit => "ftpes",
            TlsMode::Implicit => "ftps",
        }
    }

    /// The control port when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::Implicit => 990,
            TlsMode::None | TlsMode::Explicit => 21,
        }
    }
}

/// FTPS settings. With a mode other than `None`, control and data connections are protected
/// (`PROT P`) and the server's certificate chain and name are verified unless `no_verify`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// Plain, explicit or implicit TLS.
    pub mode: TlsMode,
    /// PEM file of the CA certificate(s) to trust instead of the system's store (`-o cafile=`), for
    /// servers whose certificate comes from a private CA.
    pub cafile: Option<PathBuf>,
    /// Accept any certificate (`-o no_verify`): the link is encrypted, but the server's identity is
    /// not checked, so a machine in the middle can read everything, the password included.
    pub no_verify: bool,
}

/// How data connections are opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DataMode {
    /// The client connects to the server: `EPSV`, or `PASV` where the server lacks or refuses
    /// `EPSV` (learned once per mount).
    #[default]
    Passive,
    /// The server connects back (`PORT`/`EPRT`) to a port the client listens on, on the address
    /// the control connection has locally, or on `bind` (`-o active`, `-o active_addr=IP`); the
    /// port is one the kernel picks, or one of `ports` (`-o active_addr=IP:LOW-HIGH`).
    Active {
        bind: Option<std::net::IpAddr>,
        ports: Option<(u16, u16)>,
    },
}

/// The kind of proxy every connection to the server goes through (`-o proxy=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// SOCKS version 5 (RFC 1928), with user name and password authentication (RFC 1929) when
    /// credentials are given: `socks5://` (or `socks5h://`: the proxy resolves the server's name
    /// either way).
    Socks5,
    /// An HTTP proxy's `CONNECT` tunnel, with Basic authentication when credentials are given:
    /// `http://`.
    HttpConnect,
}

impl ProxyKind {
    /// The URL scheme that names this kind.
    pub fn scheme(self) -> &'static str {
        match self {
            ProxyKind::Socks5 => "socks5",
            ProxyKind::HttpConnect => "http",
        }
    }
}

/// A proxy that the control connection and every (passive) data connection go through: ftpfs
/// connects to the proxy and asks it for a tunnel to the server's host name (as the URL gives it)
/// and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    pub kind: ProxyKind,
    /// The proxy's host name or address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// The user name for the proxy, from the proxy URL or the credentials file's `proxy_username=`.
    pub user: Option<String>,
    /// Its password, from the proxy URL or the credentials file's `proxy_password=`; never shown.
    pub password: Option<Secret>,
}

impl ProxyConfig {
    /// The proxy as messages and logs show it: `socks5://user@host:port`, never the password.
    pub fn display(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let user = match &self.user {
            Some(u) => format!("{u}@"),
            None => String::new(),
        };
        format!("{}://{user}{host}:{}", self.kind.scheme(), self.port)
    }
}

/// Where and how to reach the server.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// Host name or address as given in the URL.
    pub host: String,
    /// Control port (21, or 990 for implicit TLS, unless the URL names one).
    pub port: u16,
    /// Login name (`anonymous` when none was given).
    pub user: String,
    /// Password, from the URL, a credentials file, `FTPFS_PASSWORD`, `~/.netrc` or the terminal.
    pub password: Secret,
    /// The URL's path, percent-decoded, without the `/` that ends the host part and without
    /// trailing `/`s: the directory that becomes the mount's root. Relative to the directory the
    /// server puts the user in at login (`pub/dir`; empty: that directory itself), or absolute
    /// when it starts with `/` (`%2F` or `//` at the start of the URL path: `/srv/ftp`; `/`: the
    /// server's root). The store resolves it after its first login (`PWD`).
    pub path: String,
    /// Pool size: at most this many control connections at once.
    pub max_conns: usize,
    /// Bound on every network wait (connect, TLS handshake, each read or write on a socket, waiting
    /// for the pool, one command's complete reply, a whole login).
    pub timeout: Duration,
    /// FTPS: TLS mode and how the server's certificate is checked.
    pub tls: TlsConfig,
    /// Send NOOP on pooled connections idle this long, so servers and firewalls that close idle
    /// sessions keep them (`keepalive=SECS`; off by default).
    pub keepalive: Option<Duration>,
    /// Passive (default) or active data connections.
    pub data_mode: DataMode,
    /// How names are coded on the wire: bytes passed through (default), or `-o encoding=`.
    pub names: Names,
    /// The proxy that every connection to the server goes through (`-o proxy=`); `None`: direct.
    pub proxy: Option<ProxyConfig>,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        RemoteConfig {
            host: "127.0.0.1".into(),
            port: 21,
            user: "anonymous".into(),
            password: Secret::new("anonymous@"),
            path: String::new(),
            max_conns: 8,
            timeout: Duration::from_secs(10),
            tls: TlsConfig::default(),
            keepalive: None,
            data_mode: DataMode::Passive,
            names: Names::BYTES,
            proxy: None,
        }
    }
}

impl RemoteConfig {
    /// The URL without password, as shown in `/proc/mounts` and in messages. The scheme names the
    /// TLS mode in force (`ftpes://` also for `ftp://` with `-o tls=explicit`).
    pub fn display_url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        // An absolute path is written with `%2F`, as the URL that names it.
        let path = match self.path.strip_prefix('/') {
            Some(abs) => format!("/%2F{}", url_text(abs)),
            None => format!("/{}", url_text(&self.path)),
        };
        let scheme = self.tls.mode.scheme();
        format!("{scheme}://{}@{}:{}{}", self.user, host, self.port, path)
    }
}

/// A path in the inner form of `crate::names` as URL text: itself when its bytes are UTF-8, else
/// with the bytes above ASCII percent-encoded, as they were given.
fn url_text(path: &str) -> String {
    let bytes = crate::names::unescape_path(path);
    match std::str::from_utf8(&bytes) {
        Ok(text) => text.to_string(),
        Err(_) => bytes
            .iter()
            .map(|&b| {
                if b.is_ascii() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect(),
    }
}

/// Caching and presentation choices of the filesystem core.
#[derive(Debug, Clone)]
pub struct FsConfig {
    /// How long a directory listing is trusted before it is fetched again.
    pub dir_cache_ttl: Duration,
    /// How long the kernel may keep attributes and names without asking again.
    pub attr_timeout: Duration,
    /// Bound of the block cache, in bytes.
    pub cache_size: u64,
    /// Owner shown for every file (the mounting user by default; `uid=`).
    pub uid: u32,
    /// Group shown for every file (the mounting user's group by default; `gid=`).
    pub gid: u32,
    /// Mode bits taken away from the mode shown for files and directories that `file_mode`/`dir_mode`
    /// do not fix: the server's mode, or 0644/0755 when the listing has none (`umask=`, octal).
    pub umask: u16,
    /// The mode every regular file shows, whatever the server says (`file_mode=`); beats `umask`.
    pub file_mode: Option<u16>,
    /// The mode every directory shows, the mount's root included (`dir_mode=`); beats `umask`.
    pub dir_mode: Option<u16>,
    /// Bound on waiting for data from a read stream.
    pub timeout: Duration,
    /// Threads fetching small files ahead of a reader walking a directory (0: none). Each uses a pool
    /// connection while it works, so this stays below the pool size.
    pub prefetch_workers: usize,
    /// Refuse every change with EROFS (`-o ro`).
    pub read_only: bool,
    /// Where spool files live (data being changed at random offsets, and data that could not be
    /// uploaded, which is kept there at unmount).
    pub cache_dir: PathBuf,
    /// Upload to a hidden temporary name and rename over the target once the server confirmed the
    /// whole file (`atomic_upload=no`: straight to the target, for servers that forbid renames).
    pub atomic_upload: bool,
    /// How names are coded for the kernel (the same as `RemoteConfig::names`).
    pub names: Names,
    /// The most the local copies of uploads in flight hold together, in bytes (`spool_max=`).
    pub spool_max: u64,
    /// No copy grows while the cache disk has less than this free, in bytes (`spool_min_free=`).
    pub spool_min_free: u64,
    /// How long an upload whose link broke keeps trying to resume (`upload_retry=`).
    pub upload_retry: Duration,
    /// A writer's close returns once the data is safe locally; uploads run in the background
    /// (`-o writeback`).
    pub writeback: bool,
    /// Where pending uploads are recorded for the next mount after a crash (`fs::journal`); `None`:
    /// nowhere (the core over a store in tests).
    pub journal_dir: Option<PathBuf>,
}

/// The default spool directory: `$XDG_CACHE_HOME/ftpfs`, else `~/.cache/ftpfs`, else a folder in
/// `/var/tmp` (which survives reboots, unlike `/tmp`, because unsaved data may be kept there).
pub fn default_cache_dir() -> PathBuf {
    let from_env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(x) = from_env("XDG_CACHE_HOME") {
        return x.join("ftpfs");
    }
    if let Some(h) = from_env("HOME") {
        return h.join(".cache").join("ftpfs");
    }
    PathBuf::from("/var/tmp/ftpfs")
}

impl Default for FsConfig {
    fn default() -> Self {
        FsConfig {
            dir_cache_ttl: Duration::from_secs(30),
            attr_timeout: Duration::from_secs(5),
            cache_size: 128 << 20,
            uid: 0,
            gid: 0,
            umask: 0,
            file_mode: None,
            dir_mode: None,
            timeout: Duration::from_secs(10),
            prefetch_workers: 3,
            read_only: false,
            cache_dir: default_cache_dir(),
            atomic_upload: true,
            names: Names::BYTES,
            spool_max: 4 << 30,
            spool_min_free: 1 << 30,
            upload_retry: Duration::from_secs(60),
            writeback: false,
            journal_dir: None,
        }
    }
}

/// How to mount.
#[derive(Debug, Clone, Default)]
pub struct MountConfig {
    /// Where to mount.
    pub mountpoint: PathBuf,
    /// Stay in the foreground instead of returning once the mount is ready.
    pub foreground: bool,
    /// Let other users access the mount (needs `user_allow_other` for non-root mounts).
    pub allow_other: bool,
    /// Let the kernel check every access against the modes and owners shown (`default_permissions`);
    /// on by default with `allow_other`, off otherwise.
    pub default_permissions: bool,
    /// Refuse to execute programs from the mount (`noexec`, which mount(8) adds for `user` mounts).
    pub noexec: bool,
    /// The name shown as the mount's source in `/proc/mounts` and `df` (`fsname=`); the URL
    /// without its password when empty.
    pub fsname: String,
    /// A /dev/fuse descriptor that is mounted already (the mountpoint was `/dev/fd/N`, as
    /// `mount.fuse3 -o drop_privileges` passes it): ftpfs serves it and mounts nothing itself.
    pub fuse_fd: Option<i32>,
}

/// Everything a run of ftpfs needs.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub remote: RemoteConfig,
    pub fs: FsConfig,
    pub mount: MountConfig,
    /// Debug logging requested (`-d`/`-v`).
    pub debug: bool,
    /// Print the server's profile instead of mounting (`--probe`).
    pub probe: bool,
    /// List the uploads a crashed mount left pending instead of mounting (`--pending`).
    pub pending: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints_itself() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "***");
        let rc = RemoteConfig {
            password: s,
            ..Default::default()
        };
        assert!(!format!("{rc:?}").contains("hunter2"));
        assert!(!rc.display_url().contains("hunter2"));
        let proxy = ProxyConfig {
            kind: ProxyKind::Socks5,
            host: "::1".into(),
            port: 1080,
            user: Some("bob".into()),
            password: Some(Secret::new("hunter2")),
        };
        assert_eq!(proxy.display(), "socks5://bob@[::1]:1080");
        assert!(!format!("{proxy:?}").contains("hunter2"));
    }

    #[test]
    fn display_url_shows_user_host_port_path() {
        let rc = RemoteConfig {
            host: "::1".into(),
            port: 2121,
            user: "bob".into(),
            path: "pub".into(),
            ..Default::default()
        };
        assert_eq!(rc.display_url(), "ftp://bob@[::1]:2121/pub");
        let abs = RemoteConfig {
            path: "/srv/ftp".into(),
            ..Default::default()
        };
        assert_eq!(abs.display_url(), "ftp://anonymous@127.0.0.1:21/%2Fsrv/ftp");
        let server_root = RemoteConfig {
            path: "/".into(),
            ..Default::default()
        };
        assert_eq!(
            server_root.display_url(),
            "ftp://anonymous@127.0.0.1:21/%2F"
        );
    }

    #[test]
    fn display_url_names_the_tls_mode() {
        let mut rc = RemoteConfig {
            password: Secret::new("hunter2"),
            ..Default::default()
        };
        rc.tls.mode = TlsMode::Explicit;
        assert_eq!(rc.display_url(), "ftpes://anonymous@127.0.0.1:21/");
        rc.tls.mode = TlsMode::Implicit;
        rc.port = 990;
        assert_eq!(rc.display_url(), "ftps://anonymous@127.0.0.1:990/");
    }
}
