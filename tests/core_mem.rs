//! Layer 2: the filesystem core over the in-memory store. No network, no kernel. Operation counters
//! prove that caches saved round trips; injected failures prove the errno mapping.

mod support;

use std::ffi::OsStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ftpfs::config::FsConfig;
use ftpfs::error::FsError;
use ftpfs::fs::inode::ROOT_INO;
use ftpfs::fs::{FtpFs, OpenMode, RenameMode, SetAttr};
use ftpfs::remote::mem::{MemStore, Op};
use ftpfs::remote::{EntryKind, RemoteError};
use support::core::{core_config, mem_core, pattern, read_dir, Collect};

fn ls(fs: &FtpFs<MemStore>, ino: u64) -> Vec<String> {
    read_dir(fs, ino, 0, false)
        .into_iter()
        .map(|e| e.name.into_string().expect("a UTF-8 name"))
        .collect()
}

fn read_all(fs: &FtpFs<MemStore>, ino: u64, chunk: u32) -> Vec<u8> {
    let o = fs.open(ino, OpenMode::READ).unwrap();
    let mut out = Vec::new();
    loop {
        let d = fs.read(o.fh, out.len() as u64, chunk).unwrap();
        if d.is_empty() {
            break;
        }
        out.extend_from_slice(&d);
    }
    fs.release(o.fh);
    out
}

#[test]
fn second_ls_within_ttl_costs_no_listing() {
    let (store, fs) = mem_core(core_config());
    store.add_file("/a.txt", "hello");
    store.add_dir("/sub");
    assert_eq!(ls(&fs, ROOT_INO), [".", "..", "a.txt", "sub"]);
    assert_eq!(ls(&fs, ROOT_INO), [".", "..", "a.txt", "sub"]);
    assert_eq!(store.count(Op::List), 1);
}

#[test]
fn listing_is_fetched_again_after_the_ttl() {
    let (store, fs) = mem_core(FsConfig {
        dir_cache_ttl: Duration::from_millis(50),
        ..core_config()
    });
    store.add_file("/a.txt", "hello");
    ls(&fs, ROOT_INO);
    store.add_file("/b.txt", "new");
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(ls(&fs, ROOT_INO), [".", "..", "a.txt", "b.txt"]);
    assert_eq!(store.count(Op::List), 2);
}

#[test]
fn stat_of_every_file_in_a_directory_costs_one_listing() {
    let (store, fs) = mem_core(core_config());
    for i in 0..100 {
        store.add_file(&format!("/d/f{i:03}"), vec![0u8; i]);
    }
    let d = fs.lookup(ROOT_INO, OsStr::new("d")).unwrap();
    let before = store.count(Op::List);
    for i in 0..100 {
        let a = fs.lookup(d.ino, OsStr::new(&format!("f{i:03}"))).unwrap();
        assert_eq!(a.size, i as u64);
        assert_eq!(a.kind, EntryKind::File);
        assert_eq!(fs.getattr(a.ino).unwrap(), a);
    }
    assert_eq!(store.count(Op::List) - before, 1);
}

#[test]
fn negative_lookups_are_answered_from_the_listing() {
    let (store, fs) = mem_core(core_config());
    store.add_file("/a", "x");
    for _ in 0..5 {
        let e = fs.lookup(ROOT_INO, OsStr::new("missing")).unwrap_err();
        assert_eq!(e.errno(), libc::ENOENT);
    }
    assert_eq!(store.count(Op::List), 1);
}

