//! Layer 2, the writeback journal over the in-memory store: a mount that dies with uploads pending
//! (the core dropped without its shutdown, as `kill -9` leaves it) leaves records that the next
//! core of the same journal uploads; a file changed on the server meanwhile is not overwritten but
//! joined by a conflict copy; uploads that completed, and files deleted, leave no record.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ftpfs::config::FsConfig;
use ftpfs::fs::inode::ROOT_INO;
use ftpfs::fs::{journal, FtpFs, OpenMode};
use ftpfs::remote::mem::MemStore;
use support::core::{core_config, ino, name, no_temp_files};

fn config(cache: &Path) -> FsConfig {
    FsConfig {
        cache_dir: cache.join("spool"),
        writeback: true,
        journal_dir: Some(journal::dir_for(&cache.join("spool"), "ftp://test@mem/")),
        ..core_config()
    }
}

fn journal_of(cache: &Path) -> PathBuf {
    config(cache).journal_dir.unwrap()
}

/// Writes `data` to `file` in the root through a writeback close (no worker runs: it stays
/// pending).
fn close_pending(fs: &FtpFs<MemStore>, file: &str, data: &[u8]) {
    let (_, o) = fs
        .create(ROOT_INO, name(file), OpenMode::WRITE, false)
        .unwrap();
    if !data.is_empty() {
        fs.write(o.fh, 0, data).unwrap();
    }
    fs.flush(o.fh).unwrap();
    fs.release(o.fh);
}

/// The core ends as a killed process does: no shutdown, no destructor.
fn crash(fs: FtpFs<MemStore>) {
    std::mem::forget(fs);
}

#[test]
fn a_crash_with_pending_uploads_is_recovered_by_the_next_mount() {
    let cache = tempfile::tempdir().unwrap();
    let store = Arc::new(MemStore::new());
    store.add_file("/old.txt", "the server's version");
    let fs = FtpFs::new(Arc::clone(&store), config(cache.path()));
    close_pending(&fs, "new.bin", &vec![7u8; 300_000]);
    close_pending(&fs, "empty", b"");
    let o = fs.open(ino(&fs, "/old.txt"), OpenMode::WRITE).unwrap();
    fs.write(o.fh, 0, b"THE").unwrap();
    fs.flush(o.fh).unwrap();
    fs.release(o.fh);
    assert_eq!(journal::pending(&journal_of(cache.path())).len(), 3);
    crash(fs);
    assert!(store.content("/new.bin").is_none());

    let next = FtpFs::new(Arc::clone(&store), config(cache.path()));
    assert_eq!(next.recover_pending(), (3, 0));
    assert_eq!(store.content("/new.bin").unwrap(), vec![7u8; 300_000]);
    assert_eq!(store.content("/empty").unwrap(), b"");
    assert_eq!(store.content("/old.txt").unwrap(), b"THE server's version");
    assert!(journal::pending(&journal_of(cache.path())).is_empty());
    no_temp_files(&store);
    // Nothing is uploaded twice.
    assert_eq!(next.recover_pending(), (0, 0));
}

#[test]
fn a_file_changed_on_the_server_meanwhile_gets_a_conflict_copy() {
    let cache = tempfile::tempdir().unwrap();
    let store = Arc::new(MemStore::new());
    store.add_file("/doc.txt", "version 1");
    let fs = FtpFs::new(Arc::clone(&store), config(cache.path()));
    let o = fs.open(ino(&fs, "/doc.txt"), OpenMode::WRITE).unwrap();
    fs.write(o.fh, 9, b" + my change").unwrap();
    fs.flush(o.fh).unwrap();
    fs.release(o.fh);
    close_pending(&fs, "mine", b"created here");
    crash(fs);
    // Meanwhile someone else changed doc.txt and created their own "mine".
    store.add_file("/doc.txt", "version 2 by someone else");
    store.add_file("/mine", "theirs");

    let next = FtpFs::new(Arc::clone(&store), config(cache.path()));
    assert_eq!(next.recover_pending(), (2, 0));
    assert_eq!(
        store.content("/doc.txt").unwrap(),
        b"version 2 by someone else"
    );
    assert_eq!(store.content("/mine").unwrap(), b"theirs");
    let conflicts: Vec<String> = store
        .paths()
        .into_iter()
        .filter(|p| p.contains(".ftpfs-conflict-"))
        .collect();
    assert_eq!(conflicts.len(), 2, "{conflicts:?}");
    for c in conflicts {
        let data = store.content(&c).unwrap();
        if c.starts_with("/doc.txt.") {
            assert_eq!(data, b"version 1 + my change");
        } else {
            assert!(c.starts_with("/mine."), "{c}");
            assert_eq!(data, b"created here");
        }
    }
}

#[test]
fn uploads_done_and_files_deleted_leave_no_record() {
    let cache = tempfile::tempdir().unwrap();
    let store = Arc::new(MemStore::new());
    let fs = Arc::new(FtpFs::new(Arc::clone(&store), config(cache.path())));
    close_pending(&fs, "kept", b"kept");
    close_pending(&fs, "gone", b"gone");
    fs.unlink(ROOT_INO, name("gone")).unwrap();
    fs.start_writeback(2).unwrap();
    assert_eq!(fs.shutdown(), 0);
    assert_eq!(store.content("/kept").unwrap(), b"kept");
    assert!(store.content("/gone").is_none());
    let dir = journal_of(cache.path());
    assert!(journal::pending(&dir).is_empty());
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "files left in the journal"
    );
}
