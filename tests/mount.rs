//! Layer 4: the real `ftpfs` binary mounted on a temporary directory, against vsftpd (and libunftp),
//! driven with `std::fs` and shell tools. Every mount is unmounted when its guard drops, also when
//! a test fails. A missing /dev/fuse or vsftpd fails the tests loudly.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::mount::{
    failing_mount, foreground_session, foreground_session_with_env, sh, walk, Mounted, BIN,
};
use support::{make_random_file, make_tree, sha256_file, unftp::Unftp, vsftpd::Vsftpd, FtpServer};

/// The tree the issue asks for: 1,000 files in 10 directories and a 200 MiB random file.
fn big_tree() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    make_tree(&root.path().join("tree"), 10, 100, 7);
    make_random_file(&root.path().join("big.bin"), 200 << 20, 99);
    make_random_file(&root.path().join("second.bin"), 64 << 20, 98);
    std::fs::write(
        root.path().join("needle.txt"),
        "a haystack with one NEEDLE-42 in it\n",
    )
    .unwrap();
    root
}

#[test]
fn vsftpd_tree_names_sizes_and_checksums_match_the_disk() {
    let root = big_tree();
    let server = Vsftpd::start(root.path(), &[]);
    let m = Mounted::new(&server.url("/"), &server.password, "");
    let disk = walk(root.path());
    assert_eq!(walk(m.path()), disk);
    assert!(disk.len() > 1000);
    for (rel, (is_dir, _)) in &disk {
        if !is_dir {
            assert_eq!(
                sha256_file(&m.path().join(rel)),
                sha256_file(&root.path().join(rel)),
                "{}",
                rel.display()
            );
        }
    }
}

#[test]
fn vsftpd_shell_tools_work() {
    let root = big_tree();
    let server = Vsftpd::start(root.path(), &[]);
    let m = Mounted::new(&server.url("/"), &server.password, "");
    let mp = m.path();
    let disk = root.path();

    let ls = sh("ls -lR .", mp);
    for d in 0..10 {
        assert!(ls.contains(&format!("d{d:03}")), "ls -lR lists d{d:03}");
    }
    assert_eq!(
        sh("find . -type f | sort", mp),
        sh("find . -type f | sort", disk)
    );
    assert_eq!(
        sh("stat -c '%s %F' big.bin needle.txt tree", mp),
        sh("stat -c '%s %F' big.bin needle.txt tree", disk)
    );
    assert_eq!(
        sh("cat needle.txt", mp),
        "a haystack with one NEEDLE-42 in it\n"
    );
    assert_eq!(sh("grep -rl NEEDLE-42 .", mp).trim(), "./needle.txt");
    assert_eq!(
        sh("sha256sum big.bin tree/d003/*", mp),
        sh("sha256sum big.bin tree/d003/*", disk)
    );
    let copy = tempfile::tempdir().unwrap();
    sh(&format!("cp -r tree {}", copy.path().display()), mp);
    assert_eq!(walk(&copy.path().join("tree")), walk(&disk.join("tree")));
    assert_eq!(
        sh("tar cf - tree | tar tf - | sort", mp),
        sh("tar cf - tree | tar tf - | sort", disk)
    );
    assert!(sh("df -h .", mp).contains("ftp://"));
}

#[test]
fn vsftpd_two_threads_read_two_files_at_once() {
    let root = big_tree();
    let server = Vsftpd::start(root.path(), &[]);
    let m = Mounted::new(&server.url("/"), &server.password, "max_conns=2");
    let a = m.path().join("big.bin");
    let b = m.path().join("second.bin");
    let ta = std::thread::spawn(move || sha256_file(&a));
    let tb = std::thread::spawn(move || sha256_file(&b));
    assert_eq!(
        ta.join().unwrap(),
        sha256_file(&root.path().join("big.bin"))
    );
    assert_eq!(
        tb.join().unwrap(),
        sha256_file(&root.path().join("second.bin"))
    );
}

/// 200 random 4 KiB reads of `file` through the mount, each compared with the disk.
fn random_reads_match(mounted: &Path, disk: &Path) {
    use std::os::unix::fs::FileExt;
    let disk = std::fs::read(disk).unwrap();
    let f = std::fs::File::open(mounted).unwrap();
    let mut x = 88172645463325252u64;
    for _ in 0..200 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let off = x % (disk.len() as u64 - 4096);
        let mut buf = vec![0u8; 4096];
        f.read_exact_at(&mut buf, off).unwrap();
        assert_eq!(buf, &disk[off as usize..off as usize + 4096], "at {off}");
    }
}

