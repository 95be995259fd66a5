//! Layer 2, the write path: the filesystem core over the in-memory store. Streamed and spooled
//! uploads, truncation, renames, the errno of each refusal, times and modes after an upload.
//! Failures injected into uploads are in core_write_faults.rs.

mod support;

use std::time::{Duration, SystemTime};

use ftpfs::fs::inode::ROOT_INO;
use ftpfs::fs::{OpenMode, RenameMode, SetAttr};
use ftpfs::remote::mem::Op;
use ftpfs::remote::{RemoteError, RemoteStore};
use support::core::{
    close, create, ino, ls, name, no_temp_files, open_truncated, pattern, read_back, setup,
    setup_with, write_all, Setup,
};

#[test]
fn a_new_file_streams_and_lands_under_its_name_only_when_complete() {
    let Setup { store, fs, .. } = setup();
    store.add_dir("/d");
    let d = ino(&fs, "/d");
    let (attr, o) = fs.create(d, name("f.bin"), OpenMode::WRITE, true).unwrap();
    let lists = store.count(Op::List);
    assert_eq!(attr.size, 0);
    let data = pattern(3 << 20, 1);
    write_all(&fs, o.fh, 0, &data, 128 << 10);
    // Written but not closed: the name shows the local size; the server has nothing under it.
    assert_eq!(fs.getattr(attr.ino).unwrap().size, data.len() as u64);
    assert_eq!(ls(&fs, d), ["f.bin"]);
    assert!(store.content("/d/f.bin").is_none());
    fs.flush(o.fh).unwrap();
    assert_eq!(store.content("/d/f.bin").unwrap(), data);
    fs.release(o.fh);
    no_temp_files(&store);
    // One STOR to a temporary name, its size checked, one rename over the target.
    assert_eq!(store.count(Op::OpenWrite), 1);
    assert_eq!(store.count(Op::Size), 1);
    assert_eq!(store.count(Op::Rename), 1);
    // `ls -l` afterwards shows the size from our own change, without a new listing.
    assert_eq!(fs.lookup(d, name("f.bin")).unwrap().size, data.len() as u64);
    assert_eq!(store.count(Op::List), lists);
}

/// Data goes to the server once: a file being streamed is read back from the stream's local copy
/// (no download, and the upload goes on), and a write behind the stream's end turns the copy into
/// the spool (the upload so far ends and its temporary name goes; nothing is downloaded). The
/// close then uploads the whole file.
#[test]
fn a_file_being_streamed_is_read_back_and_rewritten_without_a_download() {
    // In memory, and in a spool file written by the copy's own thread.
    for size in [1 << 20, 7 << 20] {
        let Setup { store, fs, .. } = setup();
        let (attr, w) = fs
            .create(ROOT_INO, name("log.bin"), OpenMode::WRITE, true)
            .unwrap();
        let mut data = pattern(size, 3);
        write_all(&fs, w.fh, 0, &data, 128 << 10);
        // Another process reads it while it is written.
        let r = fs.open(attr.ino, OpenMode::READ).unwrap();
        assert!(read_back(&fs, r.fh, data.len()) == data);
        assert_eq!(
            store.count(Op::OpenRead),
            0,
            "nothing came back from the server"
        );
        assert_eq!(store.count(Op::FinishWrite), 0, "the upload goes on");
        write_all(&fs, w.fh, data.len() as u64, b"more", 4);
        data.extend_from_slice(b"more");
        // A write behind the end: the stream becomes a spool, from the copy.
        fs.write(w.fh, 10, b"patched").unwrap();
        data[10..17].copy_from_slice(b"patched");
        assert!(read_back(&fs, r.fh, data.len()) == data);
        assert_eq!(
            store.count(Op::OpenRead),
            0,
            "nothing came back from the server"
        );
        fs.release(r.fh);
        close(&fs, w.fh);
        assert!(store.content("/log.bin").unwrap() == data);
        assert_eq!(store.count(Op::OpenRead), 0);
        no_temp_files(&store);
    }
}

