//! Layer 2, the write path under failures: errors injected at every step of an upload (the data
//! survives, close reports the error, a retry succeeds), a stream that breaks, closes that are
//! not a writer's, and data that can never be uploaded (kept at unmount).

mod support;

use ftpfs::fs::inode::ROOT_INO;
use ftpfs::fs::OpenMode;
use ftpfs::remote::mem::Op;
use ftpfs::remote::RemoteError;
use support::core::{
    ino, ls, name, no_temp_files, open_truncated, pattern, read_back, setup, setup_with, write_all,
    Setup,
};

/// Fails one step of a spooled upload where no retry can help (a server that cannot be reached,
/// a refusal); the program hears the right errno at close, the server keeps the old file whole, no
/// temporary file is left, and the next close uploads the data.
#[test]
fn every_step_of_a_spooled_upload_can_fail_without_losing_data() {
    let steps = [
        (
            Op::OpenWrite,
            RemoteError::Connection("refused".into()),
            libc::EIO,
        ),
        (
            Op::FinishWrite,
            RemoteError::NoSpace("552 full".into()),
            libc::ENOSPC,
        ),
    ];
    for (op, err, errno) in steps {
        let Setup { store, fs, .. } = setup();
        store.add_file("/f", "old content");
        let f = ino(&fs, "/f");
        let o = fs.open(f, OpenMode::READ_WRITE).unwrap();
        fs.write(o.fh, 4, b"NEW").unwrap();
        store.fail_next(op, err.clone());
        assert_eq!(fs.flush(o.fh).unwrap_err().errno(), errno, "{op:?}");
        assert_eq!(store.content("/f").unwrap(), b"old content", "{op:?}");
        no_temp_files(&store);
        // The data is still there: read back, and uploaded by the next close.
        assert_eq!(read_back(&fs, o.fh, 100), b"old NEWtent", "{op:?}");
        fs.flush(o.fh).unwrap();
        assert_eq!(store.content("/f").unwrap(), b"old NEWtent", "{op:?}");
        fs.release(o.fh);
        no_temp_files(&store);
    }
}

/// A streamed upload keeps no local copy: its failure is reported (at the write or the close), the
/// real name is untouched, and no partial file is left.
#[test]
fn a_failed_stream_is_reported_and_leaves_nothing_partial() {
    for op in [
        Op::OpenWrite,
        Op::WriteData,
        Op::FinishWrite,
        Op::Size,
        Op::Rename,
    ] {
        let Setup { store, fs, .. } = setup();
        store.add_file("/f", "old");
        let fh = open_truncated(&fs, "/f");
        store.fail_next(op, RemoteError::NoSpace("552 full".into()));
        let at_write = fs
            .write(fh, 0, b"first")
            .err()
            .or_else(|| fs.write(fh, 5, b"second").err());
        let at_close = fs.flush(fh).err();
        let e = at_write
            .or(at_close)
            .unwrap_or_else(|| panic!("{op:?}: no error"));
        assert_eq!(e.errno(), libc::ENOSPC, "{op:?}");
        fs.release(fh);
        assert_eq!(store.content("/f").unwrap(), b"old", "{op:?}");
        no_temp_files(&store);
    }
}

/// A handle on a new file /f, written only.
fn created(fs: &ftpfs::fs::FtpFs<ftpfs::remote::mem::MemStore>) -> u64 {
    fs.create(ROOT_INO, name("f"), OpenMode::WRITE, true)
        .unwrap()
        .1
        .fh
}

/// A stream whose end breaks on the link (the server's verdict, the size check or the rename
/// lost to a reset) has the whole file in its local copy: the close sends it again and
/// succeeds, and the server holds the file, with no temporary name left.
#[test]
fn a_stream_whose_end_breaks_goes_again_from_its_copy() {
    // A copy in memory, and one in a spool file written by a thread of its own.
    let cases = [Op::FinishWrite, Op::Size, Op::Rename]
        .into_iter()
        .flat_map(|op| [(op, 3 << 18), (op, 9 << 20)]);
    for (op, size) in cases {
        let Setup { store, fs, .. } = setup();
        let fh = created(&fs);
        let data = pattern(size, 4);
        write_all(&fs, fh, 0, &data, 1 << 17);
        store.fail_next(op, RemoteError::Connection("reset".into()));
        fs.flush(fh).unwrap_or_else(|e| panic!("{op:?}: {e}"));
        fs.release(fh);
        assert_eq!(store.content("/f").unwrap(), data, "{op:?}");
        // The server had the whole file under the temporary name: it resumed at its end.
        assert_eq!(store.count(Op::OpenWrite), 1, "{op:?}");
        assert_eq!(store.count(Op::OpenWriteFrom), 1, "{op:?}: resumed");
        no_temp_files(&store);
    }
}

