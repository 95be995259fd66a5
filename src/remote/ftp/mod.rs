//! The FTP and FTPS store. Every command goes through one seam, the `Session` of a control
//! connection (`session`): bytes in, replies out, data connections opened in one place (`data`),
//! pipelining used where the server has shown it takes it (`features`). Around it, one job per
//! file:
//!
//! - `connect`: TCP, TLS (`tls`), greeting, login, what the first login learns (`root`,
//!   `features`); the pool's `Connector`. Every TCP connection, control and data, goes straight
//!   to the server or through a SOCKS5 or HTTP CONNECT proxy (`proxy`) by one route
//!   (`sockets::Route`).
//! - `store`: the `RemoteStore` operations, run on pooled sessions with the retry policy of
//!   `retry`; listings through `list_transfer`, their `LIST` times corrected by `timezone`.
//! - `transfer`: downloads and uploads under way (`crate::writer_thread` sends an upload's bytes;
//!   `crate::later` ends them in the background where nobody needs to wait).
//! - `errors`: what a failure means, for the core and for the connection.
//! - `probe`: the server profile `--probe` prints.
//!
//! suppaftp is not used here: owning the protocol is what lets a name be any bytes, commands go
//! together in one packet, and TLS belong to one owner. It still parses Unix and DOS `LIST`
//! lines (`remote::listing`).

mod connect;
mod data;
mod errors;
mod features;
mod list_transfer;
mod probe;
mod proxy;
mod retry;
mod root;
mod session;
mod sockets;
mod store;
mod timezone;
pub mod tls;
mod transfer;

pub use features::Features;
pub use probe::Profile;
pub use root::Root;
pub use store::FtpStore;
pub use timezone::utc_offset_text;