/// A shell's `> file` closes one descriptor before anything is written: that first close makes
/// the empty file on the server with one STOR straight to its name (no temporary name, rename or
/// size check: there is nothing to lose), and the data at the last close goes the safe way.
#[test]
fn an_empty_new_file_is_stored_straight_under_its_name() {
    let Setup { store, fs, .. } = setup();
    store.add_dir("/d");
    let d = ino(&fs, "/d");
    // STORs, renames, size checks.
    let sent = || {
        let c = |op| store.count(op);
        (c(Op::OpenWrite), c(Op::Rename), c(Op::Size))
    };
    let (_, o) = fs.create(d, name("f.txt"), OpenMode::WRITE, true).unwrap();
    fs.flush(o.fh).unwrap();
    assert_eq!(store.content("/d/f.txt").unwrap(), b"");
    assert_eq!(sent(), (1, 0, 0));
    write_all(&fs, o.fh, 0, b"now with data", 4096);
    close(&fs, o.fh);
    assert_eq!(store.content("/d/f.txt").unwrap(), b"now with data");
    assert_eq!(sent(), (2, 1, 1));
    no_temp_files(&store);
    // A server refusing the empty file: the close says so.
    store.fail_next(
        Op::OpenWrite,
        RemoteError::PermissionDenied("553 no".into()),
    );
    let (_, o) = fs.create(d, name("g.txt"), OpenMode::WRITE, true).unwrap();
    assert_eq!(
        fs.flush(o.fh).unwrap_err(),
        ftpfs::error::FsError::PermissionDenied
    );
    fs.release(o.fh);
}

#[test]
fn o_rdwr_random_writes_go_through_a_spool_and_upload_whole() {
    let Setup { store, fs, .. } = setup();
    let mut model = pattern(1 << 20, 2);
    store.add_file("/big", model.clone());
    let f = ino(&fs, "/big");
    let o = fs.open(f, OpenMode::READ_WRITE).unwrap();
    let mut x = 12345u64;
    for i in 0..64u8 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let off = (x >> 33) % (model.len() as u64 - 4096);
        let chunk = vec![i; 4096];
        fs.write(o.fh, off, &chunk).unwrap();
        model[off as usize..off as usize + 4096].copy_from_slice(&chunk);
    }
    // Read back before the upload: from the spool.
    assert_eq!(read_back(&fs, o.fh, model.len()), model);
    assert_eq!(
        store.count(Op::OpenWrite),
        0,
        "nothing uploaded before close"
    );
    close(&fs, o.fh);
    assert_eq!(store.content("/big").unwrap(), model);
    assert_eq!(store.count(Op::OpenRead), 1, "seeded with one download");
    assert_eq!(store.count(Op::OpenWrite), 1, "uploaded once");
    no_temp_files(&store);
}

#[test]
fn a_seek_back_while_streaming_moves_to_a_spool() {
    let Setup { store, fs, .. } = setup();
    let fh = create(&fs, "f");
    fs.write(fh, 0, b"hello world").unwrap();
    fs.write(fh, 0, b"J").unwrap();
    fs.write(fh, 20, b"!").unwrap();
    close(&fs, fh);
    let mut want = b"Jello world".to_vec();
    want.resize(20, 0);
    want.push(b'!');
    assert_eq!(store.content("/f").unwrap(), want);
    no_temp_files(&store);
}

#[test]
fn a_forward_gap_while_streaming_is_sent_as_zeros() {
    let Setup { store, fs, .. } = setup();
    let fh = create(&fs, "f");
    fs.write(fh, 0, b"ab").unwrap();
    fs.write(fh, 5, b"cd").unwrap();
    close(&fs, fh);
    assert_eq!(store.content("/f").unwrap(), b"ab\0\0\0cd");
    assert_eq!(store.count(Op::OpenRead), 0, "still one stream, no spool");
}

#[test]
fn truncate_shrinks_and_extends_with_and_without_a_handle() {
    let Setup { store, fs, .. } = setup();
    store.add_file("/f", "0123456789");
    let f = ino(&fs, "/f");
    let to = |size| SetAttr {
        size: Some(size),
        ..SetAttr::default()
    };
    // truncate(2) on the path: takes effect on the server at once.
    assert_eq!(fs.setattr(f, None, to(4)).unwrap().size, 4);
    assert_eq!(store.content("/f").unwrap(), b"0123");
    assert_eq!(fs.setattr(f, None, to(6)).unwrap().size, 6);
    assert_eq!(store.content("/f").unwrap(), b"0123\0\0");
    // ftruncate(2) on an open file: at its close.
    let o = fs.open(f, OpenMode::WRITE).unwrap();
    fs.setattr(f, Some(o.fh), to(0)).unwrap();
    fs.write(o.fh, 0, b"new").unwrap();
    assert_eq!(store.content("/f").unwrap(), b"0123\0\0");
    close(&fs, o.fh);
    assert_eq!(store.content("/f").unwrap(), b"new");
    assert_eq!(fs.getattr(f).unwrap().size, 3);
    no_temp_files(&store);
}

