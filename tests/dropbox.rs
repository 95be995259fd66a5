//! Drop-box folders through a kernel mount, against the scripted server (`support::fake`) playing
//! one: `/incoming` takes `STOR` but refuses its listing, renames, deletes and `SIZE` (and, in one
//! test, names that start with a dot, as Pure-FTPd does). `cp` into it must exit 0 and the file
//! must arrive under its name; later uploads there go straight to their names.

mod support;

use std::process::Command;

use support::fake::{Fake, Script, PASSWORD, USER};
use support::mount::Mounted;

fn drop_box(no_dot_names: bool) -> Fake {
    Fake::start(Script {
        listing: vec!["drwxrwxrwx 2 0 0 0 Nov 22 14:21 incoming".into()],
        drop_box: Some("/incoming".into()),
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
    let fake = drop_box(false);
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

    // ls of the drop box says what it is; the mount's log says what was done.
    let (ok, err) = sh(&m, "ls incoming");
    assert!(!ok && err.contains("Permission denied"), "{err}");
    let log = m.log();
    assert!(
        log.contains("uploads there now go straight to their names"),
        "{log}"
    );
}

#[test]
fn a_drop_box_that_refuses_temporary_names_gets_the_file_under_its_name() {
    let fake = drop_box(true);
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

#[test]
fn the_probe_says_what_a_mount_of_a_drop_box_does() {
    let fake = drop_box(false);
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
