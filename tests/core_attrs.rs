//! Layer 2: what the core shows as owner, group and mode (`-o uid=,gid=,umask=,file_mode=,dir_mode=`)
//! over the in-memory store, through every path that hands attributes to the kernel: lookup,
//! getattr, readdir (`.` and `..` included) and the root; and a directory's link count, which
//! counts its subdirectories where the mount knows its listing.

mod support;

use std::ffi::OsStr;
use std::sync::Arc;

use ftpfs::config::FsConfig;
use ftpfs::fs::inode::ROOT_INO;
use ftpfs::fs::{Attr, FtpFs, RenameMode};
use ftpfs::remote::mem::{MemStore, Op};
use ftpfs::remote::{EntryKind, RemoteStore};
use support::core::{core_config, read_dir};

/// A store with a file the server lists as 0640, one it lists as 4755 (setuid), a plain file
/// (0644: MemStore's default), a directory (0755) and a symlink.
fn store() -> Arc<MemStore> {
    let store = Arc::new(MemStore::new());
    store.add_file("/private.txt", "p");
    store.chmod("/private.txt", 0o640).unwrap();
    store.add_file("/setuid.bin", "s");
    store.chmod("/setuid.bin", 0o4755).unwrap();
    store.add_file("/plain.txt", "x");
    store.add_dir("/dir");
    store.add_symlink("/link", "plain.txt");
    store
}

fn fs_with(cfg: FsConfig) -> FtpFs<MemStore> {
    FtpFs::new(store(), cfg)
}

fn attr(fs: &FtpFs<MemStore>, name: &str) -> Attr {
    fs.lookup(ROOT_INO, OsStr::new(name)).unwrap()
}

fn modes(fs: &FtpFs<MemStore>) -> Vec<(String, u16)> {
    ["private.txt", "setuid.bin", "plain.txt", "dir", "link"]
        .iter()
        .map(|n| (n.to_string(), attr(fs, n).perm))
        .chain([("/".to_string(), fs.getattr(ROOT_INO).unwrap().perm)])
        .collect()
}

fn expect(list: &[(&str, u16)]) -> Vec<(String, u16)> {
    list.iter().map(|(n, m)| (n.to_string(), *m)).collect()
}

#[test]
fn without_options_the_server_modes_show_less_setuid_bits() {
    let fs = fs_with(core_config());
    assert_eq!(
        modes(&fs),
        expect(&[
            ("private.txt", 0o640),
            // The server must not hand out setuid programs.
            ("setuid.bin", 0o755),
            ("plain.txt", 0o644),
            ("dir", 0o755),
            ("link", 0o777),
            ("/", 0o755),
        ])
    );
}

#[test]
fn umask_takes_bits_away_from_every_mode_but_symlinks() {
    let fs = fs_with(FsConfig {
        umask: 0o027,
        ..core_config()
    });
    assert_eq!(
        modes(&fs),
        expect(&[
            ("private.txt", 0o640),
            ("setuid.bin", 0o750),
            ("plain.txt", 0o640),
            ("dir", 0o750),
            ("link", 0o777),
            ("/", 0o750),
        ])
    );
}

#[test]
fn file_mode_and_dir_mode_beat_umask_and_the_server() {
    let fs = fs_with(FsConfig {
        umask: 0o077,
        file_mode: Some(0o444),
        dir_mode: Some(0o711),
        ..core_config()
    });
    assert_eq!(
        modes(&fs),
        expect(&[
            ("private.txt", 0o444),
            ("setuid.bin", 0o444),
            ("plain.txt", 0o444),
            ("dir", 0o711),
            ("link", 0o777),
            ("/", 0o711),
        ])
    );
    // Only one of them set: the other kind keeps the server's mode less umask.
    let fs = fs_with(FsConfig {
        umask: 0o077,
        dir_mode: Some(0o755),
        ..core_config()
    });
    assert_eq!(attr(&fs, "plain.txt").perm, 0o600);
    assert_eq!(attr(&fs, "dir").perm, 0o755);
}

#[test]
fn uid_and_gid_show_on_every_entry_and_in_readdir() {
    let fs = fs_with(FsConfig {
        uid: 1234,
        gid: 5678,
        file_mode: Some(0o600),
        ..core_config()
    });
    for name in ["private.txt", "dir", "link"] {
        let a = attr(&fs, name);
        assert_eq!((a.uid, a.gid), (1234, 5678), "{name}");
    }
    let root = fs.getattr(ROOT_INO).unwrap();
    assert_eq!((root.uid, root.gid), (1234, 5678));
    let entries = read_dir(&fs, ROOT_INO, 0, true);
    assert_eq!(entries.len(), 7, "., .. and five entries");
    for e in &entries {
        assert_eq!((e.attr.uid, e.attr.gid), (1234, 5678), "{:?}", e.name);
        let want = match (e.attr.kind, e.name.to_str().unwrap()) {
            (EntryKind::File, _) => 0o600,
            (EntryKind::Symlink, _) => 0o777,
            (EntryKind::Dir, _) => 0o755,
        };
        assert_eq!(e.attr.perm, want, "{:?}", e.name);
    }
}

#[test]
fn a_directory_links_its_subdirectories_where_its_listing_is_known() {
    let store = Arc::new(MemStore::new());
    store.add_dir("/a/b");
    store.add_file("/a/c", "a file is no link");
    store.add_dir("/e");
    let fs = FtpFs::new(Arc::clone(&store), core_config());
    let a = attr(&fs, "a");
    let lists = store.count(Op::List);
    assert_eq!(fs.getattr(a.ino).unwrap().nlink, 2, "listing unknown");
    assert_eq!(store.count(Op::List), lists, "a stat listed the directory");
    read_dir(&fs, a.ino, 0, false);
    assert_eq!(fs.getattr(a.ino).unwrap().nlink, 3);
    assert_eq!(fs.getattr(ROOT_INO).unwrap().nlink, 4, "/ holds a and e");
    fs.mkdir(a.ino, OsStr::new("x")).unwrap();
    assert_eq!(fs.getattr(a.ino).unwrap().nlink, 4);
    fs.rmdir(a.ino, OsStr::new("x")).unwrap();
    assert_eq!(fs.getattr(a.ino).unwrap().nlink, 3);
    let e = attr(&fs, "e");
    fs.rename(
        a.ino,
        OsStr::new("b"),
        e.ino,
        OsStr::new("b"),
        RenameMode::default(),
    )
    .unwrap();
    assert_eq!(fs.getattr(a.ino).unwrap().nlink, 2);
    assert_eq!(fs.getattr(e.ino).unwrap().nlink, 3);
    // readdir shows the same counts.
    let listed = read_dir(&fs, ROOT_INO, 2, false);
    let e_listed = listed.iter().find(|d| d.name == "e").unwrap();
    assert_eq!(e_listed.attr.nlink, 3);
}
