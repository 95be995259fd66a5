//! Layer 4: the live statistics of a real mount, read from the `.ftpfs-stats` file at its root
//! while it runs (a file no listing shows and nothing can change), and found in the log (syslog,
//! for a mount in the background) at unmount.

mod support;

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use support::mount::{Mounted, BIN};
use support::{vsftpd::Vsftpd, FtpServer};

/// The figure after `label` on its line of the report.
fn figure(report: &str, label: &str) -> u64 {
    let line = report
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{report}"));
    line[label.len()..]
        .trim_start_matches([':', ' '])
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number in {line:?}"))
}

#[test]
fn the_root_holds_live_statistics_in_a_file_no_listing_shows() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("dir")).unwrap();
    std::fs::write(root.path().join("dir/a.txt"), vec![b'a'; 300_000]).unwrap();
    let server = Vsftpd::start(root.path(), &[]);
    let m = Mounted::new(&server.url("/"), &server.password, "max_conns=3");
    let mp = m.path();
    let stats = mp.join(".ftpfs-stats");

    assert_eq!(std::fs::read(mp.join("dir/a.txt")).unwrap().len(), 300_000);
    for _ in 0..2 {
        assert_eq!(std::fs::read_dir(mp.join("dir")).unwrap().count(), 1);
    }
    assert!(std::fs::metadata(mp.join("dir/missing")).is_err());
    std::fs::write(mp.join("dir/new.txt"), b"written").unwrap();

    let report = std::fs::read_to_string(&stats).unwrap();
    assert!(figure(&report, "bytes read") >= 300_000, "{report}");
    assert_eq!(figure(&report, "bytes written"), 7, "{report}");
    let commands = report.lines().find(|l| l.starts_with("commands:")).unwrap();
    for c in ["LOGIN", "LIST", "RETR", "STOR", "SIZE", "RNFR/RNTO"] {
        assert!(commands.contains(c), "{c} missing in {commands:?}");
    }
    assert!(figure(&report, "listing cache") >= 1, "{report}");
    assert!(report.contains("connections: "), "{report}");
    assert!(report.contains("(max_conns 3)"), "{report}");
    assert_eq!(figure(&report, "uploads pending"), 0, "{report}");
    assert!(report.contains("errors: ENOENT"), "{report}");
    // Every open reads the figures of its moment.
    let _ = std::fs::read(mp.join("dir/a.txt")).unwrap();
    let again = std::fs::read_to_string(&stats).unwrap();
    assert_ne!(again, report);

    // No listing shows it, nothing changes it, and nothing reaches the server.
    let names: Vec<_> = std::fs::read_dir(mp)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["dir"]);
    let meta = std::fs::metadata(&stats).unwrap();
    assert!(meta.is_file() && meta.permissions().readonly());
    let denied = |r: std::io::Result<()>| r.unwrap_err().raw_os_error() == Some(libc::EACCES);
    assert!(denied(std::fs::write(&stats, b"x")));
    assert!(denied(std::fs::remove_file(&stats)));
    assert!(denied(std::fs::rename(&stats, mp.join("moved"))));
    assert!(denied(std::fs::rename(mp.join("dir/new.txt"), &stats)));
    assert!(!root.path().join(".ftpfs-stats").exists());
    assert!(root.path().join("dir/new.txt").exists());
}

#[test]
fn a_background_mount_logs_to_syslog_and_reports_statistics_at_unmount() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f"), b"hello").unwrap();
    let server = Vsftpd::start(root.path(), &[]);
    let logs = tempfile::tempdir().unwrap();
    let sock_path = logs.path().join("log");
    let syslog = UnixDatagram::bind(&sock_path).unwrap();
    syslog
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();

    let mnt = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg(server.url("/"))
        .arg(mnt.path())
        .env("FTPFS_PASSWORD", server.password())
        .env("FTPFS_SYSLOG_SOCKET", &sock_path)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = std::fs::read(mnt.path().join("f"));
    // The kernel sends the read's release after close returned: until ftpfs answered it the
    // mount can be busy for a moment.
    let unmount = || {
        Command::new("fusermount3")
            .arg("-u")
            .arg(mnt.path())
            .status()
            .unwrap()
    };
    let mut unmounted = unmount();
    for _ in 0..20 {
        if unmounted.success() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        unmounted = unmount();
    }
    assert_eq!(read.unwrap(), b"hello");
    assert!(unmounted.success());

    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; 8192];
    while Instant::now() < deadline && !records.iter().any(|r: &String| r.contains("errors:")) {
        if let Ok(n) = syslog.recv(&mut buf) {
            records.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    let all = records.join("\n");
    // <30> is facility daemon (3 << 3) with severity info (6).
    assert!(
        records
            .iter()
            .any(|r| r.starts_with("<30>ftpfs[") && r.contains("unmounted")),
        "{all}"
    );
    assert!(all.contains("statistics of ftp://"), "{all}");
    assert!(all.contains("bytes read: "), "{all}");
    assert!(all.contains("RETR 1"), "{all}");
    assert!(
        !all.contains(server.password()),
        "the password is never logged"
    );
}