#[test]
fn o_trunc_with_nothing_written_empties_the_file() {
    let Setup { store, fs, .. } = setup();
    store.add_file("/f", "old content");
    let fh = open_truncated(&fs, "/f");
    close(&fs, fh);
    assert_eq!(store.content("/f").unwrap(), b"");
}

#[test]
fn appends_use_appe_without_downloading() {
    let Setup { store, fs, .. } = setup();
    store.add_file("/log", "line1\n");
    let f = ino(&fs, "/log");
    let o = fs.open(f, OpenMode::APPEND).unwrap();
    fs.write(o.fh, 6, b"line2\n").unwrap();
    fs.write(o.fh, 12, b"line3\n").unwrap();
    close(&fs, o.fh);
    assert_eq!(store.content("/log").unwrap(), b"line1\nline2\nline3\n");
    assert_eq!(store.count(Op::OpenRead), 0);
    assert_eq!(store.count(Op::Rename), 0, "APPE goes to the file itself");
}

#[test]
fn fsync_then_more_writes_continue_with_appe() {
    let Setup { store, fs, .. } = setup();
    let fh = create(&fs, "f");
    fs.write(fh, 0, b"abc").unwrap();
    fs.fsync(fh).unwrap();
    assert_eq!(
        store.content("/f").unwrap(),
        b"abc",
        "fsync put the data there"
    );
    fs.write(fh, 3, b"def").unwrap();
    close(&fs, fh);
    assert_eq!(store.content("/f").unwrap(), b"abcdef");
}

#[test]
fn rename_over_a_file_and_of_a_directory_with_open_names() {
    let Setup { store, fs, .. } = setup();
    store.add_file("/a", "A");
    store.add_file("/b", "B");
    store.add_file("/d/x", "X");
    let x = ino(&fs, "/d/x");
    fs.rename(
        ROOT_INO,
        name("a"),
        ROOT_INO,
        name("b"),
        RenameMode::default(),
    )
    .unwrap();
    assert_eq!(store.content("/b").unwrap(), b"A");
    assert!(store.content("/a").is_none());
    assert_eq!(ls(&fs, ROOT_INO), ["b", "d"]);
    fs.rename(
        ROOT_INO,
        name("d"),
        ROOT_INO,
        name("e"),
        RenameMode::default(),
    )
    .unwrap();
    // The kernel's inode for /d/x now answers as /e/x.
    assert_eq!(fs.getattr(x).unwrap().size, 1);
    assert_eq!(ino(&fs, "/e/x"), x);
    assert_eq!(ls(&fs, ROOT_INO), ["b", "e"]);
    let noreplace = RenameMode {
        no_replace: true,
        ..RenameMode::default()
    };
    store.add_file("/c", "C");
    assert_eq!(
        fs.rename(ROOT_INO, name("b"), ROOT_INO, name("c"), noreplace)
            .unwrap_err()
            .errno(),
        libc::EEXIST
    );
}

#[test]
fn rename_over_a_directory_follows_posix() {
    let Setup { store, fs, .. } = setup();
    store.add_dir("/src");
    store.add_dir("/empty");
    store.add_file("/full/f", "x");
    store.add_file("/file", "x");
    let r = |a: &str, b: &str| {
        fs.rename(ROOT_INO, name(a), ROOT_INO, name(b), RenameMode::default())
            .map_err(|e| e.errno())
    };
    assert_eq!(r("src", "full"), Err(libc::ENOTEMPTY));
    assert_eq!(r("src", "file"), Err(libc::ENOTDIR));
    assert_eq!(r("file", "empty"), Err(libc::EISDIR));
    assert_eq!(r("src", "src/sub"), Err(libc::EINVAL));
    assert_eq!(r("nothing", "x"), Err(libc::ENOENT));
    assert_eq!(r("src", "empty"), Ok(()));
    assert_eq!(ls(&fs, ROOT_INO), ["empty", "file", "full"]);
}

