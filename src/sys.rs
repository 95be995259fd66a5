//! Safe wrappers around the few system calls std does not offer, each with its reason. Every
//! `unsafe` block of ftpfs is in this module.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
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

/// The real user id of this process (the mounting user, the owner shown by default). std offers
/// ids only of files.
pub fn getuid() -> u32 {
    // SAFETY: getuid cannot fail and touches no memory.
    unsafe { libc::getuid() }
}

/// The real group id of this process.
pub fn getgid() -> u32 {
    // SAFETY: getgid cannot fail and touches no memory.
    unsafe { libc::getgid() }
}

/// The effective user id: root mounts with mount(2) itself, anybody else through fusermount3.
pub fn geteuid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// The kernel's id of the calling thread (what FUSE reports as a request's pid).
pub fn gettid() -> u32 {
    // SAFETY: gettid cannot fail and touches no memory.
    unsafe { libc::gettid() as u32 }
}

/// The uid of user `name`, through the C library so that every configured name service (files,
/// LDAP, systemd-userdb...) answers, as for `chown`. std has no user database.
pub fn user_id(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    lookup(|buf| {
        // SAFETY: every pointer is to a live local; getpwnam_r writes only into `pwd`, `buf`
        // (of the length given) and `found`.
        unsafe {
            let mut pwd: libc::passwd = std::mem::zeroed();
            let mut found: *mut libc::passwd = std::ptr::null_mut();
            let rc = libc::getpwnam_r(
                name.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut found,
            );
            (rc, (!found.is_null()).then_some(pwd.pw_uid))
        }
    })
}

/// The gid of group `name` (see `user_id`).
pub fn group_id(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    lookup(|buf| {
        // SAFETY: as in `user_id`, with getgrnam_r.
        unsafe {
            let mut grp: libc::group = std::mem::zeroed();
            let mut found: *mut libc::group = std::ptr::null_mut();
            let rc = libc::getgrnam_r(
                name.as_ptr(),
                &mut grp,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut found,
            );
            (rc, (!found.is_null()).then_some(grp.gr_gid))
        }
    })
}

/// Runs a `get*nam_r` call with a buffer that grows while the entry does not fit (ERANGE: a group
/// with many members), up to 1 MiB.
fn lookup(call: impl Fn(&mut [u8]) -> (i32, Option<u32>)) -> Option<u32> {
    let mut size = 16 << 10;
    loop {
        let mut buf = vec![0u8; size];
        match call(&mut buf) {
            (0, id) => return id,
            (libc::ERANGE, _) if size < 1 << 20 => size *= 4,
            _ => return None,
        }
    }
}

/// What `fork` left this process as.
pub enum Forked {
    Parent,
    Child,
}

/// Forks. Refused unless the process has a single thread: a child of a threaded process may find
/// locks held by threads that do not exist in it (std has no fork).
pub fn fork() -> std::io::Result<Forked> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse::<u32>().ok());
    if threads != Some(1) {
        return Err(std::io::Error::other(
            "fork refused: the process already has more than one thread",
        ));
    }
    // SAFETY: the process has one thread (checked above): the child is a copy of it alone.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        _ => Ok(Forked::Parent),
    }
}

/// Makes this process the leader of a new session, without a controlling terminal (a daemon must
/// not get the terminal's signals). std has no setsid.
pub fn setsid() -> std::io::Result<()> {
    // SAFETY: setsid takes no arguments and touches no memory.
    if unsafe { libc::setsid() } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Points standard input and output, and standard error unless `keep_stderr`, at `target` (once
/// the mount is in the background: /dev/null). std cannot replace descriptors 0-2.
pub fn redirect_standard_streams(target: &impl AsRawFd, keep_stderr: bool) -> std::io::Result<()> {
    let fd = target.as_raw_fd();
    let streams: &[RawFd] = if keep_stderr { &[0, 1] } else { &[0, 1, 2] };
    for &to in streams {
        // SAFETY: dup2 of a descriptor we hold onto a standard descriptor; no memory involved.
        if unsafe { libc::dup2(fd, to) } == -1 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Takes descriptor `fd`, inherited from the process that started us (`/dev/fd/N` from
/// mount.fuse3 -o drop_privileges), as ours: closed when the returned value is dropped. It must
/// be open (checked: fcntl answers for it), and nothing else in this process may use it, which
/// holds for an inherited descriptor named on the command line and taken once at startup.
pub fn take_inherited_fd(fd: RawFd) -> std::io::Result<OwnedFd> {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: open (checked above) and owned by nobody else in this process (see the doc).
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The signals that unmount cleanly (SIGINT, SIGTERM, SIGHUP), blocked in the calling thread and
/// so in every thread it starts, so that only `wait` sees them. std has no signal masks.
pub struct StopSignals(libc::sigset_t);

impl StopSignals {
    /// Blocks them in the calling thread (call before any other thread exists).
    pub fn block() -> StopSignals {
        // SAFETY: sigset manipulation on a local value; pthread_sigmask on the calling thread.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGHUP);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            StopSignals(set)
        }
    }

    /// Waits for one of them; returns its number (`None` if the wait failed).
    pub fn wait(&self) -> Option<i32> {
        let mut sig = 0;
        // SAFETY: sigwait on a set built by `block`; writes only `sig`.
        (unsafe { libc::sigwait(&self.0, &mut sig) } == 0).then_some(sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn users_and_groups_are_looked_up_by_name() {
        assert_eq!(user_id("root"), Some(0));
        assert_eq!(group_id("root"), Some(0));
        assert_eq!(user_id("no-such-user-ftpfs"), None);
        assert_eq!(group_id("no-such-group-ftpfs"), None);
        assert_eq!(user_id("nul\0inside"), None);
    }

    #[test]
    fn a_lookup_that_does_not_fit_gets_a_larger_buffer() {
        let sizes = std::cell::RefCell::new(Vec::new());
        let id = lookup(|buf| {
            sizes.borrow_mut().push(buf.len());
            if buf.len() < 200 << 10 {
                (libc::ERANGE, None)
            } else {
                (0, Some(7))
            }
        });
        assert_eq!(id, Some(7));
        assert_eq!(*sizes.borrow(), [16 << 10, 64 << 10, 256 << 10]);
        // ERANGE beyond the bound, or another error: no such name.
        assert_eq!(lookup(|_| (libc::ERANGE, None)), None);
        assert_eq!(lookup(|_| (libc::EIO, None)), None);
    }

    #[test]
    fn fork_is_refused_in_a_threaded_process() {
        // The test harness runs tests on threads of their own.
        assert!(fork().is_err());
    }

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
