//! The server matrix: one kernel-mount smoke test, the same body, against every real FTP server
//! the tests can start: vsftpd chrooted and not chrooted, ProFTPD with and without `DefaultRoot`,
//! Pure-FTPd, pyftpdlib, libunftp and GNU inetutils ftpd (one `#[test]` per server, so that a
//! failure names the server). The body drives the mount with shell tools (ls -l, stat, cat,
//! sha256sum, cp, >>, mkdir, mv, rm, rmdir) on names with spaces and UTF-8, and checks every
//! result on the served directory's disk, not only through the mount. A server that is not
//! installed fails its test (scripts/test.sh installs or unpacks them all).

mod support;

use std::path::Path;
use std::time::Instant;

use support::mount::{digests, sh, Mounted};
use support::servers::inetutils::InetutilsFtpd;
use support::servers::proftpd::{Login, Proftpd};
use support::servers::pureftpd::PureFtpd;
use support::servers::pyftpdlib::Pyftpdlib;
use support::{make_random_file, sha256_file, unftp::Unftp, vsftpd::Vsftpd, FtpServer};

const HELLO: &str = "hello from the server's disk\n";
const SPACED: &str = "a name with a space\n";
const UTF8: &str = "a UTF-8 name\n";

/// A served directory with files the smoke test expects, made before the server starts (the
/// servers that log in the local test user hand it the whole tree at start).
fn seeded_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let p = root.path();
    std::fs::write(p.join("hello.txt"), HELLO).unwrap();
    std::fs::write(p.join("a b.txt"), SPACED).unwrap();
    std::fs::write(p.join("café ünï.txt"), UTF8).unwrap();
    make_random_file(&p.join("sub dir/data.bin"), 300_000, 11);
    std::fs::create_dir(p.join("old dir")).unwrap();
    root
}

/// The smoke body: mounts `url`, whose served directory on disk is `disk`, and works in it.
fn smoke(server: &str, url: &str, password: &str, disk: &Path) {
    let started = Instant::now();
    let cache = tempfile::tempdir().unwrap();
    let opts = format!("cache_dir={}", cache.path().display());
    let m = Mounted::with_log(url, password, &opts);
    let log = LogOnPanic(&m);
    let mnt = m.path();

    list_matches_the_disk(mnt, disk);
    for name in ["hello.txt", "a b.txt", "café ünï.txt", "sub dir", "old dir"] {
        let meta = std::fs::metadata(disk.join(name)).unwrap();
        let (size, kind) = if meta.is_dir() {
            (None, "directory")
        } else {
            (Some(meta.len()), "regular file")
        };
        let stat = sh(&format!("stat -c '%s|%F' '{name}'"), mnt);
        let (shown_size, shown_kind) = stat.trim().split_once('|').unwrap();
        assert_eq!(shown_kind, kind, "stat of {name:?}");
        if let Some(size) = size {
            assert_eq!(shown_size, size.to_string(), "stat size of {name:?}");
        }
    }

    assert_eq!(sh("cat 'café ünï.txt'", mnt), UTF8);
    let sum = sh("cat 'sub dir/data.bin' | sha256sum", mnt);
    assert_eq!(
        sum.split_whitespace().next(),
        Some(sha256_file(&disk.join("sub dir/data.bin")).as_str()),
        "sha256 of a 300 kB file read through the mount"
    );

    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("in.bin");
    make_random_file(&src, 1_500_000, 12);
    sh(
        &format!("cp '{}' 'sub dir/copied in.bin'", src.display()),
        mnt,
    );
    assert_eq!(
        sha256_file(&disk.join("sub dir/copied in.bin")),
        sha256_file(&src),
        "cp in: the file on the server's disk"
    );

    sh("printf 'appended\\n' >> 'a b.txt'", mnt);
    assert_eq!(read(disk, "a b.txt"), format!("{SPACED}appended\n"));

    sh("mkdir 'new dir'", mnt);
    assert!(disk.join("new dir").is_dir(), "mkdir on the server's disk");
    sh("printf 'made here\\n' > 'new dir/née ünï.txt'", mnt);
    assert_eq!(read(disk, "new dir/née ünï.txt"), "made here\n");

    sh("mv 'café ünï.txt' 'new dir/café moved.txt'", mnt);
    assert!(
        !disk.join("café ünï.txt").exists(),
        "mv: the old name is gone"
    );
    assert_eq!(read(disk, "new dir/café moved.txt"), UTF8);

    sh("rm hello.txt", mnt);
    assert!(!disk.join("hello.txt").exists(), "rm on the server's disk");
    sh("rmdir 'old dir'", mnt);
    assert!(!disk.join("old dir").exists(), "rmdir on the server's disk");

    assert_eq!(
        digests(mnt),
        digests(disk),
        "the mount and the disk at the end"
    );
    list_matches_the_disk(mnt, disk);
    drop(log);
    drop(m);
    println!("{server}: smoke passed in {:?}", started.elapsed());
}

