//! Drop-box folders through a kernel mount, against the scripted server (`support::fake`) playing
//! one: `/incoming` takes `STOR` but refuses its listing, renames, deletes and `SIZE` (and, in one
//! test, names that start with a dot, as Pure-FTPd does). `cp` into it must exit 0 and the file
//! must arrive under its name; later uploads there go straight to their names.

mod support;

use std::process::Command;

use support::fake::{Fake, Script, PASSWORD, USER};
use support::mount::Mounted;

/// `/incoming`, a drop box; `lists`: it lists as empty (vsftpd's way) instead of refusing its
/// listing; `no_dot_names`: it refuses names that start with a dot (Pure-FTPd's way).
fn drop_box(lists: bool, no_dot_names: bool) -> Fake {
    Fake::start(Script {
        listing: vec!["drwxrwxrwx 2 0 0 0 Nov 22 14:21 incoming".into()],
        drop_box: Some("/incoming".into()),
        drop_box_lists: lists,
        no_dot_names,
        ..Script::default()
    })
}

/// A mount with its log kept (`Mounted::log`).
fn mount(fake: &Fake) -> Mounted {
    Mounted::with_log(
        &format!("ftp://{USER}@127.0.0.1:{}/", fake.port),
        PASSWORD,
        "",
    )
}

/// Runs `script` in the mount with `sh`; returns its exit status and stderr.
fn sh(m: &Mounted, script: &str) -> (bool, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(m.path())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

fn stors(fake: &Fake) -> Vec<String> {
    fake.commands()
        .into_iter()
        .filter(|c| c.starts_with("STOR "))
        .collect()
}

#[test]
fn cp_into_a_drop_box_that_refuses_renames_arrives_and_later_uploads_go_straight() {
    let fake = drop_box(true, false);
    let m = mount(&fake);
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("photo.jpg"), data(300_000)).unwrap();
    std::fs::write(src.path().join("second.jpg"), data(5_000)).unwrap();
    let from = src.path().display();

    let (ok, err) = sh(&m, &format!("cp {from}/photo.jpg incoming/"));
    assert!(ok, "cp failed: {err}\n{}", m.log());
    assert_eq!(
        fake.uploads().get("/incoming/photo.jpg"),
        Some(&data(300_000))
    );
    let sent = stors(&fake);
    assert!(
        sent[0].starts_with("STOR /incoming/.~ftpfs."),
        "the first try uses a temporary name: {sent:?}"
    );
    assert!(
        fake.commands()
            .iter()
            .any(|c| c.starts_with("RNFR /incoming/.~ftpfs.")),
        "and its rename was refused"
    );
    assert_eq!(sent.last().unwrap(), "STOR /incoming/photo.jpg", "{sent:?}");
    assert!(
        fake.commands()
            .iter()
            .any(|c| c == "SIZE /incoming/photo.jpg"),
        "the size was asked, refused, and the upload stands"
    );

    let before = stors(&fake).len();
    let (ok, err) = sh(&m, &format!("cp {from}/second.jpg incoming/"));
    assert!(ok, "cp failed: {err}");
    assert_eq!(
        fake.uploads().get("/incoming/second.jpg"),
        Some(&data(5_000))
    );
    assert_eq!(
        stors(&fake)[before..],
        ["STOR /incoming/second.jpg".to_string()],
        "the directory is remembered: no temporary name, no rename"
    );
    // Files opened for reading and writing go through the spool: the same there.
    let (ok, err) = sh(&m, "exec 3<>incoming/notes.txt && printf 'spooled' >&3");
    assert!(ok, "{err}");
    assert_eq!(
        fake.uploads().get("/incoming/notes.txt").map(|v| &v[..]),
        Some(&b"spooled"[..])
    );

    let log = m.log();
    assert!(
        log.contains("uploads there now go straight to their names"),
        "{log}"
    );
}

#[test]
fn a_drop_box_that_refuses_temporary_names_gets_the_file_under_its_name() {
    let fake = drop_box(true, true);
    let m = mount(&fake);
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("scan.pdf"), data(70_000)).unwrap();

    let (ok, err) = sh(
        &m,
        &format!("cp {}/scan.pdf incoming/", src.path().display()),
    );
    assert!(ok, "cp failed: {err}\n{}", m.log());
    assert_eq!(
        fake.uploads().get("/incoming/scan.pdf"),
        Some(&data(70_000))
    );
    assert!(
        fake.uploads().keys().all(|k| !k.contains(".~ftpfs.")),
        "{:?}",
        fake.uploads().keys()
    );
    assert_eq!(stors(&fake).last().unwrap(), "STOR /incoming/scan.pdf");
}

