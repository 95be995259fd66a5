//! Test certificates for the FTPS tests, made with the openssl CLI (RSA keys, as vsftpd's
//! `rsa_cert_file` and Debian's default `ssl_ciphers=ECDHE-RSA-AES256-GCM-SHA384` expect): a
//! private CA and server certificates it signs for the names a test wants, and self-signed server
//! certificates. Everything lives in a temporary directory removed on drop. A missing openssl fails
//! the test: nothing is skipped. Also a server that accepts TCP and never completes a TLS handshake.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A private certificate authority.
pub struct TestCa {
    /// The CA certificate (PEM), what `-o cafile=` names.
    pub cert: PathBuf,
    key: PathBuf,
    dir: tempfile::TempDir,
}

/// A server certificate and its private key (PEM), for vsftpd's rsa_cert_file/rsa_private_key_file.
pub struct ServerCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    dir: tempfile::TempDir,
}

impl TestCa {
    pub fn new() -> TestCa {
        let dir = temp_dir();
        let (cert, key) = (dir.path().join("ca.pem"), dir.path().join("ca.key"));
        self_signed_pair(
            "/CN=ftpfs test CA",
            &[
                "basicConstraints=critical,CA:TRUE",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
            &key,
            &cert,
        );
        TestCa { cert, key, dir }
    }

    /// A server certificate signed by this CA, valid for `names` (subjectAltName entries such as
    /// `DNS:localhost` or `IP:127.0.0.1`).
    pub fn server_cert(&self, names: &[&str]) -> ServerCert {
        let dir = temp_dir();
        let (cert, key) = (dir.path().join("server.pem"), dir.path().join("server.key"));
        let csr = dir.path().join("server.csr");
        let san = format!("subjectAltName={}", names.join(","));
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=ftpfs test server",
            "-addext",
            &san,
            "-keyout",
            text(&key),
            "-out",
            text(&csr),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-days",
            "2",
            "-copy_extensions",
            "copyall",
            "-set_serial",
            &(super::unique_seed() >> 1).to_string(),
            "-in",
            text(&csr),
            "-CA",
            text(&self.cert),
            "-CAkey",
            text(&self.key),
            "-out",
            text(&cert),
        ]);
        ServerCert { cert, key, dir }
    }
}

impl ServerCert {
    /// A self-signed server certificate for `names`, which no CA vouches for.
    pub fn self_signed(names: &[&str]) -> ServerCert {
        let dir = temp_dir();
        let (cert, key) = (dir.path().join("self.pem"), dir.path().join("self.key"));
        let san = format!("subjectAltName={}", names.join(","));
        self_signed_pair(
            "/CN=ftpfs self-signed",
            &["basicConstraints=critical,CA:FALSE", &san],
            &key,
            &cert,
        );
        ServerCert { cert, key, dir }
    }
}

/// A new RSA key and a self-signed certificate for it, valid for two days, with `extensions`.
fn self_signed_pair(subject: &str, extensions: &[&str], key: &Path, cert: &Path) {
    let mut args = vec![
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", subject,
    ];
    for ext in extensions {
        args.extend(["-addext", ext]);
    }
    args.extend(["-keyout", text(key), "-out", text(cert)]);
    openssl(&args);
}

/// A listener that accepts TCP connections, optionally plays the plain FTP part of an explicit
/// FTPS login (greeting, 234 to AUTH TLS), and then never says another word.
pub fn silent_tls_server(explicit: bool) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().take(4) {
            let Ok(mut conn) = conn else { continue };
            if explicit {
                let _ = conn.write_all(b"220 silent test server\r\n");
                let mut line = [0u8; 64];
                let _ = conn.read(&mut line);
                let _ = conn.write_all(b"234 Proceed with negotiation.\r\n");
            }
            held.push(conn);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    port
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ftpfs-pki-")
        .tempdir()
        .expect("temp dir for test certificates")
}

fn text(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Runs `openssl ARGS` and panics with its output unless it succeeded.
fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run openssl ({e}): run scripts/test.sh (apt-get install openssl)")
        });
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