#[test]
fn vsftpd_random_reads_match_the_disk() {
    let root = tempfile::tempdir().unwrap();
    make_random_file(&root.path().join("r.bin"), 32 << 20, 5);
    let server = Vsftpd::start(root.path(), &[]);
    let m = Mounted::new(&server.url("/"), &server.password, "");
    random_reads_match(&m.path().join("r.bin"), &root.path().join("r.bin"));
}

#[test]
fn unftp_random_reads_match_the_disk() {
    // libunftp needs the connection to be dropped after each cut-short download: this proves it is.
    let root = tempfile::tempdir().unwrap();
    make_random_file(&root.path().join("r.bin"), 32 << 20, 6);
    let server = Unftp::start(root.path());
    let m = Mounted::new(&server.url("/"), &server.password, "");
    random_reads_match(&m.path().join("r.bin"), &root.path().join("r.bin"));
}

#[test]
fn unftp_tree_matches_the_disk() {
    let root = tempfile::tempdir().unwrap();
    make_tree(&root.path().join("tree"), 3, 50, 3);
    make_random_file(&root.path().join("mid.bin"), 5 << 20, 1);
    let server = Unftp::start(root.path());
    let m = Mounted::new(&server.url("/"), &server.password, "");
    assert_eq!(walk(m.path()), walk(root.path()));
    assert_eq!(
        sha256_file(&m.path().join("mid.bin")),
        sha256_file(&root.path().join("mid.bin"))
    );
}

#[test]
fn a_subdirectory_can_be_mounted_and_the_password_stays_hidden() {
    let root = tempfile::tempdir().unwrap();
    make_tree(&root.path().join("pub"), 2, 5, 1);
    let server = Vsftpd::start(root.path(), &[]);
    let m = Mounted::new(&server.url("/pub"), &server.password, "");
    assert_eq!(walk(m.path()), walk(&root.path().join("pub")));
    let line = m.mounts_line().unwrap();
    assert!(line.contains("ftp://ftpfstest@127.0.0.1"), "{line}");
    assert!(!line.contains(&server.password), "{line}");
}

/// Debian's vsftpd does not chroot its users: the login directory is the user's own, not `/`.
/// `ftp://user@host/` mounts that directory (not the server's `/`), writes land there, a URL path
/// is relative to it, `%2F` makes one absolute, and a root that is not there fails the mount.
#[test]
fn a_vsftpd_without_chroot_mounts_the_login_directory() {
    let root = tempfile::tempdir().unwrap();
    make_tree(&root.path().join("pub"), 2, 5, 3);
    std::fs::write(root.path().join("hello.txt"), "hello\n").unwrap();
    let server = Vsftpd::start(root.path(), &[("chroot_local_user", "NO")]);
    let home = root.path().canonicalize().unwrap();

    let m = Mounted::new(&server.url("/"), &server.password, "");
    assert_eq!(walk(m.path()), walk(root.path()));
    std::fs::write(m.path().join("new.txt"), "written through the mount").unwrap();
    std::fs::create_dir(m.path().join("made")).unwrap();
    std::fs::rename(m.path().join("hello.txt"), m.path().join("moved.txt")).unwrap();
    assert_eq!(
        std::fs::read_to_string(root.path().join("new.txt")).unwrap(),
        "written through the mount"
    );
    assert!(root.path().join("made").is_dir());
    assert!(root.path().join("moved.txt").is_file() && !root.path().join("hello.txt").exists());

    let sub = Mounted::new(&server.url("/pub"), &server.password, "");
    assert_eq!(walk(sub.path()), walk(&root.path().join("pub")));

    let abs_url = server.url(&format!(
        "/%2F{}/pub",
        home.to_str().unwrap().trim_start_matches('/')
    ));
    let abs = Mounted::new(&abs_url, &server.password, "");
    assert_eq!(walk(abs.path()), walk(&root.path().join("pub")));
    let line = abs.mounts_line().unwrap();
    assert!(
        line.contains("/%2F"),
        "the source names the absolute path: {line}"
    );

    let mnt = tempfile::tempdir().unwrap();
    let (err, _) = failing_mount(
        &server.url("/no-such-dir"),
        mnt.path(),
        &server.password,
        "",
    );
    assert!(
        err.contains(&format!("{}/no-such-dir", home.display())) && err.contains("not a directory"),
        "{err}"
    );
}

#[test]
fn a_wrong_password_fails_fast_with_a_clear_line() {
    let root = tempfile::tempdir().unwrap();
    let server = Vsftpd::start(root.path(), &[]);
    let mnt = tempfile::tempdir().unwrap();
    let (err, _) = failing_mount(&server.url("/"), mnt.path(), "not-the-password", "");
    assert!(
        err.contains("login failed") || err.contains("refused user"),
        "{err}"
    );
    assert!(!err.contains("not-the-password"), "{err}");
}

