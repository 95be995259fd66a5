//! Layer 2, `-o writeback` over the in-memory store: a writer's close returns with the data in the
//! local spool and no round trip; the upload comes later from the background workers, which retry a
//! failed one; pending files show in listings, `stat` and reads, and a rename, an unlink or an
//! overwrite of a pending file uploads the right data under the right name, or nothing. `fsync` and
//! the unmount wait for the server.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ftpfs::fs::inode::ROOT_INO;
use ftpfs::fs::{FtpFs, OpenMode};
use ftpfs::remote::mem::{MemStore, Op};
use ftpfs::remote::RemoteError;
use support::core::{ino, ls, name, no_temp_files, read_back, setup_with, Setup};

type Fs = Arc<FtpFs<MemStore>>;

fn writeback() -> (Arc<MemStore>, Fs, tempfile::TempDir) {
    let Setup { store, fs, cache } = setup_with(|c| c.writeback = true);
    (store, Arc::new(fs), cache)
}

/// Creates `path` in the root, writes `data` and closes it; returns how long the close took.
fn write_file(fs: &Fs, file: &str, data: &[u8]) -> Duration {
    let (_, o) = fs
        .create(ROOT_INO, name(file), OpenMode::WRITE, false)
        .unwrap();
    fs.write(o.fh, 0, data).unwrap();
    let t = Instant::now();
    fs.flush(o.fh).unwrap();
    fs.release(o.fh);
    t.elapsed()
}

/// Waits (at most 10 s) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn pending(fs: &Fs) -> (usize, u64) {
    let r = fs.report();
    (r.uploads_pending, r.pending_bytes)
}

#[test]
fn a_close_returns_before_any_upload_and_the_workers_upload_later() {
    let (store, fs, _cache) = writeback();
    for i in 0..20 {
        write_file(&fs, &format!("f{i}"), format!("file {i}\n").as_bytes());
    }
    // No worker yet: nothing went to the server, everything shows and reads.
    assert_eq!(
        store.count(Op::OpenWrite),
        0,
        "a close waited for an upload"
    );
    assert_eq!(ls(&fs, ROOT_INO).len(), 20);
    assert_eq!(fs.getattr(ino(&fs, "/f7")).unwrap().size, 7);
    let o = fs.open(ino(&fs, "/f7"), OpenMode::READ).unwrap();
    assert_eq!(read_back(&fs, o.fh, 100), b"file 7\n");
    fs.release(o.fh);
    assert_eq!(pending(&fs), (20, 7 * 10 + 8 * 10));
    fs.start_writeback(3).unwrap();
    eventually("all 20 files on the server", || {
        (0..20).all(|i| store.content(&format!("/f{i}")).is_some())
    });
    for i in 0..20 {
        assert_eq!(
            store.content(&format!("/f{i}")).unwrap(),
            format!("file {i}\n").as_bytes()
        );
    }
    eventually("nothing pending", || pending(&fs) == (0, 0));
    no_temp_files(&store);
    assert_eq!(fs.shutdown(), 0);
}

#[test]
fn a_failed_background_upload_is_retried_never_dropped() {
    let (store, fs, _cache) = writeback();
    for _ in 0..3 {
        store.fail_next(Op::OpenWrite, RemoteError::Connection("refused".into()));
    }
    // The close does not see the server's trouble.
    write_file(&fs, "a", b"precious");
    fs.start_writeback(1).unwrap();
    // Pauses of 1, 2 and 4 s before the fourth attempt.
    let t = Instant::now();
    eventually("the upload after three failures", || {
        store.content("/a").is_some()
    });
    assert!(t.elapsed() >= Duration::from_secs(6), "{:?}", t.elapsed());
    assert_eq!(store.content("/a").unwrap(), b"precious");
    assert_eq!(store.count(Op::OpenWrite), 4);
    fs.shutdown();
}

#[test]
fn renames_unlinks_and_overwrites_of_pending_files_upload_the_right_data() {
    let (store, fs, _cache) = writeback();
    store.add_file("/old", "on the server");
    write_file(&fs, "a", b"renamed");
    fs.rename(ROOT_INO, name("a"), ROOT_INO, name("b"), Default::default())
        .unwrap();
    write_file(&fs, "c", b"removed");
    fs.unlink(ROOT_INO, name("c")).unwrap();
    write_file(&fs, "d", b"one");
    write_file(&fs, "d", b"two, longer");
    write_file(&fs, "e", b"over the old one");
    fs.rename(
        ROOT_INO,
        name("e"),
        ROOT_INO,
        name("old"),
        Default::default(),
    )
    .unwrap();
    assert_eq!(ls(&fs, ROOT_INO), ["b", "d", "old"]);
    fs.start_writeback(2).unwrap();
    assert_eq!(fs.shutdown(), 0);
    assert_eq!(store.content("/b").unwrap(), b"renamed");
    assert!(store.content("/a").is_none());
    assert!(store.content("/c").is_none());
    assert_eq!(store.content("/d").unwrap(), b"two, longer");
    assert_eq!(store.content("/old").unwrap(), b"over the old one");
    assert!(store.content("/e").is_none());
    no_temp_files(&store);
}

#[test]
fn fsync_waits_for_the_server() {
    let (store, fs, _cache) = writeback();
    let (_, o) = fs
        .create(ROOT_INO, name("s"), OpenMode::WRITE, false)
        .unwrap();
    fs.write(o.fh, 0, b"synced").unwrap();
    fs.fsync(o.fh).unwrap();
    assert_eq!(store.content("/s").unwrap(), b"synced");
    fs.flush(o.fh).unwrap();
    fs.release(o.fh);
    assert_eq!(pending(&fs), (0, 0));
}

#[test]
fn the_unmount_waits_for_pending_uploads() {
    let (store, fs, _cache) = writeback();
    for i in 0..5 {
        write_file(&fs, &format!("u{i}"), &vec![i as u8; 100_000]);
    }
    assert_eq!(pending(&fs), (5, 500_000));
    fs.start_writeback(2).unwrap();
    assert_eq!(fs.shutdown(), 0);
    for i in 0..5 {
        assert_eq!(
            store.content(&format!("/u{i}")).unwrap(),
            vec![i as u8; 100_000]
        );
    }
}
