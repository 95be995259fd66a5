//! Names that are not UTF-8, against vsftpd (which lists a file name's bytes as the disk has
//! them): through `FtpStore` (layer 3) and through a kernel mount (layer 4). By default every
//! name round-trips byte for byte; with `-o encoding=latin1` the same names show as UTF-8 text,
//! are written back in Latin-1, and a name Latin-1 cannot write is refused with EILSEQ before
//! anything is sent. Every check ends on the server's disk.

mod support;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use ftpfs::names::Names;
use ftpfs::remote::{EntryKind, RemoteError, RemoteStore};
use support::mount::{Mounted, BIN};
use support::store::{download, upload, FtpStoreBuilder};
use support::vsftpd::Vsftpd;
use support::FtpServer;

/// A path under `root` from raw bytes.
fn raw(root: &Path, name: &[u8]) -> PathBuf {
    root.join(OsStr::from_bytes(name))
}

/// A tree with Latin-1 names (and one UTF-8 name): `caf\xe9.txt` and `d\xfcr/s\xfc\xdf.txt`.
fn latin1_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(raw(dir.path(), b"caf\xe9.txt"), b"latin-1 name").unwrap();
    std::fs::create_dir(raw(dir.path(), b"d\xfcr")).unwrap();
    std::fs::write(raw(dir.path(), b"d\xfcr/s\xfc\xdf.txt"), b"inside").unwrap();
    std::fs::write(dir.path().join("utf8 é.txt"), b"utf-8 name").unwrap();
    dir
}

/// The names in `dir` on disk, as bytes, sorted.
fn disk_names(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().as_bytes().to_vec())
        .collect();
    names.sort();
    names
}

#[test]
fn the_store_keeps_names_that_are_not_utf8_byte_for_byte() {
    let tree = latin1_tree();
    let server = Vsftpd::start(tree.path(), &[]);
    let store = FtpStoreBuilder::for_server(&server).build();

    let listed = store.list("/").unwrap();
    let cafe = listed
        .iter()
        .find(|e| e.name.starts_with("caf") && e.kind == EntryKind::File)
        .expect("the Latin-1 name is listed");
    assert_ne!(cafe.name, "caf\u{fffd}.txt", "not replaced by U+FFFD");
    assert!(listed.iter().any(|e| e.name == "utf8 é.txt"), "{listed:?}");
    let dir = listed.iter().find(|e| e.kind == EntryKind::Dir).unwrap();

    // The names listed open, list and move, and the disk sees the same bytes.
    assert_eq!(
        download(&store, &format!("/{}", cafe.name), 0),
        b"latin-1 name"
    );
    let inside = store.list(&format!("/{}", dir.name)).unwrap();
    assert_eq!(inside.len(), 1);
    let inner = format!("/{}/{}", dir.name, inside[0].name);
    assert_eq!(download(&store, &inner, 0), b"inside");
    let moved = format!("/{}/moved {}", dir.name, cafe.name);
    store.rename(&format!("/{}", cafe.name), &moved).unwrap();
    assert_eq!(
        std::fs::read(raw(tree.path(), b"d\xfcr/moved caf\xe9.txt")).unwrap(),
        b"latin-1 name"
    );
    upload(&store, &format!("{moved}.copy"), b"new", false).unwrap();
    assert_eq!(
        std::fs::read(raw(tree.path(), b"d\xfcr/moved caf\xe9.txt.copy")).unwrap(),
        b"new"
    );
    store.remove(&inner).unwrap();
    assert!(!raw(tree.path(), b"d\xfcr/s\xfc\xdf.txt").exists());
}

#[test]
fn with_an_encoding_the_store_shows_text_and_writes_it_back_in_that_encoding() {
    let tree = latin1_tree();
    let server = Vsftpd::start_logging_commands(tree.path());
    let store = FtpStoreBuilder::for_server(&server)
        .names(Names::with_encoding("latin1").unwrap())
        .build();

    let mut names: Vec<String> = store
        .list("/")
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    // "utf8 é.txt" is UTF-8 on disk: read as Latin-1 it is "utf8 Ã©.txt", as it should be.
    assert_eq!(names, ["café.txt", "dür", "utf8 Ã©.txt"]);
    assert_eq!(download(&store, "/dür/süß.txt", 0), b"inside");

    upload(&store, "/dür/naïve.txt", b"x", false).unwrap();
    store.mkdir("/Ärger").unwrap();
    store.rename("/café.txt", "/Ärger/crème.txt").unwrap();
    assert_eq!(
        disk_names(&raw(tree.path(), b"\xc4rger")),
        [b"cr\xe8me.txt".to_vec()]
    );
    assert!(raw(tree.path(), b"d\xfcr/na\xefve.txt").exists());

    // Latin-1 has no 日本: refused before anything reaches the server.
    let before = server.logged_commands().len();
    let refused = upload(&store, "/日本.txt", b"x", false);
    assert!(
        matches!(refused, Err(RemoteError::Unencodable(_))),
        "{refused:?}"
    );
    assert!(matches!(
        store.mkdir("/日本"),
        Err(RemoteError::Unencodable(_))
    ));
    let sent = &server.logged_commands()[before..];
    assert!(
        sent.iter()
            .all(|c| !c.contains('?') && !c.contains("\u{fffd}")),
        "nothing was sent for the refused names: {sent:?}"
    );
    assert!(!server
        .logged_commands()
        .iter()
        .any(|c| c.starts_with("OPTS UTF8")));
}

