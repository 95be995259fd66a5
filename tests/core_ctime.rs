//! Layer 2: change times and the modes of new directories over the in-memory store (which, like
//! FTP servers, keeps no ctime). Every change made through the mount moves the ctime of what it
//! changed (chmod, utimens, truncate, rename, a write) and a directory that gains or loses an entry
//! shows a new mtime and ctime at once, although its parent's cached listing still holds the old
//! mtime; failed changes move nothing. An access time set through the mount is kept there (FTP has
//! none), and so is a directory's mtime that the server refuses to set, until the server shows a
//! later change. The upload a close makes keeps the times of the last write. `mkdir` with a mode
//! other than 0755 sends `SITE CHMOD`.

mod support;

use std::time::{Duration, SystemTime};

use ftpfs::fs::inode::ROOT_INO;
use ftpfs::fs::{Attr, FtpFs, OpenMode, RenameMode, SetAttr};
use ftpfs::remote::mem::{MemStore, Op};
use ftpfs::remote::{RemoteError, RemoteStore};
use support::core::{ino, name, setup, setup_with, Setup};

/// An hour ago: the time the server lists for everything in `site`.
fn old() -> SystemTime {
    SystemTime::now() - Duration::from_secs(3600)
}

/// A store with `/d` (a directory holding `/d/f`) and `/g`, all listed an hour old.
fn site() -> Setup {
    let s = setup();
    s.store.add_dir("/d");
    s.store.add_dir("/g");
    s.store.add_file_with_mtime("/d/f", "hello", old());
    s.store.add_file_with_mtime("/d/keep", "x", old());
    s
}

fn stat(fs: &FtpFs<MemStore>, path: &str) -> Attr {
    fs.getattr(ino(fs, path)).unwrap()
}

/// Runs `change` and checks that `path`'s ctime moved to the time of the change.
fn ctime_moves(fs: &FtpFs<MemStore>, path: &str, change: impl FnOnce()) -> Attr {
    let before = stat(fs, path);
    let t = SystemTime::now();
    change();
    let after = stat(fs, path);
    assert!(
        after.ctime >= t && after.ctime > before.ctime,
        "{path}: ctime {:?} before, {:?} after a change at {t:?}",
        before.ctime,
        after.ctime
    );
    after
}

/// Applies `change` to `/d/f` and checks that its ctime moved; returns the attributes after.
fn set_on_f(s: &Setup, change: SetAttr) -> Attr {
    let f = ino(&s.fs, "/d/f");
    ctime_moves(&s.fs, "/d/f", || {
        s.fs.setattr(f, None, change).unwrap();
    })
}

#[test]
fn without_changes_the_ctime_is_the_listed_mtime() {
    let s = site();
    let a = stat(&s.fs, "/d/f");
    assert_eq!(a.ctime, a.mtime);
    assert!(a.mtime < SystemTime::now() - Duration::from_secs(3000));
}

#[test]
fn chmod_moves_the_ctime_and_not_the_mtime() {
    let s = site();
    let before = stat(&s.fs, "/d/f");
    let after = set_on_f(
        &s,
        SetAttr {
            mode: Some(0o600),
            ..SetAttr::default()
        },
    );
    assert_eq!(after.mtime, before.mtime);
    assert_eq!(after.perm, 0o600);
}

#[test]
fn setting_an_old_mtime_still_moves_the_ctime() {
    let s = site();
    let past = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let after = set_on_f(
        &s,
        SetAttr {
            mtime: Some(past),
            ..SetAttr::default()
        },
    );
    assert_eq!(after.mtime, past);
}

#[test]
fn truncate_and_writes_move_mtime_and_ctime() {
    let s = site();
    let f = ino(&s.fs, "/d/f");
    let before = stat(&s.fs, "/d/f");
    let after = set_on_f(
        &s,
        SetAttr {
            size: Some(2),
            ..SetAttr::default()
        },
    );
    assert_eq!(after.size, 2);
    assert!(after.mtime > before.mtime && after.ctime >= after.mtime);
    std::thread::sleep(Duration::from_millis(20));
    let o = s.fs.open(f, OpenMode::WRITE).unwrap();
    let before = stat(&s.fs, "/d/f");
    let after = ctime_moves(&s.fs, "/d/f", || {
        s.fs.write(o.fh, 2, b"ya").unwrap();
    });
    assert!(after.mtime > before.mtime && after.ctime >= after.mtime);
    s.fs.flush(o.fh).unwrap();
    s.fs.release(o.fh);
}

#[test]
fn entries_added_or_removed_move_the_directory_times() {
    let s = site();
    let fs = &s.fs;
    let d = ino(fs, "/d");
    // Each change comes with the parent's listing of /d cached, and its mtime an old one.
    let moved = |change: &dyn Fn()| {
        let after = ctime_moves(fs, "/d", change);
        assert_eq!(after.mtime, after.ctime, "a new entry moves the mtime too");
    };
    moved(&|| {
        fs.mkdir(d, name("sub")).unwrap();
    });
    moved(&|| fs.rmdir(d, name("sub")).unwrap());
    moved(&|| {
        let (_, o) = fs.create(d, name("new"), OpenMode::WRITE, true).unwrap();
        fs.release(o.fh);
    });
    moved(&|| fs.unlink(d, name("new")).unwrap());
    let g = ino(fs, "/g");
    let keep_before = stat(fs, "/d/keep");
    let g_before = stat(fs, "/g");
    let renamed = ctime_moves(fs, "/d", || {
        fs.rename(d, name("keep"), g, name("kept"), RenameMode::default())
            .unwrap()
    });
    assert_eq!(renamed.mtime, renamed.ctime);
    let g_after = stat(fs, "/g");
    assert!(g_after.mtime > g_before.mtime && g_after.ctime > g_before.ctime);
    let kept = stat(fs, "/g/kept");
    assert_eq!(
        kept.mtime, keep_before.mtime,
        "a rename keeps the file's mtime"
    );
    assert!(kept.ctime > keep_before.ctime, "and moves its ctime");
}

