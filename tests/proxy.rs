//! Layer 4 through proxies: the real `ftpfs` binary mounting vsftpd through Debian's SOCKS5 server
//! (danted, without authentication and with a user name and password) and through a small HTTP
//! CONNECT proxy of the tests (with Basic authentication), plain FTP and explicit FTPS. Both
//! proxies connect to the server from 127.0.0.2 while ftpfs runs on 127.0.0.1, and vsftpd logs the
//! client address of every command and refuses a data connection from another address than its
//! control connection's (pasv_promiscuous=NO, its default): the server must have seen 127.0.0.2
//! only, so no connection, control or data, passed the proxy by. A refusing proxy fails the mount
//! fast with one line; active mode is refused; no proxy password shows in logs, /proc/mounts or
//! the process list.

mod support;

use std::path::Path;
use std::time::Duration;

use support::local_user::{TEST_PASSWORD, TEST_USER};
use support::mount::{failing_mount, sh, walk, Mounted, BIN};
use support::proxy::{vsftpd_sessions, Dante, HttpProxy, OUT_ADDR};
use support::tls::TestCa;
use support::vsftpd::{TlsListen, Vsftpd};
use support::{free_port, make_random_file, make_tree, sha256_file, FtpServer};

/// ftpfs --probe through the proxy: it says so, and its listing went through it too.
#[test]
fn probe_through_a_proxy() {
    let root = served();
    let server = Vsftpd::start_logging_commands(root.path());
    let dante = Dante::start(false);
    let out = std::process::Command::new(BIN)
        .args(["--probe", &server.url("/"), "-o"])
        .arg(format!("proxy={}", dante.url(None)))
        .env("FTPFS_PASSWORD", &server.password)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!(
            "proxy: {}: the control connection and every data connection go through it",
            dante.url(None)
        )),
        "{text}"
    );
    assert!(text.contains("passive, EPSV (through the proxy"), "{text}");
    let sessions = vsftpd_sessions(&server.command_log());
    assert!(
        sessions
            .iter()
            .filter(|(_, cmds)| cmds.iter().any(|c| c.starts_with("USER ")))
            .all(|(client, _)| *client == OUT_ADDR.to_string()),
        "{sessions:?}"
    );
    assert!(!server.command_log().contains("Bad IP"));
}

/// What the server serves: a note, a file of a few MiB, and a tree of small files.
fn served() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("note.txt"), "through the proxy\n").unwrap();
    make_random_file(&root.path().join("big.bin"), 3 << 20, 41);
    make_tree(&root.path().join("tree"), 2, 15, 42);
    root
}

/// ls, cat (checked against the disk), cp in (checked on the server's disk) and a directory
/// listing through the mount: control, LIST, RETR and STOR data connections all go through the
/// proxy.
fn exercise(mp: &Path, root: &Path) {
    let ls = sh("ls -l", mp);
    for name in ["big.bin", "note.txt", "tree"] {
        assert!(ls.contains(name), "ls -l shows {name}: {ls}");
    }
    assert_eq!(sh("cat note.txt", mp), "through the proxy\n");
    assert_eq!(
        sha256_file(&mp.join("big.bin")),
        sha256_file(&root.join("big.bin"))
    );
    let local = tempfile::tempdir().unwrap();
    make_random_file(&local.path().join("upload.bin"), 2 << 20, 43);
    sh(&format!("cp {}/upload.bin .", local.path().display()), mp);
    assert_eq!(
        sha256_file(&root.join("upload.bin")),
        sha256_file(&local.path().join("upload.bin")),
        "the server's disk has the uploaded bytes"
    );
    assert_eq!(walk(&mp.join("tree")), walk(&root.join("tree")));
    assert_eq!(
        sh("ls tree/d001 | sort", mp),
        sh("ls tree/d001 | sort", root)
    );
}

