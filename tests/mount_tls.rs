//! Layer 4 over FTPS: the real `ftpfs` binary mounting `ftpes://` and `ftps://` URLs of a vsftpd
//! that accepts TLS only (plain logins and plain data connections are refused, and every data
//! connection must resume its control connection's TLS session), with certificates made by the
//! test. Shell tools read and write through the mount and the server's disk is checked; bad
//! certificates and silent servers must fail the mount fast with one clear line.

mod support;

use std::path::Path;

use support::mount::{failing_mount, foreground_session, sh, walk, Mounted};
use support::tls::{silent_tls_server, ServerCert, TestCa};
use support::vsftpd::{TlsListen, Vsftpd};
use support::{make_random_file, make_tree, sha256_file};

const SCHEMES: [(TlsListen, &str); 2] = [
    (TlsListen::Explicit, "ftpes"),
    (TlsListen::Implicit, "ftps"),
];

fn url(scheme: &str, s: &Vsftpd, host: &str) -> String {
    format!("{scheme}://{}@{host}:{}/", s.user, s.port)
}

fn cafile(ca: &TestCa) -> String {
    format!("cafile={}", ca.cert.display())
}

fn tree(root: &Path) {
    make_tree(&root.join("tree"), 3, 20, 11);
    make_random_file(&root.join("big.bin"), 24 << 20, 5);
    std::fs::write(root.join("note.txt"), "over TLS\n").unwrap();
}

#[test]
fn ftpes_and_ftps_mounts_read_and_write() {
    let ca = TestCa::new();
    let cert = ca.server_cert(&["DNS:localhost", "IP:127.0.0.1"]);
    for (listen, scheme) in SCHEMES {
        let root = tempfile::tempdir().unwrap();
        tree(root.path());
        let server = Vsftpd::start_tls(root.path(), &cert, listen, &[]);
        let (m, stderr) = Mounted::started_in(
            None,
            &url(scheme, &server, "localhost"),
            &server.password,
            &cafile(&ca),
        );
        assert_eq!(stderr, "", "{scheme}: a verified mount prints nothing");
        let mp = m.path();

        let ls = sh("ls -l", mp);
        for name in ["big.bin", "note.txt", "tree"] {
            assert!(ls.contains(name), "{scheme}: ls -l shows {name}: {ls}");
        }
        assert_eq!(sh("cat note.txt", mp), "over TLS\n");
        assert_eq!(walk(mp), walk(root.path()), "{scheme}: the whole tree");
        assert_eq!(
            sha256_file(&mp.join("big.bin")),
            sha256_file(&root.path().join("big.bin"))
        );

        let local = tempfile::tempdir().unwrap();
        make_random_file(&local.path().join("upload.bin"), 9 << 20, 77);
        make_tree(&local.path().join("many"), 2, 25, 3);
        sh(&format!("cp {}/upload.bin .", local.path().display()), mp);
        sh(&format!("cp -r {}/many .", local.path().display()), mp);
        sh("touch empty.txt && : > truncated.txt", mp);
        for name in ["empty.txt", "truncated.txt"] {
            let meta = std::fs::metadata(root.path().join(name)).unwrap();
            assert_eq!(meta.len(), 0, "{scheme}: {name} on the server's disk");
        }
        assert_eq!(
            sha256_file(&root.path().join("upload.bin")),
            sha256_file(&local.path().join("upload.bin")),
            "{scheme}: the server's disk has the uploaded bytes"
        );
        assert_eq!(
            walk(&root.path().join("many")),
            walk(&local.path().join("many"))
        );

        let line = m.mounts_line().unwrap();
        assert!(
            line.starts_with(&format!("{scheme}://ftpfstest@localhost:{}/ ", server.port)),
            "{line}"
        );
        assert!(!line.contains(&server.password), "{line}");

        drop(m);
        // Protection on the wire: the server was told PROT P, refuses plain data connections
        // (force_local_data_ssl), and logged every data connection as a resumed TLS session.
        let text = std::fs::read_to_string(server.log_path()).unwrap();
        assert!(text.contains("\"PROT P\""), "{scheme}: PROT P sent");
        let refused: Vec<&str> = text.lines().filter(|l| l.contains("\"522 ")).collect();
        assert!(
            refused.is_empty(),
            "{scheme}: data connections refused: {refused:?}"
        );
        let (reused, not) = server.data_handshakes();
        let transfers = server.transfer_commands();
        assert!(
            transfers > 55,
            "{scheme}: {transfers} transfers (51 uploads)"
        );
        assert_eq!(
            (reused, not),
            (transfers, 0),
            "{scheme}: one resumed TLS session per transfer"
        );
        assert!(
            !text.contains(&server.password),
            "the password is not in the server log"
        );
    }
}