#[test]
fn failed_changes_move_no_ctime() {
    let s = site();
    let fs = &s.fs;
    let d = ino(fs, "/d");
    let before = stat(fs, "/d");
    assert!(fs.mkdir(d, name("f")).is_err(), "f exists");
    assert!(fs.rmdir(d, name("f")).is_err(), "f is a file");
    assert!(fs.unlink(d, name("missing")).is_err());
    assert!(fs
        .rename(d, name("missing"), d, name("x"), RenameMode::default())
        .is_err());
    assert_eq!(stat(fs, "/d"), before);
}

#[test]
fn mkdir_sets_a_mode_other_than_0755_and_sends_nothing_for_0755() {
    let s = site();
    let a =
        s.fs.mkdir_with_perm(ROOT_INO, name("plain"), 0o755)
            .unwrap();
    assert_eq!(a.perm, 0o755);
    assert_eq!(s.store.count(Op::Chmod), 0);
    let a = s.fs.mkdir_with_perm(ROOT_INO, name("odd"), 0o151).unwrap();
    assert_eq!(a.perm, 0o151);
    assert_eq!(s.store.count(Op::Chmod), 1);
    assert_eq!(stat(&s.fs, "/odd").perm, 0o151, "the listing shows it too");
}

#[test]
fn an_access_time_set_through_the_mount_is_kept_and_moves_the_ctime() {
    let s = site();
    let before = stat(&s.fs, "/d/f");
    assert_eq!(
        before.atime, before.mtime,
        "without one, the atime is the mtime"
    );
    let a = SystemTime::UNIX_EPOCH + Duration::from_nanos(100_000_000_100_000_000);
    let after = set_on_f(
        &s,
        SetAttr {
            atime: Some(a),
            ..SetAttr::default()
        },
    );
    assert_eq!(after.atime, a, "to the nanosecond");
    assert_eq!(after.mtime, before.mtime);
    assert_eq!(s.store.count(Op::SetMtime), 0, "FTP has no access times");
    let d = ino(&s.fs, "/d");
    let g = ino(&s.fs, "/g");
    s.fs.rename(d, name("f"), g, name("f"), RenameMode::default())
        .unwrap();
    assert_eq!(stat(&s.fs, "/g/f").atime, a, "a rename keeps it");
}

#[test]
fn the_upload_at_close_does_not_move_the_times() {
    let s = site();
    let d = ino(&s.fs, "/d");
    let (_, o) = s.fs.create(d, name("new"), OpenMode::WRITE, true).unwrap();
    s.fs.write(o.fh, 0, b"data").unwrap();
    let written = stat(&s.fs, "/d/new");
    std::thread::sleep(Duration::from_millis(20));
    s.fs.flush(o.fh).unwrap();
    s.fs.release(o.fh);
    assert_eq!(s.store.count(Op::FinishWrite), 1, "uploaded");
    assert_eq!(stat(&s.fs, "/d/new"), written);
}

#[test]
fn a_directory_time_the_server_refuses_is_kept_until_the_server_shows_a_later_change() {
    let s = setup_with(|c| c.dir_cache_ttl = Duration::from_millis(200));
    s.store.add_dir("/d");
    let fs = &s.fs;
    let d = ino(fs, "/d");
    let (atime, mtime) = (
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_950_000_000),
    );
    // vsftpd answers 550 to MDTM and MFMT on a directory.
    let refused = || RemoteError::NotFound("550 Could not set file modification time.".into());
    s.store.fail_next(Op::SetMtime, refused());
    let change = SetAttr {
        atime: Some(atime),
        mtime: Some(mtime),
        ..SetAttr::default()
    };
    let a = fs.setattr(d, None, change).unwrap();
    assert_eq!((a.atime, a.mtime), (atime, mtime));
    // Listed again from the server, which still has its own time: ours stands.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(stat(fs, "/d").mtime, mtime);
    // An entry added through the mount moves it, as on any file system.
    let before = SystemTime::now();
    fs.mkdir(d, name("sub")).unwrap();
    let moved = stat(fs, "/d").mtime;
    assert!(moved >= before && moved < mtime, "{moved:?}");
    // Set again, then changed on the server later (by another client): the server's time shows.
    s.store.fail_next(Op::SetMtime, refused());
    fs.setattr(d, None, change).unwrap();
    assert_eq!(stat(fs, "/d").mtime, mtime);
    let theirs = SystemTime::now() + Duration::from_secs(10);
    s.store.set_mtime("/d", theirs).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(stat(fs, "/d").mtime, theirs);
}
