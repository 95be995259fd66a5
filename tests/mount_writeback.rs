//! Layer 4, `-o writeback` on a real mount against vsftpd: closes return while the server is frozen
//! (the data is safe locally), the files show and read back at once, `.ftpfs-stats` counts them
//! pending, and once the server answers again every file arrives on its disk byte for byte.

mod support;

use std::time::{Duration, Instant};

use support::mount::{digests, Mounted, Tmpfs};
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
    // Each close that waited for the frozen server would take its timeout (3 s): 200 of them
    // ten minutes. Each pays a flush of the local disk instead (the journal).
    assert!(
        took < Duration::from_secs(30),
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

/// `kill -9` of a writeback mount with uploads pending (the server frozen, so none went): the data
/// stays in the journal, `ftpfs --pending URL` lists it, and the next mount of the same server
/// uploads it before it is served.
#[test]
fn a_killed_mount_leaves_its_pending_uploads_to_the_next() {
    let root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut server = Vsftpd::start(root.path(), &[]);
    let opts = format!("cache_dir={}", cache.path().display());
    let m = Mounted::new(
        &server.url("/"),
        &server.password,
        &format!("writeback,timeout=3,{opts}"),
    );
    let mp = m.path().to_path_buf();
    std::fs::create_dir(mp.join("in")).unwrap();
    assert_eq!(std::fs::read_dir(mp.join("in")).unwrap().count(), 0);
    server.freeze();
    let files: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| {
            (
                format!("f{i:02}"),
                format!("pending file {i}\n").repeat(i + 1).into_bytes(),
            )
        })
        .collect();
    for (name, data) in &files {
        std::fs::write(mp.join("in").join(name), data).unwrap();
    }
    let pid = m.daemon_pid();
    // SAFETY: kill(2) on the ftpfs daemon this test started.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
    drop(m); // the dead mount is unmounted (fusermount3 -u works on it)
    server.thaw();
    let listed = std::process::Command::new(support::mount::BIN)
        .args(["--pending", &server.url("/"), "-o", &opts])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.status.success(), "--pending failed: {out}");
    assert!(out.contains("20 upload(s) pending"), "{out}");
    for (name, _) in &files {
        assert!(
            out.contains(&format!("/in/{name}\t")),
            "{name} not listed: {out}"
        );
    }
    assert!(std::fs::read_dir(root.path().join("in"))
        .unwrap()
        .next()
        .is_none());
    // The next mount (without writeback) uploads them before it is ready.
    let again = Mounted::with_log(&server.url("/"), &server.password, &opts);
    for (name, data) in &files {
        let on_disk = std::fs::read(root.path().join("in").join(name)).unwrap_or_default();
        assert!(
            on_disk == *data,
            "{name} not recovered; log:\n{}",
            again.log()
        );
    }
    assert!(
        again.log().contains("20 uploaded, 0 still pending"),
        "{}",
        again.log()
    );
    let listed = std::process::Command::new(support::mount::BIN)
        .args(["--pending", &server.url("/"), "-o", &opts])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains(": 0 upload(s) pending"));
}

/// A full server disk with `writeback`: the close returns (the data is local), `fsync` then says
/// why the upload fails (ENOSPC, or EIO for vsftpd's 451), the log names the file, nothing partial
/// stays on the server, and the data is still in the mount, whole.
#[test]
fn a_full_server_disk_reaches_fsync_and_the_log_and_the_data_stays() {
    let tmpfs = Tmpfs::new("16m");
    let cache = tempfile::tempdir().unwrap();
    let server = Vsftpd::start(tmpfs.path(), &[]);
    let m = Mounted::with_log(
        &server.url("/"),
        &server.password,
        &format!("writeback,cache_dir={}", cache.path().display()),
    );
    let data: Vec<u8> = (0..32u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 7) as u8)
        .collect();
    let path = m.path().join("big.bin");
    std::fs::write(&path, &data).expect("a writeback close returns once the data is local");
    let err = std::fs::File::open(&path)
        .unwrap()
        .sync_all()
        .expect_err("fsync of 32 MiB onto a 16 MiB server succeeded");
    assert!(
        matches!(err.raw_os_error(), Some(libc::ENOSPC | libc::EIO)),
        "fsync: {err}; log:\n{}",
        m.log()
    );
    let log = m.log();
    assert!(log.contains("big.bin") && log.contains("WARN"), "{log}");
    // Nothing partial under the real name (a background retry may be writing its temporary
    // name right now: that one goes when it fails, or after the rm below).
    assert!(
        !tmpfs.path().join("big.bin").exists(),
        "a partial big.bin on the server"
    );
    assert!(
        std::fs::read(&path).unwrap() == data,
        "the data is not kept whole in the mount"
    );
    // Removed by the user, it is gone for good (no upload retried forever).
    std::fs::remove_file(&path).unwrap();
    assert!(!path.exists());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left: Vec<_> = std::fs::read_dir(tmpfs.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left on the server after rm: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
