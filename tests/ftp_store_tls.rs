//! Layer 3 over FTPS: `FtpStore` against vsftpd with TLS mandatory on control and data connections
//! (explicit `AUTH TLS` and implicit), session reuse required on data connections (vsftpd's
//! default), and certificates made by the test. Listings, downloads and uploads are checked against
//! the server's disk; certificate problems must fail the login with a clear one-line reason.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ftpfs::config::{DataMode, TlsConfig, TlsMode};
use ftpfs::remote::ftp::FtpStore;
use ftpfs::remote::{EntryKind, RemoteError, RemoteStore};
use support::store::{download, upload, FtpStoreBuilder};
use support::tls::{silent_tls_server, ServerCert, TestCa};
use support::vsftpd::{TlsListen, Vsftpd};
use support::{active_port_range, make_random_file, FtpServer};

fn store(s: &Vsftpd, host: &str, tls: TlsConfig, max_conns: usize) -> FtpStore {
    FtpStoreBuilder::for_server(s)
        .host(host)
        .tls(tls)
        .max_conns(max_conns)
        .build()
}

fn tls(mode: TlsMode, cafile: Option<&Path>) -> TlsConfig {
    TlsConfig {
        mode,
        cafile: cafile.map(Path::to_path_buf),
        no_verify: false,
    }
}

fn mode_of(listen: TlsListen) -> TlsMode {
    match listen {
        TlsListen::Explicit => TlsMode::Explicit,
        TlsListen::Implicit => TlsMode::Implicit,
    }
}

/// A CA, a certificate for localhost and 127.0.0.1, and a TLS vsftpd serving a small tree.
struct Fixture {
    ca: TestCa,
    _cert: ServerCert,
    root: tempfile::TempDir,
    server: Vsftpd,
}

fn fixture(listen: TlsListen) -> Fixture {
    let ca = TestCa::new();
    let cert = ca.server_cert(&["DNS:localhost", "IP:127.0.0.1"]);
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("sub")).unwrap();
    std::fs::write(root.path().join("hello.txt"), "hello over TLS\n").unwrap();
    make_random_file(&root.path().join("sub/random.bin"), 2 << 20, 7);
    let server = Vsftpd::start_tls(root.path(), &cert, listen, &[]);
    Fixture {
        ca,
        _cert: cert,
        root,
        server,
    }
}

fn list_download_upload(listen: TlsListen, host: &str) {
    let f = fixture(listen);
    let st = store(&f.server, host, tls(mode_of(listen), Some(&f.ca.cert)), 1);
    let mut names: Vec<_> = st
        .list("/")
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.kind))
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        names,
        [
            ("hello.txt".to_string(), EntryKind::File),
            ("sub".to_string(), EntryKind::Dir)
        ]
    );
    let disk = std::fs::read(f.root.path().join("sub/random.bin")).unwrap();
    assert_eq!(download(&st, "/sub/random.bin", 0), disk);
    assert_eq!(
        download(&st, "/sub/random.bin", 1_000_000),
        &disk[1_000_000..]
    );
    // Uploads in a row on the one connection, large and tiny: each data connection must resume the
    // control connection's session (under TLS 1.3 each needs a ticket of its own, see close_upload).
    for i in 0..24u32 {
        let len = if i < 4 { 300_000 } else { i as usize };
        let data: Vec<u8> = (0..len as u32).map(|n| (n ^ i) as u8).collect();
        let name = format!("up{i}.bin");
        upload(&st, &format!("/{name}"), &data, false).unwrap();
        assert_eq!(std::fs::read(f.root.path().join(&name)).unwrap(), data);
    }
    assert_eq!(download(&st, "/hello.txt", 0), b"hello over TLS\n");
    let (reused, not) = f.server.data_handshakes();
    // One listing, three downloads, 24 uploads.
    assert_eq!(
        (reused, not),
        (28, 0),
        "data connections that resumed the session, and not"
    );
}

#[test]
fn explicit_tls_lists_downloads_and_uploads() {
    list_download_upload(TlsListen::Explicit, "127.0.0.1");
}

#[test]
fn implicit_tls_lists_downloads_and_uploads() {
    list_download_upload(TlsListen::Implicit, "localhost");
}

