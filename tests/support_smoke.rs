//! Proves the test support itself (tests/support): both FTP servers start on free ports, log in
//! the expected user, list, serve and accept files byte for byte over passive data connections,
//! and refuse a wrong password with 530; several instances run side by side; the data helpers
//! are deterministic; active port ranges are free and never handed out twice; dates come out as
//! servers write them. A failure here points at the harness, not at ftpfs.

mod support;

use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

use suppaftp::types::FileType;
use suppaftp::{FtpError, FtpStream, Status};
use support::{
    active_port_range, ephemeral_ports, held_port_range, list_date, make_random_file, make_tree,
    mdtm_text, sha256_file, unftp::Unftp, vsftpd::Vsftpd, FtpServer,
};

/// The way ftpfs talks to servers: binary type, PASV with the data address taken from the
/// control connection, timeouts so that a hung server fails the test instead of hanging it.
fn connect(port: u16, user: &str, password: &str) -> Result<FtpStream, FtpError> {
    let mut ftp = FtpStream::connect(("127.0.0.1", port))?;
    ftp.get_ref()
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    ftp.login(user, password)?;
    ftp.transfer_type(FileType::Binary)?;
    ftp.set_passive_nat_workaround(true);
    Ok(ftp)
}

/// A root with a binary file (every byte value, so that an ASCII-mode transfer would show) and
/// a subdirectory.
fn sample_root() -> (tempfile::TempDir, Vec<u8>) {
    let root = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(root.path().join("hello.bin"), &data).unwrap();
    std::fs::create_dir(root.path().join("sub")).unwrap();
    std::fs::write(root.path().join("sub/inner.txt"), b"inner\n").unwrap();
    (root, data)
}

/// List, download, upload, mkdir and a wrong password against one server.
fn exercise(port: u16, user: &str, password: &str, root: &Path, data: &[u8]) {
    let mut ftp = connect(port, user, password).expect("login");

    let mut names = ftp.nlst(None).expect("NLST /");
    names.sort();
    assert_eq!(names, ["hello.bin", "sub"], "NLST of the root");
    let long = ftp.list(None).expect("LIST /");
    assert!(
        long.iter()
            .any(|l| l.ends_with(" hello.bin") && l.contains("70000")),
        "LIST lacks hello.bin with its size: {long:?}"
    );

    let got = ftp.retr_as_buffer("hello.bin").expect("RETR").into_inner();
    assert!(got == data, "RETR returned {} other bytes", got.len());
    let inner = ftp.retr_as_buffer("sub/inner.txt").expect("RETR sub/");
    assert_eq!(inner.into_inner(), b"inner\n");

    // Writes land in the root on disk (vsftpd: as the test user, who owns the root).
    let upload: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    ftp.put_file("up.bin", &mut Cursor::new(&upload))
        .expect("STOR");
    assert_eq!(std::fs::read(root.join("up.bin")).unwrap(), upload);
    ftp.mkdir("newdir").expect("MKD");
    assert!(root.join("newdir").is_dir());
    ftp.quit().unwrap();

    match connect(port, user, "wrong-password") {
        Err(FtpError::UnexpectedResponse(r)) => {
            assert_eq!(r.status, Status::NotLoggedIn, "{r:?}")
        }
        Err(e) => panic!("wrong password: expected 530, got {e}"),
        Ok(_) => panic!("wrong password was accepted"),
    }
}

/// The URLs name the server's login, and the server lists, serves, accepts uploads and refuses a
/// wrong password (`exercise`).
fn lists_serves_and_refuses_wrong_password(server: &dyn FtpServer, root: &Path, data: &[u8]) {
    let (user, port) = (server.user(), server.port());
    assert_eq!(server.url("/"), format!("ftp://{user}@127.0.0.1:{port}/"));
    assert_eq!(
        server.url_with_password("/pub"),
        format!("ftp://{user}:{}@127.0.0.1:{port}/pub", server.password())
    );
    exercise(port, user, server.password(), root, data);
}

#[test]
fn vsftpd_lists_serves_and_refuses_wrong_password() {
    let (root, data) = sample_root();
    let server = Vsftpd::start(root.path(), &[]);
    assert_eq!(server.user, "ftpfstest");
    lists_serves_and_refuses_wrong_password(&server, root.path(), &data);
}

#[test]
fn unftp_lists_serves_and_refuses_wrong_password() {
    let (root, data) = sample_root();
    let server = Unftp::start(root.path());
    assert_eq!(server.user, "alice");
    lists_serves_and_refuses_wrong_password(&server, root.path(), &data);
}

#[test]
fn vsftpd_extra_settings_override_defaults() {
    let (root, _) = sample_root();
    let server = Vsftpd::start(root.path(), &[("write_enable", "NO"), ("max_per_ip", "7")]);
    let conf = std::fs::read_to_string(&server.conf).unwrap();
    assert!(conf.contains("\nwrite_enable=NO\n"), "{conf}");
    assert!(!conf.contains("write_enable=YES"), "{conf}");
    assert!(conf.contains("\nmax_per_ip=7\n"), "{conf}");
    let mut ftp = connect(server.port, &server.user, &server.password).unwrap();
    assert!(
        ftp.mkdir("nope").is_err(),
        "write_enable=NO still allowed MKD"
    );
}

/// vsftpd reports startup errors on fd 0 only; they must reach the panic message.
#[test]
#[should_panic(expected = "unrecognised variable in config file: no_such_setting")]
fn vsftpd_startup_errors_fail_loudly() {
    let (root, _) = sample_root();
    let _ = Vsftpd::start(root.path(), &[("no_such_setting", "YES")]);
}

