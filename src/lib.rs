//! ftpfs: mount an FTP server as a local folder. The layers, top to bottom: `cli` (arguments →
//! `config`), `mount`/`daemon` (process life), `fuse` (the thin kernel adapter), `fs` (the filesystem
//! core), `cache` (listings and blocks), `remote` (the `RemoteStore` trait, the FTP store and its
//! connection pool, listing parsers, and an in-memory store for tests). `error` maps failures to errno;
//! `stats` counts what the mount did; `logging` sends records to stderr or syslog; `credentials`
//! finds the password; `caller` knows which process a request is for, so that waits end when it is
//! killed; `later` runs the work nobody waits for (the ends of transfers); `sync` holds the lock
//! policy, and `sys` every `unsafe` system call (users and groups by name among them) behind a safe
//! wrapper; `writer_thread` writes on a thread of its own (an upload's data, a stream's local copy).

pub mod cache;
pub mod caller;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod daemon;
pub mod error;
pub mod fs;
pub mod fuse;
pub mod later;
pub mod logging;
pub mod mount;
pub mod names;
pub mod remote;
pub mod stats;
pub mod sync;
pub mod sys;
pub mod writer_thread;
