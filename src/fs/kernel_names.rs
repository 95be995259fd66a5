//! Names between the kernel and the core: a name the kernel gives becomes a path component in
//! the inner form of `crate::names` (refused when it could inject FTP commands or cannot be one
//! of the server's names), and names and link targets go back to the kernel as its bytes.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use super::FtpFs;
use crate::error::{FsError, FsResult};
use crate::remote::RemoteStore;

/// The longest name, in bytes, that a Linux file system takes (`NAME_MAX`).
pub const NAME_MAX: usize = 255;
/// The longest path, in bytes with its NUL, that Linux programs can pass (`PATH_MAX`).
const PATH_MAX: usize = 4096;

impl<S: RemoteStore> FtpFs<S> {
    /// A name from the kernel as a path component, in the inner form of `crate::names`; CR and LF
    /// would inject FTP commands, so they are refused here, before anything is sent. With
    /// `-o encoding=`, a name that is not UTF-8 cannot be one of the server's (EILSEQ).
    pub(super) fn component<'a>(&self, name: &'a OsStr) -> FsResult<Cow<'a, str>> {
        // FUSE passes names up to 1024 bytes; programs expect a local file system's limit.
        if name.len() > NAME_MAX {
            return Err(FsError::NameTooLong);
        }
        let name = self
            .cfg
            .names
            .from_kernel(name.as_bytes())
            .ok_or(FsError::IllegalName)?;
        if name.is_empty() || name.contains(['/', '\r', '\n', '\0']) {
            return Err(FsError::InvalidArgument);
        }
        Ok(name)
    }

    /// `path` (inner form, under the mount's root), refused when longer than a path may be.
    pub(super) fn path_fits(path: String) -> FsResult<String> {
        if path.len() >= PATH_MAX {
            return Err(FsError::NameTooLong);
        }
        Ok(path)
    }

    /// A name or path in the inner form as the kernel's bytes.
    pub(super) fn kernel_name(&self, name: &str) -> OsString {
        OsString::from_vec(self.cfg.names.to_kernel(name).into_owned())
    }
}
