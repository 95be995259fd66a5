//! Layer 4, network faults: the real `ftpfs` binary mounted against a vsftpd that the test stops,
//! freezes, restarts, or configures to close idle sessions or refuse connections beyond two. Each
//! test measures what a user would see (errno, time to the error, time to recovery, process
//! states) and prints its measurements as `FAULT ...` lines (`cargo test --test faults --
//! --nocapture` shows them).

mod support;

use std::io::{Read, Seek};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::mount::{child_stderr, Mounted};
use support::servers::daemon::{proc_state, tcp_connections_to};
use support::{make_random_file, sha256_file, vsftpd::Vsftpd, FtpServer};

/// A small tree: text files, two directories the tests list only during an outage, a 1 MiB file
/// and a 64 MiB one.
fn tree() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::write(r.join("a.txt"), "alpha\n").unwrap();
    for d in ["dir1", "dir2", "dir3"] {
        std::fs::create_dir(r.join(d)).unwrap();
        std::fs::write(r.join(d).join("x.txt"), format!("in {d}\n")).unwrap();
    }
    make_random_file(&r.join("c.bin"), 1 << 20, 3);
    make_random_file(&r.join("d.bin"), 1 << 20, 4);
    make_random_file(&r.join("big.bin"), 64 << 20, 5);
    root
}

