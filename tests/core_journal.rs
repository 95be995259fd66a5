//! Layer 2, the writeback journal over the in-memory store: a mount that dies with uploads pending
//! (the core dropped without its shutdown, as `kill -9` leaves it) leaves records that the next
//! core of the same journal uploads; a file changed on the server meanwhile is not overwritten but
//! joined by a conflict copy; uploads that completed, and files deleted, leave no record. A rename
//! of a pending file (or of a directory holding some) and an unlink reach the journal before
//! they return: a crash right after them uploads under the new names, and nothing deleted.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ftpfs::config::FsConfig;
use ftpfs::fs::inode::ROOT_INO;
use ftpfs::fs::{journal, FtpFs, RenameMode};
use ftpfs::remote::mem::{MemStore, Op};
use support::core::{
    core_config, name, no_temp_files, parent_and_name, paths_where, write_at, write_new,
};

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

/// The next mount of the same server and journal.
fn next_mount(store: &Arc<MemStore>, cache: &Path) -> FtpFs<MemStore> {
    FtpFs::new(Arc::clone(store), config(cache))
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
    write_new(&fs, "/new.bin", &vec![7u8; 300_000]);
    write_new(&fs, "/empty", b"");
    write_at(&fs, "/old.txt", 0, b"THE");
    assert_eq!(journal::pending(&journal_of(cache.path())).len(), 3);
    crash(fs);
    assert!(store.content("/new.bin").is_none());

    let next = next_mount(&store, cache.path());
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
    write_at(&fs, "/doc.txt", 9, b" + my change");
    write_new(&fs, "/mine", b"created here");
    crash(fs);
    // Meanwhile someone else changed doc.txt and created their own "mine".
    store.add_file("/doc.txt", "version 2 by someone else");
    store.add_file("/mine", "theirs");

    let next = next_mount(&store, cache.path());
    assert_eq!(next.recover_pending(), (2, 0));
    assert_eq!(
        store.content("/doc.txt").unwrap(),
        b"version 2 by someone else"
    );
    assert_eq!(store.content("/mine").unwrap(), b"theirs");
    let conflicts = paths_where(&store, |p| p.contains(".ftpfs-conflict-"));
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
    write_new(&fs, "/kept", b"kept");
    write_new(&fs, "/gone", b"gone");
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

fn rename(fs: &FtpFs<MemStore>, from: &str, to: &str) {
    let (parent, file) = parent_and_name(fs, from);
    let (newparent, newfile) = parent_and_name(fs, to);
    fs.rename(parent, file, newparent, newfile, RenameMode::default())
        .unwrap();
}

#[test]
fn a_rename_of_a_pending_file_reaches_the_journal_before_a_crash() {
    let cache = tempfile::tempdir().unwrap();
    let store = Arc::new(MemStore::new());
    store.add_file("/edited.txt", "server text");
    let fs = FtpFs::new(Arc::clone(&store), config(cache.path()));
    write_new(&fs, "/new.txt", b"created here");
    write_at(&fs, "/edited.txt", 0, b"SERVER");
    // And one renamed over a pending file: that one's data must not come back either.
    write_new(&fs, "/target.txt", b"replaced");
    rename(&fs, "/new.txt", "/renamed.txt");
    rename(&fs, "/edited.txt", "/moved.txt");
    rename(&fs, "/renamed.txt", "/target.txt");
    assert_eq!(store.count(Op::OpenWrite), 0, "uploads are held back");
    crash(fs);
    assert_eq!(next_mount(&store, cache.path()).recover_pending(), (2, 0));
    assert_eq!(store.content("/target.txt").unwrap(), b"created here");
    assert_eq!(store.content("/moved.txt").unwrap(), b"SERVER text");
    for old in ["/new.txt", "/renamed.txt", "/edited.txt"] {
        assert!(store.content(old).is_none(), "{old} is back");
    }
    no_temp_files(&store);
    assert!(journal::pending(&journal_of(cache.path())).is_empty());
}

#[test]
fn a_rename_of_a_directory_holding_pending_files_reaches_the_journal_before_a_crash() {
    let cache = tempfile::tempdir().unwrap();
    let store = Arc::new(MemStore::new());
    store.add_dir("/dir/sub");
    store.add_file("/dir/sub/old.txt", "on the server");
    let fs = FtpFs::new(Arc::clone(&store), config(cache.path()));
    write_new(&fs, "/dir/a.txt", b"file a");
    write_new(&fs, "/dir/sub/b.txt", b"file b");
    write_at(&fs, "/dir/sub/old.txt", 0, b"ON");
    rename(&fs, "/dir", "/renamed");
    assert_eq!(store.count(Op::OpenWrite), 0, "uploads are held back");
    crash(fs);
    assert_eq!(next_mount(&store, cache.path()).recover_pending(), (3, 0));
    assert_eq!(store.content("/renamed/a.txt").unwrap(), b"file a");
    assert_eq!(store.content("/renamed/sub/b.txt").unwrap(), b"file b");
    assert_eq!(
        store.content("/renamed/sub/old.txt").unwrap(),
        b"ON the server"
    );
    let under_old = paths_where(&store, |p| p.starts_with("/dir"));
    assert!(under_old.is_empty(), "under the old name: {under_old:?}");
    no_temp_files(&store);
}

#[test]
fn an_unlink_of_a_pending_file_reaches_the_journal_before_a_crash() {
    let cache = tempfile::tempdir().unwrap();
    let store = Arc::new(MemStore::new());
    let fs = FtpFs::new(Arc::clone(&store), config(cache.path()));
    write_new(&fs, "/gone.txt", b"deleted before its upload");
    write_new(&fs, "/kept.txt", b"kept");
    fs.unlink(ROOT_INO, name("gone.txt")).unwrap();
    assert_eq!(journal::pending(&journal_of(cache.path())).len(), 1);
    crash(fs);
    assert_eq!(next_mount(&store, cache.path()).recover_pending(), (1, 0));
    assert_eq!(store.content("/kept.txt").unwrap(), b"kept");
    assert!(
        store.content("/gone.txt").is_none(),
        "a deleted file came back"
    );
}