/// A stream whose link breaks mid-way (a reset while sending) goes on in a spool made of its
/// local copy: every write succeeds, and the close uploads the whole file.
#[test]
fn a_stream_broken_mid_way_goes_on_in_its_copy() {
    // (size, where the link breaks): a copy in memory, and one in a spool file.
    for (size, at) in [(5 << 18, 1 << 19), (12 << 20, 7 << 20)] {
        let Setup { store, fs, .. } = setup();
        let fh = created(&fs);
        let data = pattern(size, 6);
        write_all(&fs, fh, 0, &data[..at], 1 << 17);
        store.fail_next(Op::WriteData, RemoteError::Connection("reset".into()));
        write_all(&fs, fh, at as u64, &data[at..], 1 << 17);
        fs.flush(fh).unwrap();
        fs.release(fh);
        assert!(store.content("/f").unwrap() == data, "{size}");
        no_temp_files(&store);
    }
}

/// A cache disk that fills while a stream's copy is written (by its own thread) ends the copy,
/// not the upload: without a break the file arrives whole. With the copy gone, a break after that
/// cannot go on locally: the program hears of it (at the write or the close), and the old file
/// stays as it was. The same break with room for the copy goes on in it, unnoticed.
#[test]
fn a_full_cache_disk_ends_the_copy_but_not_the_stream() {
    // (cache disk size, where the link breaks, whether the file arrives whole)
    let cases = [
        ("4m", None, true),
        ("4m", Some(10 << 20), false),
        // Right behind the full disk: the copy's thread may not have said so yet.
        ("4m", Some(5 << 20), false),
        ("64m", Some(10 << 20), true),
    ];
    for (disk_size, break_at, whole) in cases {
        let disk = support::mount::Tmpfs::new(disk_size);
        let spool_dir = disk.path().join("spool");
        // (No free-space floor: the copy is to meet the full disk, not stop before it.)
        let Setup { store, fs, .. } = setup_with(|cfg| {
            cfg.cache_dir = spool_dir.clone();
            cfg.spool_min_free = 0;
        });
        store.add_file("/f", "old");
        let fh = open_truncated(&fs, "/f");
        let data = pattern(16 << 20, 8);
        let split = break_at.unwrap_or(data.len());
        write_all(&fs, fh, 0, &data[..split], 1 << 17);
        let mut error = None;
        if split < data.len() {
            store.fail_next(Op::WriteData, RemoteError::Connection("reset".into()));
            for (i, piece) in data[split..].chunks(1 << 17).enumerate() {
                if let Err(e) = fs.write(fh, (split + i * (1 << 17)) as u64, piece) {
                    error = Some(e);
                    break;
                }
            }
        }
        let error = error.or_else(|| fs.flush(fh).err());
        fs.release(fh);
        let case = format!("{disk_size} {break_at:?}");
        if whole {
            assert!(error.is_none(), "{case}: {error:?}");
            assert!(store.content("/f").unwrap() == data, "{case}");
        } else {
            assert_eq!(error.expect("an error").errno(), libc::EIO, "{case}");
            assert_eq!(store.content("/f").unwrap(), b"old", "{case}");
        }
        no_temp_files(&store);
        // Every spool file goes (some on a background thread).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::read_dir(&spool_dir).unwrap().count() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "{case}: spool files left"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// A close of a copy of the descriptor (a child process that inherited it and exits or execs)
/// flushes mid-write. When that upload breaks, the streamed bytes are gone: every later write,
/// truncate and flush of the handle must fail, or the program would go on and close a file
/// missing its beginning without hearing of it. Nothing lands; a new open starts afresh.
#[test]
fn a_stream_broken_by_a_flush_mid_write_fails_every_later_write() {
    for (existing, op) in [
        (false, Op::FinishWrite),
        (false, Op::Size),
        (true, Op::FinishWrite),
        (true, Op::Rename),
    ] {
        let Setup { store, fs, .. } = setup();
        let fh = if existing {
            store.add_file("/f", "old");
            open_truncated(&fs, "/f")
        } else {
            fs.create(ROOT_INO, name("f"), OpenMode::WRITE, true)
                .unwrap()
                .1
                .fh
        };
        let data = pattern(1 << 20, 9);
        write_all(&fs, fh, 0, &data[..1 << 19], 1 << 17);
        store.fail_next(op, RemoteError::NoSpace("552 full".into()));
        let case = format!("existing {existing}, {op:?}");
        assert_eq!(fs.flush(fh).unwrap_err().errno(), libc::ENOSPC, "{case}");
        let later = fs.write(fh, 1 << 19, &data[1 << 19..]);
        assert_eq!(
            later.unwrap_err().errno(),
            libc::ENOSPC,
            "{case}: a later write"
        );
        assert_eq!(fs.flush(fh).unwrap_err().errno(), libc::ENOSPC, "{case}");
        assert_eq!(fs.fsync(fh).unwrap_err().errno(), libc::ENOSPC, "{case}");
        fs.release(fh);
        no_temp_files(&store);
        if existing {
            assert_eq!(store.content("/f").unwrap(), b"old", "{case}");
            assert_eq!(fs.getattr(ino(&fs, "/f")).unwrap().size, 3, "{case}");
        } else {
            assert!(ls(&fs, ROOT_INO).is_empty(), "{case}");
            assert!(store.content("/f").is_none(), "{case}");
        }
        // The failure belonged to that handle: the file can be written again.
        let (_, o) = fs
            .create(ROOT_INO, name("f"), OpenMode::WRITE, false)
            .unwrap();
        fs.release(o.fh);
        let fh = open_truncated(&fs, "/f");
        write_all(&fs, fh, 0, &data, 1 << 17);
        fs.flush(fh).unwrap();
        fs.release(fh);
        assert_eq!(store.content("/f").unwrap(), data, "{case}");
    }
}

/// The close of a copy of the descriptor by a process that neither opened the file for writing nor
/// wrote to it (a child that inherited it, as every fork of a busy program does) uploads nothing:
/// the stream goes on, and the writer's own close makes the one upload. A reader's close, too.
/// fsync always uploads.
#[test]
fn only_a_writers_close_uploads() {
    let Setup { store, fs, .. } = setup();
    let me = std::process::id();
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let other = child.id();
    let in_child = || ftpfs::caller::request(other);
    let (_, o) = {
        let _me = ftpfs::caller::request(me);
        fs.create(ROOT_INO, name("f"), OpenMode::WRITE, true)
            .unwrap()
    };
    let data = pattern(3 << 17, 4);
    {
        let _me = ftpfs::caller::request(me);
        write_all(&fs, o.fh, 0, &data[..1 << 17], 1 << 16);
    }
    {
        let _c = in_child();
        fs.flush(o.fh).unwrap();
        let r = fs.open(ino(&fs, "/f"), OpenMode::READ).unwrap();
        fs.flush(r.fh).unwrap();
        fs.release(r.fh);
    }
    assert_eq!(
        store.count(Op::FinishWrite),
        0,
        "a non-writer's close ended the upload"
    );
    assert!(store.content("/f").is_none());
    // Another thread of the writer writes on; its close would be the writer's.
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let tid = unsafe { libc::gettid() } as u32;
            assert_ne!(tid, me);
            let _t = ftpfs::caller::request(tid);
            write_all(&fs, o.fh, 1 << 17, &data[1 << 17..2 << 17], 1 << 16);
        });
    });
    {
        let _c = in_child();
        fs.flush(o.fh).unwrap();
        assert_eq!(store.count(Op::FinishWrite), 0);
        fs.fsync(o.fh).unwrap();
    }
    assert_eq!(
        store.content("/f").unwrap(),
        &data[..2 << 17],
        "fsync uploads for anyone"
    );
    {
        let _me = ftpfs::caller::request(me);
        write_all(&fs, o.fh, 2 << 17, &data[2 << 17..], 1 << 16);
        fs.flush(o.fh).unwrap();
    }
    assert_eq!(store.content("/f").unwrap(), data);
    fs.release(o.fh);
    // A writer the core cannot name (no requester) makes every close upload, as before.
    let o = fs.open(ino(&fs, "/f"), OpenMode::APPEND).unwrap();
    fs.write(o.fh, data.len() as u64, b"tail").unwrap();
    {
        let _c = in_child();
        fs.flush(o.fh).unwrap();
    }
    assert!(store.content("/f").unwrap().ends_with(b"tail"));
    fs.release(o.fh);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_new_file_whose_upload_failed_disappears_after_close() {
    let Setup { store, fs, .. } = setup();
    let (_, o) = fs
        .create(ROOT_INO, name("n"), OpenMode::WRITE, true)
        .unwrap();
    fs.write(o.fh, 0, b"abc").unwrap();
    store.fail_next(Op::FinishWrite, RemoteError::NoSpace("552".into()));
    assert_eq!(fs.flush(o.fh).unwrap_err().errno(), libc::ENOSPC);
    fs.release(o.fh);
    assert!(ls(&fs, ROOT_INO).is_empty());
    assert!(
        store.paths().iter().all(|p| p == "/"),
        "{:?}",
        store.paths()
    );
}