#[test]
fn a_closed_port_fails_fast_with_a_clear_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mnt = tempfile::tempdir().unwrap();
    let (err, _) = failing_mount(&format!("ftp://u@127.0.0.1:{port}/"), mnt.path(), "pw", "");
    assert!(err.contains("connection refused"), "{err}");
}

#[test]
fn a_server_that_never_greets_fails_within_ten_seconds() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming() {
            held.push(c);
        }
    });
    let mnt = tempfile::tempdir().unwrap();
    let (err, _) = failing_mount(&format!("ftp://u@127.0.0.1:{port}/"), mnt.path(), "pw", "");
    assert!(err.contains("no greeting"), "{err}");
}

#[test]
fn a_missing_mountpoint_fails_with_a_clear_line() {
    let parent = tempfile::tempdir().unwrap();
    let mnt = parent.path().join("not-there");
    let (err, elapsed) = failing_mount("ftp://u@127.0.0.1:1/", &mnt, "pw", "");
    assert!(err.contains("does not exist"), "{err}");
    assert!(elapsed < Duration::from_secs(2));
}

#[test]
fn a_bad_url_fails_with_a_clear_line() {
    let mnt = tempfile::tempdir().unwrap();
    let (err, _) = failing_mount("http://u:hunter2@127.0.0.1/", mnt.path(), "pw", "");
    assert!(err.contains("bad URL") && !err.contains("hunter2"), "{err}");
}

#[test]
fn foreground_mode_serves_until_unmounted() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f"), "fg").unwrap();
    let server = Vsftpd::start(root.path(), &[]);
    let err = foreground_session(
        &server.url("/"),
        &server.password,
        &["-f"],
        ("f", "fg"),
        |_| {},
    );
    assert!(!err.contains(&server.password), "{err}");
}

/// Every command ftpfs sends is in its trace log, the password masked: `RUST_LOG=trace` (the
/// most a user can ask for) shows `PASS ***` and never the password.
#[test]
fn a_trace_log_shows_commands_but_never_the_password() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f"), "traced").unwrap();
    let server = Vsftpd::start(root.path(), &[]);
    let log = foreground_session_with_env(
        &server.url("/"),
        &server.password,
        &["-f"],
        &[("RUST_LOG", "trace")],
        ("f", "traced"),
        |_| {},
    );
    assert!(log.contains("> PASS ***"), "{log}");
    assert!(log.contains("> RETR /f"), "{log}");
    assert!(
        !log.contains(&server.password),
        "the password is in the log:\n{log}"
    );
}

#[test]
fn vsftpd_ls_lr_costs_one_listing_per_directory_and_a_second_one_none() {
    let root = tempfile::tempdir().unwrap();
    make_tree(&root.path().join("tree"), 10, 30, 4);
    let server = Vsftpd::start_logging_commands(root.path());
    let m = Mounted::new(&server.url("/"), &server.password, "");
    let listing = sh("ls -lR .", m.path());
    assert_eq!(listing.matches("f00").count(), 300, "every file listed");
    let lists = |cmds: &[String]| cmds.iter().filter(|c| c.starts_with("LIST")).count();
    let cmds = server.logged_commands();
    // The root, /tree and its ten directories: one LIST each, and no per-file command: only one
    // MDTM for the whole mount, which tells the time zone of LIST dates.
    assert_eq!(lists(&cmds), 12, "{cmds:?}");
    let count = |verb: &str| cmds.iter().filter(|c| c.starts_with(verb)).count();
    assert!(count("MDTM") <= 1, "{cmds:?}");
    assert_eq!(count("SIZE") + count("MLST"), 0, "{cmds:?}");
    sh("ls -lR . > /dev/null", m.path());
    assert_eq!(
        lists(&server.logged_commands()),
        12,
        "the second ls -lR came from the cache"
    );
}

