//! Going to the background the way mount(8) and fstab expect: the process forks before any thread
//! exists; the parent waits on a pipe and exits 0 only when the child says the mount is ready, or
//! prints the child's one-line error and exits 1. The child detaches (new session, cwd `/`, standard
//! streams to /dev/null once mounted, logging to syslog) and serves the mount.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, IntoRawFd};

/// The child's end of the pipe to the waiting parent.
pub struct Readiness {
    pipe: Option<File>,
}

impl Readiness {
    /// For foreground runs: nobody waits.
    pub fn none() -> Readiness {
        Readiness { pipe: None }
    }

    /// The mount is ready: the parent exits 0. Standard streams go to /dev/null unless `keep_stderr`.
    pub fn ready(&mut self, keep_stderr: bool) {
        if let Some(mut p) = self.pipe.take() {
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
    let Ok(null) = File::options().read(true).write(true).open("/dev/null") else {
        return;
    };
    let fd = null.into_raw_fd();
    // SAFETY: dup2 onto the standard descriptors; `fd` is a valid descriptor we own.
    unsafe {
        libc::dup2(fd, 0);
        libc::dup2(fd, 1);
        if !keep_stderr {
            libc::dup2(fd, 2);
        }
        libc::close(fd);
    }
}

/// Forks. In the parent this never returns: it waits for the child's word and exits. In the child it
/// returns the pipe to report through. Must be called while the process has a single thread.
pub fn background() -> Result<Readiness, String> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 fills two descriptors; fork in a single-threaded process is sound.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: see above.
    let (read_end, write_end) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    // SAFETY: no other thread exists yet (documented precondition).
    match unsafe { libc::fork() } {
        -1 => Err(format!("fork: {}", std::io::Error::last_os_error())),
        0 => {
            drop(read_end);
            // SAFETY: plain system calls without pointers.
            unsafe {
                libc::setsid();
            }
            let _ = std::env::set_current_dir("/");
            Ok(Readiness {
                pipe: Some(write_end),
            })
        }
        _child => {
            drop(write_end);
            wait_for_child(read_end)
        }
    }
}

fn wait_for_child(mut pipe: File) -> ! {
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
