//! The FTP servers of the server matrix (tests/matrix.rs) beyond vsftpd and libunftp, each a real
//! daemon started by the test from a config of its own in a temporary directory, on 127.0.0.1:
//! ProFTPD, Pure-FTPd, pyftpdlib and GNU inetutils ftpd. `daemon` starts and kills a foreground
//! daemon and finds the binaries of Debian packages that scripts/test.sh unpacked rather than
//! installed. All log in `TEST_USER` with `TEST_PASSWORD`.

pub mod daemon;
pub mod inetutils;
pub mod proftpd;
pub mod pureftpd;
pub mod pyftpdlib;

pub use super::local_user::{TEST_PASSWORD, TEST_USER};