#[test]
fn ftp_urls_take_tls_from_the_option() {
    let ca = TestCa::new();
    let cert = ca.server_cert(&["IP:127.0.0.1"]);
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "a\n").unwrap();
    let server = Vsftpd::start_tls(root.path(), &cert, TlsListen::Explicit, &[]);
    // A relative CA file path works although the mount process moves to `/` in the background.
    let (m, _) = Mounted::started_in(
        ca.cert.parent(),
        &url("ftp", &server, "127.0.0.1"),
        &server.password,
        &format!(
            "tls=explicit,cafile={}",
            ca.cert.file_name().unwrap().to_str().unwrap()
        ),
    );
    assert_eq!(sh("cat a.txt", m.path()), "a\n");
    let line = m.mounts_line().unwrap();
    assert!(line.starts_with("ftpes://ftpfstest@127.0.0.1:"), "{line}");
}

#[test]
fn bad_certificates_fail_the_mount_with_one_clear_line() {
    let ca = TestCa::new();
    let wrong_name = ca.server_cert(&["DNS:files.example.org"]);
    let self_signed = ServerCert::self_signed(&["DNS:localhost", "IP:127.0.0.1"]);
    let root = tempfile::tempdir().unwrap();
    for (listen, scheme) in SCHEMES {
        let server = Vsftpd::start_tls(root.path(), &wrong_name, listen, &[]);
        let mnt = tempfile::tempdir().unwrap();
        let (err, _) = failing_mount(
            &url(scheme, &server, "localhost"),
            mnt.path(),
            &server.password,
            &cafile(&ca),
        );
        let want = format!(
            "ftpfs: {scheme}://ftpfstest@localhost:{}/: connection failed: TLS: certificate not \
             valid for name \"localhost\" (it is for files.example.org)",
            server.port
        );
        assert_eq!(err, want);

        let server = Vsftpd::start_tls(root.path(), &self_signed, listen, &[]);
        let (err, _) = failing_mount(
            &url(scheme, &server, "127.0.0.1"),
            mnt.path(),
            &server.password,
            "",
        );
        assert!(
            err.contains("TLS: the server's certificate is not signed by a trusted CA"),
            "{err}"
        );
        assert!(!err.contains(&server.password), "{err}");
    }
}

#[test]
fn no_verify_mounts_and_warns_once() {
    let cert = ServerCert::self_signed(&["DNS:files.example.org"]);
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "a\n").unwrap();
    let server = Vsftpd::start_tls(root.path(), &cert, TlsListen::Implicit, &[]);
    let (m, stderr) = Mounted::started_in(
        None,
        &url("ftps", &server, "127.0.0.1"),
        &server.password,
        "no_verify",
    );
    assert_eq!(sh("cat a.txt", m.path()), "a\n");
    assert_eq!(
        stderr.matches("no_verify").count(),
        1,
        "one warning: {stderr}"
    );
    assert!(stderr.contains("not checked"), "{stderr}");
}

#[test]
fn a_server_that_never_completes_the_handshake_fails_the_mount_in_time() {
    for (explicit, scheme) in [(true, "ftpes"), (false, "ftps")] {
        let port = silent_tls_server(explicit);
        let mnt = tempfile::tempdir().unwrap();
        let (err, _) = failing_mount(
            &format!("{scheme}://u@127.0.0.1:{port}/"),
            mnt.path(),
            "secret-pw",
            "",
        );
        assert!(err.contains("TLS") && err.contains("within"), "{err}");
        assert!(!err.contains("secret-pw"), "{err}");
    }
}

#[test]
fn a_bad_cafile_fails_before_anything_is_mounted() {
    let mnt = tempfile::tempdir().unwrap();
    let (err, _) = failing_mount(
        "ftpes://u@127.0.0.1:1/",
        mnt.path(),
        "pw",
        "cafile=/nonexistent/ca.pem",
    );
    assert_eq!(
        err,
        "ftpfs: cafile /nonexistent/ca.pem: No such file or directory"
    );
}

#[test]
fn debug_logs_of_an_ftps_mount_never_show_the_password() {
    let ca = TestCa::new();
    let cert = ca.server_cert(&["IP:127.0.0.1"]);
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f"), "fg").unwrap();
    let server = Vsftpd::start_tls(root.path(), &cert, TlsListen::Implicit, &[]);
    let cafile = cafile(&ca);
    let err = foreground_session(
        &url("ftps", &server, "127.0.0.1"),
        &server.password,
        &["-d", "-o", &cafile],
        ("f", "fg"),
        |mp| {
            std::fs::write(mp.join("g"), "written over TLS").unwrap();
        },
    );
    assert_eq!(
        std::fs::read_to_string(root.path().join("g")).unwrap(),
        "written over TLS"
    );
    assert!(
        err.contains("logged in to ftps://ftpfstest@127.0.0.1:"),
        "{err}"
    );
    assert!(!err.contains(&server.password), "{err}");
}
