//! Servers that lack features, each played by the scripted server (`support::fake`): no passive
//! mode at all (only `PORT`), no `SIZE`, no `MDTM`, no `REST`, a `LIST` that takes `-a` for a
//! name, `total` lines; and files over 4 GiB on vsftpd (sizes, `REST` offsets and `SIZE` replies
//! above 32 bits), through a kernel mount.

mod support;

use std::io::{Read, Seek, SeekFrom, Write};
use std::process::Command;
use std::time::Duration;

use ftpfs::remote::ftp::FtpStore;
use ftpfs::remote::{RemoteError, RemoteStore};
use support::fake::{Fake, Script, PASSWORD, USER};
use support::mount::{Mounted, BIN};
use support::store::{download, upload, FtpStoreBuilder};
use support::vsftpd::Vsftpd;

fn pattern(n: usize) -> Vec<u8> {
    (0..n as u32).map(|i| (i % 251) as u8).collect()
}

/// A script with one file, `/f.bin`, listed and served.
fn one_file(data: &[u8]) -> Script {
    Script {
        listing: vec![
            "total 8".into(),
            format!("-rw-r--r-- 1 0 0 {} Nov 22 14:21 f.bin", data.len()),
        ],
        files: [("/f.bin".to_string(), data.to_vec())].into(),
        ..Script::default()
    }
}

fn store(fake: &Fake) -> FtpStore {
    FtpStoreBuilder::for_server(fake)
        .timeout(Duration::from_secs(5))
        .build()
}

fn count(fake: &Fake, verb: &str) -> usize {
    fake.commands()
        .iter()
        .filter(|c| c.split(' ').next() == Some(verb))
        .count()
}

fn probe_line(fake: &Fake, topic: &str) -> String {
    let out = Command::new(BIN)
        .arg("--probe")
        .arg(format!("ftp://{USER}@127.0.0.1:{}/", fake.port))
        .env("FTPFS_PASSWORD", PASSWORD)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(&format!("{topic}: ")))
        .unwrap_or_else(|| panic!("no {topic:?} in:\n{text}"))
        .to_string()
}

#[test]
fn a_server_without_passive_mode_gets_active_data_connections() {
    let data = pattern(50_000);
    let fake = Fake::start(Script {
        passive_refused: true,
        ..one_file(&data)
    });
    let st = store(&fake);
    let names: Vec<String> = st.list("/").unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["f.bin"]);
    assert_eq!(download(&st, "/f.bin", 0), data);
    upload(&st, "/up.bin", b"sent actively", false).unwrap();
    assert_eq!(fake.uploads()["/up.bin"], b"sent actively");
    // Passive mode was asked for once, then the mount stays active.
    assert_eq!(count(&fake, "PASV"), 1, "{:?}", fake.commands());
    assert!(count(&fake, "PORT") >= 3);
    let line = probe_line(&fake, "data connections");
    assert!(line.contains("the server refused passive mode"), "{line}");
}

#[test]
fn a_server_without_size_or_mdtm_takes_uploads_and_lists() {
    let fake = Fake::start(Script {
        no_size: true,
        no_mdtm: true,
        ..one_file(b"abc")
    });
    let st = store(&fake);
    let entries = st.list("/").unwrap();
    assert_eq!(entries.len(), 1, "the total line is no entry: {entries:?}");
    assert_eq!((entries[0].name.as_str(), entries[0].size), ("f.bin", 3));
    upload(&st, "/new.bin", &pattern(10_000), false).unwrap();
    assert_eq!(fake.uploads()["/new.bin"], pattern(10_000));
    assert!(matches!(
        st.size("/new.bin"),
        Err(RemoteError::Unsupported(_))
    ));
    let t = std::time::SystemTime::now();
    assert!(matches!(
        st.set_mtime("/new.bin", t),
        Err(RemoteError::Unsupported(_))
    ));
}

#[test]
fn a_server_without_rest_streams_from_the_start_for_reads_at_an_offset() {
    let data = pattern(300_000);
    let fake = Fake::start(Script {
        rest_refused: true,
        ..one_file(&data)
    });
    let st = store(&fake);
    for offset in [1000u64, 123_457, 299_990] {
        let mut r = st.open_read_range("/f.bin", offset, 4096).unwrap();
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        r.finish();
        assert_eq!(got, data[offset as usize..], "from {offset}");
    }
    assert_eq!(
        count(&fake, "REST"),
        1,
        "REST asked once: {:?}",
        fake.commands()
    );
    let line = probe_line(&fake, "random reads");
    assert!(line.starts_with("no REST on this server"), "{line}");
}

#[test]
fn a_list_that_takes_dash_a_for_a_name_gets_plain_list() {
    let fake = Fake::start(Script {
        list_a_rejected: true,
        ..one_file(b"abc")
    });
    let st = store(&fake);
    for _ in 0..2 {
        let names: Vec<String> = st.list("/").unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["f.bin"]);
    }
    let lists: Vec<String> = fake
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("LIST"))
        .collect();
    assert_eq!(
        lists,
        ["LIST -a /", "LIST /", "LIST /"],
        "-a given up for good"
    );
}

/// A sparse file of 5 GiB on vsftpd: its size, reads and seeks past 4 GiB, and an append there.
#[test]
fn files_over_4_gib_read_seek_and_append_past_32_bits() {
    const BIG: u64 = 5 << 30;
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("big.img");
    let marks = [(4u64 << 30) + 12_345, BIG - 100];
    {
        let mut f = std::fs::File::create(&path).unwrap();
        f.set_len(BIG).unwrap();
        for (i, &at) in marks.iter().enumerate() {
            f.seek(SeekFrom::Start(at)).unwrap();
            f.write_all(format!("mark {i} at {at}").as_bytes()).unwrap();
        }
    }
    let server = Vsftpd::start(root.path(), &[]);
    let m = Mounted::new(&support::FtpServer::url(&server, "/"), &server.password, "");
    let mounted = m.path().join("big.img");
    assert_eq!(std::fs::metadata(&mounted).unwrap().len(), BIG);
    let mut f = std::fs::File::open(&mounted).unwrap();
    for (i, &at) in marks.iter().enumerate() {
        let want = format!("mark {i} at {at}");
        let mut got = vec![0u8; want.len()];
        f.seek(SeekFrom::Start(at)).unwrap();
        f.read_exact(&mut got).unwrap();
        assert_eq!(String::from_utf8_lossy(&got), want);
    }
    drop(f);
    // An append past 4 GiB: APPE, and a SIZE reply above 32 bits to check it.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&mounted)
        .unwrap();
    f.write_all(b"appended past 5 GiB").unwrap();
    f.sync_all().unwrap();
    drop(f);
    let disk = std::fs::metadata(&path).unwrap().len();
    assert_eq!(disk, BIG + 19);
    let mut tail = vec![0u8; 19];
    let mut d = std::fs::File::open(&path).unwrap();
    d.seek(SeekFrom::Start(BIG)).unwrap();
    d.read_exact(&mut tail).unwrap();
    assert_eq!(&tail, b"appended past 5 GiB");
    assert_eq!(std::fs::metadata(&mounted).unwrap().len(), BIG + 19);
}
