//! The project's own small FTP server, for the demo (scripts/demo.sh) and for trying ftpfs by
//! hand: serves one directory with libunftp on 127.0.0.1 for one user until killed.
//!
//!     cargo run --example ftpserver -- --root DIR [--port N] [--user U --password P]
//!
//! Prints exactly one line to stdout, `listening on 127.0.0.1:PORT`, once the server answers
//! connections with its greeting (port 0, the default, picks a free port). It is the tests'
//! server (tests/support/unftp.rs), included by path, so that there is one implementation.
//! RUST_LOG=debug shows libunftp's log on stderr.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::path::PathBuf;

use clap::Parser;

use support::unftp::Unftp;

/// Serve DIR over FTP on 127.0.0.1 for one user.
#[derive(Parser)]
#[command(name = "ftpserver")]
struct Args {
    /// Directory to serve (the FTP root).
    #[arg(long)]
    root: PathBuf,
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// User name to accept.
    #[arg(long, default_value = "alice", requires = "password")]
    user: String,
    /// That user's password.
    #[arg(long, default_value = "secret", requires = "user")]
    password: String,
}

fn main() {
    // libunftp logs through the `log` facade; without this it would be silent.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    if !args.root.is_dir() {
        eprintln!("ftpserver: --root {}: not a directory", args.root.display());
        std::process::exit(2);
    }
    let server = match Unftp::try_start_with(&args.root, args.port, &args.user, &args.password) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("ftpserver: {e}");
            std::process::exit(1);
        }
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on 127.0.0.1:{}", server.port).unwrap();
    out.flush().unwrap();
    drop(out);
    // Serve until killed: the server runs on its own thread.
    loop {
        std::thread::park();
    }
}
