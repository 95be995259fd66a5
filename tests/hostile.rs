//! Hostile and broken servers (tests/support/fake.rs) against the FTP store and a kernel mount:
//! the address in a PASV reply is never followed; replies that never end, drip, or are garbage end
//! in an error within the timeout; listings that never end hit their size or time bound with
//! bounded memory; names with CR/LF never reach a server; names a server lists with `/`, NUL, `.`
//! or `..` are skipped. Measurements are printed as `HOSTILE ...` lines (`-- --nocapture`).

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ftpfs::remote::ftp::FtpStore;
use ftpfs::remote::{RemoteError, RemoteStore};
use support::fake::{Epsv, Fake, Hostile, Script, PASSWORD};
use support::mount::{sh, Mounted};
use support::store::FtpStoreBuilder;
use support::vsftpd::Vsftpd;
use support::FtpServer;

/// The tests of this file run one at a time: one of them measures the process's peak memory.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn store(fake: &Fake, timeout: Duration) -> FtpStore {
    FtpStoreBuilder::for_server(fake)
        .max_conns(2)
        .timeout(timeout)
        .build()
}

/// The peak resident memory of this test process, in MiB (VmHWM).
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib >> 10
}

#[test]
fn the_address_in_a_pasv_reply_is_ignored() {
    let _serial = serial();
    let fake = Fake::start(Script {
        pasv_elsewhere: true,
        listing: vec!["-rw-r--r-- 1 u g 6 Jan 01 2024 hello.txt".into()],
        files: HashMap::from([("/hello.txt".to_string(), b"hello\n".to_vec())]),
        ..Default::default()
    });
    let st = store(&fake, Duration::from_secs(2));
    let names: Vec<String> = st.list("/").unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["hello.txt"]);
    let mut data = Vec::new();
    st.open_read("/hello.txt", 0)
        .unwrap()
        .read_to_end(&mut data)
        .unwrap();
    assert_eq!(data, b"hello\n");
    let cmds = fake.commands();
    assert!(
        cmds.iter().filter(|c| *c == "PASV").count() >= 2,
        "{cmds:?}"
    );
    // The trap listener keeps listening for a while; anything dialing it would have by now.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        fake.elsewhere_connections(),
        0,
        "ftpfs connected to the address in the PASV reply"
    );
}

/// The server's misbehaviour, the timeout, and what must hold for the error.
fn ends_in_an_error(hostile: Hostile, timeout: Duration, bound: Duration, listing: bool) {
    let fake = Fake::start(Script {
        hostile: hostile.clone(),
        ..Default::default()
    });
    let st = store(&fake, timeout);
    let t = Instant::now();
    let result = if listing {
        st.list("/").map(|_| ())
    } else {
        st.check()
    };
    let took = t.elapsed();
    let err = result.expect_err("a hostile server must not succeed");
    assert!(
        matches!(err, RemoteError::Connection(_) | RemoteError::Protocol(_)),
        "{hostile:?}: {err:?}"
    );
    within(&format!("{hostile:?}"), timeout, took, bound, &err);
}

/// Asserts that an error came within `bound`, and prints the measurement as a `HOSTILE` line.
fn within(what: &str, timeout: Duration, took: Duration, bound: Duration, err: &RemoteError) {
    assert!(
        took < bound,
        "{what} took {took:?} (bound {bound:?}): {err}"
    );
    eprintln!("HOSTILE {what} (timeout {timeout:?}): error after {took:.2?}: {err}");
}

/// Runs `op` against a fake server that goes `hostile` (answering as vsftpd does, and serving
/// `files`), with a 1 s timeout; it must fail after one timeout, not two.
fn fails_after_one_timeout(
    what: &str,
    hostile: Hostile,
    files: HashMap<String, Vec<u8>>,
    op: impl FnOnce(&FtpStore) -> Result<(), RemoteError>,
) {
    let fake = Fake::start(Script {
        hostile,
        vsftpd_replies: true,
        files,
        ..Default::default()
    });
    let timeout = Duration::from_secs(1);
    let st = store(&fake, timeout);
    let t = Instant::now();
    let err = op(&st).expect_err("a silent server");
    let bound = timeout * 2 - Duration::from_millis(200);
    within(what, timeout, t.elapsed(), bound, &err);
}

