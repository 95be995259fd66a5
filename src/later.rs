//! Work that nobody waits for, run on a few background threads: the ends of transfers and the
//! removal of big local copies.
//!
//! - A download cut short waits there for the server's 426; an upload whose verdict (226) came,
//!   but whose pipelined `SIZE` and next data connection the server answers only after it has
//!   closed the file (vsftpd flushes a big file's pages then: half a second a GiB), waits there
//!   for those replies while the caller goes on with another connection. Either way the session
//!   goes back to the pool, in step, when its replies are read (`remote::ftp::transfer`). Each
//!   such wait is bounded by the session's watchdog.
//! - A big spool file is removed there once its upload is confirmed: the kernel takes ~70 ms a
//!   GiB to give back its pages, which the `close` or `fsync` that uploaded it need not wait for
//!   (`fs::spool`).
//!
//! Several threads, because ending a transfer can also open the session's next data connection:
//! one thread doing that for every session in turn made random readers wait for connections on a
//! slow link.

use std::sync::{mpsc, Arc, Mutex, OnceLock};

use log::debug;

use crate::sync::lock;

/// As many threads as the default pool had connections.
const THREADS: usize = 4;

/// A piece of work, run once.
pub type Job = Box<dyn FnOnce() + Send>;

/// Runs `job` on a background thread (or here, if no thread could be started).
pub fn later(job: Job) {
    static QUEUE: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let tx = QUEUE.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..THREADS {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("ftpfs-later-{i}"))
                .spawn(move || loop {
                    let next = lock(&rx).recv();
                    match next {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
            if let Err(e) = spawned {
                debug!("no background thread ({e})");
            }
        }
        Mutex::new(tx)
    });
    let sent = lock(tx).send(job);
    if let Err(mpsc::SendError(job)) = sent {
        job();
    }
}
