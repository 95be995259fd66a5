//! Putting it together: check the mountpoint, log in once (so a bad password or a dead server fails
//! the mount instead of the first `ls`), mount with fuser (or take over a /dev/fuse descriptor that
//! mount.fuse3 mounted), tell the waiting parent, then serve until unmounted or signalled (SIGINT,
//! SIGTERM and SIGHUP unmount cleanly).

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::Arc;

use fuser::{MountOption, SessionACL};
use log::{info, warn};

use crate::config::Config;
use crate::daemon::Readiness;
use crate::fs::FtpFs;
use crate::fuse::FuseAdapter;
use crate::remote::ftp::FtpStore;
use crate::remote::RemoteStore;
use crate::sys::{self, StopSignals};

/// Checks that `path` is a directory we can mount on; the error is one line that names the cause.
pub fn check_mountpoint(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!("mountpoint {} is not a directory", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("mountpoint {} does not exist", path.display()))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Err(format!(
            "mountpoint {} is a stale mount: run fusermount3 -u {}",
            path.display(),
            path.display()
        )),
        Err(e) => Err(format!("mountpoint {}: {e}", path.display())),
    }
}

/// Checks that descriptor `fd` (from a `/dev/fd/N` mountpoint) is open on /dev/fuse.
pub fn check_fuse_fd(fd: i32) -> Result<(), String> {
    let meta = std::fs::metadata(format!("/proc/self/fd/{fd}"))
        .map_err(|e| format!("mountpoint /dev/fd/{fd}: descriptor {fd} is not open ({e})"))?;
    let fuse = std::fs::metadata("/dev/fuse").map_err(|e| format!("/dev/fuse: {e}"))?;
    use std::os::unix::fs::MetadataExt;
    if meta.file_type().is_char_device() && meta.rdev() == fuse.rdev() {
        Ok(())
    } else {
        Err(format!(
            "mountpoint /dev/fd/{fd}: descriptor {fd} is not /dev/fuse (only mount.fuse3 \
             -o drop_privileges passes such a mountpoint)"
        ))
    }
}

/// fuser's configuration: mount options (ignored for a /dev/fuse descriptor mounted already, whose
/// options mount.fuse3 applied), who may use the mount, dispatch threads.
fn fuse_config(cfg: &Config, url: &str) -> fuser::Config {
    let mut fuse_cfg = fuser::Config::default();
    let fsname = if cfg.mount.fsname.is_empty() {
        url
    } else {
        &cfg.mount.fsname
    };
    // nodev and nosuid always, whatever mount.fuse3 adds: the server decides the modes shown, and
    // must not be able to hand out setuid programs or device nodes.
    // The type shows as fuse.ftpfs (findmnt -t, mount -a's check of what is mounted). fuser drops
    // its Subtype option when it calls mount(2) itself (as root), so root passes the kernel's own
    // `subtype=` parameter; without root, fusermount3 takes Subtype.
    let subtype = if sys::effective_root() {
        MountOption::CUSTOM("subtype=ftpfs".into())
    } else {
        MountOption::Subtype("ftpfs".into())
    };
    fuse_cfg.mount_options = vec![
        MountOption::FSName(fsname.to_string()),
        subtype,
        MountOption::NoDev,
        MountOption::NoSuid,
    ];
    if cfg.fs.read_only {
        fuse_cfg.mount_options.push(MountOption::RO);
    }
    if cfg.mount.noexec {
        fuse_cfg.mount_options.push(MountOption::NoExec);
    }
    if cfg.mount.default_permissions {
        fuse_cfg.mount_options.push(MountOption::DefaultPermissions);
    }
    if cfg.mount.allow_other {
        fuse_cfg.acl = SessionACL::All;
    }
    // Enough dispatch threads that reads waiting on the network never block `ls` elsewhere.
    fuse_cfg.n_threads = Some((cfg.remote.max_conns * 2).max(4));
    fuse_cfg
}