/// Stopping a server frees its port and ends its sessions: a connected client sees EOF.
#[test]
fn dropped_servers_stop() {
    let (root, _) = sample_root();
    for kind in ["vsftpd", "unftp"] {
        let (port, mut ftp, guard): (u16, FtpStream, Box<dyn std::any::Any>) = match kind {
            "vsftpd" => {
                let s = Vsftpd::start(root.path(), &[]);
                let ftp = connect(s.port, &s.user, &s.password).unwrap();
                (s.port, ftp, Box::new(s))
            }
            _ => {
                let s = Unftp::start(root.path());
                let ftp = connect(s.port, &s.user, &s.password).unwrap();
                (s.port, ftp, Box::new(s))
            }
        };
        ftp.noop().unwrap();
        drop(guard);
        assert!(ftp.noop().is_err(), "{kind}: session survived the server");
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "{kind}: port {port} still accepts connections"
        );
    }
}

/// Test binaries start servers from parallel threads: no fixed ports, no shared state.
#[test]
fn many_servers_in_parallel() {
    let (root, data) = sample_root();
    let root = root.path().to_path_buf();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let root = root.clone();
            let data = data.clone();
            std::thread::spawn(move || {
                let v = Vsftpd::start(&root, &[]);
                let u = Unftp::start(&root);
                assert_ne!(v.port, u.port);
                for (port, user, password) in [
                    (v.port, &v.user, &v.password),
                    (u.port, &u.user, &u.password),
                ] {
                    let mut ftp = connect(port, user, password).unwrap();
                    let got = ftp.retr_as_buffer("hello.bin").unwrap().into_inner();
                    assert!(got == data);
                    ftp.quit().unwrap();
                }
                (v.port, u.port)
            })
        })
        .collect();
    let mut ports: Vec<u16> = Vec::new();
    for t in threads {
        let (a, b) = t.join().unwrap();
        ports.extend([a, b]);
    }
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 8, "two servers shared a port: {ports:?}");
}

#[test]
fn data_helpers_are_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.bin");
    let b = dir.path().join("b.bin");
    let c = dir.path().join("c.bin");
    make_random_file(&a, (3 << 20) + 5, 1);
    make_random_file(&b, (3 << 20) + 5, 1);
    make_random_file(&c, (3 << 20) + 5, 2);
    assert_eq!(std::fs::metadata(&a).unwrap().len(), (3 << 20) + 5);
    assert_eq!(sha256_file(&a), sha256_file(&b));
    assert_ne!(sha256_file(&a), sha256_file(&c));

    // The well-known digest of "abc": sha256_file is plain lowercase hex SHA-256.
    std::fs::write(dir.path().join("abc"), b"abc").unwrap();
    assert_eq!(
        sha256_file(&dir.path().join("abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );

    let t1 = dir.path().join("t1");
    let t2 = dir.path().join("t2");
    make_tree(&t1, 3, 20, 9);
    make_tree(&t2, 3, 20, 9);
    let mut sizes = Vec::new();
    for d in 0..3 {
        for f in 0..20 {
            let rel = format!("d{d:03}/f{f:04}.txt");
            let len = std::fs::metadata(t1.join(&rel)).unwrap().len();
            assert!(len <= 8192, "{rel}: {len} bytes");
            assert_eq!(sha256_file(&t1.join(&rel)), sha256_file(&t2.join(&rel)));
            sizes.push(len);
        }
    }
    assert_eq!(std::fs::read_dir(&t1).unwrap().count(), 3);
    sizes.sort_unstable();
    sizes.dedup();
    assert!(sizes.len() > 40, "sizes hardly vary: {sizes:?}");
}

#[test]
fn active_port_ranges_are_free_and_never_handed_out_twice() {
    let ranges: Vec<(u16, u16)> = (1..=6).map(active_port_range).collect();
    for (i, &(low, high)) in ranges.iter().enumerate() {
        assert_eq!(high - low + 1, i as u16 + 1, "{ranges:?}");
        assert!(low >= 61_000, "{ranges:?}");
        for port in low..=high {
            std::net::TcpListener::bind(("127.0.0.1", port))
                .unwrap_or_else(|e| panic!("port {port} of {low}-{high} is taken: {e}"));
        }
        for &(other_low, other_high) in &ranges[..i] {
            assert!(
                high < other_low || low > other_high,
                "overlapping ranges: {ranges:?}"
            );
        }
    }
}

#[test]
fn held_port_ranges_stay_taken_until_dropped() {
    let (low, high, held) = held_port_range(3);
    assert_eq!((high - low, held.len()), (2, 3));
    // Above the kernel's ephemeral range, where outgoing connections cannot land.
    let (_, ephemeral_high) = ephemeral_ports().expect("net.ipv4.ip_local_port_range");
    if ephemeral_high < 63_000 {
        assert!(
            low > ephemeral_high,
            "{low}-{high} not above {ephemeral_high}"
        );
    }
    for port in low..=high {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_err(),
            "port {port} of {low}-{high} is not held"
        );
    }
    drop(held);
    for port in low..=high {
        std::net::TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("port {port} of {low}-{high} stays taken: {e}"));
    }
}

#[test]
fn dates_come_out_as_servers_write_them() {
    // Values `date -u -d @SECONDS` agrees with: the epoch, a leap day, and a date of the listing
    // parser's own tests.
    assert_eq!(list_date(0), "Jan 01 00:00");
    assert_eq!(mdtm_text(0), "19700101000000");
    assert_eq!(list_date(951_782_400), "Feb 29 00:00");
    assert_eq!(mdtm_text(1_795_357_260), "20261122142100");
    assert_eq!(list_date(1_795_357_260), "Nov 22 14:21");
    assert_eq!(mdtm_text(4_102_444_799), "20991231235959");
}