#[test]
fn ls_minus_l_of_a_tree_costs_one_listing_per_directory() {
    let (store, fs) = mem_core(core_config());
    for d in 0..10 {
        for f in 0..20 {
            store.add_file(&format!("/t/d{d}/f{f}"), vec![1u8; f]);
        }
    }
    // Walk like `ls -lR` through readdirplus: every entry's attributes come with the listing.
    let mut stack = vec![ROOT_INO];
    let mut files = 0;
    while let Some(ino) = stack.pop() {
        let entries = read_dir(&fs, ino, 0, true);
        for e in entries.iter().filter(|e| e.name != "." && e.name != "..") {
            match e.attr.kind {
                EntryKind::Dir => stack.push(e.attr.ino),
                _ => {
                    files += 1;
                    fs.getattr(e.attr.ino).unwrap();
                }
            }
        }
    }
    assert_eq!(files, 200);
    // Root, /t and the ten leaf directories.
    assert_eq!(store.count(Op::List), 12);
}

#[test]
fn readdir_pages_resume_at_the_offset() {
    let (store, fs) = mem_core(core_config());
    for i in 0..10 {
        store.add_file(&format!("/f{i}"), "x");
    }
    let fh = fs.opendir(ROOT_INO).unwrap().fh;
    let mut names = Vec::new();
    let mut offset = 0;
    loop {
        let mut c = Collect::up_to(3);
        fs.readdir(fh, offset, false, &mut c).unwrap();
        if c.entries.is_empty() {
            break;
        }
        offset += c.entries.len() as u64;
        names.extend(c.entries.into_iter().map(|e| e.name));
    }
    assert_eq!(names.len(), 12);
    assert_eq!(names[2], "f0");
    assert_eq!(names[11], "f9");
}

#[test]
fn reads_return_the_exact_bytes_and_a_second_read_comes_from_cache() {
    let (store, fs) = mem_core(core_config());
    let data = pattern(3 << 20 | 12345, 7);
    store.add_file("/big.bin", data.clone());
    let a = fs.lookup(ROOT_INO, OsStr::new("big.bin")).unwrap();
    assert_eq!(read_all(&fs, a.ino, 128 << 10), data);
    assert_eq!(
        store.count(Op::OpenRead),
        1,
        "one stream for a sequential read"
    );
    let served = store.bytes_read();
    assert_eq!(read_all(&fs, a.ino, 64 << 10), data);
    assert_eq!(
        store.count(Op::OpenRead),
        1,
        "the re-read came from the block cache"
    );
    assert_eq!(store.bytes_read(), served);
}

#[test]
fn odd_sized_reads_and_reads_past_the_end() {
    let (store, fs) = mem_core(core_config());
    let data = pattern(300_001, 3);
    store.add_file("/f", data.clone());
    let a = fs.lookup(ROOT_INO, OsStr::new("f")).unwrap();
    assert_eq!(read_all(&fs, a.ino, 4097), data);
    let o = fs.open(a.ino, OpenMode::READ).unwrap();
    assert_eq!(
        fs.read(o.fh, 300_000, 10).unwrap().to_vec(),
        &data[300_000..]
    );
    assert!(fs.read(o.fh, 300_001, 10).unwrap().is_empty());
    assert!(fs.read(o.fh, 1 << 30, 10).unwrap().is_empty());
}

#[test]
fn random_reads_are_correct_and_a_seek_starts_a_new_stream() {
    let (store, fs) = mem_core(FsConfig {
        cache_size: 0,
        ..core_config()
    });
    let data = pattern(8 << 20, 11);
    store.add_file("/r", data.clone());
    let a = fs.lookup(ROOT_INO, OsStr::new("r")).unwrap();
    let o = fs.open(a.ino, OpenMode::READ).unwrap();
    let mut seed = 12345u64;
    for _ in 0..50 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let off = seed % (data.len() as u64 - 4096);
        let got = fs.read(o.fh, off, 4096).unwrap().to_vec();
        assert_eq!(got, &data[off as usize..off as usize + 4096], "at {off}");
    }
    assert!(store.count(Op::OpenRead) > 10, "seeks start new streams");
}