#[test]
fn hostile_greetings_end_in_an_error_within_the_timeout() {
    let _serial = serial();
    let t = Duration::from_secs(2);
    // The timeout plus scheduling slack on a busy machine.
    let bound = Duration::from_millis(3500);
    for h in [
        Hostile::EndlessGreeting,
        Hostile::DrippingGreeting,
        Hostile::GarbageGreeting,
        Hostile::HugeGreeting,
        Hostile::SilentGreeting,
    ] {
        ends_in_an_error(h, t, bound, false);
    }
}

#[test]
fn hostile_listings_end_in_an_error_with_bounded_memory() {
    let _serial = serial();
    let before = peak_rss_mib();
    // Fast ones hit the size bound (64 MiB of listing, 16 KiB of line) long before the timeout.
    ends_in_an_error(
        Hostile::EndlessListing,
        Duration::from_secs(10),
        Duration::from_secs(30),
        true,
    );
    ends_in_an_error(
        Hostile::EndlessListingLine,
        Duration::from_secs(2),
        Duration::from_secs(4),
        true,
    );
    // Slow ones are never silent for a whole timeout: the listing's time bound (6 timeouts)
    // ends them.
    let t = Duration::from_secs(1);
    ends_in_an_error(Hostile::DrippingListing, t, Duration::from_secs(8), true);
    ends_in_an_error(Hostile::DrippingListReply, t, Duration::from_secs(8), true);
    let grown = peak_rss_mib().saturating_sub(before);
    eprintln!("HOSTILE listings: peak RSS grew by {grown} MiB");
    // The size bound is 64 MiB of listing; held as lines it takes about 1.7 times that.
    assert!(grown < 160, "peak RSS grew by {grown} MiB");
}

/// A server that goes silent at a listing whose command carries the next data connection's
/// passive command behind it (as ftpfs sends them to vsftpd): the listing fails after one
/// timeout, not after a second one spent waiting for the reply behind the missing one.
/// The same when the server goes silent after the listing's `150`, with its data connection open:
/// no second wait for the `226`.
#[test]
fn a_silent_listing_costs_one_timeout_not_two() {
    let _serial = serial();
    for hostile in [Hostile::SilentListReply, Hostile::SilentListing] {
        // (The fake never reads the PASV behind the LIST: it went silent at the LIST.)
        let what = format!("{hostile:?}");
        fails_after_one_timeout(&what, hostile, HashMap::new(), |st| {
            st.list("/").map(|_| ())
        });
    }
}

/// A server that goes silent during a transfer is not waited for again after its data connection
/// timed out: no wait for a closing reply. An upload it stops reading (the data connection's
/// buffers fill, the send times out), and a download it stops sending.
#[test]
fn a_transfer_the_server_goes_silent_in_ends_without_a_second_wait() {
    let _serial = serial();
    let timeout = Duration::from_secs(1);
    // Enough to fill both ends' socket buffers many times over.
    let chunk = vec![7u8; 1 << 20];
    let fake = Fake::start(Script {
        hostile: Hostile::SilentUpload,
        ..Default::default()
    });
    let st = store(&fake, timeout);
    let mut up = st.open_write("/big.bin", false).unwrap();
    let t = Instant::now();
    let mut sent = 0usize;
    let failed_write = loop {
        if sent >= 256 << 20 {
            break None;
        }
        match up.write(&chunk) {
            Ok(()) => sent += chunk.len(),
            Err(e) => break Some(e),
        }
    };
    let write_failed = t.elapsed();
    // The file system ends a failed upload with `finish` (it reads the verdict, which often says
    // why): after a silence that must not wait again.
    let t_end = Instant::now();
    let ended = up.finish().map(|_| ());
    let ending = t_end.elapsed();
    let err = match (failed_write, ended) {
        (Some(e), _) | (None, Err(e)) => e,
        (None, Ok(())) => panic!("an upload to a silent server succeeded"),
    };
    // A frozen server's kernel still takes bytes into its receive buffer in small steps, and a
    // send that gets a few bytes through after a whole timeout is progress: up to three timeouts
    // pass before the data connection is given up (measured with a socket pair: 1.02 s, 1.02 s,
    // then nothing for 1.02 s; here 3.07 s). The bound allows the kernel a few more such steps.
    assert!(
        write_failed < timeout * 8,
        "upload: the writes failed after {write_failed:?} ({sent} bytes taken)"
    );
    assert!(
        ending < timeout / 2,
        "upload: finish waited {ending:?} after the writes failed: {err}"
    );
    eprintln!(
        "HOSTILE SilentUpload (timeout {timeout:?}): writes failed after {write_failed:.2?} \
         ({sent} bytes taken), finish took {ending:.2?}: {err}"
    );

    // A download: the server goes silent at the RETR (no 150), or after the 150 with its data
    // connection open.
    for hostile in [Hostile::SilentListReply, Hostile::SilentListing] {
        let files = HashMap::from([("/f.bin".to_string(), vec![1u8; 4096])]);
        let what = format!("download, {hostile:?}");
        fails_after_one_timeout(&what, hostile, files, |st| {
            st.open_read("/f.bin", 0)
                .and_then(|mut r| r.read_to_end(&mut Vec::new()))
                .map(|_| ())
        });
    }
}

