//! Listing formats through the FTP store, against the scripted server (tests/support/fake.rs):
//! the first login asks `SYST` once, its answer steers the listing parser (a bare member name is
//! an MVS member only on MVS), and VMS and EPLF listings come back as entries with the names
//! ftpfs shows (VMS: no `;version`, the highest version only, `NAME.DIR;1` as directory `NAME`).

mod support;

use std::time::{Duration, UNIX_EPOCH};

use ftpfs::remote::ftp::FtpStore;
use ftpfs::remote::{EntryKind, RemoteStore};
use support::fake::{Fake, Script};
use support::store::FtpStoreBuilder;

fn serve(syst: Option<&str>, listing: &[&str]) -> (Fake, FtpStore) {
    let fake = Fake::start(Script {
        syst: syst.map(str::to_string),
        listing: listing.iter().map(|l| l.to_string()).collect(),
        ..Script::default()
    });
    let store = FtpStoreBuilder::for_server(&fake)
        .max_conns(2)
        .timeout(Duration::from_secs(5))
        .build();
    (fake, store)
}

fn summary(store: &FtpStore, path: &str) -> Vec<(String, EntryKind, u64)> {
    let mut entries: Vec<(String, EntryKind, u64)> = store
        .list(path)
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.kind, e.size))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

#[test]
fn vms_listing_through_the_store() {
    let (fake, store) = serve(
        Some("215 VMS"),
        &[
            "Directory DISK$USER:[ALICE]",
            "",
            "LOGIN.COM;3         3/4      1-DEC-2024 09:00:00.00  [USERS,ALICE]  (RWED,RWED,RE,)",
            "LOGIN.COM;2         2/4     30-NOV-2024 09:00:00.00  [USERS,ALICE]  (RWED,RWED,RE,)",
            "A_RATHER_LONG_FILE_NAME_FOR_ITS_COLUMN.TXT;1",
            "                   10/12     2-JUL-2003 10:30:08.59  [USERS,ALICE]  (RWED,RWED,RE,)",
            "MAIL.DIR;1          1/3     19-NOV-2001 21:41:00.00  [USERS,ALICE]  (RWE,RWE,RE,)",
            "",
            "Total of 4 files, 16/23 blocks.",
        ],
    );
    assert_eq!(
        summary(&store, "/"),
        [
            (
                "A_RATHER_LONG_FILE_NAME_FOR_ITS_COLUMN.TXT".to_string(),
                EntryKind::File,
                5120
            ),
            ("LOGIN.COM".to_string(), EntryKind::File, 1536),
            ("MAIL".to_string(), EntryKind::Dir, 0),
        ]
    );
    let login = store
        .list("/")
        .unwrap()
        .into_iter()
        .find(|e| e.name == "LOGIN.COM")
        .unwrap();
    // The newest version's date (2024-12-01 09:00, the server's clock read as UTC).
    assert_eq!(login.mtime, UNIX_EPOCH + Duration::from_secs(1_733_043_600));
    let commands = fake.commands();
    assert_eq!(
        commands.iter().filter(|c| *c == "SYST").count(),
        1,
        "{commands:?}"
    );
}

#[test]
fn eplf_listing_through_the_store() {
    let (_fake, store) = serve(
        Some("215 UNIX Type: L8"),
        &[
            "+i8388621.48594,m825718503,r,s280,up755\tfile one",
            "+i8388621.50690,m824255907,/,\tsome dir",
        ],
    );
    assert_eq!(
        summary(&store, "/"),
        [
            ("file one".to_string(), EntryKind::File, 280),
            ("some dir".to_string(), EntryKind::Dir, 0),
        ]
    );
    let file = store.list("/").unwrap().remove(0);
    assert_eq!(file.mtime, UNIX_EPOCH + Duration::from_secs(825_718_503));
    assert_eq!(file.perm, Some(0o755));
}

/// A listing of bare names means PDS members on MVS, and nothing on a server that does not say
/// it is MVS: what `SYST` answered at the first login reaches the parser.
#[test]
fn syst_reaches_the_listing_parser() {
    let members = ["MEMBER1", "MEMBER2"];
    let (_fake, mvs) = serve(
        Some("215 MVS is the operating system of this server. FTP Server is running on z/OS."),
        &members,
    );
    assert_eq!(
        summary(&mvs, "/"),
        [
            ("MEMBER1".to_string(), EntryKind::File, 0),
            ("MEMBER2".to_string(), EntryKind::File, 0),
        ]
    );
    let (fake, unknown) = serve(None, &members);
    assert!(unknown.list("/").unwrap().is_empty());
    // The fake refuses SYST (502): the mount goes on without a hint.
    assert!(fake.commands().iter().any(|c| c == "SYST"));
}

/// A VMS listing gives sizes in whole 512-byte blocks, above the true size: read through a
/// kernel mount, the file comes whole and exact (the early end is checked with `SIZE`), and a
/// file whose size `SIZE` does not confirm still fails rather than read short.
#[test]
fn a_vms_file_reads_whole_through_a_mount_although_its_listed_size_is_in_blocks() {
    let content: Vec<u8> = (0..700u32).map(|i| (i % 251) as u8).collect();
    let fake = Fake::start(Script {
        syst: Some("215 VMS".into()),
        listing: vec![
            "Directory DISK$USER:[ALICE]".into(),
            "".into(),
            "NOTES.TXT;1         2/4      1-DEC-2024 09:00:00.00  [USERS,ALICE]  (RWED,RWED,RE,)"
                .into(),
            "".into(),
            "Total of 1 file, 2/4 blocks.".into(),
        ],
        files: [("/NOTES.TXT".to_string(), content.clone())].into(),
        ..Script::default()
    });
    let m = support::mount::Mounted::new(
        &format!("ftp://{}@127.0.0.1:{}/", support::fake::USER, fake.port),
        support::fake::PASSWORD,
        "",
    );
    let path = m.path().join("NOTES.TXT");
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        1024,
        "2 blocks listed"
    );
    assert_eq!(std::fs::read(&path).unwrap(), content);
    assert!(fake.commands().iter().any(|c| c == "SIZE /NOTES.TXT"));
}

#[test]
fn the_probe_names_the_list_format_it_detected() {
    let fake = Fake::start(Script {
        syst: Some("215 VMS".into()),
        listing: vec![
            "NOTES.TXT;1         2/4      1-DEC-2024 09:00:00.00  [USERS,ALICE]  (RWED,RWED,RE,)"
                .into(),
        ],
        ..Script::default()
    });
    let out = std::process::Command::new(support::mount::BIN)
        .arg("--probe")
        .arg(format!(
            "ftp://{}@127.0.0.1:{}/",
            support::fake::USER,
            fake.port
        ))
        .env("FTPFS_PASSWORD", support::fake::PASSWORD)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.trim_start() == "LIST format: Vms (detected from the listing)"),
        "{text}"
    );
}
