//! The writeback journal: what survives a crash of ftpfs (`kill -9`, a power cut, a reboot) while
//! uploads are pending. For each file left to a background upload, the journal directory of the
//! mount (`cache_dir/pending/<server and root>`) holds a hard link to the file's spool (the data)
//! and a small record: the remote path, and the size and time the server's file had when the local
//! copy began (to tell whether someone changed it since). Records are written whole (a temporary
//! file, `fsync`, `rename`) and removed once the server confirmed the upload. The next mount of the
//! same server and root uploads what it finds (`recover`), and `ftpfs --pending URL` lists it.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The server's file as it was when the local copy began: `None` for a file created here.
pub type Base = Option<(u64, SystemTime)>;

/// One pending upload found in a journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Where the data goes on the server.
    pub path: String,
    pub base: Base,
    /// The data (absent for an empty file).
    pub data: Option<PathBuf>,
    /// The record itself.
    pub record: PathBuf,
    /// When the record was written.
    pub since: SystemTime,
}

/// The journal of one mount.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    next: AtomicU64,
}

/// The journal directory of a mount: one per server, user and root, so that the next mount of
/// the same place finds it and no other mount does.
pub fn dir_for(cache_dir: &Path, mount_key: &str) -> PathBuf {
    let readable: String = mount_key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    cache_dir
        .join("pending")
        .join(format!("{readable}-{:016x}", fnv1a(mount_key.as_bytes())))
}

/// FNV-1a: a hash that stays the same across builds (std's hashers make no such promise), so that
/// a mount after an upgrade still finds its journal.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl Journal {
    /// The journal a mount with `cfg` keeps: one with `-o writeback` and a journal directory.
    pub fn for_config(cfg: &crate::config::FsConfig) -> Option<Journal> {
        let dir = cfg.journal_dir.as_ref().filter(|_| cfg.writeback)?;
        Journal::open(dir)
            .map_err(|e| {
                log::warn!(
                    "the writeback journal {} cannot be used ({e}): pending uploads will not \
                     survive a crash",
                    dir.display()
                )
            })
            .ok()
    }

    pub fn open(dir: &Path) -> io::Result<Journal> {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Ok(Journal {
            dir: dir.to_path_buf(),
            next: AtomicU64::new(stamp),
        })
    }

    /// Records that `path` waits for its upload with the content of `spool` (a file in the same
    /// file system, linked here), or empty. Returns the record's id; an older record `replaces`
    /// of the same file goes.
    pub fn record(
        &self,
        path: &str,
        spool: Option<&Path>,
        base: Base,
        replaces: Option<u64>,
    ) -> io::Result<u64> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Some(spool) = spool {
            fs::hard_link(spool, self.data_path(id))?;
        }
        self.write_record(id, path, base, spool.is_some())?;
        self.sync()?;
        if let Some(old) = replaces {
            self.forget(old);
        }
        Ok(id)
    }

    /// Writes record `id` whole: a temporary file renamed over the record, so that a crash leaves
    /// the old record or the new one, never half of one. Not durable until `sync`.
    fn write_record(&self, id: u64, path: &str, base: Base, data: bool) -> io::Result<()> {
        let mut text = format!("path {path}\n");
        if let Some((size, mtime)) = base {
            let secs = mtime.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            text.push_str(&format!("base {size} {secs}\n"));
        }
        text.push_str(if data { "data\n" } else { "empty\n" });
        let tmp = self.dir.join(format!("{id:016x}.tmp"));
        let mut f = fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        drop(f);
        fs::rename(&tmp, self.record_path(id))
    }

    /// Makes what was written or removed in the journal durable. One flush of the whole file
    /// system makes the spools' data, the links, the records and their names durable together:
    /// one journal commit of the disk's file system, where an fsync of each (spool, record,
    /// directory) cost three, and a close with writeback paid 11 ms instead of a few.
    pub fn sync(&self) -> io::Result<()> {
        let dir = fs::File::open(&self.dir)?;
        nix::unistd::syncfs(&dir)?;
        Ok(())
    }

    /// Record `id` now names `path` (its file was renamed while its upload waits). The record is
    /// rewritten whole and keeps its id and its data; the caller calls `sync` once for all the
    /// files a rename moved.
    pub fn moved(&self, id: u64, path: &str) -> io::Result<()> {
        let old = parse(&self.record_path(id)).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("record {id:016x} unreadable"),
            )
        })?;
        self.write_record(id, path, old.base, old.data.is_some())
    }

    /// The upload of record `id` is confirmed: its record and data go.
    pub fn forget(&self, id: u64) {
        let _ = fs::remove_file(self.record_path(id));
        let _ = fs::remove_file(self.data_path(id));
    }

    fn record_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:016x}.pending"))
    }

    fn data_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:016x}.data"))
    }
}

