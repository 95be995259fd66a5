//! The FTP servers of the server matrix (tests/matrix.rs) beyond vsftpd and libunftp, each a real
//! daemon started by the test from a config of its own in a temporary directory, on 127.0.0.1:
//! ProFTPD, Pure-FTPd, pyftpdlib and GNU inetutils ftpd. `daemon` starts and kills a foreground
//! daemon and finds the binaries of Debian packages that scripts/test.sh unpacked rather than
//! installed. All log in `TEST_USER` with `TEST_PASSWORD`.

/// `FtpServer` for a server of the matrix that logs in the test user; `$port` reads its port.
macro_rules! logs_in_the_test_user {
    ($server:ty, |$s:ident| $port:expr) => {
        impl $crate::support::FtpServer for $server {
            fn port(&self) -> u16 {
                let $s = self;
                $port
            }
            fn user(&self) -> &str {
                $crate::support::servers::TEST_USER
            }
            fn password(&self) -> &str {
                $crate::support::servers::TEST_PASSWORD
            }
        }
    };
}

pub mod daemon;
pub mod inetutils;
pub mod proftpd;
pub mod pureftpd;
pub mod pyftpdlib;

pub use super::local_user::{TEST_PASSWORD, TEST_USER};