#[test]
fn two_handles_read_concurrently() {
    let (store, fs) = mem_core(core_config());
    let a_data = pattern(2 << 20, 1);
    let b_data = pattern(2 << 20, 2);
    store.add_file("/a", a_data.clone());
    store.add_file("/b", b_data.clone());
    let fs = Arc::new(fs);
    let ia = fs.lookup(ROOT_INO, OsStr::new("a")).unwrap().ino;
    let ib = fs.lookup(ROOT_INO, OsStr::new("b")).unwrap().ino;
    let f2 = Arc::clone(&fs);
    let t = std::thread::spawn(move || read_all(&f2, ib, 32 << 10));
    assert_eq!(read_all(&fs, ia, 32 << 10), a_data);
    assert_eq!(t.join().unwrap(), b_data);
}

#[test]
fn keep_cache_only_while_the_file_is_unchanged() {
    let (store, fs) = mem_core(FsConfig {
        dir_cache_ttl: Duration::from_millis(30),
        ..core_config()
    });
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    store.add_file_with_mtime("/f", "one", t0);
    let ino = fs.lookup(ROOT_INO, OsStr::new("f")).unwrap().ino;
    assert!(!fs.open(ino, OpenMode::READ).unwrap().keep_cache);
    assert!(fs.open(ino, OpenMode::READ).unwrap().keep_cache);
    store.add_file_with_mtime("/f", "two!", t0 + Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(50));
    let o = fs.open(ino, OpenMode::READ).unwrap();
    assert!(
        !o.keep_cache,
        "changed on the server: the kernel must drop its pages"
    );
    assert_eq!(fs.read(o.fh, 0, 100).unwrap().to_vec(), b"two!");
}

#[test]
fn symlinks_show_their_target() {
    let (store, fs) = mem_core(core_config());
    store.add_symlink("/l", "target/file.txt");
    let a = fs.lookup(ROOT_INO, OsStr::new("l")).unwrap();
    assert_eq!(a.kind, EntryKind::Symlink);
    assert_eq!(a.size, "target/file.txt".len() as u64);
    assert_eq!(fs.readlink(a.ino).unwrap(), "target/file.txt");
    assert_eq!(fs.readlink(ROOT_INO).unwrap_err().errno(), libc::EINVAL);
}

#[test]
fn names_with_line_breaks_are_refused_before_any_request() {
    let (store, fs) = mem_core(core_config());
    for bad in ["a\r\nDELE x", "b\n", "c\rd"] {
        assert_eq!(
            fs.lookup(ROOT_INO, OsStr::new(bad)).unwrap_err().errno(),
            libc::EINVAL
        );
    }
    assert_eq!(store.count(Op::List), 0);
}

/// A name over 255 bytes, or a path over 4095, is ENAMETOOLONG before anything is sent (FUSE
/// passes names of up to 1024 bytes); 255 bytes are fine.
#[test]
fn names_and_paths_too_long_are_refused_before_any_request() {
    let (store, fs) = mem_core(core_config());
    let long = "n".repeat(256);
    let too_long = |r: Result<(), FsError>| assert_eq!(r.unwrap_err().errno(), libc::ENAMETOOLONG);
    too_long(fs.lookup(ROOT_INO, OsStr::new(&long)).map(|_| ()));
    too_long(fs.mkdir(ROOT_INO, OsStr::new(&long)).map(|_| ()));
    too_long(
        fs.create(ROOT_INO, OsStr::new(&long), OpenMode::WRITE, false)
            .map(|_| ()),
    );
    assert_eq!(store.count(Op::List), 0);
    assert_eq!(store.count(Op::Mkdir), 0);
    // Directories of 255-byte names, nested until the path would pass PATH_MAX: the first 16
    // levels (4,096 bytes with their slashes) go; the next is refused, and not sent.
    let name = "d".repeat(255);
    let mut dir = ROOT_INO;
    for level in 0..16 {
        match fs.mkdir(dir, OsStr::new(&name)) {
            Ok(a) => dir = a.ino,
            Err(e) => {
                assert_eq!(e.errno(), libc::ENAMETOOLONG, "level {level}");
                assert_eq!(level, 15, "refused too early");
                break;
            }
        }
    }
    assert_eq!(store.count(Op::Mkdir), 15);
    too_long(fs.lookup(dir, OsStr::new(&name)).map(|_| ()));
    assert_eq!(
        fs.lookup(dir, OsStr::new("x")).unwrap_err().errno(),
        libc::ENOENT,
        "a short name still fits"
    );
}

