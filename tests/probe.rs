//! `ftpfs --probe URL`, the real binary against real servers: vsftpd (plain, with a connection
//! limit; and FTPS), and the scripted server for what vsftpd cannot play (EPSV offered but refused,
//! LIST in local time, no SITE CHMOD). The probe prints what the mount detects and will use, and
//! exits 0 only for a server that can be mounted.

mod support;

use std::collections::HashMap;
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::fake::{Epsv, Fake, Script, PASSWORD, USER};
use support::mount::BIN;
use support::tls::TestCa;
use support::vsftpd::{TlsListen, Vsftpd};
use support::FtpServer;
use support::{list_date, mdtm_text};

fn probe(url: &str, password: &str, opts: &str) -> (Output, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("--probe")
        .arg(url)
        .env("FTPFS_PASSWORD", password)
        .env_remove("RUST_LOG");
    if !opts.is_empty() {
        cmd.args(["-o", opts]);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, text)
}

/// The finding printed for `topic`.
fn finding<'a>(text: &'a str, topic: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(&format!("{topic}: ")))
        .unwrap_or_else(|| panic!("no {topic:?} in:\n{text}"))
}

#[test]
fn a_vsftpd_profile_names_what_the_mount_uses() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join(".hidden"), "dot").unwrap();
    std::fs::write(root.path().join("recent.txt"), "now").unwrap();
    let server = Vsftpd::start(root.path(), &[("max_per_ip", "3")]);
    let started = Instant::now();
    let (out, text) = probe(&server.url("/"), server.password(), "max_conns=6");
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        finding(&text, "greeting").starts_with("220 ftpfs test vsFTPd"),
        "{text}"
    );
    assert!(finding(&text, "system").contains("UNIX"), "{text}");
    // Chrooted: the login directory is the server's /, and so is the root.
    assert_eq!(finding(&text, "login directory"), "/");
    assert_eq!(finding(&text, "root"), "/");
    assert!(
        finding(&text, "random reads").starts_with("one round trip each"),
        "{text}"
    );
    assert!(
        finding(&text, "uploads").contains("with the end of the data"),
        "{text}"
    );
    assert!(
        text.contains("EPSV") && text.contains("REST STREAM"),
        "{text}"
    );
    assert!(finding(&text, "TLS").starts_with("none"), "{text}");
    // vsftpd hides dotfiles from plain LIST.
    assert_eq!(
        finding(&text, "listing"),
        "LIST -a (needed: plain LIST hides 1 dotfile(s) here)"
    );
    assert!(
        finding(&text, "data connections").contains("EPSV"),
        "{text}"
    );
    assert!(finding(&text, "SITE CHMOD").starts_with("yes"), "{text}");
    assert!(
        finding(&text, "setting times").starts_with("no MFMT"),
        "{text}"
    );
    assert_eq!(
        finding(&text, "LIST time zone"),
        "UTC (LIST and MDTM agree)"
    );
    let conns = finding(&text, "connections");
    assert!(
        conns.starts_with("3 at once (the next was refused: 421"),
        "{conns}"
    );
    assert!(
        conns.contains("the mount uses up to 3 (max_conns=6)"),
        "{conns}"
    );
    assert_eq!(finding(&text, "usable"), "yes");
    assert!(!text.contains(server.password()));
}

#[test]
fn a_profile_shows_a_refused_epsv_local_list_times_and_no_site_chmod() {
    let changed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 600;
    // The server lists local time, 5 h 30 min ahead of UTC.
    let local = changed + 19_800;
    let fake = Fake::start(Script {
        epsv: Epsv::Refused,
        listing: vec![format!(
            "-rw-r--r--    1 0        0               3 {} a.txt",
            list_date(local)
        )],
        mdtm: HashMap::from([("/a.txt".to_string(), mdtm_text(changed))]),
        ..Script::default()
    });
    let url = format!("ftp://{USER}@127.0.0.1:{}/", fake.port);
    let (out, text) = probe(&url, PASSWORD, "");
    assert!(out.status.success(), "{text}");
    assert!(
        finding(&text, "data connections").contains("PASV (the server offers EPSV but refused it)"),
        "{text}"
    );
    assert!(
        finding(&text, "LIST time zone").starts_with("UTC+05:30 (LIST shows local time"),
        "{text}"
    );
    assert!(
        finding(&text, "SITE CHMOD").starts_with("no (502"),
        "{text}"
    );
}