#[test]
fn unsaved_data_is_retried_after_release_and_kept_at_unmount() {
    let Setup { store, fs, cache } = setup();
    store.add_file("/f", "0123456789");
    let f = ino(&fs, "/f");
    let o = fs.open(f, OpenMode::READ_WRITE).unwrap();
    fs.write(o.fh, 0, b"AB").unwrap();
    // A server that cannot be reached: the close fails at once, the release's retry too.
    for _ in 0..2 {
        store.fail_next(Op::OpenWrite, RemoteError::Connection("refused".into()));
    }
    assert!(fs.flush(o.fh).is_err());
    fs.release(o.fh); // its own retry fails too
    assert_eq!(fs.getattr(f).unwrap().size, 10);
    // Reopened later: the unsaved data is what a reader sees, and the next close saves it.
    let o = fs.open(f, OpenMode::READ).unwrap();
    assert_eq!(read_back(&fs, o.fh, 10), b"AB23456789");
    fs.flush(o.fh).unwrap();
    fs.release(o.fh);
    assert_eq!(store.content("/f").unwrap(), b"AB23456789");

    // Data that can never be uploaded survives the unmount in the cache directory.
    let o = fs.open(f, OpenMode::READ_WRITE).unwrap();
    fs.write(o.fh, 0, b"XY").unwrap();
    for _ in 0..3 {
        store.fail_next(Op::OpenWrite, RemoteError::Connection("down".into()));
    }
    assert!(fs.flush(o.fh).is_err());
    fs.release(o.fh);
    assert_eq!(fs.shutdown(), 1);
    let kept: Vec<_> = std::fs::read_dir(cache.path().join("spool"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("unsaved-")
        })
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read(&kept[0]).unwrap(), b"XY23456789");
}

