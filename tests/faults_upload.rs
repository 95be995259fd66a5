//! Layer 5, uploads across network faults: the real `ftpfs` binary mounted against a vsftpd that
//! the test restarts, or whose connections it cuts, in the middle of an upload by `cp` and by `tar`
//! writing to the mount. The program must exit 0 and the server's file must be byte-identical to
//! the source: the upload resumed (`src/fs/resume.rs`), and the log says where. Prints `FAULT ...`
//! lines with the measurements (`cargo test --test faults_upload -- --nocapture`).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use support::mount::Mounted;
use support::{make_random_file, sha256_file, vsftpd::Vsftpd, FtpServer};

const MIB: u64 = 1 << 20;

/// A mount of `server` with its log, and a spool directory of its own.
fn mount(server: &Vsftpd, cache: &Path) -> Mounted {
    Mounted::with_log(
        &server.url("/"),
        &server.password,
        &format!("cache_dir={},upload_retry=30", cache.display()),
    )
}

/// The upload of `name` in progress on the server's disk: ftpfs's temporary file for it.
fn temp_of(root: &Path, name: &str) -> Option<PathBuf> {
    std::fs::read_dir(root)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with(".~ftpfs.") && n.ends_with(name)
        })
}

/// Waits until the server holds more than `past` bytes of the upload of `name`; returns how many.
fn upload_passes(root: &Path, name: &str, past: u64, program: &mut Child) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(len) = temp_of(root, name).and_then(|p| std::fs::metadata(p).ok()) {
            if len.len() > past {
                return len.len();
            }
        }
        assert!(
            program.try_wait().unwrap().is_none(),
            "the program ended before the upload reached {past} bytes"
        );
        assert!(
            Instant::now() < deadline,
            "the upload of {name} never passed {past} bytes"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for `program`, at most `bound`; kills it and panics with the mount's log past that.
fn finish(program: &mut Child, bound: Duration, m: &Mounted) -> (ExitStatus, Duration) {
    let t = Instant::now();
    loop {
        if let Some(status) = program.try_wait().unwrap() {
            return (status, t.elapsed());
        }
        if t.elapsed() > bound {
            let _ = program.kill();
            let _ = program.wait();
            panic!(
                "the program still ran after {bound:?}; ftpfs log:\n{}",
                m.log()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The lines of the log that tell what happened to the upload.
fn resume_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| {
            l.contains("going on in a local copy")
                || l.contains("trying again")
                || l.contains("resumed at byte")
        })
        .map(|l| l.chars().take(200).collect())
        .collect()
}

/// Runs `program` (made by `make` for a mount) writing `name` into the mount while `fault` strikes
/// the server once the upload passed `at` bytes, and checks that it exits 0 and that the server
/// holds `name` byte-identical to `reference`, resumed (the log says where).
fn write_through(
    fault: &str,
    name: &str,
    reference: &Path,
    at: u64,
    make: impl FnOnce(&Path) -> Command,
    strike: impl FnOnce(&mut Vsftpd),
) {
    let root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut server = Vsftpd::start(root.path(), &[]);
    let m = mount(&server, cache.path());
    let mut program = make(m.path()).stderr(Stdio::piped()).spawn().unwrap();
    let struck_at = upload_passes(root.path(), name, at, &mut program);
    strike(&mut server);
    let (status, took) = finish(&mut program, Duration::from_secs(120), &m);
    let log = m.log();
    assert!(
        status.success(),
        "the program failed after the {fault}: {}\nftpfs log:\n{log}",
        support::mount::child_stderr(&mut program)
    );
    assert_eq!(
        sha256_file(&root.path().join(name)),
        sha256_file(reference),
        "the server's {name} differs after the {fault}; log:\n{log}"
    );
    assert!(
        temp_of(root.path(), name).is_none(),
        "a temporary file is left"
    );
    let lines = resume_lines(&log);
    assert!(
        lines.iter().any(|l| l.contains("resumed at byte")),
        "the upload did not resume after the {fault}: {lines:#?}"
    );
    if fault.contains("down") {
        assert!(
            lines.iter().any(|l| l.contains("trying again")),
            "the close never met the server down: {lines:#?}"
        );
    }
    eprintln!(
        "FAULT {fault} at {} MiB of {} MiB written to {name}: the program exited 0 {took:.1?} \
         later, the server's file identical\n  {}",
        struck_at / MIB,
        std::fs::metadata(reference).unwrap().len() / MIB,
        lines.join("\n  ")
    );
}

/// `cp` of a file of `size` bytes into the mount while `fault` strikes past `at` bytes.
fn copy_through(fault: &str, size: u64, at: u64, strike: impl FnOnce(&mut Vsftpd)) {
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src.bin");
    make_random_file(&src, size, 41);
    let cp = |mnt: &Path| {
        let mut c = Command::new("cp");
        c.arg(&src).arg(mnt.join("big.bin"));
        c
    };
    write_through(fault, "big.bin", &src, at, cp, strike);
}

/// The server goes down for 3 s (long enough for `cp` to write the rest into the spool and
/// close): the close keeps trying until it is back, then resumes.
#[test]
fn a_server_restarted_in_the_middle_of_a_1_gib_cp_costs_nothing() {
    copy_through("server down 3 s", 1 << 30, 256 * MIB, |s| {
        s.stop();
        std::thread::sleep(Duration::from_secs(3));
        s.restart();
    });
}

#[test]
fn a_connection_cut_in_the_middle_of_a_cp_costs_nothing() {
    copy_through("connection cut", 512 * MIB, 128 * MIB, |s| s.cut_sessions());
}

/// `tar c` writing its archive to the mount (a program that cannot produce its data again):
/// the connections are cut mid-way, tar exits 0 and the archive on the server is the one tar
/// writes locally from the same tree, byte for byte.
#[test]
fn tar_into_the_mount_survives_a_cut_connection() {
    let local = tempfile::tempdir().unwrap();
    let tree = local.path().join("tree");
    for i in 0..8u64 {
        make_random_file(&tree.join(format!("part{i}.bin")), 32 * MIB, 50 + i);
    }
    let tar = |out: &Path| {
        let mut c = Command::new("sh");
        c.arg("-c").arg(format!(
            "tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - -C {} . > {}",
            tree.display(),
            out.display()
        ));
        c
    };
    let reference = local.path().join("ref.tar");
    assert!(tar(&reference).status().unwrap().success());
    write_through(
        "connection cut",
        "t.tar",
        &reference,
        64 * MIB,
        |mnt| tar(&mnt.join("t.tar")),
        |s| s.cut_sessions(),
    );
}