/// A drop box that refuses its listing: uploads go straight to their names from the first one
/// (no temporary name the server could neither rename nor delete), and `ls` says EACCES.
#[test]
fn cp_into_a_drop_box_that_refuses_its_listing_goes_straight_to_the_name() {
    let fake = drop_box(false, false);
    let m = mount(&fake);
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a.bin"), data(40_000)).unwrap();
    let (ok, err) = sh(&m, &format!("cp {}/a.bin incoming/", src.path().display()));
    assert!(ok, "cp failed: {err}\n{}", m.log());
    assert_eq!(fake.uploads().get("/incoming/a.bin"), Some(&data(40_000)));
    assert_eq!(stors(&fake), ["STOR /incoming/a.bin"]);
    let (ok, err) = sh(&m, "ls incoming");
    assert!(!ok && err.contains("Permission denied"), "{err}");
    assert!(
        m.log().contains("the server refuses its listing"),
        "{}",
        m.log()
    );
}

#[test]
fn the_probe_says_what_a_mount_of_a_drop_box_does() {
    let fake = drop_box(false, false);
    let out = Command::new(support::mount::BIN)
        .arg("--probe")
        .arg(format!("ftp://{USER}@127.0.0.1:{}/incoming", fake.port))
        .env("FTPFS_PASSWORD", PASSWORD)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "a drop box can be mounted: {text}");
    let line = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("drop boxes: "))
        .unwrap_or_else(|| panic!("no drop boxes line in:\n{text}"));
    assert!(
        line.starts_with("the mounted directory refuses its listing: it mounts as a drop box"),
        "{line}"
    );
}

/// A real drop box: vsftpd's anonymous `incoming` folder, as its documentation sets one up. The
/// folder belongs to `ftp` with mode 0733 (anonymous sessions run as `ftp`: they may write and
/// enter it, not read it, so vsftpd lists it as empty), uploads are allowed, renames and deletes
/// are not (`anon_other_write_enable=NO`). (vsftpd still answers `SIZE` there; the scripted drop
/// boxes above refuse it.)
#[test]
fn cp_into_an_anonymous_vsftpd_incoming_folder() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let incoming = root.path().join("incoming");
    std::fs::create_dir(&incoming).unwrap();
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, "ftp"]).output().unwrap();
        assert!(
            out.status.success(),
            "the ftp user vsftpd runs anonymous sessions as"
        );
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    std::os::unix::fs::chown(&incoming, Some(id("-u")), Some(id("-g"))).unwrap();
    std::fs::set_permissions(&incoming, std::fs::Permissions::from_mode(0o733)).unwrap();
    let anon_root = root.path().to_str().unwrap();
    let server = support::vsftpd::Vsftpd::start(
        root.path(),
        &[
            ("anonymous_enable", "YES"),
            ("anon_root", anon_root),
            ("no_anon_password", "YES"),
            ("anon_upload_enable", "YES"),
            ("anon_mkdir_write_enable", "NO"),
            ("anon_other_write_enable", "NO"),
            ("anon_umask", "077"),
            ("anon_world_readable_only", "YES"),
        ],
    );
    let m = Mounted::with_log(
        &format!(
            "ftp://anonymous@127.0.0.1:{}/",
            support::FtpServer::port(&server)
        ),
        "guest",
        "",
    );
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("scan.pdf"), data(200_000)).unwrap();
    std::fs::write(src.path().join("next.pdf"), data(3_000)).unwrap();
    let from = src.path().display();

    let (ok, err) = sh(&m, &format!("cp {from}/scan.pdf incoming/"));
    assert!(ok, "cp failed: {err}\n{}", m.log());
    assert_eq!(
        std::fs::read(incoming.join("scan.pdf")).unwrap(),
        data(200_000)
    );
    let (ok, err) = sh(&m, &format!("cp {from}/next.pdf incoming/"));
    assert!(ok, "cp failed: {err}\n{}", m.log());
    assert_eq!(
        std::fs::read(incoming.join("next.pdf")).unwrap(),
        data(3_000)
    );
    let log = m.log();
    assert!(
        log.contains("uploads there now go straight to their names"),
        "{log}"
    );
    // The first upload's temporary name could be neither renamed nor deleted: it stays, whole,
    // and the log names it (docs/semantics.md says so). The second upload made none.
    let leftovers: Vec<String> = std::fs::read_dir(&incoming)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".~ftpfs."))
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    assert!(
        log.contains("stays on the server, which refused to remove it"),
        "{log}"
    );
}
