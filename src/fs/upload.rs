//! Whole files to the server and back: an upload through a hidden temporary name in the same
//! directory (the server's verdict, the size check, the rename over the target), the empty file
//! stored straight under its name, the removal of a temporary name left by a failure, and a
//! download into a spool. `write` decides when these happen; this module does them, and names
//! the temporary files (never shown, never accepted from a program).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use log::{debug, info, warn};

use super::dropbox::refused;
use super::spool::{local, Spool};
use super::write::Uploader;
use crate::caller;
use crate::error::{FsError, FsResult};
use crate::remote::{RemoteError, RemoteResult, RemoteStore};

/// Names that start with this are ftpfs's uploads in progress: never shown, never accepted from a
/// program.
pub const TEMP_PREFIX: &str = ".~ftpfs.";

/// Whether `name` is one of ftpfs's temporary upload names.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
}

/// A fresh temporary name beside `path` (same directory, so the final rename stays on one file
/// system of the server), at most 255 bytes.
pub fn temp_path(path: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let (dir, name) = match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    };
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tag = (u64::from(std::process::id()) << 32 | u64::from(nanos))
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut short = name;
    let room = 255 - TEMP_PREFIX.len() - 17;
    while short.len() > room {
        let mut cut = room.min(short.len() - 1);
        while !short.is_char_boundary(cut) {
            cut -= 1;
        }
        short = &short[..cut];
    }
    format!("{dir}/{TEMP_PREFIX}{tag:016x}.{short}")
}

/// Runs a step of an upload that must not be cut short for a caller being killed: its start
/// sends nothing yet and the caller's data decides what follows, and its end (the server's
/// verdict, the size check, the rename) must be known whatever happens to the caller.
pub(super) fn uninterrupted<T>(step: impl FnOnce() -> T) -> T {
    let _nobody = caller::serve(0);
    step()
}

