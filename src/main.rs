//! The `ftpfs` command: parse arguments, set up logging (`logging`), go to the background once the
//! mount is ready, serve.

use clap::Parser;

use ftpfs::cli::{config_from, Cli};
use ftpfs::daemon::{self, Readiness};

fn main() {
    let cli = Cli::parse();
    // Before the options are read, so that their warnings (a password in the URL) and debug notes
    // (ignored mount options) are seen.
    ftpfs::logging::init(cli.debug || cli.verbose);
    let mut cfg = match config_from(cli) {
        Ok(c) => c,
        Err(m) => fail(&m),
    };
    if cfg.probe {
        let store = ftpfs::remote::ftp::FtpStore::new(&cfg.remote);
        let profile = store.profile();
        println!("{}", cfg.remote.display_url());
        print!("{}", profile.render());
        std::process::exit(if profile.usable.is_ok() { 0 } else { 1 });
    }
    if cfg.pending {
        let dir = cfg.fs.journal_dir.clone().unwrap_or_default();
        let found = ftpfs::fs::journal::pending(&dir);
        println!(
            "{}: {} upload(s) pending in {}",
            cfg.remote.display_url(),
            found.len(),
            dir.display()
        );
        for p in &found {
            println!("{}", ftpfs::fs::journal::describe(p));
        }
        std::process::exit(0);
    }
    match cfg.mount.fuse_fd {
        Some(fd) => {
            if let Err(m) = ftpfs::mount::check_fuse_fd(fd) {
                fail(&m);
            }
        }
        None => {
            if let Err(m) = ftpfs::mount::check_mountpoint(&cfg.mount.mountpoint) {
                fail(&m);
            }
            // The child changes directory to `/`: keep a relative mountpoint meaningful.
            if let Ok(abs) = std::fs::canonicalize(&cfg.mount.mountpoint) {
                cfg.mount.mountpoint = abs;
            }
        }
    }
    let mut readiness = if cfg.mount.foreground {
        Readiness::none()
    } else {
        match daemon::background() {
            Ok(r) => r,
            Err(m) => fail(&m),
        }
    };
    if let Err(m) = ftpfs::mount::run(cfg, &mut readiness) {
        readiness.failed(&m);
        std::process::exit(1);
    }
}

/// Says why on stderr (mount(8) shows it) and exits 1 (what `mount -a` and `nofail` look at).
fn fail(message: &str) -> ! {
    eprintln!("ftpfs: {message}");
    std::process::exit(1)
}
