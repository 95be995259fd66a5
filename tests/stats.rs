//! Layer 4: the live statistics of a real mount, read as the `user.ftpfs.stats` extended attribute
//! of its root while it runs, and found in the log (syslog, for a mount in the background) at
//! unmount.

mod support;

use std::ffi::CString;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::mount::{Mounted, BIN};
use support::{vsftpd::Vsftpd, FtpServer};

/// The value of extended attribute `name` of `path`, or the errno.
fn getxattr(path: &Path, name: &str) -> Result<String, i32> {
    let p = CString::new(path.to_str().unwrap()).unwrap();
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 64 << 10];
    // SAFETY: valid NUL-terminated strings and a buffer of the given length.
    let len = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap());
    }
    buf.truncate(len as usize);
    Ok(String::from_utf8(buf).unwrap())
}

fn listxattr(path: &Path) -> Vec<String> {
    let p = CString::new(path.to_str().unwrap()).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: as above.
    let len = unsafe { libc::listxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    assert!(len >= 0, "listxattr: {}", std::io::Error::last_os_error());
    buf.truncate(len as usize);
    buf.split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
        .collect()
}

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
fn the_root_shows_live_statistics_as_an_extended_attribute() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("dir")).unwrap();
    std::fs::write(root.path().join("dir/a.txt"), vec![b'a'; 300_000]).unwrap();
    let server = Vsftpd::start(root.path(), &[]);
    let m = Mounted::new(&server.url("/"), &server.password, "max_conns=3");
    let mp = m.path();

    assert_eq!(listxattr(mp), ["user.ftpfs.stats"]);
    assert_eq!(std::fs::read(mp.join("dir/a.txt")).unwrap().len(), 300_000);
    for _ in 0..2 {
        assert_eq!(std::fs::read_dir(mp.join("dir")).unwrap().count(), 1);
    }
    assert!(std::fs::metadata(mp.join("dir/missing")).is_err());
    std::fs::write(mp.join("dir/new.txt"), b"written").unwrap();

    let report = getxattr(mp, "user.ftpfs.stats").unwrap();
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
    // Nothing else has attributes; asking for one is "no such attribute".
    assert_eq!(
        getxattr(&mp.join("dir/a.txt"), "user.ftpfs.stats"),
        Err(libc::ENODATA)
    );
    assert_eq!(getxattr(mp, "user.other"), Err(libc::ENODATA));
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
    let unmounted = Command::new("fusermount3")
        .arg("-u")
        .arg(mnt.path())
        .status()
        .unwrap();
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