#[test]
fn a_mount_passes_names_that_are_not_utf8_through_to_the_tools() {
    let tree = latin1_tree();
    let server = Vsftpd::start(tree.path(), &[]);
    let m = Mounted::new(&server.url("/"), &server.password, "");
    let mp = m.path();

    // readdir gives the disk's bytes.
    assert_eq!(disk_names(mp), disk_names(tree.path()));
    assert_eq!(
        std::fs::read(raw(mp, b"caf\xe9.txt")).unwrap(),
        b"latin-1 name"
    );
    assert_eq!(
        std::fs::read(raw(mp, b"d\xfcr/s\xfc\xdf.txt")).unwrap(),
        b"inside"
    );
    // Shell tools on such names: cp in, mv, rm.
    let sh = |script: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(mp)
            .output()
            .unwrap();
        assert!(out.status.success(), "{script}: {out:?}");
    };
    sh("printf 'copied' > \"$(printf 'n\\351u.txt')\"");
    sh("mv \"$(printf 'caf\\351.txt')\" \"$(printf 'd\\374r/caf\\351 moved.txt')\"");
    sh("rm \"$(printf 'd\\374r/s\\374\\337.txt')\"");
    assert_eq!(
        std::fs::read(raw(tree.path(), b"n\xe9u.txt")).unwrap(),
        b"copied"
    );
    assert_eq!(
        disk_names(&raw(tree.path(), b"d\xfcr")),
        [b"caf\xe9 moved.txt".to_vec()]
    );
    // A name whose UTF-8 holds a character of ftpfs's escape range is no different.
    let odd = "x\u{F7E9}.txt";
    std::fs::write(mp.join(odd), b"odd").unwrap();
    assert_eq!(std::fs::read(tree.path().join(odd)).unwrap(), b"odd");
    assert!(disk_names(mp).contains(&odd.as_bytes().to_vec()));
    // 255 bytes are a name; 256 are ENAMETOOLONG, as on a local disk, and nothing reaches the
    // server.
    std::fs::write(mp.join("k".repeat(255)), b"long").unwrap();
    assert_eq!(
        std::fs::read(tree.path().join("k".repeat(255))).unwrap(),
        b"long"
    );
    let e = std::fs::write(mp.join("n".repeat(256)), b"x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENAMETOOLONG), "{e}");
    assert!(!disk_names(tree.path())
        .iter()
        .any(|n| n.starts_with(b"nnn")));
}

#[test]
fn a_mount_with_an_encoding_shows_utf8_and_refuses_what_it_cannot_write() {
    let tree = latin1_tree();
    let server = Vsftpd::start(tree.path(), &[]);
    let m = Mounted::new(&server.url("/"), &server.password, "encoding=latin1");
    let mp = m.path();

    let mut names: Vec<String> = std::fs::read_dir(mp)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["café.txt", "dür", "utf8 Ã©.txt"]);
    assert_eq!(std::fs::read(mp.join("dür/süß.txt")).unwrap(), b"inside");
    std::fs::write(mp.join("dür/naïve.txt"), b"typed in UTF-8").unwrap();
    assert_eq!(
        std::fs::read(raw(tree.path(), b"d\xfcr/na\xefve.txt")).unwrap(),
        b"typed in UTF-8"
    );
    let e = std::fs::write(mp.join("日本.txt"), b"x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EILSEQ), "{e}");
    let e = std::fs::write(raw(mp, b"caf\xe9 raw.txt"), b"x").unwrap_err();
    assert_eq!(
        e.raw_os_error(),
        Some(libc::EILSEQ),
        "bytes that are not UTF-8: {e}"
    );
    assert_eq!(disk_names(tree.path()).len(), 3, "nothing was created");
}

#[test]
fn the_probe_points_to_the_encoding_option_when_names_are_not_utf8() {
    let tree = latin1_tree();
    let server = Vsftpd::start(tree.path(), &[]);
    let probe = |opts: &[&str]| {
        let out = Command::new(BIN)
            .arg("--probe")
            .arg(server.url("/"))
            .args(opts)
            .env("FTPFS_PASSWORD", &server.password)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let text = probe(&[]);
    let names = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("names: "))
        .unwrap_or_else(|| panic!("no names line in:\n{text}"));
    assert!(
        names.contains("2 name(s) in the mounted directory are not UTF-8")
            && names.contains("encoding="),
        "{names}"
    );
    let text = probe(&["-o", "encoding=latin1"]);
    assert!(text.contains("windows-1252 (-o encoding=)"), "{text}");
}