/// Runs `sh -c cmd` in `dir`, timed.
fn timed(cmd: &str, dir: &Path) -> (Duration, Output) {
    let t = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (t.elapsed(), out)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

/// Whether a program's error message is strerror(EIO) (coreutils) or dash's word for it.
fn says_eio(err: &str) -> bool {
    err.contains("Input/output error") || err.contains("I/O error")
}

/// Asserts that `cmd` failed with EIO ("Input/output error") within `bound`; returns the time.
fn fails_with_eio(cmd: &str, dir: &Path, bound: Duration) -> Duration {
    let (took, out) = timed(cmd, dir);
    assert!(!out.status.success(), "`{cmd}` succeeded during the outage");
    assert!(
        says_eio(&stderr(&out)),
        "`{cmd}`: expected EIO, got {:?}",
        stderr(&out)
    );
    assert!(took < bound, "`{cmd}` took {took:?} (bound {bound:?})");
    took
}

/// Retries `cmd` until it succeeds; returns how long that took. Panics after `bound`.
fn until_ok(cmd: &str, dir: &Path, bound: Duration) -> (Duration, String) {
    let t = Instant::now();
    loop {
        let (_, out) = timed(cmd, dir);
        if out.status.success() {
            return (
                t.elapsed(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            );
        }
        assert!(
            t.elapsed() < bound,
            "`{cmd}` still fails {bound:?} after the server came back: {}",
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts `prog args` in `dir` with SIGINT at its default action (a test harness started in the
/// background may have inherited it ignored).
fn spawn_in(dir: &Path, prog: &str, args: &[&str]) -> Child {
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: signal(2) in the child between fork and exec is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
    cmd.spawn().unwrap()
}

/// Waits for `child` to exit, at most `bound`, sampling its process state meanwhile; returns the
/// time it took and every state seen.
fn watch_exit(child: &mut Child, bound: Duration) -> (Duration, String) {
    let t = Instant::now();
    let mut states = String::new();
    loop {
        if child.try_wait().unwrap().is_some() {
            return (t.elapsed(), states);
        }
        if let Some(s) = proc_state(child.id()) {
            if !states.ends_with(s) {
                states.push(s);
            }
        }
        assert!(
            t.elapsed() < bound,
            "process {} still running after {bound:?} (states seen: {states})",
            child.id()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn stopped_server_gives_eio_at_once_and_the_mount_recovers_without_remount() {
    let root = tree();
    let mut server = Vsftpd::start(root.path(), &[]);
    let m = Mounted::new(&server.url("/"), &server.password, "timeout=5");
    let mp = m.path();
    assert_eq!(
        std::fs::read_to_string(mp.join("a.txt")).unwrap(),
        "alpha\n"
    );
    let disk_big = std::fs::read(root.path().join("big.bin")).unwrap();

    // A handle opened before the outage, 4 MiB into the file.
    let mut handle = std::fs::File::open(mp.join("big.bin")).unwrap();
    let mut got = vec![0u8; 4 << 20];
    handle.read_exact(&mut got).unwrap();

    server.stop();
    let bound = Duration::from_secs(8);
    let t_ls = fails_with_eio("ls dir1", mp, bound);
    let t_stat = fails_with_eio("stat dir2/x.txt", mp, bound);
    let t_cat = fails_with_eio("cat c.bin > /dev/null", mp, bound);
    let t_write = fails_with_eio("echo new > new.txt", mp, bound);
    // The open handle reads on from what was fetched ahead, then fails; its position stays.
    let t = Instant::now();
    let mut buf = vec![0u8; 1 << 20];
    let failed_at = loop {
        let pos = handle.stream_position().unwrap();
        match handle.read(&mut buf) {
            Ok(0) => panic!("big.bin ended during the outage"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
                break pos;
            }
        }
    };
    let t_handle = t.elapsed();
    assert!(
        t_handle < bound,
        "the open handle took {t_handle:?} to fail"
    );
    assert_eq!(handle.stream_position().unwrap(), failed_at);
    // The listing of the mounted root was cached before the outage: it is still served.
    let (_, cached) = timed("ls", mp);
    assert!(cached.status.success(), "{}", stderr(&cached));

    server.restart();
    let (recovered, listed) = until_ok("ls dir1", mp, Duration::from_secs(5));
    assert_eq!(listed.trim(), "x.txt");
    assert_eq!(
        sha256_file(&mp.join("c.bin")),
        sha256_file(&root.path().join("c.bin"))
    );
    assert_eq!(
        std::fs::read_to_string(mp.join("dir2/x.txt")).unwrap(),
        "in dir2\n"
    );
    std::fs::write(mp.join("new.txt"), "new\n").unwrap();
    assert_eq!(
        std::fs::read_to_string(root.path().join("new.txt")).unwrap(),
        "new\n"
    );
    // The old handle goes on from where it stopped, without reopening.
    handle.read_to_end(&mut got).unwrap();
    assert!(got == disk_big, "the resumed handle read wrong bytes");
    eprintln!(
        "FAULT server stopped (timeout=5): EIO after ls {t_ls:?}, stat {t_stat:?}, cat \
         {t_cat:?}, write {t_write:?}, open handle {t_handle:?} (at byte {failed_at}); \
         recovered {recovered:?} after the restart; handle resumed and matched"
    );
}

/// Prints a mount's log if the test fails while this lives.
struct LogOnPanic<'a>(&'a Mounted);
impl Drop for LogOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("ftpfs log:\n{}", self.0.log());
        }
    }
}

/// Commands a user runs during an outage, each on something not cached yet.
const OUTAGE_OPS: [(&str, &[&str]); 4] = [
    ("ls", &["dir1"]),
    ("stat", &["dir2/x.txt"]),
    ("cat", &["c.bin"]),
    ("sh", &["-c", "echo new > new.txt"]),
];

#[test]
fn frozen_server_gives_eio_within_the_timeout_and_leaves_no_process_blocked() {
    let root = tree();
    let mut server = Vsftpd::start(root.path(), &[]);
    // One mount with timeout=5, one with the default (10 s).
    let short = Mounted::with_log(&server.url("/"), &server.password, "timeout=5");
    let default = Mounted::with_log(&server.url("/"), &server.password, "");
    for m in [&short, &default] {
        assert_eq!(
            std::fs::read_to_string(m.path().join("a.txt")).unwrap(),
            "alpha\n"
        );
    }
    server.freeze();
    let t0 = Instant::now();
    let guard = (LogOnPanic(&short), LogOnPanic(&default));
    let mut running = Vec::new();
    for (m, timeout) in [(&short, 5u64), (&default, 10)] {
        for (prog, args) in OUTAGE_OPS {
            let child = spawn_in(m.path(), prog, args);
            running.push((timeout, prog, child, String::new(), None));
        }
    }
    // All at once: each must end within its mount's `timeout` (plus 2 s for scheduling on a busy
    // 2-core machine); the states it went through are recorded.
    while running.iter().any(|r| r.4.is_none()) {
        for (timeout, prog, child, states, ended) in &mut running {
            if ended.is_some() {
                continue;
            }
            if child.try_wait().unwrap().is_some() {
                *ended = Some(t0.elapsed());
                continue;
            }
            if let Some(s) = proc_state(child.id()) {
                if !states.ends_with(s) {
                    states.push(s);
                }
            }
            assert!(
                t0.elapsed() < Duration::from_secs(*timeout + 2),
                "{prog} still running after {:?} (states seen: {states})",
                t0.elapsed()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(guard);
    let mut report = Vec::new();
    for (timeout, prog, child, states, ended) in &mut running {
        let status = child.wait().unwrap();
        let err = child_stderr(child);
        assert!(
            !status.success(),
            "{prog} succeeded against a frozen server"
        );
        assert!(says_eio(&err), "{prog}: {err}");
        report.push(format!(
            "{prog} (timeout={timeout}) {:.1?} [{states}]",
            ended.unwrap()
        ));
    }
    server.thaw();
    let (recovered, listed) = until_ok("ls dir3", short.path(), Duration::from_secs(5));
    assert_eq!(listed.trim(), "x.txt");
    let (recovered_default, _) = until_ok(
        "cat d.bin > /dev/null",
        default.path(),
        Duration::from_secs(5),
    );
    eprintln!(
        "FAULT server frozen: timeout=5 then default (10 s): {}; recovered {recovered:?} / \
         {recovered_default:?} after the thaw",
        report.join(", ")
    );
}

#[test]
fn idle_sessions_closed_by_the_server_are_replaced_unseen() {
    let root = tree();
    let server = Vsftpd::start(root.path(), &[("idle_session_timeout", "5")]);
    // Three mounts whose first command after the idle time is an upload, a listing and a
    // download: each finds the server's 421 on a pooled connection before it sends anything
    // (that drops every idle connection, so the commands after it get fresh ones), and says so
    // in its debug log.
    let evidence = "a pooled session is not usable: connection failed: the server is out of \
                    step: an unasked reply \"421";
    let firsts = [
        ("echo upload > up.txt", evidence),
        ("ls dir1", evidence),
        ("sha256sum c.bin", evidence),
    ];
    let mounts: Vec<Mounted> = firsts
        .iter()
        .map(|_| Mounted::with_log(&server.url("/"), &server.password, ""))
        .collect();
    for m in &mounts {
        assert_eq!(
            std::fs::read_to_string(m.path().join("a.txt")).unwrap(),
            "alpha\n"
        );
    }
    std::thread::sleep(Duration::from_secs(8));
    // Every pooled connection is gone by now (vsftpd sent 421 and closed).
    assert_eq!(server.sessions(), 0, "vsftpd still serves sessions");
    for (m, (first, evidence)) in mounts.iter().zip(firsts) {
        for cmd in [first, "cat dir2/x.txt", "ls dir3"] {
            let (took, out) = timed(cmd, m.path());
            assert!(out.status.success(), "`{cmd}` failed: {}", stderr(&out));
            assert_eq!(stderr(&out), "", "`{cmd}` showed an error");
            eprintln!("FAULT idle close: `{cmd}` ok in {took:?}");
        }
        assert!(
            m.log().contains(evidence),
            "`{first}` did not meet a dead connection:\n{}",
            m.log()
        );
    }
    assert_eq!(
        std::fs::read_to_string(root.path().join("up.txt")).unwrap(),
        "upload\n"
    );
}

#[test]
fn two_connections_per_client_six_readers_share_them() {
    let root = tempfile::tempdir().unwrap();
    for i in 0..6 {
        make_random_file(&root.path().join(format!("f{i}.bin")), 8 << 20, 40 + i);
    }
    let server = Vsftpd::start(root.path(), &[("max_per_ip", "2")]);
    let m = Mounted::with_log(&server.url("/"), &server.password, "max_conns=6");
    let t = Instant::now();
    let readers: Vec<_> = (0..6)
        .map(|i| {
            let p = m.path().join(format!("f{i}.bin"));
            std::thread::spawn(move || sha256_file(&p))
        })
        .collect();
    for (i, r) in readers.into_iter().enumerate() {
        assert_eq!(
            r.join().unwrap(),
            sha256_file(&root.path().join(format!("f{i}.bin"))),
            "f{i}.bin"
        );
    }
    let took = t.elapsed();
    let log = m.log();
    let learned: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("server refused connection"))
        .collect();
    assert_eq!(learned.len(), 1, "the limit is logged once:\n{log}");
    assert!(
        learned[0].contains("using at most 2 connections"),
        "{}",
        learned[0]
    );
    assert!(server.sessions() <= 2, "{} sessions", server.sessions());
    eprintln!(
        "FAULT max_per_ip=2, max_conns=6: six 8 MiB readers correct in {took:?}; log: {}",
        learned[0]
    );
}

#[test]
fn a_reader_killed_mid_file_leaves_no_connection_behind() {
    let root = tempfile::tempdir().unwrap();
    make_random_file(&root.path().join("huge.bin"), 200 << 20, 11);
    make_random_file(&root.path().join("other1.bin"), 16 << 20, 12);
    make_random_file(&root.path().join("other2.bin"), 16 << 20, 13);
    let server = Vsftpd::start(root.path(), &[]);
    let m = Mounted::new(&server.url("/"), &server.password, "max_conns=2");
    let mut cat = spawn_in(m.path(), "cat", &["huge.bin"]);
    // Kill it once it has read some 20 MiB (its rchar in /proc/PID/io).
    let t = Instant::now();
    let read_so_far = || {
        std::fs::read_to_string(format!("/proc/{}/io", cat.id()))
            .ok()
            .and_then(|io| {
                io.lines()
                    .find_map(|l| l.strip_prefix("rchar: ").map(|n| n.parse::<u64>().unwrap()))
            })
            .unwrap_or(0)
    };
    while read_so_far() < 20 << 20 {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "cat makes no progress"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let at = read_so_far();
    cat.kill().unwrap();
    cat.wait().unwrap();
    // Two readers at once need both connections of the pool: a leaked one would make one wait
    // for the pool timeout and fail.
    let t = Instant::now();
    let paths: Vec<_> = ["other1.bin", "other2.bin", "huge.bin"]
        .iter()
        .map(|f| (m.path().join(f), root.path().join(f)))
        .collect();
    let readers: Vec<_> = paths
        .iter()
        .cloned()
        .map(|(mnt, _)| std::thread::spawn(move || sha256_file(&mnt)))
        .collect();
    for (r, (mnt, disk)) in readers.into_iter().zip(&paths) {
        assert_eq!(r.join().unwrap(), sha256_file(disk), "{}", mnt.display());
    }
    let took = t.elapsed();
    // ftpfs holds at most two control connections; the server's sessions follow once the
    // closed ones have ended (vsftpd ends a session on its own time after the client's close).
    let held = tcp_connections_to(m.daemon_pid(), server.port);
    // At least the one the readers used is kept for the next request (and shows that the
    // count sees ftpfs's connections at all).
    assert!(
        (1..=2).contains(&held),
        "ftpfs holds {held} control connections for max_conns=2"
    );
    let t = Instant::now();
    let mut sessions = server.sessions();
    while sessions > 2 && t.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(20));
        sessions = server.sessions();
    }
    assert!(
        sessions <= 2,
        "{sessions} vsftpd sessions for max_conns=2, 3 s after the readers ended ({held} control \
         connections in ftpfs): a data connection ftpfs still holds keeps a session writing"
    );
    eprintln!(
        "FAULT reader killed at {} MiB of 200: three readers correct in {took:?} after, {sessions} \
         server sessions (max_conns=2)",
        at >> 20
    );
}

#[test]
fn ctrl_c_ends_a_wait_on_a_frozen_server_at_once() {
    let root = tree();
    let mut server = Vsftpd::start(root.path(), &[]);
    let m = Mounted::new(&server.url("/"), &server.password, "timeout=10");
    assert_eq!(
        std::fs::read_to_string(m.path().join("a.txt")).unwrap(),
        "alpha\n"
    );
    server.freeze();
    let mut report = Vec::new();
    let mut children: Vec<_> = [
        ("ls", &["dir1"][..]),
        ("stat", &["dir2/x.txt"][..]),
        ("cat", &["c.bin"][..]),
    ]
    .into_iter()
    .map(|(prog, args)| (prog, spawn_in(m.path(), prog, args)))
    .collect();
    std::thread::sleep(Duration::from_secs(1));
    for (prog, child) in &mut children {
        assert!(child.try_wait().unwrap().is_none(), "{prog} ended early");
        let before = proc_state(child.id());
        // SAFETY: kill(2) on a child we own.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
        let (took, states) = watch_exit(child, Duration::from_secs(3));
        assert!(
            took < Duration::from_secs(1),
            "{prog} took {took:?} to end after SIGINT"
        );
        report.push(format!(
            "{prog} {took:.2?} (state {before:?}, then [{states}])"
        ));
    }
    server.thaw();
    let (recovered, _) = until_ok("ls dir1", m.path(), Duration::from_secs(15));
    eprintln!(
        "FAULT SIGINT while waiting on a frozen server (timeout=10): {}; mount fine {recovered:?} after the thaw",
        report.join(", ")
    );
}

#[test]
fn keepalive_keeps_idle_sessions_open() {
    let root = tree();
    let server = Vsftpd::start(root.path(), &[("idle_session_timeout", "5")]);
    let m = Mounted::with_log(
        &server.url("/"),
        &server.password,
        "keepalive=2,max_conns=2",
    );
    assert_eq!(
        std::fs::read_to_string(m.path().join("a.txt")).unwrap(),
        "alpha\n"
    );
    let connects = |log: &str| log.matches("connected to 127.0.0.1").count();
    // Let the warm-up finish: both connections logged in.
    let t = Instant::now();
    while connects(&m.log()) < 2 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "warm-up never opened 2 connections"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = connects(&m.log());
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(
        server.sessions(),
        2,
        "sessions were closed despite keepalive"
    );
    let (_, out) = timed("ls dir1 && cat dir2/x.txt", m.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        connects(&m.log()),
        before,
        "ftpfs had to reconnect:\n{}",
        m.log()
    );
    eprintln!("FAULT keepalive=2 vs idle_session_timeout=5: {before} connections, none new after 8 s idle");
}