#[test]
fn namespace_errors_come_from_the_listings() {
    let Setup { store, fs, .. } = setup();
    store.add_file("/d/f", "x");
    store.add_dir("/e");
    let err = |r: Result<(), ftpfs::error::FsError>| r.unwrap_err().errno();
    assert_eq!(err(fs.mkdir(ROOT_INO, name("d")).map(|_| ())), libc::EEXIST);
    assert_eq!(store.count(Op::Mkdir), 0, "decided from the listing");
    assert_eq!(err(fs.rmdir(ROOT_INO, name("d"))), libc::ENOTEMPTY);
    assert_eq!(err(fs.rmdir(ROOT_INO, name("nope"))), libc::ENOENT);
    assert_eq!(err(fs.unlink(ROOT_INO, name("nope"))), libc::ENOENT);
    assert_eq!(err(fs.unlink(ROOT_INO, name("e"))), libc::EISDIR);
    let d = ino(&fs, "/d");
    assert_eq!(err(fs.rmdir(d, name("f"))), libc::ENOTDIR);
    // A 550 for a reason the listing cannot explain: permission.
    store.fail_next(Op::Mkdir, RemoteError::NotFound("550 no".into()));
    assert_eq!(
        err(fs.mkdir(ROOT_INO, name("new")).map(|_| ())),
        libc::EACCES
    );
    // The server says the directory is not empty though our cached listing is stale and empty.
    fs.mkdir(ROOT_INO, name("g")).unwrap();
    store.add_file("/g/h", "x");
    assert_eq!(err(fs.rmdir(ROOT_INO, name("g"))), libc::ENOTEMPTY);
    fs.unlink(d, name("f")).unwrap();
    fs.rmdir(ROOT_INO, name("d")).unwrap();
    assert!(store.paths().iter().all(|p| !p.starts_with("/d")));
}

#[test]
fn names_with_line_breaks_are_refused_before_anything_is_sent() {
    let Setup { store, fs, .. } = setup();
    store.add_file("/f", "x");
    let before: u64 = [Op::OpenWrite, Op::Mkdir, Op::Rename, Op::Remove]
        .iter()
        .map(|&op| store.count(op))
        .sum();
    for bad in ["a\rb", "a\nb", "x\r\nDELE f"] {
        let n = name(bad);
        assert_eq!(
            fs.create(ROOT_INO, n, OpenMode::WRITE, true)
                .unwrap_err()
                .errno(),
            libc::EINVAL
        );
        assert_eq!(fs.mkdir(ROOT_INO, n).unwrap_err().errno(), libc::EINVAL);
        assert_eq!(
            fs.rename(ROOT_INO, name("f"), ROOT_INO, n, RenameMode::default())
                .unwrap_err()
                .errno(),
            libc::EINVAL
        );
    }
    let after: u64 = [Op::OpenWrite, Op::Mkdir, Op::Rename, Op::Remove]
        .iter()
        .map(|&op| store.count(op))
        .sum();
    assert_eq!(before, after);
}

#[test]
fn temporary_upload_names_never_show() {
    let Setup { store, fs, .. } = setup();
    store.add_file("/.~ftpfs.0123456789abcdef.f", "partial");
    store.add_file("/f", "x");
    assert_eq!(ls(&fs, ROOT_INO), ["f"]);
    assert_eq!(
        fs.lookup(ROOT_INO, name(".~ftpfs.0123456789abcdef.f"))
            .unwrap_err()
            .errno(),
        libc::ENOENT
    );
    assert_eq!(
        fs.create(ROOT_INO, name(".~ftpfs.x"), OpenMode::WRITE, true)
            .unwrap_err()
            .errno(),
        libc::EINVAL
    );
}

