//! FTPS over rustls: what a mount trusts (the system's CA store, a private CA file, or with
//! `no_verify` nothing), the TLS streams of its control and data connections, and the one-line
//! text of TLS failures. Each control connection gets a configuration with a session store of its
//! own, shared with its data connections only, so that a data connection resumes the TLS session
//! of *its* control connection, as servers require. It sends no FTP command: `connect` does
//! (`AUTH TLS`, `PBSZ`, `PROT`), and `data` wraps data connections.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::sync::Arc;

use log::warn;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::{ring, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    StreamOwned,
};

use crate::config::{TlsConfig, TlsMode};

/// Sessions one control connection remembers for its data connections: its TLS 1.2 session, or up
/// to 8 TLS 1.3 tickets (rustls keeps at most 8 per server name).
const SESSIONS_PER_CONNECTION: usize = 8;

/// The TLS side of a mount: its mode and the client configuration every connection derives from.
pub struct TlsSetup {
    mode: TlsMode,
    config: ClientConfig,
}

impl TlsSetup {
    /// The TLS setup for `cfg`, or `None` for plain FTP. Fails with a one-line reason when the CA
    /// file cannot be read or the system's store has no usable certificate.
    pub fn new(cfg: &TlsConfig) -> Result<Option<TlsSetup>, String> {
        if cfg.mode == TlsMode::None {
            return Ok(None);
        }
        let provider = Arc::new(ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?;
        let config = if cfg.no_verify {
            warn!(
                "no_verify: the server's certificate is not checked; the connection is encrypted, \
                 but anyone between here and the server can pose as it and read everything, the \
                 password included"
            );
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(
                    provider.signature_verification_algorithms,
                )))
                .with_no_client_auth()
        } else {
            builder
                .with_root_certificates(trusted_roots(cfg.cafile.as_deref())?)
                .with_no_client_auth()
        };
        Ok(Some(TlsSetup {
            mode: cfg.mode,
            config,
        }))
    }

    /// Explicit or implicit.
    pub fn mode(&self) -> TlsMode {
        self.mode
    }

    /// TLS for one control connection to `host` over `tcp`, and the side its data connections
    /// use: a configuration with a session store of its own, so that a data connection resumes
    /// the TLS session of its own control connection and no other. vsftpd
    /// (`require_ssl_reuse=YES`, its default) refuses a data connection that resumes no session
    /// ("522 SSL connection failed: session reuse required"); ProFTPD's mod_tls checks the data
    /// connection against its own control connection's session. The roots and verifier are
    /// shared (`Arc`s inside the cloned configuration); only the store is per connection. The
    /// handshake runs at the first read or write, under the socket's timeouts.
    pub fn control(&self, host: &str, tcp: TcpStream) -> Result<(TlsStream, DataTls), String> {
        let mut config = self.config.clone();
        config.resumption = Resumption::in_memory_sessions(SESSIONS_PER_CONNECTION);
        let data = DataTls {
            config: Arc::new(config),
            name: ServerName::try_from(host.to_string())
                .map_err(|_| format!("{host:?} is not a valid host name"))?,
        };
        let stream = data.wrap(tcp)?;
        Ok((stream, data))
    }
}

/// What a control connection's data connections need for TLS: its configuration (with its
/// session store) and the server's name.
#[derive(Clone)]
pub struct DataTls {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl std::fmt::Debug for DataTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataTls")
    }
}

impl DataTls {
    /// TLS over `tcp`, resuming the control connection's session; the handshake runs at the
    /// first read or write.
    pub fn wrap(&self, tcp: TcpStream) -> Result<TlsStream, String> {
        let conn = ClientConnection::new(Arc::clone(&self.config), self.name.clone())
            .map_err(|e| describe(&e))?;
        Ok(TlsStream {
            inner: StreamOwned::new(conn, tcp),
        })
    }
}

/// A TLS stream over TCP. Its drop sends close_notify only after a completed handshake and never
/// waits for the peer: after a failed or unfinished handshake rustls would go on reading from the
/// server, one more socket timeout spent on a connection already given up.
pub struct TlsStream {
    inner: StreamOwned<ClientConnection, TcpStream>,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsStream")
    }
}

impl TlsStream {
    /// Runs the handshake now (it would otherwise run at the first read or write).
    pub fn handshake(&mut self) -> std::io::Result<()> {
        let s = &mut self.inner;
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock)?;
        }
        Ok(())
    }

    /// The TCP socket under the stream.
    pub fn socket(&self) -> &TcpStream {
        &self.inner.sock
    }

    /// Ends the TLS side of an upload's data connection so that the session tickets the server
    /// sent on it are kept. Call it once all data is written, before reading the transfer's
    /// closing reply.
    ///
    /// Why: under TLS 1.3 a data connection resumes the control connection's session with a
    /// ticket, and rustls uses each ticket once (as RFC 8446 asks). The control handshake brings
    /// two tickets (OpenSSL's default); each resumed data connection brings one more, which rustls
    /// stores when it reads from that connection. A download or a listing reads, so the supply
    /// stays level; an upload never reads, and its ticket would be lost: after two uploads a
    /// connection had none left, did a full handshake, and vsftpd refused the data connection
    /// ("522 SSL connection failed: session reuse required"). So here: send our close_notify,
    /// half-close, and read through TLS until the server's close_notify, which its tickets
    /// precede. Bounded by the data socket's timeouts.
    pub fn close_upload(&mut self) {
        let s = &mut self.inner;
        // An empty upload wrote nothing, so its handshake has not even started; the server waits
        // for one and would fail the transfer without it.
        while s.conn.is_handshaking() {
            if s.conn.complete_io(&mut s.sock).is_err() {
                return;
            }
        }
        s.conn.send_close_notify();
        while s.conn.wants_write() {
            if s.conn.write_tls(&mut s.sock).is_err() {
                return;
            }
        }
        if s.sock.shutdown(Shutdown::Write).is_err() {
            return;
        }
        let mut buf = [0u8; 4096];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Drop for TlsStream {
    fn drop(&mut self) {
        let s = &mut self.inner;
        if !s.conn.is_handshaking() {
            s.conn.send_close_notify();
            while s.conn.wants_write() {
                if s.conn.write_tls(&mut s.sock).is_err() {
                    break;
                }
            }
        }
    }
}

/// The CA certificates to trust: those of `cafile`, or else the system's store.
fn trusted_roots(cafile: Option<&Path>) -> Result<RootCertStore, String> {
    match cafile {
        Some(path) => ca_file_roots(path),
        None => {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            let (added, _unusable) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default();
                return Err(format!(
                    "no CA certificate found in the system's store{why}: install ca-certificates \
                     or name a CA file with -o cafile=PATH"
                ));
            }
            Ok(roots)
        }
    }
}

