//! Safe wrappers around the few system calls std does not offer, each with its reason. Every
//! `unsafe` block of ftpfs is in this module.

use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// Waits until `fd` is ready for `events` (`libc::POLLIN`, `libc::POLLOUT`), at most `timeout`:
/// whether it is (false: the time ran out). A signal's interruption is waited through. std has
/// no poll: a listener's accept with a deadline and a connect left to complete in the background
/// need one.
pub fn poll_ready(fd: &impl AsRawFd, events: i16, timeout: Duration) -> std::io::Result<bool> {
    let fd: RawFd = fd.as_raw_fd();
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the duration of the call.
        match unsafe { libc::poll(&mut pfd, 1, ms) } {
            n if n > 0 => return Ok(true),
            0 => return Ok(false),
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn poll_tells_readable_from_quiet() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        let t = Instant::now();
        assert!(!poll_ready(&s, libc::POLLIN, Duration::from_millis(100)).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(90));
        c.write_all(b"x").unwrap();
        assert!(poll_ready(&s, libc::POLLIN, Duration::from_secs(5)).unwrap());
        assert!(poll_ready(&c, libc::POLLOUT, Duration::from_secs(5)).unwrap());
    }
}
