//! Drop-box folders: directories where the server lets a user store files but not list, rename,
//! delete or ask their size (anonymous `incoming` folders, camera and scanner upload folders,
//! partner drop boxes). This module owns what the mount remembers about them and the listing
//! side of their handling; `upload.rs` and `write.rs` ask it where an upload goes.
//!
//! - A directory whose listing is refused while its parent lists it as a directory is taken as
//!   unlistable: names in it are taken as absent (a lookup answers ENOENT, a create proceeds), and
//!   `ls` of it answers EACCES.
//! - A directory where the server refused an upload's temporary name, or the rename of the
//!   uploaded temporary file to its name, gets its uploads straight under their names from then
//!   on (the upload that met the refusal is sent again that way from its local copy); so does an
//!   unlistable one from the start.
//!
//! What is verified there: the server's 226 for the whole upload, and its size where `SIZE`
//! answers. What is not: that the file is complete under its name for readers while it arrives
//! (no temporary name), and its size where `SIZE` is refused too.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use log::warn;

use super::{name_of, parent_of, FtpFs};
use crate::cache::Listing;
use crate::error::{FsError, FsResult};
use crate::remote::{EntryKind, RemoteStore};
use crate::sync::lock;

/// What the mount learned about drop-box folders, by directory path.
#[derive(Default)]
pub struct DropBoxes {
    unlistable: Mutex<HashSet<String>>,
    direct: Mutex<HashSet<String>>,
}

/// A refusal by the server (FTP's 550 says "missing" and "forbidden" alike; 553 and 530 say
/// forbidden): what a drop box answers to what it does not allow.
pub fn refused(e: &FsError) -> bool {
    matches!(e, FsError::NotFound | FsError::PermissionDenied)
}

impl DropBoxes {
    /// Whether uploads to `target` go straight to its name: in a directory where the server
    /// refused a temporary name or its rename, and in one it will not list (a temporary name
    /// there would have no rename either, most likely, and could not be deleted).
    pub fn direct(&self, target: &str) -> bool {
        let dir = parent_of(target);
        lock(&self.direct).contains(dir) || self.unlistable(dir)
    }

    /// From now on, uploads into `target`'s directory go straight to their names.
    pub fn go_direct(&self, target: &str, why: &FsError) {
        let dir = parent_of(target);
        if lock(&self.direct).insert(dir.to_string()) {
            warn!(
                "{dir}: the server refused an upload's temporary name or its rename ({why}); \
                 uploads there now go straight to their names (a drop box?)"
            );
        }
    }

    /// Whether `dir`'s listing was refused.
    pub fn unlistable(&self, dir: &str) -> bool {
        lock(&self.unlistable).contains(dir)
    }
}

impl<S: RemoteStore> FtpFs<S> {
    /// `dir`'s listing, or `None` for a directory that exists (the root, or a directory its
    /// parent lists) but whose listing the server refuses: names in it are then taken as absent.
    pub(super) fn listed(&self, dir: &str) -> FsResult<Option<Arc<Listing>>> {
        match self.listing(dir) {
            Ok(listing) => Ok(Some(listing)),
            Err(e) if refused(&e) && self.known_dir(dir) => {
                if lock(&self.drop_boxes.unlistable).insert(dir.to_string()) {
                    warn!(
                        "{dir}: the server refuses its listing ({e}); names in it are taken as \
                         absent, so files can still be stored there (a drop box?)"
                    );
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether `dir` is known to be a directory without listing it.
    fn known_dir(&self, dir: &str) -> bool {
        if dir == "/" {
            return true;
        }
        match self.listed(parent_of(dir)) {
            Ok(Some(parent)) => parent
                .get(name_of(dir))
                .is_some_and(|e| e.kind == EntryKind::Dir),
            _ => false,
        }
    }
}