#[test]
fn a_read_only_mount_refuses_every_change() {
    let (store, fs) = mem_core(FsConfig {
        read_only: true,
        ..core_config()
    });
    store.add_file("/f", "x");
    store.add_dir("/d");
    let ino = fs.lookup(ROOT_INO, OsStr::new("f")).unwrap().ino;
    let rofs = |r: Result<(), FsError>| assert_eq!(r.unwrap_err().errno(), libc::EROFS);
    rofs(fs.open(ino, OpenMode::WRITE).map(|_| ()));
    rofs(
        fs.create(ROOT_INO, OsStr::new("n"), OpenMode::WRITE, false)
            .map(|_| ()),
    );
    rofs(fs.mkdir(ROOT_INO, OsStr::new("m")).map(|_| ()));
    rofs(fs.unlink(ROOT_INO, OsStr::new("f")));
    rofs(fs.rmdir(ROOT_INO, OsStr::new("d")));
    rofs(fs.rename(
        ROOT_INO,
        OsStr::new("f"),
        ROOT_INO,
        OsStr::new("g"),
        RenameMode::default(),
    ));
    let truncate = SetAttr {
        size: Some(0),
        ..SetAttr::default()
    };
    rofs(fs.setattr(ino, None, truncate).map(|_| ()));
    assert!(fs.read_only());
    for op in [Op::OpenWrite, Op::Mkdir, Op::Remove, Op::Rmdir, Op::Rename] {
        assert_eq!(store.count(op), 0, "{op:?} reached the server");
    }
}

#[test]
fn directory_errors() {
    let (store, fs) = mem_core(core_config());
    store.add_file("/f", "x");
    store.add_dir("/d");
    let f = fs.lookup(ROOT_INO, OsStr::new("f")).unwrap().ino;
    let d = fs.lookup(ROOT_INO, OsStr::new("d")).unwrap().ino;
    assert_eq!(
        fs.lookup(f, OsStr::new("x")).unwrap_err().errno(),
        libc::ENOTDIR
    );
    assert_eq!(fs.opendir(f).unwrap_err().errno(), libc::ENOTDIR);
    assert_eq!(
        fs.open(d, OpenMode::READ).unwrap_err().errno(),
        libc::EISDIR
    );
    assert_eq!(fs.getattr(987654321).unwrap_err().errno(), libc::ESTALE);
}

#[test]
fn listing_failures_map_to_errno() {
    // A refused listing of a directory its parent lists is a drop box (fs/dropbox.rs): a name in
    // it is taken as absent, so that `cp file dir/` can go on to create it.
    let cases = [
        (
            RemoteError::PermissionDenied("550 denied".into()),
            libc::ENOENT,
        ),
        (RemoteError::NotFound("550 gone".into()), libc::ENOENT),
        (RemoteError::Connection("reset".into()), libc::EIO),
        (RemoteError::Protocol("500 what".into()), libc::EIO),
    ];
    for (err, errno) in cases {
        let (store, fs) = mem_core(core_config());
        store.add_file("/d/f", "x");
        let d = fs.lookup(ROOT_INO, OsStr::new("d")).unwrap().ino;
        store.fail_next(Op::List, err.clone());
        assert_eq!(
            fs.lookup(d, OsStr::new("f")).unwrap_err().errno(),
            errno,
            "{err:?}"
        );
        // The failure was not cached: the next lookup asks again and succeeds.
        assert!(fs.lookup(d, OsStr::new("f")).is_ok());
    }
}

