//! `FsError`: what a failure means for the file system, and the one place where it becomes an errno.
//! Remote failures (`RemoteError`) are translated here too, so no other module picks errno values.

use crate::remote::RemoteError;

/// A failed file-system operation, as the caller should see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsError {
    /// No such file or directory.
    NotFound,
    /// The server refused access.
    PermissionDenied,
    /// The server has no room left.
    NoSpace,
    /// A name the FTP protocol cannot carry (CR or LF), or an otherwise unusable argument.
    InvalidArgument,
    /// A name the server's encoding (`-o encoding=`) cannot write, or kernel bytes that are not
    /// UTF-8 while names are text in an encoding.
    IllegalName,
    /// A name longer than `NAME_MAX` bytes, or a path longer than `PATH_MAX`: refused before
    /// anything is sent, as a local file system would.
    NameTooLong,
    /// The operation would modify a read-only mount.
    ReadOnly,
    /// A directory operation on something that is not a directory.
    NotDirectory,
    /// A file operation on a directory.
    IsDirectory,
    /// The object is not a symlink (readlink).
    NotSymlink,
    /// The name exists already (mkdir, exclusive create, rename with no-replace).
    Exists,
    /// The directory is not empty (rmdir, rename over a directory).
    NotEmpty,
    /// FTP has no such thing (device nodes, hard links, exchanging renames).
    NotPermitted,
    /// The server lacks the command (no MFMT, no SITE CHMOD).
    Unsupported,
    /// An unknown inode or file handle: the kernel and the core disagree.
    StaleHandle,
    /// The handle was not opened for this (a write on a read-only handle).
    BadHandle,
    /// The caller gave up (interrupt).
    Interrupted,
    /// The link or the server failed; the message says how (logged, never shown as errno text).
    Io(String),
}

pub type FsResult<T> = Result<T, FsError>;

impl FsError {
    /// The errno reported to the kernel. This is the only mapping in the program.
    pub fn errno(&self) -> i32 {
        match self {
            FsError::NotFound => libc::ENOENT,
            FsError::PermissionDenied => libc::EACCES,
            FsError::NoSpace => libc::ENOSPC,
            FsError::InvalidArgument => libc::EINVAL,
            FsError::IllegalName => libc::EILSEQ,
            FsError::NameTooLong => libc::ENAMETOOLONG,
            FsError::ReadOnly => libc::EROFS,
            FsError::NotDirectory => libc::ENOTDIR,
            FsError::IsDirectory => libc::EISDIR,
            FsError::NotSymlink => libc::EINVAL,
            FsError::Exists => libc::EEXIST,
            FsError::NotEmpty => libc::ENOTEMPTY,
            FsError::NotPermitted => libc::EPERM,
            FsError::Unsupported => libc::EOPNOTSUPP,
            FsError::StaleHandle => libc::ESTALE,
            FsError::BadHandle => libc::EBADF,
            FsError::Interrupted => libc::EINTR,
            FsError::Io(_) => libc::EIO,
        }
    }

    /// The errno's symbolic name, for statistics.
    pub fn errno_name(&self) -> &'static str {
        match self.errno() {
            libc::ENOENT => "ENOENT",
            libc::EACCES => "EACCES",
            libc::ENOSPC => "ENOSPC",
            libc::EINVAL => "EINVAL",
            libc::EILSEQ => "EILSEQ",
            libc::EROFS => "EROFS",
            libc::ENOTDIR => "ENOTDIR",
            libc::EISDIR => "EISDIR",
            libc::EEXIST => "EEXIST",
            libc::ENOTEMPTY => "ENOTEMPTY",
            libc::EPERM => "EPERM",
            libc::EOPNOTSUPP => "EOPNOTSUPP",
            libc::ESTALE => "ESTALE",
            libc::EBADF => "EBADF",
            libc::EINTR => "EINTR",
            _ => "EIO",
        }
    }

    /// Expected outcomes (a missing file) stay quiet; failures of the link are worth a warning.
    pub fn is_noteworthy(&self) -> bool {
        matches!(self, FsError::Io(_))
    }
}

impl From<RemoteError> for FsError {
    fn from(e: RemoteError) -> Self {
        match e {
            RemoteError::NotFound(_) => FsError::NotFound,
            RemoteError::PermissionDenied(_) | RemoteError::LoginFailed(_) => {
                FsError::PermissionDenied
            }
            RemoteError::NoSpace(_) => FsError::NoSpace,
            RemoteError::InvalidName(_) => FsError::InvalidArgument,
            RemoteError::Unencodable(_) => FsError::IllegalName,
            RemoteError::Interrupted => FsError::Interrupted,
            RemoteError::Unsupported(_) => FsError::Unsupported,
            RemoteError::Connection(m) | RemoteError::Protocol(m) => FsError::Io(m),
        }
    }
}

impl std::fmt::Display for FsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FsError::Io(m) => write!(f, "I/O error: {m}"),
            other => write!(f, "{}", std::io::Error::from_raw_os_error(other.errno())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_errors_map_to_the_expected_errno() {
        let cases = [
            (RemoteError::NotFound("550".into()), libc::ENOENT),
            (RemoteError::PermissionDenied("550".into()), libc::EACCES),
            (RemoteError::LoginFailed("530".into()), libc::EACCES),
            (RemoteError::NoSpace("552".into()), libc::ENOSPC),
            (RemoteError::InvalidName("a\nb".into()), libc::EINVAL),
            (RemoteError::Unencodable("日本".into()), libc::EILSEQ),
            (RemoteError::Connection("reset".into()), libc::EIO),
            (RemoteError::Protocol("500".into()), libc::EIO),
            (RemoteError::Interrupted, libc::EINTR),
            (RemoteError::Unsupported("502".into()), libc::EOPNOTSUPP),
        ];
        for (remote, errno) in cases {
            assert_eq!(FsError::from(remote.clone()).errno(), errno, "{remote:?}");
        }
    }

    #[test]
    fn errno_names_match_their_numbers() {
        for (e, name) in [
            (FsError::NotFound, "ENOENT"),
            (FsError::NotSymlink, "EINVAL"),
            (FsError::NotEmpty, "ENOTEMPTY"),
            (FsError::Io("x".into()), "EIO"),
        ] {
            assert_eq!(e.errno_name(), name);
        }
    }

    #[test]
    fn only_link_failures_are_noteworthy() {
        assert!(FsError::Io("x".into()).is_noteworthy());
        assert!(!FsError::NotFound.is_noteworthy());
    }
}
