//! Layer 4, writing: the real binary mounted against vsftpd and libunftp, driven with `std::fs` and
//! shell tools (cp, rsync, truncate, >>, fsx), with every result checked on the server's disk.

mod support;

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::mount::{digests, sh, walk, Mounted, Tmpfs};
use support::{make_tree, unftp::Unftp, vsftpd::Vsftpd, FtpServer, XorShift};

/// A server of each kind over a fresh root, and a spool directory for the mount.
struct Site {
    root: tempfile::TempDir,
    cache: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        Site {
            root: tempfile::tempdir().unwrap(),
            cache: tempfile::tempdir().unwrap(),
        }
    }

    fn opts(&self, extra: &str) -> String {
        let base = format!("cache_dir={}", self.cache.path().display());
        if extra.is_empty() {
            base
        } else {
            format!("{base},{extra}")
        }
    }
}

/// Runs `body` against vsftpd and against libunftp, each with a fresh root and mount.
fn on_both_servers(body: impl Fn(&Path, &Path)) {
    {
        let site = Site::new();
        let server = Vsftpd::start(site.root.path(), &[]);
        let m = Mounted::new(&server.url("/"), server.password(), &site.opts(""));
        body(m.path(), site.root.path());
    }
    {
        let site = Site::new();
        let server = Unftp::start(site.root.path());
        let m = Mounted::new(&server.url("/"), server.password(), &site.opts(""));
        body(m.path(), site.root.path());
    }
}

fn no_temp_files(root: &Path) {
    let left: Vec<PathBuf> = walk(root)
        .into_keys()
        .filter(|p| p.to_string_lossy().contains(".~ftpfs."))
        .collect();
    assert!(left.is_empty(), "temporary upload files left: {left:?}");
}

#[test]
fn a_tree_of_1000_files_copies_in_and_out_intact() {
    let src = tempfile::tempdir().unwrap();
    make_tree(&src.path().join("t"), 10, 100, 11);
    let want = digests(&src.path().join("t"));
    on_both_servers(|mnt, root| {
        sh(
            &format!("cp -r {}/t {}/t", src.path().display(), mnt.display()),
            mnt,
        );
        assert_eq!(digests(&root.join("t")), want, "server disk after cp in");
        no_temp_files(root);
        let out = tempfile::tempdir().unwrap();
        sh(
            &format!("cp -r {}/t {}/t", mnt.display(), out.path().display()),
            mnt,
        );
        assert_eq!(digests(&out.path().join("t")), want, "copied back out");
        // ls -l right after the copy shows the sizes (from our own changes, not a stale listing).
        assert_eq!(walk(&mnt.join("t")), walk(&src.path().join("t")));
    });
}

#[test]
fn rsync_a_second_run_transfers_nothing() {
    let src = tempfile::tempdir().unwrap();
    make_tree(&src.path().join("r"), 5, 40, 12);
    // Times with seconds, which vsftpd's LIST rounds to the minute: the second run must still see
    // them equal.
    sh(
        "find r -type f -exec touch -d '2026-09-01 10:20:33 UTC' {} +",
        src.path(),
    );
    let site = Site::new();
    let server = Vsftpd::start(site.root.path(), &[]);
    let m = Mounted::new(&server.url("/"), server.password(), &site.opts(""));
    let rsync = || {
        sh(
            &format!(
                "rsync -a --stats {}/r/ {}/r/",
                src.path().display(),
                m.path().display()
            ),
            m.path(),
        )
    };
    let first = rsync();
    assert!(
        first.contains("Number of regular files transferred: 200"),
        "{first}"
    );
    assert_eq!(
        digests(&site.root.path().join("r")),
        digests(&src.path().join("r"))
    );
    let second = rsync();
    assert!(
        second.contains("Number of regular files transferred: 0"),
        "the second rsync copied again:\n{second}"
    );
    // The times rsync set are on the server's disk (vsftpd's MDTM-set), to the second.
    let rel = Path::new("r/d000/f0000.txt");
    let here = std::fs::metadata(src.path().join(rel)).unwrap().mtime();
    let there = std::fs::metadata(site.root.path().join(rel))
        .unwrap()
        .mtime();
    assert_eq!(here, there);
    no_temp_files(site.root.path());
}