/// A refusal of the temporary name (a drop box, or a server that takes no dotfiles) sends the
/// file again straight under its name, and later uploads in that directory go there at once;
/// where the name itself is refused too, the close says EACCES and the data stays for the next.
#[test]
fn a_refused_temporary_name_is_retried_under_the_real_name_and_remembered() {
    let Setup { store, fs, .. } = setup();
    store.add_file("/d/f", "old content");
    let f = ino(&fs, "/d/f");
    let o = fs.open(f, OpenMode::READ_WRITE).unwrap();
    fs.write(o.fh, 4, b"NEW").unwrap();
    store.fail_next(
        Op::FinishWrite,
        RemoteError::PermissionDenied("553 name".into()),
    );
    fs.flush(o.fh).unwrap();
    assert_eq!(store.content("/d/f").unwrap(), b"old NEWtent");
    no_temp_files(&store);

    let renames = store.count(Op::Rename);
    fs.write(o.fh, 0, b"NEW").unwrap();
    fs.flush(o.fh).unwrap();
    assert_eq!(store.content("/d/f").unwrap(), b"NEW NEWtent");
    assert_eq!(store.count(Op::Rename), renames, "straight to the name now");

    fs.write(o.fh, 0, b"new").unwrap();
    store.fail_next(
        Op::FinishWrite,
        RemoteError::PermissionDenied("553 no".into()),
    );
    assert_eq!(fs.flush(o.fh).unwrap_err().errno(), libc::EACCES);
    assert_eq!(read_back(&fs, o.fh, 100), b"new NEWtent", "kept");
    fs.flush(o.fh).unwrap();
    assert_eq!(store.content("/d/f").unwrap(), b"new NEWtent");
    fs.release(o.fh);
}

/// A server that refuses APPE (ProFTPD's default: "451 /f: Append/Restart not permitted, try
/// again") still gets the appended data: the file is seeded into a local copy and uploaded whole.
#[test]
fn an_append_the_server_refuses_goes_through_a_local_copy() {
    let Setup { store, fs, .. } = setup();
    store.add_file("/f", "old content\n");
    let o = fs.open(ino(&fs, "/f"), OpenMode::APPEND).unwrap();
    store.fail_next(
        Op::OpenWrite,
        RemoteError::Protocol("451 /f: Append/Restart not permitted, try again".into()),
    );
    fs.write(o.fh, 12, b"appended\n").unwrap();
    fs.flush(o.fh).unwrap();
    fs.release(o.fh);
    assert_eq!(store.content("/f").unwrap(), b"old content\nappended\n");
    no_temp_files(&store);
}