#[test]
fn a_directory_that_refuses_its_listing_takes_files_and_refuses_ls() {
    let (store, fs) = mem_core(core_config());
    store.add_file("/incoming/old", "x");
    let d = fs.lookup(ROOT_INO, OsStr::new("incoming")).unwrap().ino;
    store.fail_next(
        Op::List,
        RemoteError::NotFound("550 Permission denied.".into()),
    );
    assert_eq!(
        fs.lookup(d, OsStr::new("new")).unwrap_err().errno(),
        libc::ENOENT
    );
    store.fail_next(
        Op::List,
        RemoteError::NotFound("550 Permission denied.".into()),
    );
    let fh = fs.opendir(d);
    assert_eq!(fh.unwrap_err().errno(), libc::EACCES, "ls of a drop box");
    store.fail_next(
        Op::List,
        RemoteError::NotFound("550 Permission denied.".into()),
    );
    let (_, opened) = fs
        .create(d, OsStr::new("new"), OpenMode::WRITE, true)
        .expect("a create in a directory that cannot be listed proceeds");
    fs.write(opened.fh, 0, b"dropped").unwrap();
    fs.flush(opened.fh).unwrap();
    fs.release(opened.fh);
    assert_eq!(
        store.content("/incoming/new").as_deref(),
        Some(&b"dropped"[..])
    );
}

#[test]
fn a_failed_download_is_retried_once_then_reported() {
    let (store, fs) = mem_core(core_config());
    store.add_file("/f", pattern(1000, 5));
    let ino = fs.lookup(ROOT_INO, OsStr::new("f")).unwrap().ino;

    store.fail_next(Op::OpenRead, RemoteError::Connection("reset".into()));
    let o = fs.open(ino, OpenMode::READ).unwrap();
    assert_eq!(fs.read(o.fh, 0, 1000).unwrap().to_vec(), pattern(1000, 5));
    fs.release(o.fh);

    let (store, fs) = mem_core(core_config());
    store.add_file("/f", pattern(1000, 5));
    let ino = fs.lookup(ROOT_INO, OsStr::new("f")).unwrap().ino;
    store.fail_next(Op::OpenRead, RemoteError::Connection("reset".into()));
    store.fail_next(Op::OpenRead, RemoteError::Connection("reset".into()));
    let o = fs.open(ino, OpenMode::READ).unwrap();
    assert_eq!(fs.read(o.fh, 0, 1000).unwrap_err().errno(), libc::EIO);

    let (store, fs) = mem_core(core_config());
    store.add_file("/f", "x");
    let ino = fs.lookup(ROOT_INO, OsStr::new("f")).unwrap().ino;
    store.fail_next(Op::OpenRead, RemoteError::PermissionDenied("550".into()));
    let o = fs.open(ino, OpenMode::READ).unwrap();
    assert_eq!(fs.read(o.fh, 0, 1).unwrap_err().errno(), libc::EACCES);
}

#[test]
fn readdirplus_counts_lookups_and_forget_releases_them() {
    let (store, fs) = mem_core(core_config());
    store.add_file("/a", "x");
    store.add_file("/b", "y");
    let fh = fs.opendir(ROOT_INO).unwrap().fh;
    let mut c = Collect::all();
    fs.readdir(fh, 0, true, &mut c).unwrap();
    let a = c.entries.iter().find(|e| e.name == "a").unwrap().attr.ino;
    assert!(fs.getattr(a).is_ok(), "readdirplus made the inode known");
    fs.forget(a, 1);
    assert_eq!(fs.getattr(a).unwrap_err().errno(), libc::ESTALE);
    // Looked up again, it gets the same number.
    assert_eq!(fs.lookup(ROOT_INO, OsStr::new("a")).unwrap().ino, a);
}

#[test]
fn statfs_has_sensible_figures() {
    let (_, fs) = mem_core(core_config());
    let s = fs.statfs();
    assert!(s.blocks > 0 && s.bfree > 0 && s.bavail > 0 && s.bsize > 0 && s.namelen == 255);
}