/// Mounts `cfg`'s server and serves it until unmounted. `ready` is told once the mount exists.
pub fn run(cfg: Config, ready: &mut Readiness) -> Result<(), String> {
    // SIGINT, SIGTERM and SIGHUP are blocked before any thread exists (the core starts prefetch
    // threads): every thread inherits the mask, so the signals reach only the thread below that
    // waits for them (and unmounts) instead of killing the process mid-mount. A signal before the
    // mount exists is only noticed then, which is bounded by the login timeouts.
    let signals = StopSignals::block().map_err(|e| format!("cannot block signals: {e}"))?;
    let fuse_fd = match cfg.mount.fuse_fd {
        Some(fd) => Some(sys::take_fuse_fd(fd)?),
        None => {
            check_mountpoint(&cfg.mount.mountpoint)?;
            None
        }
    };
    let url = cfg.remote.display_url();
    let store = Arc::new(FtpStore::new(&cfg.remote));
    store.check().map_err(|e| format!("{url}: {e}"))?;
    info!("logged in to {url}");

    let fs = Arc::new(FtpFs::new(Arc::clone(&store), cfg.fs.clone()));
    // What an earlier mount of this server and root left pending (a crash with -o writeback)
    // goes up before anything else can change those files.
    let (recovered, left) = fs.recover_pending();
    if recovered + left > 0 {
        info!(
            "uploads left pending by an earlier mount: {recovered} uploaded, {left} still pending"
        );
    }
    if cfg.fs.writeback {
        // Background uploads use the pool like everything else; two connections stay free for
        // what programs ask meanwhile (listings, reads).
        let workers = cfg.remote.max_conns.saturating_sub(2).max(1);
        fs.start_writeback(workers)
            .map_err(|e| format!("cannot start the writeback threads: {e}"))?;
    }
    let fuse_cfg = fuse_config(&cfg, &url);
    let adapter = FuseAdapter::new(Arc::clone(&fs));
    let session = match fuse_fd {
        Some(fd) => fuser::Session::from_fd(adapter, fd, fuse_cfg.acl, fuse_cfg),
        None => fuser::Session::new(adapter, &cfg.mount.mountpoint, &fuse_cfg),
    }
    .map_err(|e| format!("cannot mount on {}: {e}", cfg.mount.mountpoint.display()))?;
    let owns_mount = cfg.mount.fuse_fd.is_none();
    // The signal thread's own copy: it unmounts by path.
    let mountpoint = cfg.mount.mountpoint.clone();
    let fs_for_signals = Arc::clone(&fs);
    std::thread::Builder::new()
        .name("ftpfs-signals".into())
        .spawn(move || {
            let Ok(sig) = signals.wait() else {
                return;
            };
            if owns_mount {
                info!("signal {sig}: unmounting");
                if let Err(e) = sys::unmount(&mountpoint) {
                    warn!("unmount failed: {e}");
                }
            } else {
                // mount.fuse3 made the mount and this process may not undo it (no privileges):
                // save what is unsaved and go; the mount answers ENOTCONN until `umount`.
                warn!("signal {sig}: exiting; the mount stays (ENOTCONN) until umount");
                let unsaved = fs_for_signals.shutdown();
                std::process::exit(i32::from(unsaved > 0));
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    info!("mounted {url} on {}", cfg.mount.mountpoint.display());
    ready.ready(cfg.debug);
    store.warm_up();
    // The session runs in fuser's thread; this one waits for its end (an unmount by anyone), and
    // does not let fuser unmount anything afterwards (sys::join_session says why).
    let served = session
        .spawn()
        .and_then(sys::join_session)
        .map_err(|e| format!("serving the mount failed: {e}"));
    info!("unmounted {}", cfg.mount.mountpoint.display());
    info!("statistics of {url}:\n{}", fs.report().render().trim_end());
    // Data whose upload failed gets a last try; what still fails stays in the cache directory.
    let unsaved = fs.shutdown();
    served?;
    if unsaved > 0 {
        return Err(format!(
            "{unsaved} file(s) could not be saved on the server; their data is kept in {}",
            cfg.fs.cache_dir.display()
        ));
    }
    Ok(())
}
