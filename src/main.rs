//! The `ftpfs` command: parse arguments, set up logging (`logging`), go to the background once the
//! mount is ready, serve.

use clap::Parser;

use ftpfs::cli::{config_from, Cli};
use ftpfs::daemon::{self, Readiness};

fn main() {
    let cli = Cli::parse();
    let mut cfg = match config_from(cli) {
        Ok(c) => c,
        Err(m) => {
            eprintln!("ftpfs: {m}");
            std::process::exit(1);
        }
    };
    ftpfs::logging::init(cfg.debug);
    if let Err(m) = ftpfs::mount::check_mountpoint(&cfg.mount.mountpoint) {
        eprintln!("ftpfs: {m}");
        std::process::exit(1);
    }
    // The child changes directory to `/`: keep a relative mountpoint meaningful.
    if let Ok(abs) = std::fs::canonicalize(&cfg.mount.mountpoint) {
        cfg.mount.mountpoint = abs;
    }
    let mut readiness = if cfg.mount.foreground {
        Readiness::none()
    } else {
        match daemon::background() {
            Ok(r) => r,
            Err(m) => {
                eprintln!("ftpfs: {m}");
                std::process::exit(1);
            }
        }
    };
    if let Err(m) = ftpfs::mount::run(cfg, &mut readiness) {
        readiness.failed(&m);
        std::process::exit(1);
    }
}