#[test]
fn names_with_line_breaks_never_reach_the_server() {
    let _serial = serial();
    let fake = Fake::start(Script::default());
    let st = store(&fake, Duration::from_secs(2));
    st.check().unwrap();
    let evil = "/a\r\nDELE victim";
    let refused = |r: Result<(), RemoteError>| {
        assert!(matches!(r, Err(RemoteError::InvalidName(_))), "{r:?}")
    };
    refused(st.list(evil).map(|_| ()));
    refused(st.open_read(evil, 0).map(|_| ()));
    refused(st.open_write(evil, false).map(|_| ()));
    refused(st.mkdir(evil));
    refused(st.remove(evil));
    refused(st.rename("/ok", evil));
    refused(st.size(evil).map(|_| ()));
    refused(st.list("/b\nRMD x").map(|_| ()));
    let cmds = fake.commands();
    assert!(
        !cmds
            .iter()
            .any(|c| c.contains("DELE") || c.contains("RMD") || c.contains("victim")),
        "{cmds:?}"
    );
}

#[test]
fn names_with_line_breaks_are_einval_through_the_mount() {
    let _serial = serial();
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("victim.txt"), "still here\n").unwrap();
    let server = Vsftpd::start_logging_commands(root.path());
    let m = Mounted::new(&server.url("/"), &server.password, "");
    let names = ["a\rb", "c\nDELE victim.txt", "x\r\nRMD y"];
    for name in names {
        let p = m.path().join(name);
        let errs = [
            std::fs::write(&p, "x").unwrap_err(),
            std::fs::create_dir(&p).unwrap_err(),
            std::fs::metadata(&p).unwrap_err(),
            std::fs::rename(m.path().join("victim.txt"), &p).unwrap_err(),
        ];
        for e in errs {
            assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{name:?}: {e}");
        }
    }
    assert_eq!(
        std::fs::read_to_string(root.path().join("victim.txt")).unwrap(),
        "still here\n"
    );
    let logged = server.command_log();
    assert!(logged.contains("FTP command"), "the log records commands");
    for bad in ["DELE", "RMD", "a\rb", "\\r"] {
        assert!(!logged.contains(bad), "{bad:?} reached vsftpd:\n{logged}");
    }
}

/// A listing with names no file may have, in MLSD or LIST form.
fn bad_names_script(mlsd: bool) -> Script {
    let fact = "size=3;modify=20240101000000;";
    let listing: Vec<String> = if mlsd {
        [
            format!("type=file;{fact} ok.txt"),
            format!("type=file;{fact} a/b"),
            format!("type=file;{fact} ../../etc/passwd"),
            format!("type=file;{fact} .."),
            format!("type=dir;{fact} ."),
            format!("type=file;{fact} nul\0inside"),
            format!("type=file;{fact} /abs"),
        ]
        .into()
    } else {
        [
            "-rw-r--r-- 1 u g 3 Jan 01 2024 ok.txt",
            "-rw-r--r-- 1 u g 3 Jan 01 2024 ../escape",
            "drwxr-xr-x 2 u g 0 Jan 01 2024 ..",
            "drwxr-xr-x 2 u g 0 Jan 01 2024 .",
            "-rw-r--r-- 1 u g 3 Jan 01 2024 sub/file",
            "-rw-r--r-- 1 u g 3 Jan 01 2024 nul\0x",
        ]
        .map(String::from)
        .into()
    };
    Script {
        mlsd,
        listing,
        files: HashMap::from([("/ok.txt".to_string(), b"ok\n".to_vec())]),
        ..Default::default()
    }
}