/// The server saw the proxy's address only, refused no data connection, and carried listings,
/// downloads and uploads (so data connections did pass: through the proxy). The one session from
/// elsewhere is the test's own check that vsftpd is up (its greeting, then QUIT).
fn only_the_proxy_was_seen(log: &str) {
    let sessions = vsftpd_sessions(log);
    let (ours, others): (Vec<_>, Vec<_>) = sessions
        .iter()
        .partition(|(client, _)| *client == OUT_ADDR.to_string());
    for (client, commands) in &others {
        assert!(
            commands.iter().all(|c| c == "QUIT"),
            "a session from {client} past the proxy: {commands:?}"
        );
    }
    assert!(others.len() <= 1, "sessions from elsewhere: {others:?}");
    let logins = ours
        .iter()
        .filter(|(_, cmds)| cmds.iter().any(|c| c.starts_with("USER ")))
        .count();
    assert!(logins >= 1, "{sessions:?}");
    let all: Vec<&String> = ours.iter().flat_map(|(_, cmds)| cmds).collect();
    for verb in ["LIST", "RETR", "STOR"] {
        assert!(
            all.iter().any(|c| c.starts_with(verb)),
            "the server logged {verb} through the proxy"
        );
    }
    assert!(!log.contains("Bad IP"), "a data connection from elsewhere");
}
#[test]
fn mounts_through_dante_without_and_with_a_password() {
    for users in [false, true] {
        let root = served();
        let server = Vsftpd::start_logging_commands(root.path());
        let dante = Dante::start(users);
        let creds = tempfile::tempdir().unwrap();
        let opts = if users {
            // The proxy's login from the credentials file (the FTP password from the
            // environment): the system user that danted checks.
            let file = creds.path().join("cred");
            std::fs::write(
                &file,
                format!("proxy_username={TEST_USER}\nproxy_password={TEST_PASSWORD}\n"),
            )
            .unwrap();
            std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
            format!("proxy={},credentials={}", dante.url(None), file.display())
        } else {
            format!("proxy={}", dante.url(None))
        };
        let m = Mounted::with_log(&server.url("/"), &server.password, &opts);
        exercise(m.path(), root.path());
        let line = m.mounts_line().unwrap();
        assert!(
            !line.contains("proxy") && !line.contains(TEST_PASSWORD),
            "{line}"
        );
        drop(m);
        only_the_proxy_was_seen(&server.command_log());
        let log = dante.log();
        assert!(
            log.contains("pass(1): tcp/connect"),
            "danted carried connections: {log}"
        );
        if users {
            assert!(log.contains(&format!("username%{TEST_USER}")), "{log}");
        }
    }
}

#[test]
fn mounts_through_an_http_connect_proxy_with_the_password_in_the_url() {
    let root = served();
    let server = Vsftpd::start_logging_commands(root.path());
    let proxy = HttpProxy::start(Some(("carol", "proxy-secret-77")));
    let opts = format!("proxy={}", proxy.url(Some("carol:proxy-secret-77")));
    let m = Mounted::with_log(&server.url("/"), &server.password, &opts);
    // The password in the URL is warned about, and gone from the process list.
    let log = m.log();
    assert!(log.contains("the proxy password is in -o proxy="), "{log}");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", m.daemon_pid())).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(
        cmdline.contains("http://carol:***************@127.0.0.1:"),
        "{cmdline}"
    );
    exercise(m.path(), root.path());
    let line = m.mounts_line().unwrap();
    assert!(!line.contains("proxy-secret-77"), "{line}");
    let log = m.log();
    drop(m);
    assert!(!log.contains("proxy-secret-77"), "the debug log: {log}");
    assert!(log.contains("http://carol@127.0.0.1:"), "{log}");
    only_the_proxy_was_seen(&server.command_log());
    // Every tunnel went to the server: its control port, or a port of its passive range, one
    // per data connection at least.
    let targets = proxy.targets();
    let control = format!("127.0.0.1:{}", server.port);
    let (low, high) = server.pasv_ports;
    let data = targets.iter().filter(|t| **t != control).count();
    for t in &targets {
        let port: u16 = t.strip_prefix("127.0.0.1:").unwrap().parse().unwrap();
        assert!(
            port == server.port || (low..=high).contains(&port),
            "a tunnel to {t}"
        );
    }
    let transfers = server
        .command_log()
        .lines()
        .filter(|l| ["\"LIST", "\"RETR", "\"STOR"].iter().any(|v| l.contains(v)))
        .count();
    assert!(
        transfers > 0 && data >= transfers,
        "{data} data tunnels for {transfers} transfers"
    );
    assert_eq!(proxy.refused(), 0);
}

