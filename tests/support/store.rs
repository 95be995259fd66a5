//! `FtpStore`s for the tests of the FTP layer: one builder of the `RemoteConfig` with the knobs the
//! tests vary (server, login, URL path, pool size, timeout, data connections, TLS), and the
//! download and upload that they check against the server's disk.

use std::time::Duration;

use ftpfs::config::{DataMode, RemoteConfig, Secret, TlsConfig};
use ftpfs::remote::ftp::FtpStore;
use ftpfs::remote::{RemoteError, RemoteStore};

use super::FtpServer;

/// A `RemoteConfig` in the making; `build` makes the store (which connects only when first used).
pub struct FtpStoreBuilder(RemoteConfig);

impl FtpStoreBuilder {
    /// 127.0.0.1:`port`, anonymous, a 5 s timeout; the rest as `RemoteConfig::default()`.
    pub fn new(port: u16) -> FtpStoreBuilder {
        FtpStoreBuilder(RemoteConfig {
            host: "127.0.0.1".into(),
            port,
            timeout: Duration::from_secs(5),
            ..RemoteConfig::default()
        })
    }

    /// A test server's port and login.
    pub fn for_server<S: FtpServer + ?Sized>(server: &S) -> FtpStoreBuilder {
        FtpStoreBuilder::new(server.port()).login(server.user(), server.password())
    }

    /// The name to connect to (and, over TLS, to find in the certificate).
    pub fn host(mut self, host: &str) -> FtpStoreBuilder {
        self.0.host = host.into();
        self
    }

    pub fn login(mut self, user: &str, password: &str) -> FtpStoreBuilder {
        self.0.user = user.into();
        self.0.password = Secret::new(password);
        self
    }

    /// The URL's path, as `RemoteConfig::path` takes it (relative to the login directory unless
    /// it starts with `/`).
    pub fn path(mut self, path: &str) -> FtpStoreBuilder {
        self.0.path = path.into();
        self
    }

    pub fn max_conns(mut self, max_conns: usize) -> FtpStoreBuilder {
        self.0.max_conns = max_conns;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> FtpStoreBuilder {
        self.0.timeout = timeout;
        self
    }

    pub fn data_mode(mut self, data_mode: DataMode) -> FtpStoreBuilder {
        self.0.data_mode = data_mode;
        self
    }

    pub fn tls(mut self, tls: TlsConfig) -> FtpStoreBuilder {
        self.0.tls = tls;
        self
    }

    /// How names are coded on the wire (`-o encoding=`).
    pub fn names(mut self, names: ftpfs::names::Names) -> FtpStoreBuilder {
        self.0.names = names;
        self
    }

    pub fn build(self) -> FtpStore {
        FtpStore::new(&self.0)
    }
}

/// The whole file from `offset` on, in one transfer.
pub fn download(store: &FtpStore, path: &str, offset: u64) -> Vec<u8> {
    let mut reader = store.open_read(path, offset).unwrap();
    let mut out = Vec::new();
    reader.read_to_end(&mut out).unwrap();
    reader.finish();
    out
}

/// Stores `data` at `path` in writes of 100,000 bytes (`append`: APPE instead of STOR).
pub fn upload(store: &FtpStore, path: &str, data: &[u8], append: bool) -> Result<(), RemoteError> {
    let mut writer = store.open_write(path, append)?;
    for chunk in data.chunks(100_000) {
        writer.write(chunk).unwrap();
    }
    writer.finish().map(|_| ())
}
