//! Uploads that survive a broken link. An upload of a local copy (a spool) runs as attempts: each
//! sends the content, waits for the server's verdict, checks the size and renames. When the link
//! breaks after the server took the upload, the next attempt resumes: it asks the size of what the
//! server holds under the upload's name and sends the rest with `REST`+`STOR` (or `APPE` where
//! `REST` is refused), or starts over where the server can do neither; attempts go on, with a
//! growing pause, for `upload_retry` (a server being restarted comes back within it). An upload
//! that cannot reach the server at all fails at once, as every other operation does: a dead server
//! gives an error within the timeout, and the data stays in the spool for the next close or fsync.

use std::time::{Duration, Instant};

use log::{debug, info, warn};

use super::spool::{local, Spool};
use super::upload::uninterrupted;
use super::write::{FileState, Partial, Uploader};
use crate::caller;
use crate::error::{FsError, FsResult};
use crate::remote::{RemoteError, RemoteResult, RemoteStore, RemoteWrite};

/// The first pause between attempts, doubled after each up to `LONGEST_PAUSE`.
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const LONGEST_PAUSE: Duration = Duration::from_secs(4);

/// Why an attempt failed, and what that allows next.
struct Failed {
    error: FsError,
    /// The link failed (a reset, a refused or timed-out connection, `421`, `425`/`426`): worth
    /// another attempt. A server's refusal (`451`, `452`, `550`...) is not.
    link: bool,
    /// The server had taken the upload (its `STOR` was under way) when it failed.
    reached: bool,
    /// The server ended up holding another size than the content's (after a resume: a stale tail
    /// past what was sent, or a server that took `REST` and wrote from 0).
    wrong_size: bool,
}

impl Failed {
    fn remote(e: RemoteError, reached: bool) -> Failed {
        Failed {
            link: matches!(e, RemoteError::Connection(_)),
            error: e.into(),
            reached,
            wrong_size: false,
        }
    }

    fn before(e: RemoteError) -> Failed {
        Failed::remote(e, false)
    }

    fn during(e: RemoteError) -> Failed {
        Failed::remote(e, true)
    }

    fn local(e: std::io::Error) -> Failed {
        Failed {
            error: local(e),
            link: false,
            reached: true,
            wrong_size: false,
        }
    }
}