#[test]
fn names_a_server_lists_with_slash_nul_or_dots_are_skipped() {
    let _serial = serial();
    for mlsd in [true, false] {
        let fake = Fake::start(bad_names_script(mlsd));
        let m = Mounted::with_log(&fake.url("/"), PASSWORD, "");
        let listed = sh("ls -a", m.path());
        assert_eq!(
            listed.split_whitespace().collect::<Vec<_>>(),
            [".", "..", "ok.txt"]
        );
        assert_eq!(sh("cat ok.txt", m.path()), "ok\n");
        assert_eq!(sh("find . | sort", m.path()).trim(), ".\n./ok.txt");
        // No part of a bad name became an entry (the kernel resolves `..` itself and never
        // sends a name with `/`).
        for part in [
            "escape", "sub", "etc", "passwd", "a", "b", "abs", "nul", "x", "inside",
        ] {
            let e = std::fs::symlink_metadata(m.path().join(part)).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{part}: {e}");
        }
        let log = m.log();
        let warned = log
            .matches("skipping listing entry with an unusable name")
            .count();
        assert!(warned >= 3, "mlsd={mlsd}: {warned} warnings:\n{log}");
        eprintln!("HOSTILE bad names (mlsd={mlsd}): only ok.txt shown, {warned} warnings");
    }
}

/// A server that refuses REST (502) although it takes pipelined commands, which sends REST and
/// RETR together: the file the RETR behind the refused REST sends is never taken for the range,
/// the connection it left out of step is closed, and from then on reads from an offset stream
/// the file from its start and drop what comes before (tests/missing_features.rs has the same
/// without pipelining).
#[test]
fn a_server_refusing_rest_gets_reads_from_the_start() {
    let _serial = serial();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let fake = Fake::start(Script {
        epsv: Epsv::Works,
        rest_refused: true,
        files: [("/f.bin".to_string(), data.clone())].into(),
        ..Default::default()
    });
    let st = store(&fake, Duration::from_secs(5));
    let t = Instant::now();
    for _ in 0..3 {
        let mut r = st.open_read_range("/f.bin", 1000, 4096).unwrap();
        let mut buf = vec![0u8; 4096];
        r.read_exact(&mut buf).unwrap();
        assert!(buf[..] == data[1000..5096]);
        r.finish();
    }
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    let cmds = fake.commands();
    let rest = cmds.iter().filter(|c| c.starts_with("REST")).count();
    assert_eq!(rest, 1, "REST is not sent again: {cmds:?}");
}

/// A server that takes pipelined commands but closes its passive listener at any command other
/// than a transfer: the data connection an upload opened ahead for the next one is gone by then
/// (the rename came in between). The next upload notices (a reset connection, or a 425 to its
/// STOR) before it sends any data, and every file lands whole.
#[test]
fn a_server_that_drops_the_listener_an_upload_opened_ahead_gets_the_ordinary_upload() {
    let _serial = serial();
    let fake = Fake::start(Script {
        epsv: Epsv::Works,
        passive_for_next_command_only: true,
        ..Default::default()
    });
    let st = store(&fake, Duration::from_secs(5));
    // Logging in tells which server this is (a mount does that before anything else).
    st.check().unwrap();
    let t = Instant::now();
    for i in 0..3u8 {
        let data = vec![i; 5000 + i as usize];
        let mut w = st.open_write(&format!("/.t{i}"), false).unwrap();
        w.write(&data).unwrap();
        // The size came with the end of the upload.
        assert_eq!(w.finish().unwrap().size, Some(data.len() as u64));
        st.rename(&format!("/.t{i}"), &format!("/f{i}")).unwrap();
        assert_eq!(fake.uploads().get(&format!("/f{i}")), Some(&data));
    }
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    let cmds = fake.commands();
    let stor = cmds.iter().filter(|c| c.starts_with("STOR")).count();
    // Each later upload finds its spare reset (and opens another at once) or, if the reset has
    // not arrived yet, sends STOR on it, gets 425, and goes the ordinary way.
    assert!((3..=5).contains(&stor), "{cmds:?}");
    assert_eq!(st.stats().uploads, (3, 0));
    assert_eq!(
        cmds.iter().filter(|c| c.starts_with("USER")).count(),
        1,
        "{cmds:?}"
    );
}

