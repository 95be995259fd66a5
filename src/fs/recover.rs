//! The uploads an earlier mount of the same server and root left pending (`-o writeback`, then a
//! crash, `kill -9`, a power cut): found in the writeback journal at mount, uploaded before the
//! mount is served, and said so in the log. A file that changed on the server since its local copy
//! began (another size or time, gone, or there when it was new here) is not overwritten: the local
//! data goes up beside it under a name that says so, `NAME.ftpfs-conflict-SECONDS`.

use std::time::{SystemTime, UNIX_EPOCH};

use log::{info, warn};

use super::journal::{self, Pending};
use super::spool::{local, Spool};
use super::write::Committed;
use super::{join, name_of, parent_of, FtpFs};
use crate::error::FsResult;
use crate::remote::RemoteStore;

impl<S: RemoteStore> FtpFs<S> {
    /// Uploads what the journal holds; returns how many were uploaded and how many stay pending.
    pub fn recover_pending(&self) -> (usize, usize) {
        let Some(dir) = self.cfg.journal_dir.clone() else {
            return (0, 0);
        };
        let found = journal::pending(&dir);
        if found.is_empty() {
            return (0, 0);
        }
        info!(
            "{} upload(s) left pending by an earlier mount (in {}): uploading them",
            found.len(),
            dir.display()
        );
        let (mut done, mut left) = (0, 0);
        for p in &found {
            match self.recover_one(p) {
                Ok(target) => {
                    journal::remove(p);
                    done += 1;
                    if target == p.path {
                        info!("{}: uploaded from an earlier mount's pending data", p.path);
                    } else {
                        warn!(
                            "{}: changed on the server since the earlier mount's local copy began; \
                             that copy is uploaded as {target}",
                            p.path
                        );
                    }
                }
                Err(e) => {
                    left += 1;
                    warn!(
                        "{}: the earlier mount's pending data could not be uploaded ({e}); it \
                         stays in {} for the next mount",
                        p.path,
                        p.record.display()
                    );
                }
            }
        }
        (done, left)
    }

    /// Uploads one pending file; returns where it went.
    fn recover_one(&self, p: &Pending) -> FsResult<String> {
        let (dir, name) = (parent_of(&p.path), name_of(&p.path));
        self.dirs.invalidate(dir);
        let listing = self.listing(dir)?;
        let now = listing.get(name).map(|e| (e.size, secs(e.mtime)));
        let unchanged = match p.base {
            None => now.is_none(),
            Some((size, mtime)) => now == Some((size, secs(mtime))),
        };
        let target = if unchanged {
            p.path.clone()
        } else {
            join(
                dir,
                &format!("{name}.ftpfs-conflict-{}", secs(SystemTime::now())),
            )
        };
        let up = self.uploader();
        let size = match &p.data {
            None => {
                up.upload_empty(&target)?;
                0
            }
            Some(data) => {
                let mut spool = Spool::new(&self.cfg.cache_dir).map_err(local)?;
                let bytes = std::fs::read(data).map_err(local)?;
                spool.write_at(0, &bytes).map_err(local)?;
                up.upload(&target, &spool)?;
                bytes.len() as u64
            }
        };
        self.after_upload(
            &target,
            Committed {
                size,
                mtime: None,
                mode: None,
                written: SystemTime::now(),
            },
        );
        Ok(target)
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
