//! Layer 4, `-o writeback` on a real mount against vsftpd: closes return while the server is frozen
//! (the data is safe locally), the files show and read back at once, `.ftpfs-stats` counts them
//! pending, and once the server answers again every file arrives on its disk byte for byte.

mod support;

use std::time::{Duration, Instant};

use support::mount::{digests, Mounted};
use support::{make_tree, vsftpd::Vsftpd, FtpServer};

/// The `uploads pending: N (B bytes)` figures of the mount's statistics.
fn pending(mp: &std::path::Path) -> (u64, u64) {
    let stats = std::fs::read_to_string(mp.join(".ftpfs-stats")).unwrap();
    let line = stats
        .lines()
        .find_map(|l| l.strip_prefix("uploads pending: "))
        .unwrap_or_else(|| panic!("no pending line in {stats}"));
    let (n, rest) = line.split_once(" (").unwrap();
    let bytes = rest.trim_end_matches(" bytes)");
    (n.parse().unwrap(), bytes.parse().unwrap())
}

#[test]
fn closes_return_while_the_server_is_frozen_and_the_files_arrive_after() {
    let root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    // 200 files of 0-8 KiB in one directory, as a `cp` of many small files makes them.
    make_tree(local.path(), 1, 200, 77);
    let src = local.path().join("d000");
    let mut server = Vsftpd::start(root.path(), &[]);
    let m = Mounted::with_log(
        &server.url("/"),
        &server.password,
        &format!("writeback,timeout=3,cache_dir={}", cache.path().display()),
    );
    let mp = m.path();
    // Made through the mount (the server's user owns it); its listing is known before the
    // server stops answering.
    std::fs::create_dir(mp.join("in")).unwrap();
    assert_eq!(std::fs::read_dir(mp.join("in")).unwrap().count(), 0);
    server.freeze();
    let t = Instant::now();
    let cp = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cp {}/* {}/",
            src.display(),
            mp.join("in").display()
        ))
        .status()
        .unwrap();
    let took = t.elapsed();
    assert!(
        cp.success(),
        "cp into a writeback mount failed; log:\n{}",
        m.log()
    );
    assert!(
        took < Duration::from_secs(3),
        "the closes waited for the frozen server: {took:?}"
    );
    // Everything shows and reads back at once, from the spool.
    if let Err(e) = std::fs::read(mp.join("in/f0000.txt")) {
        panic!("reading a pending file: {e}; log:\n{}", m.log());
    }
    assert_eq!(digests(&src), digests(&mp.join("in")));
    let (files, bytes) = pending(mp);
    let total: u64 = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!((files, bytes), (200, total), "pending while frozen");
    server.thaw();
    let deadline = Instant::now() + Duration::from_secs(60);
    while pending(mp).0 > 0 {
        assert!(
            Instant::now() < deadline,
            "uploads still pending a minute after the thaw: {:?}; log:\n{}",
            pending(mp),
            m.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let uploaded = t.elapsed();
    assert_eq!(digests(&src), digests(&root.path().join("in")));
    eprintln!(
        "WRITEBACK 200 files: cp returned in {took:?} with the server frozen; all on the \
         server's disk {uploaded:?} after the start"
    );
}