/// A server that carries out a REST sent together with the RETR behind it only after that RETR
/// (as a server running commands concurrently may): the RETR's 150 comes before the REST's 350,
/// and its data starts at the file's beginning. ftpfs takes no byte of it for the range: the
/// reply out of order turns pipelining off for the mount, and the read is made again one
/// command at a time, with the right bytes.
#[test]
fn a_server_answering_rest_after_the_next_command_gets_commands_one_at_a_time() {
    let _serial = serial();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let fake = Fake::start(Script {
        epsv: Epsv::Works,
        rest_after_next: true,
        files: [("/f.bin".to_string(), data.clone())].into(),
        ..Default::default()
    });
    let st = store(&fake, Duration::from_secs(5));
    for offset in [1000u64, 50_000] {
        let mut r = st.open_read_range("/f.bin", offset, 4096).unwrap();
        let mut buf = vec![0u8; 4096];
        r.read_exact(&mut buf).unwrap();
        let at = offset as usize;
        assert!(buf[..] == data[at..at + 4096], "bytes at {offset}");
        r.finish();
    }
    let cmds = fake.commands();
    // The first read's REST and RETR went together once, then again one at a time; the second
    // read one at a time only.
    assert_eq!(
        cmds.iter().filter(|c| *c == "REST 1000").count(),
        2,
        "{cmds:?}"
    );
    assert_eq!(
        cmds.iter().filter(|c| *c == "REST 50000").count(),
        1,
        "{cmds:?}"
    );
}

/// A server busy for a while after an upload's `226` before it reads its next command, as
/// vsftpd is while it pushes a big file's pages to its disk: the upload's end does not wait for
/// it. The size check and the rename go on another connection while that session is still busy,
/// and the session comes back to the pool in step afterwards, with its next data connection
/// open (the next upload uses it).
#[test]
fn an_upload_end_does_not_wait_for_a_server_still_closing_the_file() {
    let _serial = serial();
    let busy = Duration::from_secs(3);
    let fake = Fake::start(Script {
        epsv: Epsv::Works,
        slow_close: Some(busy),
        ..Default::default()
    });
    let st = store(&fake, Duration::from_secs(10));
    st.check().unwrap();
    let data: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    let t = Instant::now();
    let mut w = st.open_write("/.big", false).unwrap();
    w.write(&data).unwrap();
    let told = w.finish().unwrap().size;
    // What the caller does with an upload whose end did not say the size (`fs/upload.rs`).
    let size = match told {
        Some(n) => n,
        None => st.size("/.big").unwrap(),
    };
    assert_eq!(size, data.len() as u64);
    st.rename("/.big", "/big").unwrap();
    let took = t.elapsed();
    assert!(took < busy / 2, "the upload's end took {took:?}");
    assert_eq!(fake.uploads().get("/big"), Some(&data));
    let cmds = fake.commands();
    let renamed = cmds.iter().position(|c| c == "RNTO /big").unwrap();
    assert!(
        !cmds[..renamed].iter().any(|c| c.starts_with("closed ")),
        "the rename waited for the server: {cmds:?}"
    );

    // The busy session is read to its end in the background and goes back to the pool in
    // step: the next upload takes it (the last given back) and its data connection opened
    // ahead, and no new session is logged in.
    std::thread::sleep(busy + Duration::from_secs(1));
    let mut w = st.open_write("/.small", false).unwrap();
    w.write(b"small").unwrap();
    w.finish().unwrap();
    assert_eq!(fake.uploads().get("/.small").map(Vec::len), Some(5));
    assert_eq!(st.stats().uploads, (2, 1));
    let cmds = fake.commands();
    assert_eq!(
        cmds.iter().filter(|c| c.starts_with("USER")).count(),
        2,
        "{cmds:?}"
    );
}

/// A server that sends its `226` only once the client has closed its side of the data connection
/// (vsftpd does: far away that is a round trip after the data): downloads and listings close
/// their side as their command leaves, so the verdict comes with the data. Both still arrive
/// whole.
#[test]
fn downloads_and_listings_close_their_side_of_the_data_connection_with_the_command() {
    let _serial = serial();
    let file: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let fake = Fake::start(Script {
        epsv: Epsv::Works,
        lingering_close: true,
        listing: vec!["-rw-r--r-- 1 u g 100000 Nov 22 14:21 f.bin".into()],
        files: [("/f.bin".to_string(), file.clone())].into(),
        ..Default::default()
    });
    let st = store(&fake, Duration::from_secs(10));
    st.check().unwrap();
    let names: Vec<String> = st.list("/").unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["f.bin"]);
    let mut r = st.open_read("/f.bin", 0).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    r.finish();
    assert_eq!(got, file);
    let cmds = fake.commands();
    let seen: Vec<&String> = cmds
        .iter()
        .filter(|c| *c == "closed early" || *c == "open")
        .collect();
    assert_eq!(seen, ["closed early", "closed early"], "{cmds:?}");
}