/// FTPS with active data connections on a port range (`active_addr=IP:LOW-HIGH`), explicit and
/// implicit: each data connection listens on a port of the range and is TLS resuming the control
/// connection's session (vsftpd requires it). Listings, downloads from 0, from an offset and cut
/// short, several uploads (TLS 1.3 tickets must last) and an append, on one connection that stays
/// in step. (Implicit TLS with `active_addr` was refused while suppaftp made that control socket.)
fn tls_with_active_mode_on_a_port_range(listen: TlsListen) {
    let ca = TestCa::new();
    let cert = ca.server_cert(&["DNS:localhost", "IP:127.0.0.1"]);
    let root = tempfile::tempdir().unwrap();
    make_random_file(&root.path().join("random.bin"), 2 << 20, 7);
    let disk = std::fs::read(root.path().join("random.bin")).unwrap();
    let server = Vsftpd::start_tls(
        root.path(),
        &cert,
        listen,
        &[("pasv_enable", "NO"), ("port_enable", "YES")],
    );
    let (low, high) = active_port_range(4);
    let mode = match listen {
        TlsListen::Explicit => TlsMode::Explicit,
        TlsListen::Implicit => TlsMode::Implicit,
    };
    let st = FtpStoreBuilder::for_server(&server)
        .host("localhost")
        .max_conns(1)
        .tls(tls(mode, Some(&ca.cert)))
        .data_mode(DataMode::Active {
            bind: Some("127.0.0.1".parse().unwrap()),
            ports: Some((low, high)),
        })
        .build();
    for _ in 0..2 {
        let names: Vec<String> = st.list("/").unwrap().into_iter().map(|e| e.name).collect();
        assert!(names.contains(&"random.bin".to_string()), "{names:?}");
        assert!(download(&st, "/random.bin", 0) == disk);
        assert!(download(&st, "/random.bin", 123_457) == disk[123_457..]);
        let mut r = st.open_read("/random.bin", 9).unwrap();
        let mut buf = vec![0u8; 4096];
        r.read_exact(&mut buf).unwrap();
        assert!(buf[..] == disk[9..9 + 4096]);
        r.finish();
    }
    for i in 0..4 {
        upload(&st, &format!("/up{i}.bin"), &disk[..300_000], false).unwrap();
        assert!(std::fs::read(root.path().join(format!("up{i}.bin"))).unwrap() == disk[..300_000]);
    }
    let mut w = st.open_write("/up0.bin", true).unwrap();
    w.write(b"appended").unwrap();
    w.finish().unwrap();
    assert!(std::fs::read(root.path().join("up0.bin"))
        .unwrap()
        .ends_with(b"appended"));
    let ports = server.data_ports();
    // 2 x (listing, 3 downloads) + 5 uploads.
    assert_eq!(ports.len(), 13, "{:?}", server.logged_commands());
    assert!(
        ports.iter().all(|p| (low..=low + 3).contains(p)),
        "{ports:?}"
    );
    let (reused, fresh) = server.data_handshakes();
    assert_eq!(
        (reused, fresh),
        (13, 0),
        "every data connection resumes the session"
    );
    assert!(st.stats().commands.contains(&("LOGIN", 1)));
}

#[test]
fn explicit_tls_with_active_mode_on_a_port_range() {
    tls_with_active_mode_on_a_port_range(TlsListen::Explicit);
}

#[test]
fn implicit_tls_with_active_mode_on_a_port_range() {
    tls_with_active_mode_on_a_port_range(TlsListen::Implicit);
}