/// rsync's order: write a temporary file, close it, set its time, rename it into place. The
/// kernel's `RELEASE` of the closed file may come after the `SETATTR` (it is sent without waiting),
/// so the time is set while the file still has its write state: the attributes answered then, which
/// the kernel keeps, and every stat after must show the time set, not the last write's (and a mode
/// set then, its mode).
#[test]
fn a_time_set_between_the_upload_and_the_release_shows_at_once() {
    let Setup { store, fs, .. } = setup();
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_033);
    let (a, o) = fs
        .create(ROOT_INO, name(".f.tmp"), OpenMode::WRITE, true)
        .unwrap();
    fs.write(o.fh, 0, b"data").unwrap();
    fs.flush(o.fh).unwrap();
    assert_eq!(store.count(Op::FinishWrite), 1, "uploaded at close");
    let set_t = SetAttr {
        mtime: Some(t),
        ..SetAttr::default()
    };
    assert_eq!(fs.setattr(a.ino, None, set_t).unwrap().mtime, t);
    assert_eq!(fs.getattr(a.ino).unwrap().mtime, t);
    let set_mode = SetAttr {
        mode: Some(0o640),
        ..SetAttr::default()
    };
    assert_eq!(fs.setattr(a.ino, None, set_mode).unwrap().perm, 0o640);
    fs.rename(
        ROOT_INO,
        name(".f.tmp"),
        ROOT_INO,
        name("f"),
        RenameMode::default(),
    )
    .unwrap();
    assert_eq!(fs.getattr(a.ino).unwrap().mtime, t, "after the rename");
    fs.release(o.fh);
    assert_eq!(fs.getattr(a.ino).unwrap().mtime, t, "after the release");
    let listed = store.list("/").unwrap();
    let e = listed.iter().find(|e| e.name == "f").unwrap();
    assert_eq!(e.mtime, t, "on the server");
}

#[test]
fn times_set_before_close_land_after_the_upload() {
    let Setup { store, fs, .. } = setup();
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let (a, o) = fs
        .create(ROOT_INO, name("f"), OpenMode::WRITE, true)
        .unwrap();
    fs.write(o.fh, 0, b"data").unwrap();
    let set_t = SetAttr {
        mtime: Some(t),
        mode: Some(0o600),
        ..SetAttr::default()
    };
    assert_eq!(fs.setattr(a.ino, Some(o.fh), set_t).unwrap().mtime, t);
    close(&fs, o.fh);
    let e = store
        .list("/")
        .unwrap()
        .into_iter()
        .find(|e| e.name == "f")
        .unwrap();
    assert_eq!((e.mtime, e.perm), (t, Some(0o600)));
    assert_eq!(fs.getattr(a.ino).unwrap().mtime, t);
    // On a clean file: at once.
    let t2 = t + Duration::from_secs(60);
    let set_t2 = SetAttr {
        mtime: Some(t2),
        ..SetAttr::default()
    };
    fs.setattr(a.ino, None, set_t2).unwrap();
    let e = store
        .list("/")
        .unwrap()
        .into_iter()
        .find(|e| e.name == "f")
        .unwrap();
    assert_eq!(e.mtime, t2);
}

#[test]
fn a_server_without_mfmt_or_chmod_accepts_and_does_not_record() {
    let Setup { store, fs, .. } = setup();
    store.without_mtime_and_chmod();
    store.add_file("/f", "x");
    let f = ino(&fs, "/f");
    let before = fs.getattr(f).unwrap();
    let change = SetAttr {
        mtime: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1)),
        mode: Some(0o700),
        owner: true,
        ..SetAttr::default()
    };
    let after = fs.setattr(f, None, change).unwrap();
    assert_eq!((after.mtime, after.perm), (before.mtime, before.perm));
}

#[test]
fn overwriting_a_file_keeps_its_mode() {
    let Setup { store, fs, .. } = setup();
    store.add_file("/script", "#!/bin/sh\n");
    store.chmod("/script", 0o755).unwrap();
    let f = ino(&fs, "/script");
    let o = fs.open(f, OpenMode::READ_WRITE).unwrap();
    fs.write(o.fh, 10, b"echo hi\n").unwrap();
    close(&fs, o.fh);
    let e = store
        .list("/")
        .unwrap()
        .into_iter()
        .find(|e| e.name == "script")
        .unwrap();
    assert_eq!(e.perm, Some(0o755));
    assert_eq!(store.content("/script").unwrap(), b"#!/bin/sh\necho hi\n");
}

#[test]
fn atomic_upload_no_writes_straight_to_the_target() {
    let Setup { store, fs, .. } = setup_with(|c| c.atomic_upload = false);
    let fh = create(&fs, "f");
    fs.write(fh, 0, b"abc").unwrap();
    close(&fs, fh);
    assert_eq!(store.content("/f").unwrap(), b"abc");
    assert_eq!(store.count(Op::Rename), 0);
}

#[test]
fn unlink_of_an_open_new_file_uploads_nothing() {
    let Setup { store, fs, .. } = setup();
    let (_, o) = fs
        .create(ROOT_INO, name("tmp"), OpenMode::READ_WRITE, true)
        .unwrap();
    fs.write(o.fh, 0, b"scratch").unwrap();
    fs.unlink(ROOT_INO, name("tmp")).unwrap();
    assert_eq!(
        read_back(&fs, o.fh, 7),
        b"scratch",
        "the open handle still reads"
    );
    close(&fs, o.fh);
    assert_eq!(store.count(Op::OpenWrite), 0);
    assert!(ls(&fs, ROOT_INO).is_empty());
}