#[test]
fn an_editor_save_replaces_the_file_atomically() {
    on_both_servers(|mnt, root| {
        std::fs::write(mnt.join("notes.txt"), "first version\n").unwrap();
        // What vim and many editors do: write a temp file, fsync it, rename it over the original.
        let tmp = mnt.join(".notes.txt.tmp");
        let mut f = std::fs::File::create(&tmp).unwrap();
        f.write_all(b"second version, longer\n").unwrap();
        f.sync_all().unwrap();
        drop(f);
        std::fs::rename(&tmp, mnt.join("notes.txt")).unwrap();
        assert_eq!(
            std::fs::read(root.join("notes.txt")).unwrap(),
            b"second version, longer\n"
        );
        assert!(!root.join(".notes.txt.tmp").exists());
        assert_eq!(
            std::fs::read_to_string(mnt.join("notes.txt")).unwrap(),
            "second version, longer\n"
        );
        let names: Vec<String> = std::fs::read_dir(mnt)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["notes.txt"]);
        no_temp_files(root);
    });
}

/// A child inherits the descriptor of a file being written (every fork of a busy program; here a
/// command started mid-write) and closes its copy at exec: a close that carries no data. Nothing
/// reaches the real name before the writer's own close, and then all of it.
#[test]
fn a_child_closing_an_inherited_descriptor_uploads_nothing() {
    on_both_servers(|mnt, root| {
        let mut data = vec![0u8; 3 << 20];
        XorShift::new(8).fill(&mut data);
        let mut f = std::fs::File::create(mnt.join("log.bin")).unwrap();
        f.write_all(&data[..1 << 20]).unwrap();
        for _ in 0..3 {
            assert!(Command::new("true").status().unwrap().success());
        }
        assert!(
            !root.join("log.bin").exists(),
            "a child's close put a partial file under the real name"
        );
        f.write_all(&data[1 << 20..]).unwrap();
        drop(f);
        assert!(std::fs::read(root.join("log.bin")).unwrap() == data);
        no_temp_files(root);
    });
}

#[test]
fn o_rdwr_random_writes_read_back_and_land_on_the_server() {
    on_both_servers(|mnt, root| {
        let mut model = vec![0u8; 4 << 20];
        XorShift::new(5).fill(&mut model);
        std::fs::write(mnt.join("db.bin"), &model).unwrap();
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(mnt.join("db.bin"))
            .unwrap();
        let mut rng = XorShift::new(6);
        for i in 0..200u32 {
            let off = rng.next_u64() % (model.len() as u64 + 8192);
            let chunk = vec![(i % 251) as u8; 4096];
            f.write_all_at(&chunk, off).unwrap();
            let end = off as usize + chunk.len();
            if end > model.len() {
                model.resize(end, 0);
            }
            model[off as usize..end].copy_from_slice(&chunk);
        }
        let mut back = vec![0u8; model.len()];
        f.read_exact_at(&mut back, 0).unwrap();
        assert!(back == model, "read back before close differs");
        drop(f);
        assert!(std::fs::read(root.join("db.bin")).unwrap() == model);
        no_temp_files(root);
    });
}

#[test]
fn appends_truncates_and_namespace_errors() {
    on_both_servers(|mnt, root| {
        sh("echo one > log; echo two >> log; echo three >> log", mnt);
        assert_eq!(
            std::fs::read(root.join("log")).unwrap(),
            b"one\ntwo\nthree\n"
        );
        sh("truncate -s 5 log", mnt);
        assert_eq!(std::fs::read(root.join("log")).unwrap(), b"one\nt");
        sh("truncate -s 8 log", mnt);
        assert_eq!(std::fs::read(root.join("log")).unwrap(), b"one\nt\0\0\0");
        assert_eq!(std::fs::metadata(mnt.join("log")).unwrap().len(), 8);
        // ftruncate on an open file, then writes.
        let mut f = OpenOptions::new()
            .write(true)
            .open(mnt.join("log"))
            .unwrap();
        f.set_len(2).unwrap();
        f.seek(SeekFrom::End(0)).unwrap();
        f.write_all(b"!").unwrap();
        drop(f);
        assert_eq!(std::fs::read(root.join("log")).unwrap(), b"on!");

        std::fs::create_dir(mnt.join("d")).unwrap();
        std::fs::write(mnt.join("d/f"), "x").unwrap();
        let kind = |r: std::io::Result<()>| r.unwrap_err().raw_os_error();
        assert_eq!(kind(std::fs::create_dir(mnt.join("d"))), Some(libc::EEXIST));
        assert_eq!(
            kind(std::fs::remove_dir(mnt.join("d"))),
            Some(libc::ENOTEMPTY)
        );
        assert_eq!(
            kind(std::fs::remove_file(mnt.join("nope"))),
            Some(libc::ENOENT)
        );
        assert_eq!(
            kind(std::fs::write(mnt.join("a\nb"), "x")),
            Some(libc::EINVAL)
        );
        sh("mv d e && mv log e/ && rm e/f && ls e", mnt);
        assert!(root.join("e/log").exists() && !root.join("d").exists());
        sh("rm -r e", mnt);
        assert_eq!(std::fs::read_dir(root).unwrap().count(), 0);
    });
}