impl<S: RemoteStore> Uploader<'_, S> {
    /// Uploads `spool` as the content of `st`: resuming the upload that broke (`st.partial`), or
    /// the ordinary way.
    pub(super) fn upload_resuming(&self, st: &mut FileState, spool: &Spool) -> FsResult<()> {
        let Some(p) = st.partial.take() else {
            return self.upload(&st.path, spool);
        };
        info!(
            "upload of {}: resuming into {} (up to {} bytes there are the file's)",
            st.path, p.dest, p.valid
        );
        self.attempts(&p.dest, &st.path, spool, Some(p.valid))
    }

    /// Removes what a broken upload left on the server when nothing will resume it.
    pub(super) fn discard_partial(&self, p: &Partial, target: &str) {
        if p.dest != target {
            self.discard(&p.dest);
        }
    }

    /// Uploads `spool` to `dest`, checks it, and puts it under `target`, in attempts (see the
    /// module doc). `valid`: `dest` may already hold this many leading bytes of the content.
    pub(super) fn attempts(
        &self,
        dest: &str,
        target: &str,
        spool: &Spool,
        mut valid: Option<u64>,
    ) -> FsResult<()> {
        let deadline = Instant::now() + self.retry;
        let mut pause = FIRST_PAUSE;
        // An upload that broke before this call was under way already.
        let mut under_way = valid.is_some();
        let error = loop {
            let failed = match uninterrupted(|| self.attempt(dest, target, spool, valid)) {
                Ok(()) => return Ok(()),
                Err(f) => f,
            };
            under_way |= failed.reached;
            if failed.wrong_size && valid.is_some() {
                warn!(
                    "upload of {target}: {}; once more from the start",
                    failed.error
                );
                valid = None;
                continue;
            }
            if !failed.link
                || !under_way
                || Instant::now() + pause > deadline
                || caller::interrupted()
            {
                break failed.error;
            }
            warn!(
                "upload of {target}: {}; trying again in {pause:?} (upload_retry: {:.1?} left)",
                failed.error,
                deadline.saturating_duration_since(Instant::now())
            );
            std::thread::sleep(pause);
            pause = (pause * 2).min(LONGEST_PAUSE);
            // What reached the server was this content: the next attempt goes on from it.
            valid = Some(spool.len());
        };
        warn!("upload of {target} failed: {error}");
        if dest != target {
            self.discard(dest);
        }
        Err(error)
    }

    /// One attempt: from where `dest` ends (at most `valid`) when resuming, else from 0.
    fn attempt(
        &self,
        dest: &str,
        target: &str,
        spool: &Spool,
        valid: Option<u64>,
    ) -> Result<(), Failed> {
        let len = spool.len();
        let (from, held) = match valid {
            None | Some(0) => (0, 0),
            Some(valid) => match self.store.size(dest) {
                Ok(held) => (held.min(valid).min(len), held),
                Err(e @ RemoteError::Connection(_)) => return Err(Failed::before(e)),
                Err(e) => {
                    debug!("{dest}: no size to resume from ({e}); from the start");
                    (0, 0)
                }
            },
        };
        let (mut w, from) = self
            .open_at(dest, from, held == from)
            .map_err(Failed::before)?;
        let mut src = spool.reader_from(from).map_err(Failed::local)?;
        match send(&mut src, &mut *w) {
            Ok(()) => {}
            Err(Sent::Local(e)) => return Err(Failed::local(e)),
            // The server's closing reply often says why (452/552: no room, 451: its disk
            // failed): a refusal stands, and only a link failure is worth another attempt.
            Err(Sent::Remote(e)) => {
                return Err(match w.finish() {
                    Err(verdict) if !matches!(verdict, RemoteError::Connection(_)) => {
                        Failed::during(verdict)
                    }
                    _ => Failed::during(e),
                })
            }
        }
        let stored = w.finish().map_err(Failed::during)?;
        match self.held(dest, stored.size).map_err(Failed::during)? {
            Some(n) if n != len => {
                return Err(Failed {
                    error: FsError::Io(format!("{dest}: the server holds {n} bytes of {len}")),
                    link: false,
                    reached: true,
                    wrong_size: true,
                })
            }
            _ => {}
        }
        if from > 0 {
            info!("upload of {target}: resumed at byte {from} of {len}, and complete");
        }
        self.place(dest, target).map_err(Failed::during)
    }

    /// Starts an upload to `dest` at byte `from`: `REST`+`STOR`, else `APPE` where the server
    /// holds exactly `from` bytes (`appendable`), else from the start. Returns where it starts.
    fn open_at(
        &self,
        dest: &str,
        from: u64,
        appendable: bool,
    ) -> RemoteResult<(Box<dyn RemoteWrite>, u64)> {
        if from > 0 {
            match self.store.open_write_from(dest, from) {
                Ok(w) => return Ok((w, from)),
                Err(e @ (RemoteError::Connection(_) | RemoteError::NoSpace(_))) => return Err(e),
                Err(e) => debug!("{dest}: REST {from} refused ({e})"),
            }
            let appended = if appendable {
                self.store.open_write(dest, true)
            } else {
                Err(RemoteError::Unsupported("a tail past the content".into()))
            };
            match appended {
                Ok(w) => return Ok((w, from)),
                Err(e @ (RemoteError::Connection(_) | RemoteError::NoSpace(_))) => return Err(e),
                Err(e) => info!("{dest}: the server resumes no upload ({e}); from the start"),
            }
        }
        Ok((self.store.open_write(dest, false)?, 0))
    }
}

/// Why sending a spool stopped.
enum Sent {
    Local(std::io::Error),
    Remote(RemoteError),
}

/// Copies a spool to an upload, a megabyte at a time.
fn send(src: &mut dyn std::io::Read, dst: &mut dyn RemoteWrite) -> Result<(), Sent> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Sent::Local(e)),
        };
        dst.write(&buf[..n]).map_err(Sent::Remote)?;
    }
}