#[test]
fn parallel_lookups_in_one_directory_share_one_listing() {
    let (store, fs) = mem_core(core_config());
    for i in 0..50 {
        store.add_file(&format!("/d/f{i}"), "x");
    }
    let fs = Arc::new(fs);
    let d = fs.lookup(ROOT_INO, OsStr::new("d")).unwrap().ino;
    let before = store.count(Op::List);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let fs = Arc::clone(&fs);
            std::thread::spawn(move || {
                for i in (t..50).step_by(8) {
                    fs.lookup(d, OsStr::new(&format!("f{i}"))).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(store.count(Op::List) - before, 1);
}

#[test]
fn a_download_that_ends_before_the_listed_size_is_retried_not_taken_as_eof() {
    let data = pattern(1 << 20, 9);
    for offset in [0u64, 300_000] {
        let (store, fs) = mem_core(core_config());
        store.add_file("/f", data.clone());
        let ino = fs.lookup(ROOT_INO, OsStr::new("f")).unwrap().ino;
        let o = fs.open(ino, OpenMode::READ).unwrap();
        store.truncate_next_read(1000);
        let got = fs.read(o.fh, offset, 128 << 10).unwrap().to_vec();
        assert_eq!(got, &data[offset as usize..offset as usize + (128 << 10)]);
        assert_eq!(store.count(Op::OpenRead), 2, "retried once");
    }
}

#[test]
fn a_missing_file_reported_mid_transfer_is_enoent() {
    let (store, fs) = mem_core(core_config());
    store.add_file("/f", "x");
    let ino = fs.lookup(ROOT_INO, OsStr::new("f")).unwrap().ino;
    let o = fs.open(ino, OpenMode::READ).unwrap();
    store.remove_externally("/f");
    assert_eq!(fs.read(o.fh, 0, 1).unwrap_err().errno(), libc::ENOENT);
}

/// Whether the kernel may keep the entries it cached at the last opendir: only while the core's
/// listing is the very same, with nothing of ours beyond it.
#[test]
fn a_directory_s_cached_entries_are_kept_only_while_unchanged() {
    let (store, fs) = mem_core(FsConfig {
        dir_cache_ttl: Duration::from_millis(200),
        ..core_config()
    });
    store.add_file("/a.txt", "hello");
    let keep = |fs: &FtpFs<MemStore>| {
        let o = fs.opendir(ROOT_INO).unwrap();
        fs.releasedir(o.fh);
        o.keep_cache
    };
    assert!(!keep(&fs), "the first opening has nothing to keep");
    assert!(keep(&fs), "the same listing again");
    assert!(keep(&fs));

    // Our own change: the listing changed in place, so the kernel rereads it.
    fs.mkdir(ROOT_INO, OsStr::new("d")).unwrap();
    assert!(!keep(&fs), "after our mkdir");
    assert!(keep(&fs));

    // A file being written is listed beyond the cached listing: never kept while it is.
    let (_, w) = fs
        .create(ROOT_INO, OsStr::new("new"), OpenMode::WRITE, true)
        .unwrap();
    assert!(!keep(&fs), "a file being written is listed too");
    assert!(!keep(&fs), "and still is");
    fs.write(w.fh, 0, b"x").unwrap();
    fs.flush(w.fh).unwrap();
    fs.release(w.fh);
    assert!(!keep(&fs), "the upload changed the listing");
    assert!(keep(&fs));

    // A change on the server, seen once the listing is fetched again after its TTL.
    store.add_file("/b.txt", "theirs");
    let lists = store.count(Op::List);
    std::thread::sleep(Duration::from_millis(250));
    assert!(!keep(&fs), "a new listing from the server");
    assert_eq!(store.count(Op::List), lists + 1);
    assert_eq!(ls(&fs, ROOT_INO), [".", "..", "a.txt", "b.txt", "d", "new"]);
    assert!(keep(&fs));
}