#[test]
fn times_and_modes_reach_the_server() {
    let site = Site::new();
    let server = Vsftpd::start(site.root.path(), &[]);
    let m = Mounted::new(&server.url("/"), server.password(), &site.opts(""));
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("s"), "data").unwrap();
    sh("touch -d '2020-01-02 03:04:05 UTC' s", src.path());
    sh(&format!("cp -p {}/s s", src.path().display()), m.path());
    let disk = std::fs::metadata(site.root.path().join("s")).unwrap();
    assert_eq!(disk.mtime(), 1_577_934_245, "cp -p kept the time");
    assert_eq!(
        std::fs::metadata(m.path().join("s")).unwrap().mtime(),
        1_577_934_245
    );
    sh("chmod 640 s", m.path());
    let mode = std::fs::metadata(site.root.path().join("s"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    sh("touch -d '2021-05-06 07:08:09 UTC' s", m.path());
    let disk = std::fs::metadata(site.root.path().join("s")).unwrap();
    assert_eq!(disk.mtime(), 1_620_284_889, "touch -d set the time");
}

/// fsx (cargo install fsx) checks every byte after random reads, writes, mmap reads and writes,
/// truncations, fsyncs and close/reopen cycles. `tests/fsx.toml` says which operations run.
/// 100,000 of them, as issue 13 asks (about two minutes on the 2-core development machine), on a
/// mount with `opts`; then an fsync through the mount, and the server's file must hold what the
/// mount shows (which fsx checked after every operation).
fn fsx_100000(opts: &str) {
    let fsx = std::env::var("HOME")
        .map(|h| PathBuf::from(h).join(".cargo/bin/fsx"))
        .unwrap();
    assert!(
        fsx.exists(),
        "fsx is not installed ({}): scripts/test.sh runs `cargo install fsx`",
        fsx.display()
    );
    let site = Site::new();
    let server = Vsftpd::start(site.root.path(), &[]);
    let m = Mounted::new(&server.url("/"), server.password(), &site.opts(opts));
    let artifacts = tempfile::tempdir().unwrap();
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fsx.toml");
    let out = Command::new(&fsx)
        .args(["-N", "100000", "-S", "20261122", "-f"])
        .arg(&conf)
        .arg("-P")
        .arg(artifacts.path())
        .arg(m.path().join("fsx.bin"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("All operations completed A-OK"),
        "fsx failed ({opts}):\n{}",
        text.lines().rev().take(40).collect::<Vec<_>>().join("\n")
    );
    std::fs::File::open(m.path().join("fsx.bin"))
        .unwrap()
        .sync_all()
        .unwrap();
    let shown = std::fs::read(m.path().join("fsx.bin")).unwrap();
    let on_server = std::fs::read(site.root.path().join("fsx.bin")).unwrap();
    assert!(
        shown == on_server,
        "after fsync the server's fsx.bin differs from the mount's ({} and {} bytes; {opts})",
        on_server.len(),
        shown.len()
    );
}

#[test]
fn fsx_runs_100000_operations_without_a_failure() {
    fsx_100000("");
}

#[test]
fn fsx_runs_100000_operations_with_writeback_without_a_failure() {
    fsx_100000("writeback");
}

/// The server's root is a 16 MiB tmpfs; a 32 MiB file cannot fit. The program must get an error
/// (at write, fsync or close), the server must not keep a partial file under the name, and the
/// data must not be thrown away (it stays in the mount, unsaved, until removed).
#[test]
fn a_full_server_disk_is_an_error_and_leaves_no_partial_file() {
    let tmpfs = Tmpfs::new("16m");
    let cache = tempfile::tempdir().unwrap();
    let server = Vsftpd::start(tmpfs.path(), &[]);
    // With the daemon's debug log: it shows every upload destination and rename if this fails.
    let m = Mounted::with_log(
        &server.url("/"),
        server.password(),
        &format!("cache_dir={}", cache.path().display()),
    );
    let mut data = vec![0u8; 32 << 20];
    XorShift::new(3).fill(&mut data);
    let started = Instant::now();
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(m.path().join("big.bin"))?;
        for chunk in data.chunks(1 << 20) {
            f.write_all(chunk)?;
        }
        f.sync_all()?;
        drop(f);
        Ok(())
    })();
    let err = result.expect_err("writing 32 MiB to a 16 MiB server succeeded");
    eprintln!("disk full: {err} after {:?}", started.elapsed());
    // Every check below shows the server's disk and the daemon's log when it fails.
    let disk = || -> Vec<_> {
        std::fs::read_dir(tmpfs.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect()
    };
    let why = |what: &str| {
        format!(
            "{what}; on the server: {:?}; the daemon's log:\n{}",
            disk(),
            m.log()
        )
    };
    // ENOSPC from a server that says 452/552; vsftpd's 451 ("failure writing to local file")
    // does not say why, so it is EIO.
    assert!(
        matches!(err.raw_os_error(), Some(libc::ENOSPC | libc::EIO)),
        "{}",
        why(&format!("not ENOSPC or EIO: {err}"))
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        disk().is_empty(),
        "{}",
        why("files left on the full server")
    );
    // Nothing written is thrown away: the file stays in the mount as unsaved local data (every
    // byte of it), for a later close to upload, until it is removed.
    let kept = std::fs::read(m.path().join("big.bin"));
    assert!(
        kept.as_ref().is_ok_and(|k| *k == data),
        "{}",
        why(&format!(
            "big.bin is not kept whole in the mount ({:?} bytes)",
            kept.as_ref().map(|k| k.len())
        ))
    );
    std::fs::remove_file(m.path().join("big.bin"))
        .unwrap_or_else(|e| panic!("{}", why(&format!("rm big.bin: {e}"))));
    assert!(
        !m.path().join("big.bin").exists(),
        "{}",
        why("the mount still shows big.bin after rm")
    );
    // The mount still works once there is room (the server's processes that wrote the failed
    // uploads may hold their deleted files a moment longer).
    let room = Instant::now();
    while nix::sys::statvfs::statvfs(tmpfs.path())
        .map(|s| s.blocks_available() * s.fragment_size() < 1 << 20)
        .unwrap_or(true)
    {
        assert!(
            room.elapsed() < Duration::from_secs(10),
            "{}",
            why("no room")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(m.path().join("small"), "fits").unwrap();
    assert_eq!(
        std::fs::read(tmpfs.path().join("small")).ok().as_deref(),
        Some(&b"fits"[..]),
        "{}",
        why("small is not on the server")
    );
    let mut s = String::new();
    std::fs::File::open(m.path().join("small"))
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, "fits");
}

#[test]
fn a_read_only_mount_refuses_writes_and_sends_nothing() {
    let site = Site::new();
    std::fs::write(site.root.path().join("f"), "x").unwrap();
    let server = Unftp::start(site.root.path());
    let m = Mounted::new(&server.url("/"), server.password(), &site.opts("ro"));
    for cmd in [
        "touch new",
        "echo y > f",
        "mkdir d",
        "rm f",
        "mv f g",
        "truncate -s 0 f",
    ] {
        let out = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(m.path())
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "`{cmd}` succeeded on a read-only mount"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Read-only"),
            "`{cmd}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let names: Vec<_> = std::fs::read_dir(site.root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["f"]);
    assert_eq!(std::fs::read(site.root.path().join("f")).unwrap(), b"x");
}

/// `git clone` onto the mount keeps its scripts executable on the server (the mode of
/// `open(O_CREAT, 0755)` is set after the upload), and `git status` right after is clean.
#[test]
fn a_git_clone_keeps_its_modes_and_its_status_is_clean() {
    let src = tempfile::tempdir().unwrap();
    let git = |dir: &Path, args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.email=t@example.org", "-c", "user.name=t"])
            .args(args)
            .current_dir(dir)
            .output()
            .expect("git is installed (scripts/test.sh installs it)");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    git(src.path(), &["init", "-q"]);
    std::fs::write(src.path().join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(src.path().join("run.sh"), PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(src.path().join("notes.txt"), "plain\n").unwrap();
    git(src.path(), &["add", "-A"]);
    git(src.path(), &["commit", "-qm", "first"]);

    let root = tempfile::tempdir().unwrap();
    let server = Vsftpd::start(root.path(), &[("local_umask", "022")]);
    let m = Mounted::new(&server.url("/"), server.password(), "");
    git(
        m.path(),
        &["clone", "-q", src.path().to_str().unwrap(), "clone"],
    );
    let mode = |p: &str| std::fs::metadata(root.path().join(p)).unwrap().mode() & 0o777;
    assert_eq!(
        mode("clone/run.sh"),
        0o755,
        "the script on the server's disk"
    );
    assert_eq!(mode("clone/notes.txt"), 0o644);
    assert_eq!(git(&m.path().join("clone"), &["status", "--porcelain"]), "");
}
