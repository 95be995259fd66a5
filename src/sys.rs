//! Safe wrappers around the few system calls std does not offer, each with its reason. Every
//! `unsafe` block of ftpfs is in this module.
//!
//! Most go through nix, whose functions are safe already (user and group lookups, signal masks,
//! setsid, dup2, poll, umount). Three things no crate can make safe stay `unsafe` here, each behind
//! a check that makes its wrapper sound: fork, refused unless the process has a single thread,
//! taking ownership of the /dev/fuse descriptor that mount.fuse3 passes as `/dev/fd/N`, allowed
//! once, and joining fuser's session thread without the unmount its handle does when dropped.

use std::fs::File;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::{ForkResult, Group, User};

/// The real user id: the owner shown for every file unless `-o uid=` says otherwise. std has no
/// getuid.
pub fn real_uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

/// The real group id: the group shown for every file unless `-o gid=` says otherwise. std has no
/// getgid.
pub fn real_gid() -> u32 {
    nix::unistd::getgid().as_raw()
}

/// Whether the process has root's rights (effective uid 0): fuser then calls mount(2) itself
/// instead of fusermount3, which changes how some mount options are passed. std has no geteuid.
pub fn effective_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The uid of user `name`; `None` if the system knows no such user, an error if the lookup itself
/// failed (a name service that did not answer). std has no user database: the C library's
/// getpwnam_r asks every configured name service (files, LDAP, systemd-userdb...), as `chown`
/// does. nix retries with a larger buffer while the answer does not fit (ERANGE), so a large
/// entry is not taken for a missing one.
pub fn user_id(name: &str) -> io::Result<Option<u32>> {
    Ok(User::from_name(name)?.map(|u| u.uid.as_raw()))
}

/// The gid of group `name`, as `user_id` finds a user (getgrnam_r). A group with many members is
/// the usual entry too large for a first buffer.
pub fn group_id(name: &str) -> io::Result<Option<u32>> {
    Ok(Group::from_name(name)?.map(|g| g.gid.as_raw()))
}

/// Which side of a fork this process is.
#[derive(Debug, PartialEq, Eq)]
pub enum Forked {
    Parent,
    Child,
}

/// Forks this process; refused unless it has a single thread. std only starts other programs, and
/// going to the background once the mount is ready needs this same process on both sides. With a
/// second thread the child could inherit a lock (the allocator's, say) held by a thread it lacks,
/// and hang on it.
pub fn fork_single_threaded() -> io::Result<Forked> {
    let threads = std::fs::read_dir("/proc/self/task")?.count();
    if threads != 1 {
        return Err(io::Error::other(format!(
            "{threads} threads are running; only a single-threaded process may fork"
        )));
    }
    // SAFETY: the process has one thread (counted above; only this thread could have started
    // another since), so no lock is held by a thread the child lacks: the child may allocate and
    // lock like any program.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { .. } => Ok(Forked::Parent),
        ForkResult::Child => Ok(Forked::Child),
    }
}

/// Starts a new session without a controlling terminal, so that the terminal's hangup does not
/// reach a process in the background. std has no setsid.
pub fn new_session() -> io::Result<()> {
    nix::unistd::setsid()?;
    Ok(())
}

/// Points standard input and output at `file`, and standard error too unless `keep_stderr`: a
/// process in the background puts them on /dev/null. std cannot replace the descriptors behind
/// its standard streams (dup2).
pub fn redirect_standard_streams(file: &File, keep_stderr: bool) -> io::Result<()> {
    nix::unistd::dup2_stdin(file)?;
    nix::unistd::dup2_stdout(file)?;
    if !keep_stderr {
        nix::unistd::dup2_stderr(file)?;
    }
    Ok(())
}

/// The signals that end a mount (SIGINT, SIGTERM, SIGHUP), blocked so that one thread waits for
/// them (sigwait) instead of their killing the process mid-operation. std handles no signals.
#[derive(Clone, Copy)]
pub struct StopSignals(SigSet);

