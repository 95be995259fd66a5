//! Putting it together: check the mountpoint, log in once (so a bad password or a dead server fails
//! the mount instead of the first `ls`), mount with fuser, tell the waiting parent, then serve until
//! unmounted or signalled (SIGINT, SIGTERM and SIGHUP unmount cleanly).

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

/// Blocks SIGINT/SIGTERM/SIGHUP in this thread (and so in every thread started after it); a dedicated
/// thread waits for them with sigwait and unmounts, so the session ends and the process exits cleanly.
/// A signal before the mount exists is only noticed then, which is bounded by the login timeouts.
fn block_signals() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local value; pthread_sigmask on the calling thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Mounts `cfg`'s server and serves it until unmounted. `ready` is told once the mount exists.
pub fn run(cfg: Config, ready: &mut Readiness) -> Result<(), String> {
    // Before any thread exists (the core starts prefetch threads): every thread inherits the mask, so
    // the signals reach only the sigwait thread below instead of killing the process mid-mount.
    let sigs = block_signals();
    check_mountpoint(&cfg.mount.mountpoint)?;
    let url = cfg.remote.display_url();
    let store = Arc::new(FtpStore::new(&cfg.remote));
    store.check().map_err(|e| format!("{url}: {e}"))?;
    info!("logged in to {url}");

    let fs = Arc::new(FtpFs::new(Arc::clone(&store), cfg.fs.clone()));
    let mut fuse_cfg = fuser::Config::default();
    fuse_cfg.mount_options = vec![
        MountOption::FSName(url.clone()),
        MountOption::Subtype("ftpfs".into()),
        MountOption::NoDev,
        MountOption::NoSuid,
    ];
    if cfg.fs.read_only {
        fuse_cfg.mount_options.push(MountOption::RO);
    }
    if cfg.mount.allow_other {
        fuse_cfg.acl = SessionACL::All;
        fuse_cfg.mount_options.push(MountOption::DefaultPermissions);
    }
    // Enough dispatch threads that reads waiting on the network never block `ls` elsewhere.
    fuse_cfg.n_threads = Some((cfg.remote.max_conns * 2).max(4));

    let mut session = fuser::Session::new(
        FuseAdapter::new(Arc::clone(&fs)),
        &cfg.mount.mountpoint,
        &fuse_cfg,
    )
    .map_err(|e| format!("cannot mount on {}: {e}", cfg.mount.mountpoint.display()))?;
    let mut unmounter = session.unmount_callable();
    std::thread::Builder::new()
        .name("ftpfs-signals".into())
        .spawn(move || {
            let mut sig = 0;
            // SAFETY: sigwait on a set built above; writes only `sig`.
            if unsafe { libc::sigwait(&sigs, &mut sig) } == 0 {
                info!("signal {sig}: unmounting");
                if let Err(e) = unmounter.unmount() {
                    warn!("unmount failed: {e}");
                }
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    info!("mounted {url} on {}", cfg.mount.mountpoint.display());
    ready.ready(cfg.debug);
    store.warm_up();
    let served = session
        .run()
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