/// The CA certificates of a PEM file as trust anchors; an error names the file and says what is
/// wrong with it (the CLI calls this to check `-o cafile=` before mounting).
pub fn ca_file_roots(path: &Path) -> Result<RootCertStore, String> {
    let bad = |why: String| format!("cafile {}: {why}", path.display());
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(pem_error_text(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(pem_error_text(e)))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    let mut roots = RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            bad(format!(
                "certificate {} is not a usable X.509 certificate ({e})",
                i + 1
            ))
        })?;
    }
    Ok(roots)
}

fn pem_error_text(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => {
            let text = io.to_string();
            // "No such file or directory (os error 2)": the number adds nothing.
            match text.find(" (os error") {
                Some(cut) => text[..cut].to_string(),
                None => text,
            }
        }
        other => format!("not a PEM certificate file ({other})"),
    }
}

/// The one-line text of a TLS failure carried in an I/O error (rustls reports handshake and record
/// errors that way), or `None` when the error is not about TLS.
pub fn tls_failure(e: &std::io::Error) -> Option<String> {
    let err = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(describe(err))
}

fn describe(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(c) => certificate_problem(c),
        rustls::Error::AlertReceived(alert) => {
            format!("the server aborted the TLS handshake ({alert:?} alert)")
        }
        rustls::Error::PeerIncompatible(why) => {
            format!("no TLS version or cipher suite in common with the server ({why:?})")
        }
        rustls::Error::InvalidMessage(_) => {
            "the server does not speak TLS here (for explicit FTPS use ftpes://, for plain FTP \
             ftp://)"
                .into()
        }
        other => other.to_string(),
    }
}

fn certificate_problem(e: &CertificateError) -> String {
    match e {
        CertificateError::UnknownIssuer => {
            "the server's certificate is not signed by a trusted CA \
             (self-signed, or from a private CA: name that CA with -o cafile=PATH)"
                .into()
        }
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => format!(
            "certificate not valid for name {:?} (it is for {})",
            expected.to_str(),
            if presented.is_empty() {
                "no name".to_string()
            } else {
                presented
                    .iter()
                    .map(|n| bare_name(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
        CertificateError::NotValidForName => "certificate not valid for the server's name".into(),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the server's certificate has expired".into()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet".into()
        }
        CertificateError::Revoked => "the server's certificate has been revoked".into(),
        CertificateError::BadSignature => "the server's certificate has a bad signature".into(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "the server's certificate is not meant for TLS servers".into()
        }
        other => format!("the server's certificate was rejected: {other}"),
    }
}

/// `files.example.org` out of webpki's `DnsName("files.example.org")` (and the like for IP addresses).
fn bare_name(presented: &str) -> &str {
    match (presented.find('('), presented.rfind(')')) {
        (Some(open), Some(close)) if open < close => presented[open + 1..close].trim_matches('"'),
        _ => presented,
    }
}

/// `no_verify`: any certificate chain and name pass. The handshake signatures are still checked
/// (they prove the server holds the key of the certificate it sent, whatever that is worth).
#[derive(Debug)]
struct AcceptAnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_names_lose_their_wrapping() {
        assert_eq!(
            bare_name("DnsName(\"files.example.org\")"),
            "files.example.org"
        );
        assert_eq!(bare_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(bare_name("plain"), "plain");
    }

    #[test]
    fn a_ca_file_must_exist_and_hold_pem_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = ca_file_roots(&missing).unwrap_err();
        assert_eq!(
            e,
            format!("cafile {}: No such file or directory", missing.display())
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let e = ca_file_roots(&junk).unwrap_err();
        assert!(e.ends_with("no PEM certificate in it"), "{e}");
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = ca_file_roots(&broken).unwrap_err();
        assert!(e.contains("not a PEM certificate file"), "{e}");
        let not_x509 = dir.path().join("not-x509.pem");
        std::fs::write(
            &not_x509,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = ca_file_roots(&not_x509).unwrap_err();
        assert!(
            e.contains("certificate 1 is not a usable X.509 certificate"),
            "{e}"
        );
    }

    #[test]
    fn certificate_problems_read_as_one_line() {
        let cases = [
            (
                CertificateError::UnknownIssuer,
                "not signed by a trusted CA",
            ),
            (CertificateError::Expired, "has expired"),
            (
                CertificateError::NotValidForName,
                "not valid for the server's name",
            ),
        ];
        for (error, text) in cases {
            let line = describe(&rustls::Error::InvalidCertificate(error));
            assert!(line.contains(text) && !line.contains('\n'), "{line}");
        }
    }
}