impl StopSignals {
    /// Blocks the stop signals in the calling thread, and so in every thread it starts afterwards.
    pub fn block() -> io::Result<StopSignals> {
        let mut set = SigSet::empty();
        for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            set.add(s);
        }
        set.thread_block()?;
        Ok(StopSignals(set))
    }

    /// Waits until one of the stop signals arrives; its name (`SIGTERM`).
    pub fn wait(&self) -> io::Result<&'static str> {
        Ok(self.0.wait()?.as_str())
    }
}

/// Takes ownership of descriptor `fd`, which mount.fuse3 -o drop_privileges opened on /dev/fuse
/// and mounted before it started ftpfs with the mountpoint `/dev/fd/N`. std takes a descriptor
/// number only through the unsafe `from_raw_fd`, sound only for a descriptor nothing else owns:
/// this one must be open on /dev/fuse (`mount::check_fuse_fd`), and is taken once at most.
pub fn take_fuse_fd(fd: RawFd) -> Result<OwnedFd, String> {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    crate::mount::check_fuse_fd(fd)?;
    if TAKEN.swap(true, Ordering::SeqCst) {
        return Err(format!(
            "mountpoint /dev/fd/{fd}: a /dev/fuse descriptor was taken already"
        ));
    }
    // SAFETY: `fd` is open on /dev/fuse (checked above) and has no other owner: ftpfs itself opens
    // /dev/fuse only through fuser mounting on a directory, which a /dev/fd mountpoint excludes,
    // and this function hands out such a descriptor once (TAKEN).
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Waits for the end of fuser's session thread and returns how it ended, without unmounting.
/// fuser 0.18 unmounts the mountpoint's *path* when the handle drops, after deciding that the
/// mount is still there from a poll of /dev/fuse that it misreads (POLLERR, which means the
/// kernel ended the connection, counts as mounted). So after an unmount by someone else (`umount`,
/// an automount's idle timeout) it unmounted whatever the path led to next: the autofs or
/// systemd automount trigger mounted there, which broke the next access. ftpfs unmounts only on a
/// stop signal, itself (`unmount`), so the handle's own unmount is never wanted.
pub fn join_session(session: fuser::BackgroundSession) -> io::Result<()> {
    let session = ManuallyDrop::new(session);
    // SAFETY: `session` is never dropped (ManuallyDrop) nor used after this read, so the join
    // handle is moved out exactly once; the rest of the handle (the mount record whose drop would
    // unmount, and a sender holding the /dev/fuse descriptor) is leaked on purpose until the
    // process exits, which it does once the core has saved what it holds.
    let thread = unsafe { std::ptr::read(&session.guard) };
    thread
        .join()
        .map_err(|_| io::Error::other("the FUSE session thread panicked"))?
}

/// Unmounts the FUSE mount at `path` (on a stop signal): with umount(2) as root; a user may not,
/// so then through the setuid `fusermount3 -u -z`, as fuser and libfuse do.
pub fn unmount(path: &Path) -> io::Result<()> {
    match nix::mount::umount(path) {
        Ok(()) => Ok(()),
        Err(Errno::EPERM) => {
            let out = Command::new("fusermount3")
                .args(["-u", "-q", "-z", "--"])
                .arg(path)
                .output()?;
            if out.status.success() {
                Ok(())
            } else {
                let err = String::from_utf8_lossy(&out.stderr);
                Err(io::Error::other(format!("fusermount3 -u: {}", err.trim())))
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Waits until `fd` is ready for `events` (`libc::POLLIN`, `libc::POLLOUT`), at most `timeout`:
/// whether it is (false: the time ran out). A signal's interruption is waited through. std has
/// no poll: a listener's accept with a deadline and a connect left to complete in the background
/// need one.
pub fn poll_ready(fd: &impl AsFd, events: i16, timeout: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut fds = [PollFd::new(
            fd.as_fd(),
            PollFlags::from_bits_truncate(events),
        )];
        let left = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        match nix::poll::poll(&mut fds, left) {
            Ok(n) => return Ok(n > 0),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The bytes waiting on `socket`, peeked at without waiting and without taking them: `WouldBlock`
/// when there are none. One `recv(MSG_PEEK | MSG_DONTWAIT)`, where std's `peek` on a socket made
/// non-blocking for the moment costs three system calls (and std has no flags).
pub fn peek_now(socket: &std::net::TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call, and the
    // descriptor is borrowed from a live socket.
    let n = unsafe {
        libc::recv(
            socket.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Overwrites every `:SECRET@` in this process's command line (what `ps` and /proc/PID/cmdline
/// show other users) with as many `*`s: a password given in a URL on the command line. Returns
/// how many were found. std has no handle on the argument memory, and changing its bounds
/// (prctl PR_SET_MM) needs privileges; the kernel names the range (/proc/self/stat, fields 48
/// and 49) and lets a process write its own memory through /proc/self/mem, which needs no
/// `unsafe`: nothing in ftpfs holds a reference into that memory (std reads it only when asked
/// for the arguments, and clap has copied them). Until this runs, the secret was visible.
pub fn hide_in_cmdline(secret: &[u8]) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The command name (field 2) may hold spaces: count the fields after its closing ')'.
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| io::Error::other("unreadable /proc/self/stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| -> io::Result<u64> {
        // `after` starts at field 3.
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other("no argument range in /proc/self/stat"))
    };
    let (start, end) = (field(48)?, field(49)?);
    let mem = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/proc/self/mem")?;
    let mut args = vec![0u8; end.saturating_sub(start) as usize];
    mem.read_exact_at(&mut args, start)?;
    let found = mask(&mut args, secret);
    if found > 0 {
        mem.write_all_at(&args, start)?;
    }
    Ok(found)
}

/// Replaces the `secret` of every `:secret@` in `text` with `*`s; how many there were.
fn mask(text: &mut [u8], secret: &[u8]) -> usize {
    if secret.is_empty() {
        return 0;
    }
    let mut pattern = Vec::with_capacity(secret.len() + 2);
    pattern.push(b':');
    pattern.extend_from_slice(secret);
    pattern.push(b'@');
    let mut found = 0;
    let mut i = 0;
    while i + pattern.len() <= text.len() {
        if text[i..].starts_with(&pattern) {
            text[i + 1..i + 1 + secret.len()].fill(b'*');
            found += 1;
            i += pattern.len();
        } else {
            i += 1;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_between_colon_and_at_are_masked() {
        let mut args = b"ftpfs\0-o\0proxy=socks5://bob:pw@h:1080,x=pw\0ftp://u:pw@h/\0".to_vec();
        assert_eq!(mask(&mut args, b"pw"), 2);
        assert_eq!(
            args,
            b"ftpfs\0-o\0proxy=socks5://bob:**@h:1080,x=pw\0ftp://u:**@h/\0".to_vec()
        );
        assert_eq!(mask(&mut args, b""), 0);
    }

    #[test]
    fn the_own_command_line_without_the_secret_is_left_as_it_is() {
        // Nothing of this test's arguments is a `:secret@`: the range is read and left as it is.
        let before = std::fs::read("/proc/self/cmdline").unwrap();
        assert_eq!(hide_in_cmdline(b"no-such-secret-in-argv").unwrap(), 0);
        assert_eq!(std::fs::read("/proc/self/cmdline").unwrap(), before);
    }
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

    #[test]
    fn root_and_its_group_are_found_and_strangers_are_not() {
        assert_eq!(user_id("root").unwrap(), Some(0));
        assert_eq!(group_id("root").unwrap(), Some(0));
        assert_eq!(user_id("no-such-user-ftpfs").unwrap(), None);
        assert_eq!(group_id("no-such-group-ftpfs").unwrap(), None);
        assert_eq!(user_id("nul\0inside").unwrap(), None);
    }

    #[test]
    fn fork_is_refused_with_threads_running() {
        // A second thread for sure, whichever thread the harness runs this test on.
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || stopped.recv());
        let e = fork_single_threaded().unwrap_err();
        assert!(e.to_string().contains("threads are running"), "{e}");
        stop.send(()).unwrap();
        other.join().unwrap().unwrap();
    }

    #[test]
    fn a_descriptor_that_is_not_dev_fuse_is_not_taken() {
        let f = File::open("/dev/null").unwrap();
        let e = take_fuse_fd(std::os::fd::AsRawFd::as_raw_fd(&f)).unwrap_err();
        assert!(e.contains("is not /dev/fuse"), "{e}");
    }
}