#[test]
fn an_editor_save_writes_a_temp_file_then_renames_it_over() {
    let Setup { store, fs, .. } = setup();
    store.add_file("/notes.txt", "old");
    ino(&fs, "/notes.txt");
    let fh = create(&fs, ".notes.txt.swp");
    fs.write(fh, 0, b"new text").unwrap();
    fs.fsync(fh).unwrap();
    close(&fs, fh);
    fs.rename(
        ROOT_INO,
        name(".notes.txt.swp"),
        ROOT_INO,
        name("notes.txt"),
        RenameMode::default(),
    )
    .unwrap();
    assert_eq!(store.content("/notes.txt").unwrap(), b"new text");
    assert_eq!(ls(&fs, ROOT_INO), ["notes.txt"]);
    let f = ino(&fs, "/notes.txt");
    let o = fs.open(f, OpenMode::READ).unwrap();
    assert_eq!(read_back(&fs, o.fh, 100), b"new text");
    fs.release(o.fh);
}

/// `open(O_CREAT, 0755)` (as `tar x` and `git checkout` do it) leaves the file executable on the
/// server: the mode is shown at once and set after the upload (`SITE CHMOD`), for an empty file
/// too; a create asking for the usual default, 0644, costs no such command.
#[test]
fn a_created_file_keeps_the_mode_it_was_created_with() {
    let Setup { store, fs, .. } = setup();
    let perm_on_server = |name: &str| {
        store
            .list("/")
            .unwrap()
            .into_iter()
            .find(|e| e.name == name)
            .and_then(|e| e.perm)
    };
    let (a, o) = fs
        .create_with_perm(ROOT_INO, name("x.sh"), OpenMode::WRITE, true, 0o755)
        .unwrap();
    assert_eq!(a.perm, 0o755, "shown before the upload");
    fs.write(o.fh, 0, b"#!/bin/sh\n").unwrap();
    fs.release(o.fh);
    assert_eq!(perm_on_server("x.sh"), Some(0o755));
    assert_eq!(store.count(Op::Chmod), 1);

    let (_, o) = fs
        .create_with_perm(ROOT_INO, name("p.txt"), OpenMode::WRITE, true, 0o644)
        .unwrap();
    fs.write(o.fh, 0, b"plain").unwrap();
    fs.release(o.fh);
    assert_eq!(store.content("/p.txt").unwrap(), b"plain");
    assert_eq!(store.count(Op::Chmod), 1, "no SITE CHMOD for 0644");

    let (_, o) = fs
        .create_with_perm(ROOT_INO, name("e.sh"), OpenMode::WRITE, true, 0o700)
        .unwrap();
    fs.release(o.fh);
    assert_eq!(perm_on_server("e.sh"), Some(0o700));
    let e = fs.lookup(ROOT_INO, name("e.sh")).unwrap();
    assert_eq!((e.perm, e.size), (0o700, 0));
}

/// Write-only handles bypass the kernel's page cache (`FOPEN_DIRECT_IO`): their bytes come from
/// the program's buffer, one copy less on the way to the server. Handles that read keep it.
#[test]
fn write_only_handles_bypass_the_page_cache_and_readers_keep_it() {
    let Setup { store, fs, .. } = setup();
    store.add_dir("/d");
    let d = ino(&fs, "/d");
    let (attr, o) = fs.create(d, name("new"), OpenMode::WRITE, true).unwrap();
    assert!(o.direct_io, "a write-only create");
    let (_, rw) = fs
        .create(d, name("rw"), OpenMode::READ_WRITE, true)
        .unwrap();
    assert!(!rw.direct_io, "a create that reads too");
    for (mode, direct) in [
        (OpenMode::WRITE, true),
        (OpenMode::APPEND, true),
        (OpenMode::READ_WRITE, false),
        (OpenMode::READ, false),
    ] {
        let h = fs.open(attr.ino, mode).unwrap();
        assert_eq!(h.direct_io, direct, "{mode:?}");
        fs.release(h.fh);
    }
    fs.release(rw.fh);
    fs.release(o.fh);
}