/// The pending uploads recorded in journal directory `dir`, oldest first, the newest record of each
/// file only (a crash between a record and the removal of the one it replaces leaves both; the
/// older is removed here). Unreadable records are skipped (a crash during `record` leaves only a
/// `.tmp`, never a half record).
pub fn pending(dir: &Path) -> Vec<Pending> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<Pending> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pending"))
        .filter_map(|record| parse(&record))
        .collect();
    found.sort_by(|a, b| a.record.cmp(&b.record));
    let mut newest: Vec<Pending> = Vec::with_capacity(found.len());
    for p in found.into_iter().rev() {
        if newest.iter().any(|n| n.path == p.path) {
            remove(&p);
        } else {
            newest.push(p);
        }
    }
    newest.reverse();
    newest
}

fn parse(record: &Path) -> Option<Pending> {
    let text = fs::read_to_string(record).ok()?;
    let since = fs::metadata(record).ok()?.modified().ok()?;
    let mut path = None;
    let mut base = None;
    let mut data = None;
    for line in text.lines() {
        match line.split_once(' ').unwrap_or((line, "")) {
            ("path", p) => path = Some(p.to_string()),
            ("base", b) => {
                let (size, secs) = b.split_once(' ')?;
                let secs: u64 = secs.parse().ok()?;
                base = Some((size.parse().ok()?, UNIX_EPOCH + Duration::from_secs(secs)));
            }
            ("data", _) => data = Some(record.with_extension("data")),
            ("empty", _) => {}
            _ => return None,
        }
    }
    Some(Pending {
        path: path?,
        base,
        data,
        record: record.to_path_buf(),
        since,
    })
}

/// One line for `ftpfs --pending`: the path, its size, and since when it waits.
pub fn describe(p: &Pending) -> String {
    let size = p
        .data
        .as_ref()
        .and_then(|d| fs::metadata(d).ok())
        .map_or(0, |m| m.len());
    let age = SystemTime::now()
        .duration_since(p.since)
        .map_or(0, |d| d.as_secs());
    let base = match p.base {
        Some(_) => "changes a file the server had",
        None => "a new file",
    };
    format!("{}\t{size} bytes\twaiting {age} s\t{base}", p.path)
}

/// Removes a recovered record and its data.
pub fn remove(p: &Pending) {
    let _ = fs::remove_file(&p.record);
    if let Some(d) = &p.data {
        let _ = fs::remove_file(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_and_are_forgotten() {
        let cache = tempfile::tempdir().unwrap();
        let dir = dir_for(cache.path(), "ftp://bob@host:21/srv");
        assert!(dir.ends_with(format!(
            "ftp___bob_host_21_srv-{:016x}",
            fnv1a(b"ftp://bob@host:21/srv")
        )));
        let j = Journal::open(&dir).unwrap();
        let spool = cache.path().join("spool-1");
        fs::write(&spool, b"data of a").unwrap();
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let a = j
            .record("/d/a b.txt", Some(&spool), Some((3, t)), None)
            .unwrap();
        let b = j.record("/new", None, None, None).unwrap();
        // The spool file goes (its upload ended or ftpfs died): the journal keeps the data.
        fs::remove_file(&spool).unwrap();
        let found = pending(&dir);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].path, "/d/a b.txt");
        assert_eq!(found[0].base, Some((3, t)));
        assert_eq!(
            fs::read(found[0].data.as_ref().unwrap()).unwrap(),
            b"data of a"
        );
        assert_eq!(found[1].path, "/new");
        assert_eq!((found[1].base, found[1].data.clone()), (None, None));
        // A newer record of the same file replaces the older.
        fs::write(&spool, b"newer").unwrap();
        let a2 = j.record("/d/a b.txt", Some(&spool), None, Some(a)).unwrap();
        assert_eq!(pending(&dir).len(), 2);
        // A crash between a record and the removal of the one it replaced: the newest counts.
        fs::write(&spool, b"newest").unwrap();
        let a3 = j.record("/d/a b.txt", Some(&spool), None, None).unwrap();
        let found = pending(&dir);
        assert_eq!(found.len(), 2);
        assert_eq!(
            fs::read(found[1].data.as_ref().unwrap()).unwrap(),
            b"newest"
        );
        assert!(!dir.join(format!("{a2:016x}.pending")).exists());
        j.forget(a3);
        j.forget(b);
        assert!(pending(&dir).is_empty());
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            0,
            "nothing left behind"
        );
    }

    #[test]
    fn a_torn_record_is_skipped() {
        let cache = tempfile::tempdir().unwrap();
        fs::write(
            cache.path().join("0000000000000001.pending"),
            "garbage line\n",
        )
        .unwrap();
        fs::write(cache.path().join("0000000000000002.tmp"), "path /x\n").unwrap();
        assert!(pending(cache.path()).is_empty());
    }
}