#[test]
fn ftpes_through_an_http_connect_proxy() {
    let ca = TestCa::new();
    let cert = ca.server_cert(&["IP:127.0.0.1"]);
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "over TLS, through the proxy\n").unwrap();
    let server = Vsftpd::start_tls(root.path(), &cert, TlsListen::Explicit, &[]);
    let proxy = HttpProxy::start(None);
    let url = format!("ftpes://{}@127.0.0.1:{}/", server.user, server.port);
    let opts = format!("cafile={},proxy={}", ca.cert.display(), proxy.url(None));
    let m = Mounted::new(&url, &server.password, &opts);
    assert_eq!(sh("cat a.txt", m.path()), "over TLS, through the proxy\n");
    std::fs::write(m.path().join("b.txt"), "up over TLS\n").unwrap();
    assert!(sh("ls", m.path()).contains("b.txt"));
    drop(m);
    assert_eq!(
        std::fs::read_to_string(root.path().join("b.txt")).unwrap(),
        "up over TLS\n"
    );
    let log = std::fs::read_to_string(server.log_path()).unwrap();
    only_the_proxy_was_seen(&log);
    assert!(log.contains("\"PROT P\""), "PROT P sent");
    assert!(proxy.targets().len() >= 3, "{:?}", proxy.targets());
}

#[test]
fn a_wrong_proxy_password_fails_the_mount_fast_with_one_line() {
    let root = tempfile::tempdir().unwrap();
    let server = Vsftpd::start(root.path(), &[]);
    let dante = Dante::start(true);
    let http = HttpProxy::start(Some(("carol", "right-pw")));
    let creds = tempfile::tempdir().unwrap();
    let file = creds.path().join("cred");
    std::fs::write(&file, "proxy_password=wrong-pw-4711\n").unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mnt = tempfile::tempdir().unwrap();
    for (proxy, user) in [
        (dante.url(Some(TEST_USER)), TEST_USER),
        (http.url(Some("carol")), "carol"),
    ] {
        let opts = format!("proxy={proxy},credentials={}", file.display());
        let (err, took) = failing_mount(&server.url("/"), mnt.path(), &server.password, &opts);
        assert!(took < Duration::from_secs(5), "took {took:?}");
        assert!(
            err.starts_with(&format!(
                "ftpfs: {}: connection failed: proxy {proxy} ",
                server.url("/")
            )),
            "{err}"
        );
        assert!(err.contains("refused the user name or password"), "{err}");
        assert!(err.contains(user), "{err}");
        assert!(!err.contains("wrong-pw-4711"), "{err}");
    }
    assert_eq!(http.refused(), 1);
    assert!(http.targets().is_empty());
}

#[test]
fn a_proxy_that_cannot_reach_the_server_fails_the_mount_fast() {
    let dante = Dante::start(false);
    let http = HttpProxy::start(None);
    // A port nobody listens on.
    let port = free_port();
    let url = format!("ftp://{TEST_USER}@127.0.0.1:{port}/");
    let mnt = tempfile::tempdir().unwrap();
    for (proxy, says) in [
        (dante.url(None), "connection refused by the server"),
        (http.url(None), "502 Bad Gateway"),
    ] {
        let (err, took) = failing_mount(&url, mnt.path(), "pw", &format!("proxy={proxy}"));
        assert!(took < Duration::from_secs(5), "took {took:?}");
        assert!(
            err.contains(&format!(
                "proxy {proxy} could not connect to 127.0.0.1:{port}: "
            )) && err.contains(says),
            "{err}"
        );
    }
    // And a proxy that is not there at all.
    let closed = free_port();
    let (err, _) = failing_mount(
        &url,
        mnt.path(),
        "pw",
        &format!("proxy=socks5://127.0.0.1:{closed}"),
    );
    assert!(
        err.ends_with(&format!(
            "connection failed: proxy socks5://127.0.0.1:{closed}: cannot connect to \
             127.0.0.1:{closed}: connection refused"
        )),
        "{err}"
    );
}

#[test]
fn active_mode_with_a_proxy_is_refused_with_the_reason() {
    let mnt = tempfile::tempdir().unwrap();
    for active in ["active", "active_addr=127.0.0.1"] {
        let (err, _) = failing_mount(
            "ftp://u@127.0.0.1:21/",
            mnt.path(),
            "pw",
            &format!("{active},proxy=socks5://127.0.0.1:1080"),
        );
        assert_eq!(
            err,
            "ftpfs: options active and active_addr cannot go with proxy=: in active mode the \
             server opens the data connections to ftpfs, and a proxy carries only the \
             connections ftpfs opens (drop active: passive mode goes through the proxy)"
        );
    }
}
