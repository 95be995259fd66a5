//! Layer 2, files unlinked while open, over the in-memory store: as POSIX says, the open handles
//! go on working until the last close. `fstat` shows no links and the data's size; reads and
//! writes work on the data the mount holds (what was written, or the server's content fetched
//! before the DELE); a new file of the same name is another file; the last close uploads nothing;
//! and content too large for the spool's bounds is not fetched (its handles answer ENOENT).

mod support;

use ftpfs::error::FsError;
use ftpfs::fs::inode::ROOT_INO;
use ftpfs::fs::{OpenMode, SetAttr};
use ftpfs::remote::mem::Op;
use support::core::{ino, name, read_back, setup, setup_with, write_new};

#[test]
fn a_file_created_here_stays_usable_after_its_unlink() {
    let s = setup();
    let fs = &s.fs;
    let (a, o) = fs
        .create(ROOT_INO, name("f"), OpenMode::READ_WRITE, true)
        .unwrap();
    fs.write(o.fh, 0, b"before").unwrap();
    fs.unlink(ROOT_INO, name("f")).unwrap();
    assert!(fs.lookup(ROOT_INO, name("f")).is_err(), "the name is gone");
    let st = fs.getattr(a.ino).unwrap();
    assert_eq!((st.nlink, st.size), (0, 6));
    fs.write(o.fh, 6, b" and after").unwrap();
    assert_eq!(fs.getattr(a.ino).unwrap().size, 16);
    assert_eq!(read_back(fs, o.fh, 100), b"before and after");
    let cut = SetAttr {
        size: Some(3),
        ..SetAttr::default()
    };
    assert_eq!(fs.setattr(a.ino, Some(o.fh), cut).unwrap().size, 3);
    assert_eq!(read_back(fs, o.fh, 100), b"bef");
    fs.flush(o.fh).unwrap();
    fs.release(o.fh);
    assert_eq!(s.store.count(Op::OpenWrite), 0, "the last close uploaded");
    assert!(
        s.store.paths().iter().all(|p| p == "/"),
        "{:?}",
        s.store.paths()
    );
    assert!(fs.getattr(a.ino).is_err(), "gone with its last handle");
}

#[test]
fn a_server_file_open_for_reading_keeps_its_content_after_its_unlink() {
    let s = setup();
    let fs = &s.fs;
    s.store.add_file("/doc", "the server's content");
    let f = ino(fs, "/doc");
    let o = fs.open(f, OpenMode::READ).unwrap();
    assert_eq!(&*fs.read(o.fh, 0, 4).unwrap(), b"the ");
    fs.unlink(ROOT_INO, name("doc")).unwrap();
    assert!(s.store.content("/doc").is_none(), "deleted on the server");
    // A new file takes the name: the open handle still reads the old one.
    let new = write_new(fs, "/doc", b"new");
    assert_ne!(new, f);
    assert_eq!(read_back(fs, o.fh, 100), b"the server's content");
    let st = fs.getattr(f).unwrap();
    assert_eq!((st.nlink, st.size), (0, 20));
    assert_eq!(fs.getattr(new).unwrap().nlink, 1);
    fs.release(o.fh);
    assert_eq!(s.store.content("/doc").unwrap(), b"new");
}

#[test]
fn a_server_file_open_for_writing_takes_writes_after_its_unlink_and_uploads_nothing() {
    let s = setup();
    let fs = &s.fs;
    s.store.add_file("/log", "0123456789");
    let f = ino(fs, "/log");
    let o = fs.open(f, OpenMode::READ_WRITE).unwrap();
    fs.unlink(ROOT_INO, name("log")).unwrap();
    fs.write(o.fh, 10, b"ab").unwrap();
    fs.write(o.fh, 0, b"X").unwrap();
    assert_eq!(read_back(fs, o.fh, 100), b"X123456789ab");
    assert_eq!(fs.getattr(f).unwrap().nlink, 0);
    fs.flush(o.fh).unwrap();
    fs.release(o.fh);
    assert_eq!(s.store.count(Op::OpenWrite), 0, "the last close uploaded");
    assert!(s.store.content("/log").is_none());
}

#[test]
fn content_too_large_for_the_spool_is_not_fetched_at_unlink() {
    let s = setup_with(|c| c.spool_max = 10);
    let fs = &s.fs;
    s.store.add_file("/big", vec![1u8; 100]);
    let f = ino(fs, "/big");
    let o = fs.open(f, OpenMode::READ).unwrap();
    fs.unlink(ROOT_INO, name("big")).unwrap();
    assert_eq!(s.store.count(Op::OpenRead), 0, "fetched past spool_max");
    assert!(matches!(fs.read(o.fh, 0, 10), Err(FsError::NotFound)));
    assert_eq!(fs.getattr(f).unwrap().nlink, 0);
    fs.release(o.fh);
}