/// Prints ftpfs's debug log when the test fails while it is alive.
struct LogOnPanic<'a>(&'a Mounted);

impl Drop for LogOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("ftpfs's log:\n{}", self.0.log());
        }
    }
}

/// `ls -l` of the mount's root names every entry of the disk's, with its type and (for files)
/// its size, and nothing else.
fn list_matches_the_disk(mnt: &Path, disk: &Path) {
    let listing = sh("ls -l --quoting-style=literal", mnt);
    let lines: Vec<&str> = listing
        .lines()
        .filter(|l| !l.starts_with("total "))
        .collect();
    let entries: Vec<_> = std::fs::read_dir(disk)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    assert_eq!(lines.len(), entries.len(), "ls -l:\n{listing}");
    for entry in entries {
        let name = entry.file_name().into_string().unwrap();
        let meta = entry.metadata().unwrap();
        let line = lines
            .iter()
            .find(|l| l.ends_with(&format!(" {name}")))
            .unwrap_or_else(|| panic!("{name:?} missing from ls -l:\n{listing}"));
        let fields: Vec<&str> = line.split_whitespace().collect();
        let kind = if meta.is_dir() { 'd' } else { '-' };
        assert!(fields[0].starts_with(kind), "type of {name:?}: {line}");
        if meta.is_file() {
            assert_eq!(
                fields[4],
                meta.len().to_string(),
                "size of {name:?}: {line}"
            );
        }
    }
}

fn read(disk: &Path, rel: &str) -> String {
    let path = disk.join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn vsftpd_chrooted() {
    let root = seeded_root();
    let server = Vsftpd::start(root.path(), &[]);
    smoke(
        "vsftpd chrooted",
        &server.url("/"),
        server.password(),
        root.path(),
    );
}

/// Not chrooted: the login directory is the served directory (`local_root`), not `/`.
#[test]
fn vsftpd_not_chrooted() {
    let root = seeded_root();
    let server = Vsftpd::start(root.path(), &[("chroot_local_user", "NO")]);
    smoke(
        "vsftpd not chrooted",
        &server.url("/"),
        server.password(),
        root.path(),
    );
}

#[test]
fn proftpd_with_default_root() {
    let root = seeded_root();
    let server = Proftpd::start(root.path(), Login::Chrooted);
    smoke(
        "ProFTPD DefaultRoot",
        &server.url("/"),
        server.password(),
        root.path(),
    );
}

/// Without `DefaultRoot`: the login directory (`DefaultChdir`) is the served directory.
#[test]
fn proftpd_without_default_root() {
    let root = seeded_root();
    let server = Proftpd::start(root.path(), Login::InDirectory);
    smoke(
        "ProFTPD no DefaultRoot",
        &server.url("/"),
        server.password(),
        root.path(),
    );
}

#[test]
fn pure_ftpd() {
    let root = seeded_root();
    let server = PureFtpd::start(root.path());
    smoke(
        "Pure-FTPd",
        &server.url("/"),
        server.password(),
        root.path(),
    );
}

#[test]
fn pyftpdlib() {
    let root = seeded_root();
    let server = Pyftpdlib::start(root.path());
    smoke(
        "pyftpdlib",
        &server.url("/"),
        server.password(),
        root.path(),
    );
}

#[test]
fn libunftp() {
    let root = seeded_root();
    let server = Unftp::start(root.path());
    smoke("libunftp", &server.url("/"), server.password(), root.path());
}

/// Sessions start in the test user's home; the served directory is mounted by its absolute path.
#[test]
fn inetutils_ftpd() {
    let root = seeded_root();
    let server = InetutilsFtpd::start(root.path());
    let url = server.url(&server.served_path());
    smoke("GNU inetutils ftpd", &url, server.password(), root.path());
}
