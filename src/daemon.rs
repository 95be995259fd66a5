//! Going to the background the way mount(8) and fstab expect: the process forks before any thread
//! exists; the parent waits on a pipe and exits 0 only when the child says the mount is ready, or
//! prints the child's one-line error and exits 1. The child detaches (cwd `/`; once mounted, a new
//! session, standard streams to /dev/null, logging to syslog) and serves the mount.

use std::fs::File;
use std::io::{PipeReader, PipeWriter, Read, Write};

use crate::sys::{self, Forked};

/// The child's end of the pipe to the waiting parent.
pub struct Readiness {
    pipe: Option<PipeWriter>,
}

impl Readiness {
    /// For foreground runs: nobody waits.
    pub fn none() -> Readiness {
        Readiness { pipe: None }
    }

    /// The mount is ready: the parent exits 0. Standard streams go to /dev/null unless `keep_stderr`.
    pub fn ready(&mut self, keep_stderr: bool) {
        if let Some(mut p) = self.pipe.take() {
            // The new session only now, not at the fork: until the mount is made the child stays in
            // its parent's process group, which autofs knows as its daemon's (the mount helper's
            // group). A process outside it that touches the autofs mountpoint waits for the pending
            // mount, so mounting from a new session would wait for itself (seen in the VM layer).
            // Cannot fail: a forked child leads no process group.
            let _ = sys::new_session();
            let _ = p.write_all(b"\0");
            if !keep_stderr {
                crate::logging::to_syslog();
            }
            redirect_to_null(keep_stderr);
        }
    }

    /// The mount failed: the parent prints `message` and exits 1.
    pub fn failed(&mut self, message: &str) {
        match self.pipe.take() {
            Some(mut p) => {
                let _ = p.write_all(message.as_bytes());
            }
            None => eprintln!("ftpfs: {message}"),
        }
    }
}

fn redirect_to_null(keep_stderr: bool) {
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        let _ = sys::redirect_standard_streams(&null, keep_stderr);
    }
}

/// Forks. In the parent this never returns: it waits for the child's word and exits. In the child it
/// returns the pipe to report through. Refused unless the process has a single thread.
pub fn background() -> Result<Readiness, String> {
    let (read_end, write_end) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
    match sys::fork_single_threaded().map_err(|e| format!("fork: {e}"))? {
        Forked::Child => {
            drop(read_end);
            let _ = std::env::set_current_dir("/");
            Ok(Readiness {
                pipe: Some(write_end),
            })
        }
        Forked::Parent => {
            drop(write_end);
            wait_for_child(read_end)
        }
    }
}

fn wait_for_child(mut pipe: PipeReader) -> ! {
    let mut msg = Vec::new();
    let _ = pipe.read_to_end(&mut msg);
    match msg.first() {
        Some(0) => std::process::exit(0),
        Some(_) => {
            eprintln!("ftpfs: {}", String::from_utf8_lossy(&msg).trim_end());
            std::process::exit(1)
        }
        None => {
            eprintln!("ftpfs: the mount process ended before the mount was ready");
            std::process::exit(1)
        }
    }
}
