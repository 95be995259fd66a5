//! Layers 3 and 4: how data connections are opened, and LIST times. Passive by default (EPSV where
//! the server offers it, PASV where it lacks or refuses EPSV, remembered per mount), active with
//! `-o active` against a vsftpd whose passive mode is off, and LIST times in a server's local time
//! corrected by the offset learned from MDTM. The scripted server (`support::fake`) plays the
//! servers vsftpd cannot: one that lists EPSV and refuses it, one that lists local time.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ftpfs::config::DataMode;
use ftpfs::remote::ftp::FtpStore;
use ftpfs::remote::RemoteStore;
use support::fake::{Epsv, Fake, Script};
use support::mount::{sh, Mounted};
use support::store::FtpStoreBuilder;
use support::vsftpd::Vsftpd;
use support::{active_port_range, held_port_range, list_date, mdtm_text, FtpServer};

/// One connection, so that every transfer runs on the connection whose data mode is checked.
fn store(server: &dyn FtpServer, data_mode: DataMode) -> FtpStore {
    FtpStoreBuilder::for_server(server)
        .max_conns(1)
        .data_mode(data_mode)
        .build()
}

fn fake_store(fake: &Fake) -> FtpStore {
    store(fake, DataMode::Passive)
}

fn a_file() -> Script {
    Script {
        listing: vec!["-rw-r--r--    1 0        0               5 Jan 02  2024 a.txt".into()],
        files: HashMap::from([("/a.txt".to_string(), b"hello".to_vec())]),
        ..Script::default()
    }
}

fn verbs(fake: &Fake) -> Vec<String> {
    fake.commands()
        .into_iter()
        .map(|c| c.split(' ').next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn epsv_is_used_where_the_server_offers_it() {
    let fake = Fake::start(Script {
        epsv: Epsv::Works,
        ..a_file()
    });
    let st = fake_store(&fake);
    assert_eq!(st.list("/").unwrap().len(), 1);
    let v = verbs(&fake);
    assert!(v.contains(&"EPSV".to_string()), "{v:?}");
    assert!(!v.contains(&"PASV".to_string()), "{v:?}");
}

#[test]
fn a_refused_epsv_falls_back_to_pasv_for_the_rest_of_the_mount() {
    let fake = Fake::start(Script {
        epsv: Epsv::Refused,
        ..a_file()
    });
    let st = fake_store(&fake);
    assert_eq!(st.list("/").unwrap().len(), 1);
    let mut got = Vec::new();
    let mut r = st.open_read("/a.txt", 0).unwrap();
    r.read_to_end(&mut got).unwrap();
    r.finish();
    assert_eq!(got, b"hello");
    assert_eq!(st.list("/").unwrap().len(), 1);
    let v = verbs(&fake);
    let epsv = v.iter().filter(|c| *c == "EPSV").count();
    let transfers = v.iter().filter(|c| *c == "LIST" || *c == "RETR").count();
    let pasv = v.iter().filter(|c| *c == "PASV").count();
    // One refusal, then PASV for the listing retried, the download and the second listing (and
    // for the data connections opened ahead behind the listings, PASV too).
    assert_eq!(epsv, 1, "{v:?}");
    assert_eq!(transfers, 3, "{v:?}");
    assert!(pasv >= transfers, "{v:?}");
}

/// A vsftpd that refuses passive mode: only active data connections work.
fn vsftpd_without_pasv(root: &std::path::Path) -> Vsftpd {
    Vsftpd::start(root, &[("pasv_enable", "NO"), ("port_enable", "YES")])
}

#[test]
fn active_mode_works_where_passive_mode_is_off() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), b"active data").unwrap();
    let server = vsftpd_without_pasv(root.path());
    let ip = "127.0.0.1".parse().unwrap();
    // Passive mode, the default: the server refuses PASV ("550 Permission denied."), and the
    // mount goes on in active mode.
    for mode in [
        DataMode::Passive,
        DataMode::Active {
            bind: None,
            ports: None,
        },
        DataMode::Active {
            bind: Some(ip),
            ports: None,
        },
    ] {
        let st = store(&server, mode);
        let names: Vec<String> = st.list("/").unwrap().into_iter().map(|e| e.name).collect();
        assert!(names.contains(&"a.txt".to_string()), "{mode:?}: {names:?}");
        let mut got = Vec::new();
        let mut r = st.open_read("/a.txt", 7).unwrap();
        r.read_to_end(&mut got).unwrap();
        r.finish();
        assert_eq!(got, b"data", "{mode:?}");
        let mut w = st.open_write("/up.txt", false).unwrap();
        w.write(b"uploaded actively").unwrap();
        w.finish().unwrap();
        assert_eq!(
            std::fs::read(root.path().join("up.txt")).unwrap(),
            b"uploaded actively"
        );
    }
}

