//! pyftpdlib (Debian's `python3-pyftpdlib`) as a test server: its command-line server
//! (`python3 -m pyftpdlib`, in the foreground) on 127.0.0.1, serving the served directory as `/`
//! with write access to one virtual user with the test user's name and password. It runs as root
//! and writes files as root. Debian's own python3 runs it, not whichever python3 is first on PATH.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::daemon::{debian_file, Daemon};
use super::{TEST_PASSWORD, TEST_USER};

/// A running pyftpdlib; killed when dropped.
pub struct Pyftpdlib {
    pub root: PathBuf,
    daemon: Daemon,
}

impl Pyftpdlib {
    /// Serves `root`; returns once pyftpdlib greets.
    pub fn start(root: &Path) -> Pyftpdlib {
        let python = debian_file("python3-minimal", "/usr/bin/python3");
        // Only to fail with the package's name when it is missing.
        debian_file(
            "python3-pyftpdlib",
            "/usr/lib/python3/dist-packages/pyftpdlib/__init__.py",
        );
        let root = root.canonicalize().expect("the served directory exists");
        // pyftpdlib's greeting is fixed ("220 pyftpdlib 1.5.7 ready.").
        let daemon = Daemon::start("pyftpdlib", "pyftpdlib", |_dir, port, pasv| {
            let mut cmd = Command::new(&python);
            cmd.args(["-m", "pyftpdlib", "-i", "127.0.0.1", "-w"])
                .arg("-p")
                .arg(port.to_string())
                .arg("-r")
                .arg(format!("{}-{}", pasv.0, pasv.1))
                .arg("-d")
                .arg(&root)
                .args(["-u", TEST_USER, "-P", TEST_PASSWORD]);
            cmd
        });
        Pyftpdlib { root, daemon }
    }
}

logs_in_the_test_user!(Pyftpdlib, |s| s.daemon.port);