#[test]
fn a_profile_names_the_login_directory_and_the_root_it_resolves() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("pub")).unwrap();
    let server = Vsftpd::start(root.path(), &[("chroot_local_user", "NO")]);
    let home = root.path().canonicalize().unwrap();
    let home = home.to_str().unwrap();
    let (out, text) = probe(&server.url("/pub"), server.password(), "");
    assert!(out.status.success(), "{text}");
    assert_eq!(finding(&text, "login directory"), home);
    assert_eq!(finding(&text, "root"), format!("{home}/pub"));
    let (out, text) = probe(&server.url("/%2Fusr"), server.password(), "");
    assert!(out.status.success(), "{text}");
    assert_eq!(finding(&text, "root"), "/usr");
    let (out, text) = probe(&server.url("/missing"), server.password(), "");
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        finding(&text, "usable").contains(&format!("{home}/missing is not a directory")),
        "{text}"
    );
}

/// A `PWD` reply that names no Unix path (here VMS's form) leaves `/` as the login directory,
/// with a warning, and the URL path is taken from there.
#[test]
fn a_pwd_reply_that_names_no_path_falls_back_to_the_servers_root() {
    let fake = Fake::start(Script {
        pwd: Some("257 \"USER1:[BOB]\" is current directory.".into()),
        listing: vec!["-rw-r--r--    1 0        0               3 Jan 01  2024 a.txt".into()],
        ..Script::default()
    });
    let url = format!("ftp://{USER}@127.0.0.1:{}/pub", fake.port);
    let (out, text) = probe(&url, PASSWORD, "");
    assert!(out.status.success(), "{text}");
    assert!(
        finding(&text, "login directory").starts_with("unknown"),
        "{text}"
    );
    assert_eq!(finding(&text, "root"), "/pub");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read the login directory") && stderr.contains("USER1:[BOB]"),
        "{stderr}"
    );
    let commands = fake.commands();
    assert!(commands.contains(&"CWD /pub".to_string()), "{commands:?}");
    assert!(commands.iter().any(|c| c == "LIST -a /pub"), "{commands:?}");
}

#[test]
fn an_ftps_profile_says_what_is_verified() {
    let ca = TestCa::new();
    let cert = ca.server_cert(&["DNS:localhost", "IP:127.0.0.1"]);
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f"), "x").unwrap();
    let server = Vsftpd::start_tls(root.path(), &cert, TlsListen::Explicit, &[]);
    let url = format!("ftpes://{}@localhost:{}/", server.user(), server.port());
    let cafile = format!("cafile={}", ca.cert.display());
    let (out, text) = probe(&url, server.password(), &cafile);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tls = finding(&text, "TLS");
    assert!(tls.starts_with("explicit (AUTH TLS"), "{tls}");
    assert!(tls.contains("PROT P"), "{tls}");
    assert!(
        tls.contains(&format!("verified against {}", ca.cert.display())),
        "{tls}"
    );
    assert!(
        text.contains("AUTH TLS") || text.contains("PBSZ"),
        "FEAT: {text}"
    );
}

#[test]
fn a_server_that_cannot_be_mounted_exits_non_zero_with_the_reason() {
    let root = tempfile::tempdir().unwrap();
    let server = Vsftpd::start(root.path(), &[]);
    let (out, text) = probe(&server.url("/"), "wrong-password", "");
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        finding(&text, "usable").starts_with("NO: cannot log in: login failed"),
        "{text}"
    );
    assert!(!text.contains("wrong-password"));
}
