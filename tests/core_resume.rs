//! Layer 2, uploads that survive a broken link (`src/fs/resume.rs`, `src/fs/budget.rs`): a stream or
//! a spooled upload whose link breaks resumes where the server's part of it ends (`REST`+`STOR`,
//! else `APPE`, else from the start), keeps trying while the server is away for up to
//! `upload_retry`, then fails with the data kept; the spool's bound turns copies off. Byte counts
//! prove that nothing was sent twice.

mod support;

use std::time::{Duration, Instant};

use ftpfs::fs::inode::ROOT_INO;
use ftpfs::fs::OpenMode;
use ftpfs::remote::mem::{MemStore, Op};
use ftpfs::remote::{RemoteError, RemoteStore};
use support::core::{
    ino, name, no_temp_files, pattern, read_back, setup, setup_with, write_all, Setup,
};

const MIB: usize = 1 << 20;

fn reset() -> RemoteError {
    RemoteError::Connection("reset by peer".into())
}

fn sent(store: &MemStore) -> u64 {
    store.stats().bytes_written
}

/// A handle on a new file `/f`, written only (a stream).
fn created(fs: &ftpfs::fs::FtpFs<MemStore>) -> u64 {
    fs.create(ROOT_INO, name("f"), OpenMode::WRITE, true)
        .unwrap()
        .1
        .fh
}

/// A new file `/f` streamed with all of `data`, whose link breaks after `at` bytes (then `then`
/// runs, to queue more failures before the rest is written). Returns the open handle.
fn broken_stream(
    store: &MemStore,
    fs: &ftpfs::fs::FtpFs<MemStore>,
    data: &[u8],
    at: usize,
    then: impl FnOnce(),
) -> u64 {
    let fh = created(fs);
    write_all(fs, fh, 0, &data[..at], 1 << 17);
    store.fail_next(Op::WriteData, reset());
    then();
    write_all(fs, fh, at as u64, &data[at..], 1 << 17);
    fh
}

/// The link breaks in the middle of a stream: the writes go on locally, and the close sends
/// only what the server's temporary file lacks (`REST`), then renames it into place.
#[test]
fn a_stream_broken_mid_way_resumes_at_close_without_sending_a_byte_twice() {
    let Setup { store, fs, .. } = setup();
    let data = pattern(3 * MIB, 1);
    let fh = broken_stream(&store, &fs, &data, MIB, || {});
    fs.flush(fh).unwrap();
    fs.release(fh);
    assert_eq!(store.content("/f").unwrap(), data);
    assert_eq!(store.count(Op::OpenWrite), 1, "no upload from the start");
    assert_eq!(store.count(Op::OpenWriteFrom), 1, "one resumed upload");
    assert_eq!(sent(&store), data.len() as u64, "every byte sent once");
    no_temp_files(&store);
}

/// A spooled upload (a file changed in place) whose data connection breaks resumes from what
/// reached the server, in the same close.
#[test]
fn a_spooled_upload_broken_mid_way_resumes_in_the_same_close() {
    let Setup { store, fs, .. } = setup();
    let old = pattern(3 * MIB, 2);
    store.add_file("/f", old.clone());
    let o = fs.open(ino(&fs, "/f"), OpenMode::READ_WRITE).unwrap();
    fs.write(o.fh, 5, b"changed").unwrap();
    let mut want = old;
    want[5..12].copy_from_slice(b"changed");
    // The second megabyte of the upload meets a reset.
    store.pass_next(Op::WriteData);
    store.fail_next(Op::WriteData, reset());
    fs.flush(o.fh).unwrap_or_else(|e| panic!("{e}"));
    fs.release(o.fh);
    assert_eq!(store.content("/f").unwrap(), want);
    assert_eq!(store.count(Op::OpenWriteFrom), 1);
    assert_eq!(sent(&store), want.len() as u64, "every byte sent once");
    no_temp_files(&store);
}