impl<S: RemoteStore> Uploader<'_, S> {
    pub(super) fn download(&self, path: &str, size: u64) -> FsResult<Spool> {
        let mut tries = 2;
        loop {
            tries -= 1;
            match self.try_download(path, size) {
                Err(FsError::Io(m)) if tries > 0 => debug!("download of {path} again: {m}"),
                other => return other,
            }
        }
    }

    pub(super) fn try_download(&self, path: &str, size: u64) -> FsResult<Spool> {
        let mut spool = Spool::new(self.cache_dir).map_err(local)?;
        let mut remote = self.store.open_read(path, 0)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut at = 0u64;
        loop {
            let n = remote.read(&mut buf)?;
            if n == 0 {
                break;
            }
            spool.write_at(at, &buf[..n]).map_err(local)?;
            at += n as u64;
        }
        remote.finish();
        if at != size {
            return Err(FsError::Io(format!(
                "{path}: the server sent {at} bytes of {size}"
            )));
        }
        Ok(spool)
    }

    /// Where an upload to `target` goes first: a temporary name beside it, unless uploads are not
    /// atomic or go straight to their names in its directory (a drop box, `dropbox.rs`).
    pub(super) fn dest_for(&self, target: &str) -> String {
        if self.atomic && !self.drop_boxes.direct(target) {
            temp_path(target)
        } else {
            target.to_string()
        }
    }

    /// Uploads `spool` to `target`, through a temporary name unless told otherwise. Where the
    /// server refuses the temporary name or its rename, the upload goes again straight to
    /// `target`, and so do later ones in that directory.
    pub(super) fn upload(&self, target: &str, spool: &Spool) -> FsResult<()> {
        let dest = self.dest_for(target);
        match self.upload_as(&dest, target, spool) {
            Err(e) if dest != target && refused(&e) => {
                self.drop_boxes.go_direct(target, &e);
                self.upload_as(target, target, spool)
            }
            other => other,
        }
    }

    /// Uploads `spool` to `dest`, checks it, and puts it under `target` (`resume.rs`: a broken
    /// link is retried, resuming, once the server took the upload).
    pub(super) fn upload_as(&self, dest: &str, target: &str, spool: &Spool) -> FsResult<()> {
        self.attempts(dest, target, spool, None)
    }

    /// An empty file under `target`, sent straight there: with no bytes to lose, a temporary name,
    /// the rename and the size check (three round trips of a file created by `touch` or by a
    /// shell's `>`, whose first close comes before any write) would guard nothing.
    pub(super) fn upload_empty(&self, target: &str) -> FsResult<()> {
        let result = uninterrupted(|| {
            self.store
                .open_write(target, false)
                .and_then(|w| w.finish())
        })
        .map(|_| ())
        .map_err(FsError::from);
        if let Err(e) = &result {
            warn!("creating {target} failed: {e}");
        }
        result
    }

    /// Removes a temporary upload name. Its connection may be the one a failure just broke, so a
    /// link failure gets a second try on a fresh connection (a name already gone is fine).
    pub(super) fn discard(&self, temp: &str) {
        let mut tries = 2;
        loop {
            tries -= 1;
            match self.store.remove(temp) {
                Ok(()) => return,
                // 550: gone already, or (in a drop box) a delete the server refuses.
                Err(RemoteError::NotFound(m)) if self.drop_boxes.direct(temp) => {
                    warn!("the upload {temp} stays on the server, which refused to remove it: {m}");
                    return;
                }
                Err(RemoteError::NotFound(_)) => return,
                Err(RemoteError::Connection(m)) if tries > 0 => {
                    debug!("removing {temp} again: {m}")
                }
                Err(e) => {
                    warn!("the partial upload {temp} stays on the server: {e}");
                    return;
                }
            }
        }
    }

    /// Checks that the server holds exactly `len` bytes under `path` (where it can tell): `held`,
    /// when the end of the upload already said, or else its answer to `size`.
    pub(super) fn verify(&self, path: &str, len: u64, held: Option<u64>) -> FsResult<()> {
        match self.held(path, held).map_err(FsError::from)? {
            Some(n) if n != len => Err(FsError::Io(format!(
                "{path}: the server holds {n} bytes of {len}"
            ))),
            _ => Ok(()),
        }
    }

    /// The size the server holds under `path` after an upload: `held` when the upload's end said,
    /// else its answer to `size`; `None` where it cannot tell.
    pub(super) fn held(&self, path: &str, held: Option<u64>) -> RemoteResult<Option<u64>> {
        match held.map_or_else(|| self.store.size(path), Ok) {
            Ok(n) => Ok(Some(n)),
            Err(RemoteError::Unsupported(_)) => Ok(None),
            Err(e @ (RemoteError::NotFound(_) | RemoteError::PermissionDenied(_))) => {
                // A drop box answers SIZE with a refusal: the server's 226 for the whole upload
                // is then all there is to go by (a temporary name's rename still proves it).
                info!("the size of {path} could not be checked ({e}); the server's 226 stands");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Renames an uploaded temporary file over its target. A server that will not rename over an
    /// existing file gets the target removed first.
    pub(super) fn place(&self, dest: &str, target: &str) -> RemoteResult<()> {
        if dest == target {
            return Ok(());
        }
        match self.store.rename(dest, target) {
            Ok(()) => Ok(()),
            Err(RemoteError::NotFound(m) | RemoteError::PermissionDenied(m)) => {
                debug!("rename over {target} refused ({m}); removing it first");
                let _ = self.store.remove(target);
                self.store.rename(dest, target)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_hidden_unique_and_short_enough() {
        let a = temp_path("/d/file.txt");
        let b = temp_path("/d/file.txt");
        assert_ne!(a, b);
        assert!(a.starts_with("/d/.~ftpfs."));
        assert!(a.ends_with(".file.txt"));
        assert!(is_temp_name(a.rsplit('/').next().unwrap()));
        let long = format!("/{}", "é".repeat(127));
        let t = temp_path(&long);
        assert!(t.len() - 1 <= 255, "{}", t.len());
        assert!(temp_path("/x").starts_with("/.~ftpfs."));
    }
}