/// `active_addr=IP:LOW-HIGH`: every data connection (listings, downloads from 0 and from an
/// offset, cut-short downloads, uploads, appends) listens on a free port of the range, skipping
/// one that is taken, and the connection stays in step throughout.
#[test]
fn active_mode_listens_on_a_port_of_the_configured_range() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), b"active data").unwrap();
    support::make_random_file(&root.path().join("big.bin"), 3 << 20, 7);
    let disk = std::fs::read(root.path().join("big.bin")).unwrap();
    let server = Vsftpd::start(
        root.path(),
        &[
            ("pasv_enable", "NO"),
            ("port_enable", "YES"),
            ("xferlog_enable", "YES"),
            ("xferlog_std_format", "NO"),
            ("log_ftp_protocol", "YES"),
        ],
    );
    // The middle port is held by the test from the start; ftpfs gets the other two.
    let (low, high, mut held) = held_port_range(3);
    let taken = held.remove(1);
    drop(held);
    let mode = DataMode::Active {
        bind: Some("127.0.0.1".parse().unwrap()),
        ports: Some((low, high)),
    };
    let st = store(&server, mode);
    let read = |offset: u64| {
        let mut got = Vec::new();
        let mut r = st.open_read("/big.bin", offset).unwrap();
        r.read_to_end(&mut got).unwrap();
        r.finish();
        got
    };
    for _ in 0..2 {
        let names: Vec<String> = st.list("/").unwrap().into_iter().map(|e| e.name).collect();
        assert!(names.contains(&"big.bin".to_string()), "{names:?}");
        assert!(read(0) == disk);
        assert!(read(1_000_001) == disk[1_000_001..]);
        // Cut short, then the same connection lists again.
        let mut r = st.open_read("/big.bin", 5).unwrap();
        let mut buf = vec![0u8; 4096];
        r.read_exact(&mut buf).unwrap();
        assert!(buf[..] == disk[5..5 + 4096]);
        r.finish();
    }
    let mut w = st.open_write("/up.txt", false).unwrap();
    w.write(b"uploaded ").unwrap();
    w.finish().unwrap();
    let mut w = st.open_write("/up.txt", true).unwrap();
    w.write(b"and appended").unwrap();
    w.finish().unwrap();
    assert_eq!(
        std::fs::read(root.path().join("up.txt")).unwrap(),
        b"uploaded and appended"
    );
    let ports = server.data_ports();
    // 2 x (listing, 3 downloads) + 2 uploads, each on a port of the range but the taken one.
    assert_eq!(ports.len(), 10, "{:?}", server.logged_commands());
    assert!(
        ports.iter().all(|&p| p == low || p == low + 2),
        "ports {ports:?} outside {low}, {}",
        low + 2
    );
    assert!(
        ports.contains(&low) && ports.contains(&(low + 2)),
        "{ports:?}"
    );
    assert!(
        st.stats().commands.contains(&("LOGIN", 1)),
        "{:?}\n{:?}",
        st.stats().commands,
        server.logged_commands()
    );
    drop(taken);
    // Every port of a range taken: after waiting `timeout` for one to come free, an error
    // naming why, not a hang; the control connection, which sent nothing, is kept. The range is
    // a second one, held by the test from the moment it was found free: ports this test's
    // transfers just used may still be held by their closing connections.
    let (low, high, busy) = held_port_range(2);
    let st = store(
        &server,
        DataMode::Active {
            bind: Some("127.0.0.1".parse().unwrap()),
            ports: Some((low, high)),
        },
    );
    let t = Instant::now();
    let e = st.list("/").unwrap_err().to_string();
    assert!(e.contains("in use"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    drop(busy);
    assert!(st.list("/").is_ok());
    assert!(
        st.stats().commands.contains(&("LOGIN", 1)),
        "{:?}",
        st.stats().commands
    );
}

#[test]
fn a_mount_with_active_mode_works_where_passive_mode_is_off() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("d")).unwrap();
    std::fs::write(root.path().join("d/a.txt"), b"through the mount").unwrap();
    let server = vsftpd_without_pasv(root.path());
    let (low, high) = active_port_range(3);
    for (opts, copy) in [
        ("active".to_string(), "b.txt"),
        (format!("active_addr=127.0.0.1:{low}-{high}"), "c.txt"),
    ] {
        let m = Mounted::new(&server.url("/"), server.password(), &opts);
        assert!(sh("ls -l d", m.path()).contains("a.txt"), "{opts}");
        assert_eq!(sh("cat d/a.txt", m.path()), "through the mount");
        sh(&format!("cp d/a.txt d/{copy}"), m.path());
        assert_eq!(
            std::fs::read(root.path().join("d").join(copy)).unwrap(),
            b"through the mount",
            "{opts}"
        );
    }
}

#[test]
fn list_times_in_local_time_are_corrected_by_the_offset_mdtm_tells() {
    // A file changed an hour ago; the server lists its local time, two hours ahead of UTC.
    let changed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3600;
    let local = changed + 2 * 3600;
    let fake = Fake::start(Script {
        listing: vec![format!(
            "-rw-r--r--    1 0        0               5 {} a.txt",
            list_date(local)
        )],
        mdtm: HashMap::from([("/a.txt".to_string(), mdtm_text(changed))]),
        ..Script::default()
    });
    let st = fake_store(&fake);
    let entries = st.list("/").unwrap();
    let shown = entries[0]
        .mtime
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // LIST has minutes only: the time shown is the true time with its seconds dropped.
    assert_eq!(
        shown,
        changed - changed % 60,
        "the listed time was not corrected"
    );
    assert_eq!(st.list_offset(), Some(7200));
    // One MDTM for the whole mount: the second listing asks nothing more.
    st.list("/").unwrap();
    let mdtms = verbs(&fake).iter().filter(|c| *c == "MDTM").count();
    assert_eq!(mdtms, 1);
}