#[test]
fn sigterm_unmounts_cleanly() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f"), "x").unwrap();
    let server = Vsftpd::start(root.path(), &[]);
    let mnt = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .arg(server.url("/"))
        .arg(mnt.path())
        .arg("-f")
        .env("FTPFS_PASSWORD", &server.password)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(mnt.path().join("f"))
        .ok()
        .as_deref()
        != Some("x")
    {
        assert!(Instant::now() < deadline, "the mount never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill(2) on the pid of a child we own.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "ftpfs did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    let still = mounts.contains(mnt.path().to_str().unwrap());
    if still {
        let _ = Command::new("fusermount3")
            .arg("-u")
            .arg(mnt.path())
            .status();
    }
    assert!(!still, "SIGTERM left the mount behind");
    assert!(status.success(), "exit status {status}");
}

/// Reading a directory's small files in listing order: the prefetch fetches the next ones as
/// ranged reads that end properly, so each runs on the data connection its session opened when
/// the previous one ended (one round trip per file on a far server, not three).
#[test]
fn vsftpd_prefetched_small_files_run_on_data_connections_opened_ahead() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("small");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..60 {
        std::fs::write(dir.join(format!("f{i:03}")), vec![i as u8; 3000]).unwrap();
    }
    let server = Vsftpd::start(root.path(), &[]);
    let m = Mounted::new(&server.url("/"), &server.password, "");
    let mounted = m.path().join("small");
    let mut names: Vec<_> = std::fs::read_dir(&mounted)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for (i, n) in names.iter().enumerate() {
        assert_eq!(std::fs::read(mounted.join(n)).unwrap(), vec![i as u8; 3000]);
    }
    let stats = std::fs::read_to_string(m.path().join(".ftpfs-stats")).unwrap();
    let line = stats
        .lines()
        .find(|l| l.trim_start().starts_with("ranged reads:"))
        .unwrap_or_else(|| panic!("{stats}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    let (ranged, ahead) = (numbers[0], numbers[1]);
    assert!(ranged >= 30, "the prefetch fetched most files: {line}");
    assert!(
        ahead * 10 >= ranged * 8,
        "most on connections opened ahead: {line}"
    );
}

/// When someone else unmounts ftpfs (`umount`, autofs or systemd expiring an idle automount),
/// ftpfs exits without unmounting anything itself: by then its mountpoint's path may lead to
/// another mount (the automount trigger), which must stay. Here a lazy unmount of the file system
/// above the mountpoint takes ftpfs away and uncovers a tmpfs at the same path; fuser 0.18 would
/// unmount that tmpfs on its way out (its "is it still mounted" check reads POLLERR as yes).
#[test]
fn an_unmount_by_someone_else_leaves_the_next_mount_at_that_path_alone() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f"), "x").unwrap();
    let server = Vsftpd::start(root.path(), &[]);
    let top = tempfile::tempdir().unwrap();
    let cover = top.path().join("a");
    let mnt = cover.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let mount_tmpfs = |at: &Path| {
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "tmpfs"])
            .arg(at)
            .status()
            .unwrap();
        assert!(st.success(), "cannot mount a tmpfs (the tests run as root)");
    };
    let is_mount = |at: &Path, fstype: &str| {
        let want = format!(" {} {fstype} ", at.display());
        std::fs::read_to_string("/proc/mounts")
            .unwrap()
            .contains(&want)
    };
    // The tmpfs that stands for the automount trigger, then one above it that holds the
    // mountpoint ftpfs uses: once that one goes, `mnt` leads to the first again.
    mount_tmpfs(&mnt);
    mount_tmpfs(&cover);
    std::fs::create_dir(&mnt).unwrap();
    let mut child = Command::new(BIN)
        .arg(server.url("/"))
        .arg(&mnt)
        .arg("-f")
        .env("FTPFS_PASSWORD", &server.password)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(mnt.join("f")).ok().as_deref() != Some("x") {
        assert!(Instant::now() < deadline, "the mount never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    let st = Command::new("umount")
        .arg("-l")
        .arg(&cover)
        .status()
        .unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ftpfs did not exit after its mount was taken away");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let survived = is_mount(&mnt, "tmpfs");
    if survived {
        let _ = Command::new("umount").arg(&mnt).status();
    }
    assert!(
        survived,
        "ftpfs unmounted what was mounted at its path after it"
    );
    assert!(status.success(), "exit status {status}");
}

/// The kernel caches a directory's entries (`getdents` then costs no request) but drops them when
/// ftpfs's listing changes: changes on the server show once the listing expires, our own at once.
#[test]
fn vsftpd_ls_shows_server_changes_after_the_listing_ttl_and_ours_at_once() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path().join("d");
    std::fs::create_dir(&d).unwrap();
    for n in ["a", "b"] {
        std::fs::write(d.join(n), n).unwrap();
    }
    let server = Vsftpd::start(root.path(), &[]);
    let m = Mounted::new(&server.url("/"), &server.password, "dir_cache_ttl=1");
    let ls = || {
        sh("ls d", m.path())
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(ls(), "a b");
    assert_eq!(ls(), "a b", "the second ls, from the kernel's copy");

    std::fs::remove_file(d.join("a")).unwrap();
    std::fs::write(d.join("c"), "c").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        ls(),
        "b c",
        "the server's changes, once the listing expired"
    );
    assert_eq!(ls(), "b c");

    std::fs::write(m.path().join("d/e"), "e").unwrap();
    assert_eq!(ls(), "b c e", "our own create, at once");
    std::fs::rename(m.path().join("d/b"), m.path().join("d/f")).unwrap();
    std::fs::remove_file(m.path().join("d/c")).unwrap();
    assert_eq!(ls(), "e f", "our own rename and unlink, at once");
}