#[test]
fn each_pooled_connection_resumes_its_own_session() {
    // vsftpd keeps each control connection's sessions in that session's own process: a data
    // connection that offered another control connection's session would be refused with 522.
    let f = fixture(TlsListen::Explicit);
    for i in 0..8 {
        make_random_file(&f.root.path().join(format!("f{i}")), 256 << 10, i);
    }
    let st = Arc::new(store(
        &f.server,
        "127.0.0.1",
        tls(TlsMode::Explicit, Some(&f.ca.cert)),
        4,
    ));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let st = Arc::clone(&st);
            let disk = f.root.path().to_path_buf();
            std::thread::spawn(move || {
                for round in 0..3 {
                    let want = std::fs::read(disk.join(format!("f{i}"))).unwrap();
                    assert_eq!(download(&st, &format!("/f{i}"), 0), want);
                    let name = format!("/u{i}-{round}");
                    upload(&st, &name, &want[..1000 * (i + 1)], false).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for i in 0..8usize {
        for round in 0..3 {
            let got = std::fs::read(f.root.path().join(format!("u{i}-{round}"))).unwrap();
            assert_eq!(got.len(), 1000 * (i + 1));
        }
    }
    let (reused, not) = f.server.data_handshakes();
    assert_eq!((reused, not), (48, 0));
}

/// Logs in with `tls` and returns the error, which must come within `bound` and never contain the
/// password.
fn login_error(s: &Vsftpd, host: &str, tls: TlsConfig, bound: Duration) -> String {
    let st = store(s, host, tls, 1);
    let t = Instant::now();
    let e = st.check().expect_err("the login must fail");
    assert!(t.elapsed() < bound, "took {:?}", t.elapsed());
    let text = e.to_string();
    assert!(!text.contains(s.password()), "{text}");
    assert!(!text.contains('\n'), "one line: {text:?}");
    text
}

#[test]
fn a_certificate_from_an_unknown_ca_is_rejected_without_cafile() {
    // The system's store does not know the test CA, nor a self-signed certificate.
    for listen in [TlsListen::Explicit, TlsListen::Implicit] {
        let f = fixture(listen);
        let e = login_error(
            &f.server,
            "127.0.0.1",
            tls(mode_of(listen), None),
            Duration::from_secs(5),
        );
        assert!(
            e.contains("TLS: the server's certificate is not signed by a trusted CA"),
            "{e}"
        );
    }
    let cert = ServerCert::self_signed(&["DNS:localhost", "IP:127.0.0.1"]);
    let root = tempfile::tempdir().unwrap();
    let s = Vsftpd::start_tls(root.path(), &cert, TlsListen::Explicit, &[]);
    let e = login_error(
        &s,
        "localhost",
        tls(TlsMode::Explicit, None),
        Duration::from_secs(5),
    );
    assert!(e.contains("not signed by a trusted CA"), "{e}");
    // The same self-signed certificate named as the CA file is trusted.
    let st = store(&s, "localhost", tls(TlsMode::Explicit, Some(&cert.cert)), 1);
    st.list("/").unwrap();
}

#[test]
fn a_certificate_for_another_name_is_rejected() {
    let ca = TestCa::new();
    let cert = ca.server_cert(&["DNS:files.example.org"]);
    let root = tempfile::tempdir().unwrap();
    for listen in [TlsListen::Explicit, TlsListen::Implicit] {
        let s = Vsftpd::start_tls(root.path(), &cert, listen, &[]);
        for host in ["localhost", "127.0.0.1"] {
            let e = login_error(
                &s,
                host,
                tls(mode_of(listen), Some(&ca.cert)),
                Duration::from_secs(5),
            );
            assert!(
                e.contains(&format!("TLS: certificate not valid for name \"{host}\"")),
                "{e}"
            );
            assert!(e.contains("files.example.org"), "{e}");
        }
    }
}

#[test]
fn no_verify_accepts_any_certificate() {
    let cert = ServerCert::self_signed(&["DNS:files.example.org"]);
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "a").unwrap();
    for listen in [TlsListen::Explicit, TlsListen::Implicit] {
        let s = Vsftpd::start_tls(root.path(), &cert, listen, &[]);
        let st = store(
            &s,
            "127.0.0.1",
            TlsConfig {
                mode: mode_of(listen),
                cafile: None,
                no_verify: true,
            },
            1,
        );
        assert_eq!(download(&st, "/a.txt", 0), b"a");
        upload(&st, "/b.txt", b"bb", false).unwrap();
        assert_eq!(std::fs::read(root.path().join("b.txt")).unwrap(), b"bb");
    }
}

#[test]
fn plain_ftp_cannot_log_in_where_tls_is_forced() {
    // What makes the other tests' success prove protection: this vsftpd accepts neither a plain
    // login nor (force_local_data_ssl) a plain data connection.
    let f = fixture(TlsListen::Explicit);
    let e = login_error(
        &f.server,
        "127.0.0.1",
        TlsConfig::default(),
        Duration::from_secs(5),
    );
    assert!(e.contains("530"), "{e}");
}

#[test]
fn implicit_tls_against_a_plain_greeting_says_so() {
    let f = fixture(TlsListen::Explicit);
    let e = login_error(
        &f.server,
        "127.0.0.1",
        tls(TlsMode::Implicit, Some(&f.ca.cert)),
        Duration::from_secs(5),
    );
    assert!(e.contains("does not speak TLS"), "{e}");
}

#[test]
fn a_server_that_never_completes_the_handshake_fails_within_the_timeout() {
    for (explicit, mode) in [(true, TlsMode::Explicit), (false, TlsMode::Implicit)] {
        let port = silent_tls_server(explicit);
        let st = FtpStoreBuilder::new(port)
            .timeout(Duration::from_secs(3))
            .tls(tls(mode, None))
            .build();
        let t = Instant::now();
        let e = st.check().unwrap_err().to_string();
        assert!(
            t.elapsed() < Duration::from_secs(8),
            "{mode:?}: {:?}",
            t.elapsed()
        );
        assert!(e.contains("within 3 s"), "{mode:?}: {e}");
        assert!(e.contains("TLS"), "{mode:?}: {e}");
    }
}

#[test]
fn an_unreadable_ca_file_fails_every_login_with_its_name() {
    let f = fixture(TlsListen::Explicit);
    let missing = PathBuf::from("/nonexistent/ca.pem");
    let e = login_error(
        &f.server,
        "127.0.0.1",
        tls(TlsMode::Explicit, Some(&missing)),
        Duration::from_secs(1),
    );
    assert!(e.contains("cafile /nonexistent/ca.pem"), "{e}");
    match store(
        &f.server,
        "127.0.0.1",
        tls(TlsMode::Explicit, Some(&missing)),
        1,
    )
    .check()
    {
        Err(RemoteError::Connection(_)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_server_without_tls_fails_explicit_tls_and_nothing_falls_back() {
    let root = tempfile::tempdir().unwrap();
    let s = Vsftpd::start(root.path(), &[]);
    let e = login_error(
        &s,
        "127.0.0.1",
        tls(TlsMode::Explicit, None),
        Duration::from_secs(5),
    );
    assert!(
        e.contains("TLS: the server refused to protect the connection: 5"),
        "{e}"
    );
}

#[test]
fn downloads_cut_short_keep_the_connection_and_its_session() {
    let f = fixture(TlsListen::Implicit);
    let st = store(
        &f.server,
        "127.0.0.1",
        tls(TlsMode::Implicit, Some(&f.ca.cert)),
        1,
    );
    let disk = std::fs::read(f.root.path().join("sub/random.bin")).unwrap();
    for offset in [0u64, 50_000, 1_500_000, 10, 2_000_000] {
        let mut r = st.open_read("/sub/random.bin", offset).unwrap();
        let mut buf = vec![0u8; 4096];
        r.read_exact(&mut buf).unwrap();
        assert_eq!(buf, &disk[offset as usize..offset as usize + 4096]);
        r.finish();
        upload(&st, "/after-cut.txt", &buf[..100], false).unwrap();
        assert_eq!(download(&st, "/hello.txt", 0), b"hello over TLS\n");
    }
    assert_eq!(
        std::fs::read(f.root.path().join("after-cut.txt")).unwrap(),
        &disk[2_000_000..2_000_100]
    );
    // A download given up before its first byte: the data connection's handshake never ran.
    let r = st.open_read("/sub/random.bin", 0).unwrap();
    r.finish();
    assert_eq!(download(&st, "/hello.txt", 0), b"hello over TLS\n");
    assert_eq!(st.list("/sub").unwrap().len(), 1);
    // 15 transfers in the loop, the one given up (no handshake), a download and a listing.
    assert_eq!(f.server.transfer_commands(), 18);
    assert_eq!(f.server.data_handshakes(), (17, 0));
}

#[test]
fn a_tls_1_2_server_resumes_sessions_too() {
    // vsftpd 3.0.3 has no setting for the TLS version; OpenSSL's configuration caps it.
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("openssl.cnf");
    std::fs::write(
        &conf,
        "openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = tls\n\
         [tls]\nMaxProtocol = TLSv1.2\n",
    )
    .unwrap();
    let ca = TestCa::new();
    let cert = ca.server_cert(&["IP:127.0.0.1"]);
    let root = tempfile::tempdir().unwrap();
    make_random_file(&root.path().join("r.bin"), 1 << 20, 3);
    let s = Vsftpd::start_tls_with_env(
        root.path(),
        &cert,
        TlsListen::Explicit,
        &[],
        &[("OPENSSL_CONF", &conf)],
    );
    let st = store(&s, "127.0.0.1", tls(TlsMode::Explicit, Some(&ca.cert)), 1);
    let disk = std::fs::read(root.path().join("r.bin")).unwrap();
    for i in 0..6 {
        assert_eq!(download(&st, "/r.bin", 0), disk);
        upload(&st, &format!("/u{i}"), &disk[..1000 + i], false).unwrap();
        upload(&st, &format!("/v{i}"), &disk[..10], false).unwrap();
    }
    assert_eq!(st.list("/").unwrap().len(), 13);
    let log = std::fs::read_to_string(s.log_path()).unwrap();
    assert!(log.contains("SSL version: TLSv1.2"), "{log}");
    assert!(!log.contains("SSL version: TLSv1.3"), "{log}");
    assert_eq!(s.data_handshakes(), (s.transfer_commands(), 0));
    assert_eq!(s.transfer_commands(), 19);
}

#[test]
fn empty_uploads_complete_over_tls() {
    for listen in [TlsListen::Explicit, TlsListen::Implicit] {
        let f = fixture(listen);
        let st = store(
            &f.server,
            "127.0.0.1",
            tls(mode_of(listen), Some(&f.ca.cert)),
            1,
        );
        for i in 0..4 {
            upload(&st, &format!("/empty{i}"), b"", false).unwrap();
            assert_eq!(
                std::fs::read(f.root.path().join(format!("empty{i}"))).unwrap(),
                b""
            );
            upload(&st, &format!("/one{i}"), b"1", false).unwrap();
        }
        assert_eq!(download(&st, "/empty0", 0), b"");
        assert_eq!(download(&st, "/hello.txt", 0), b"hello over TLS\n");
        assert_eq!(
            f.server.data_handshakes(),
            (f.server.transfer_commands(), 0)
        );
    }
}