/// While the server is away (its SIZE and connections fail), the close keeps trying with growing
/// pauses, and succeeds once it is back.
#[test]
fn a_server_away_for_a_while_is_waited_for_within_upload_retry() {
    let Setup { store, fs, .. } = setup();
    let data = pattern(2 * MIB, 3);
    let fh = broken_stream(&store, &fs, &data, MIB, || {
        for _ in 0..2 {
            store.fail_next(Op::Size, RemoteError::Connection("refused".into()));
        }
        store.fail_next(Op::OpenWriteFrom, RemoteError::Connection("refused".into()));
    });
    let t = Instant::now();
    fs.flush(fh).unwrap();
    let took = t.elapsed();
    fs.release(fh);
    assert_eq!(store.content("/f").unwrap(), data);
    // Pauses of 0.25, 0.5 and 1 s before the fourth attempt.
    assert!(took >= Duration::from_millis(1700), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(sent(&store), data.len() as u64);
    no_temp_files(&store);
}

/// A server that stays away past `upload_retry`: the close fails with EIO, the data stays in the
/// mount (read back as written), nothing is left on the server, and a later close saves it.
#[test]
fn past_upload_retry_the_close_fails_and_the_data_stays() {
    let Setup { store, fs, .. } = setup_with(|c| c.upload_retry = Duration::from_secs(1));
    let fh = fs
        .create(ROOT_INO, name("f"), OpenMode::READ_WRITE, true)
        .unwrap()
        .1
        .fh;
    let data = pattern(MIB + 5, 4);
    fs.write(fh, 0, &data).unwrap();
    // The first attempt breaks mid-way; every later one finds the server gone.
    store.fail_next(Op::WriteData, reset());
    for _ in 0..10 {
        store.fail_next(Op::Size, RemoteError::Connection("refused".into()));
    }
    let t = Instant::now();
    assert_eq!(fs.flush(fh).unwrap_err().errno(), libc::EIO);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(read_back(&fs, fh, data.len() + 10), data);
    assert!(store.content("/f").is_none());
    // The server is back (the failures left are used up by the next attempts or cleared).
    while store.count(Op::Size) < 10 {
        let _ = store.size("/nothing");
    }
    fs.flush(fh).unwrap();
    fs.release(fh);
    assert_eq!(store.content("/f").unwrap(), data);
    no_temp_files(&store);
}

/// A server that refuses `REST` before `STOR` gets `APPE` of the rest; one that refuses both gets
/// the whole file again.
#[test]
fn without_rest_the_rest_is_appended_and_without_appe_sent_again() {
    for appe in [true, false] {
        let Setup { store, fs, .. } = setup();
        let data = pattern(2 * MIB, 5);
        let fh = broken_stream(&store, &fs, &data, MIB, || {});
        store.fail_next(
            Op::OpenWriteFrom,
            RemoteError::Protocol("502 REST not implemented".into()),
        );
        if !appe {
            // The first OpenWrite of the close is the APPE.
            store.fail_next(
                Op::OpenWrite,
                RemoteError::Protocol("451 Append/Restart not permitted".into()),
            );
        }
        fs.flush(fh).unwrap();
        fs.release(fh);
        assert_eq!(store.content("/f").unwrap(), data, "appe {appe}");
        let landed = MIB as u64; // what reached the server before the break
        let expected = if appe {
            data.len() as u64
        } else {
            landed + data.len() as u64
        };
        assert_eq!(sent(&store), expected, "appe {appe}");
        no_temp_files(&store);
    }
}

/// Bytes rewritten after the break, below what the server holds: the resumed upload starts
/// there, not past it, so the server's stale bytes are replaced.
#[test]
fn a_rewrite_below_the_break_moves_the_resume_point_back() {
    let Setup { store, fs, .. } = setup();
    let mut data = pattern(2 * MIB, 6);
    let fh = broken_stream(&store, &fs, &data, MIB, || {});
    fs.write(fh, 100, b"REWRITTEN").unwrap();
    data[100..109].copy_from_slice(b"REWRITTEN");
    fs.flush(fh).unwrap();
    fs.release(fh);
    assert_eq!(store.content("/f").unwrap(), data);
    no_temp_files(&store);
}

/// A file unlinked after its stream broke: the partial upload on the server is removed.
#[test]
fn an_unlinked_file_leaves_no_partial_upload() {
    let Setup { store, fs, .. } = setup();
    let data = pattern(2 * MIB, 7);
    let fh = broken_stream(&store, &fs, &data, MIB, || {});
    fs.unlink(ROOT_INO, name("f")).unwrap();
    fs.flush(fh).unwrap();
    fs.release(fh);
    assert!(store.content("/f").is_none());
    no_temp_files(&store);
}

/// Past `spool_max` a stream keeps no copy: a break then fails the upload, as without copies.
#[test]
fn past_spool_max_a_broken_stream_fails() {
    let Setup { store, fs, .. } = setup_with(|c| c.spool_max = MIB as u64);
    let fh = created(&fs);
    let data = pattern(3 * MIB, 8);
    write_all(&fs, fh, 0, &data[..2 * MIB], 1 << 17);
    store.fail_next(Op::WriteData, reset());
    let e = fs.write(fh, 2 * MIB as u64, &data[2 * MIB..]).unwrap_err();
    assert_eq!(e.errno(), libc::EIO);
    assert_eq!(fs.flush(fh).unwrap_err().errno(), libc::EIO);
    fs.release(fh);
    assert!(store.content("/f").is_none());
    no_temp_files(&store);
    // Within the bound, the same break costs nothing.
    let small = pattern(MIB / 2, 9);
    let fh = broken_stream(&store, &fs, &small, MIB / 4, || {});
    fs.flush(fh).unwrap();
    fs.release(fh);
    assert_eq!(store.content("/f").unwrap(), small);
}

/// A data connection closed by a server that then refuses the upload (vsftpd's `451` when its
/// disk fails) is not a link failure: no retry, the error reaches the close at once.
#[test]
fn a_refusal_behind_a_broken_transfer_is_not_retried() {
    let Setup { store, fs, .. } = setup();
    let data = pattern(2 * MIB, 10);
    let fh = broken_stream(&store, &fs, &data, MIB, || {
        // The broken stream's own end passes; the resumed upload's is refused.
        store.pass_next(Op::FinishWrite);
        store.fail_next(
            Op::FinishWrite,
            RemoteError::Protocol("451 Failure writing to local file".into()),
        );
        store.fail_next(Op::WriteData, reset());
    });
    let t = Instant::now();
    assert_eq!(fs.flush(fh).unwrap_err().errno(), libc::EIO);
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(store.count(Op::OpenWriteFrom), 1, "one attempt only");
    fs.release(fh);
    no_temp_files(&store);
}
