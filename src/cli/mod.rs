//! The command line, turned into a plain `Config`: the clap definitions and the checks across
//! options here, each `-o` option in `options`, the URL in `url`. This is the only module that
//! knows clap; nothing here touches the network.

mod options;
mod url;

pub use options::{OptionDoc, IGNORED_OPTIONS, MOUNT_OPTIONS};

use std::path::PathBuf;

use clap::Parser;

use crate::config::{Config, DataMode, ProxyConfig, TlsConfig, TlsMode};
use crate::credentials;
use crate::remote::ftp::tls::ca_file_roots;
use options::{apply_option, options_help, Parsed};
use url::{ProxyUrl, Target};

/// Mount an FTP server as a local folder.
#[derive(Parser, Debug)]
#[command(
    name = "ftpfs",
    version,
    about,
    long_about = LONG_ABOUT,
    after_long_help = options_help()
)]
pub struct Cli {
    /// The server and directory to mount: ftp://[user[:password]@]host[:port][/path]; ftpes://
    /// for explicit FTPS (AUTH TLS), ftps:// for implicit FTPS (port 990 by default).
    pub url: String,
    /// The directory to mount it on (must exist), or /dev/fd/N: a /dev/fuse descriptor that
    /// mount.fuse3 -o drop_privileges mounted already.
    #[arg(required_unless_present_any = ["probe", "pending"])]
    pub mountpoint: Option<PathBuf>,
    /// Mount nothing: connect, log in, and print what ftpfs detects on the server and will use
    /// (FEAT, listing command, data connections, TLS, SITE CHMOD, the time zone of LIST dates,
    /// how many connections it allows). Exits 0 if the server can be mounted.
    #[arg(long)]
    pub probe: bool,
    /// Mount nothing: list the uploads that a mount of this server and directory with -o
    /// writeback left pending when it ended without uploading them (a crash, kill -9, a power
    /// cut). The next mount uploads them.
    #[arg(long)]
    pub pending: bool,
    /// Mount options, comma-separated (repeatable); see MOUNT OPTIONS (--help).
    #[arg(short = 'o', value_name = "OPTIONS")]
    pub options: Vec<String>,
    /// Stay in the foreground (do not return once mounted).
    #[arg(short = 'f')]
    pub foreground: bool,
    /// Debug logging; implies -f.
    #[arg(short = 'd')]
    pub debug: bool,
    /// Debug logging (same as -d, without staying in the foreground).
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
}

const LONG_ABOUT: &str =
    "Mount an FTP server as a local folder. ftpfs logs in, mounts, and returns \
once the mount is ready (exit 0), or prints one line naming the cause and exits 1. It also runs as \
mount(8)'s helper: `mount -t fuse.ftpfs ftp://user@host/dir /mnt/x -o OPTIONS` and fstab lines of \
type fuse.ftpfs go through mount.fuse3, which runs `ftpfs SOURCE MOUNTPOINT -o OPTIONS`. Unmount \
with `umount` or `fusermount3 -u`.";

/// Parses and checks everything the user gave and finds the password (see `credentials`).
pub fn config_from(cli: Cli) -> Result<Config, String> {
    let mut p = Parsed {
        cfg: Config::default(),
        credentials: None,
        default_permissions: None,
        uid: None,
        gid: None,
        tls: None,
        proxy: None,
    };
    for opt in cli.options.iter().flat_map(|o| o.split(',')) {
        apply_option(&mut p, opt.trim())?;
    }
    let mut cfg = p.cfg;
    let target = Target::parse(&cli.url)?;
    let home_netrc = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".netrc"));
    let resolved = credentials::resolve(credentials::Sources {
        host: &target.host,
        url_user: (!target.user.is_empty()).then_some(target.user.as_str()),
        url_password: target.password.as_deref(),
        credentials_file: p.credentials.as_deref(),
        env_password: std::env::var("FTPFS_PASSWORD").ok(),
        netrc: home_netrc.as_deref(),
        // --pending connects nowhere: it needs the user (the journal is per user), not a password.
        prompt: if cli.pending {
            None
        } else {
            credentials::terminal_prompt()
        },
    });
    let (user, password) = match resolved {
        Err(_) if cli.pending && !target.user.is_empty() => {
            (target.user.clone(), crate::config::Secret::new(""))
        }
        other => other?,
    };
    cfg.remote.tls.mode = tls_mode(&target.scheme, target.scheme_mode, p.tls)?;
    // The mount process works from `/` once in the background: keep a relative path meaningful.
    if let Some(path) = cfg.remote.tls.cafile.take() {
        cfg.remote.tls.cafile = Some(std::path::absolute(&path).unwrap_or(path));
    }
    check_tls_options(&cfg.remote.tls)?;
    cfg.remote.host = target.host;
    cfg.remote.port = target.port.unwrap_or(cfg.remote.tls.mode.default_port());
    cfg.remote.user = user;
    cfg.remote.password = password;
    cfg.remote.path = target.path;
    if let Some(raw) = &p.proxy {
        cfg.remote.proxy = Some(proxy(raw, p.credentials.as_deref(), cfg.remote.data_mode)?);
    }

    cfg.probe = cli.probe;
    cfg.pending = cli.pending;
    cfg.fs.journal_dir = Some(crate::fs::journal::dir_for(
        &cfg.fs.cache_dir,
        &cfg.remote.display_url(),
    ));
    let mountpoint = cli.mountpoint.unwrap_or_default();
    cfg.mount.fuse_fd = fuse_fd_of(&mountpoint);
    cfg.mount.mountpoint = mountpoint;
    cfg.mount.foreground = cli.foreground || cli.debug;
    cfg.mount.default_permissions = p.default_permissions.unwrap_or(cfg.mount.allow_other);
    if cfg.mount.fuse_fd.is_some() && cfg.mount.allow_other && p.default_permissions.is_none() {
        // mount.fuse3 made the mount with exactly the options written, so the implied
        // default_permissions would be missing: every user would get the mounting user's rights.
        return Err(
            "with a /dev/fd mountpoint (mount.fuse3 -o drop_privileges) and allow_other, \
             write default_permissions (or no_default_permissions) in the options: mount.fuse3 \
             made the mount and applies only the options written; umount it and mount again"
                .into(),
        );
    }
    cfg.debug = cli.debug || cli.verbose;
    cfg.fs.timeout = cfg.remote.timeout;
    // Keep at least one connection for the reader itself.
    cfg.fs.prefetch_workers = (cfg.remote.max_conns - 1).min(7);
    cfg.fs.uid = p.uid.unwrap_or_else(crate::sys::real_uid);
    cfg.fs.gid = p.gid.unwrap_or_else(crate::sys::real_gid);
    Ok(cfg)
}

/// The proxy of `-o proxy=` (written `raw`) with its login (see `credentials::proxy_login`). A
/// password in the URL is hidden from the process list at once. Active mode cannot go through a
/// proxy, which carries only the connections ftpfs opens.
fn proxy(
    raw: &str,
    credentials: Option<&std::path::Path>,
    data_mode: DataMode,
) -> Result<ProxyConfig, String> {
    let url = ProxyUrl::parse(raw)?;
    if let Some(secret) = &url.raw_password {
        match crate::sys::hide_in_cmdline(secret.as_bytes()) {
            Ok(_) => {}
            Err(e) => log::warn!("could not hide the proxy password from the process list: {e}"),
        }
    }
    if let DataMode::Active { .. } = data_mode {
        return Err(
            "options active and active_addr cannot go with proxy=: in active mode the server \
             opens the data connections to ftpfs, and a proxy carries only the connections \
             ftpfs opens (drop active: passive mode goes through the proxy)"
                .into(),
        );
    }
    let file = match credentials {
        Some(path) => Some((path, credentials::read_credentials_file(path)?)),
        None => None,
    };
    let login = credentials::proxy_login(
        url.user.as_deref(),
        url.password.as_deref(),
        file.as_ref().map(|(path, f)| (*path, f)),
    )?;
    let (user, password) = match login {
        Some((u, p)) => (Some(u), Some(p)),
        None => (None, None),
    };
    Ok(ProxyConfig {
        kind: url.kind,
        host: url.host,
        port: url.port,
        user,
        password,
    })
}

/// The TLS mode: the URL's scheme, or `-o tls=` with an ftp:// URL. A `tls` option that
/// contradicts an ftpes:// or ftps:// URL is refused rather than guessed at.
fn tls_mode(
    scheme: &str,
    from_scheme: Option<TlsMode>,
    from_option: Option<TlsMode>,
) -> Result<TlsMode, String> {
    match (from_scheme, from_option) {
        (Some(s), Some(o)) if s != o => Err(format!(
            "option tls={} contradicts the {scheme}:// URL (use ftp:// with -o tls=..., or drop \
             the option)",
            tls_name(o)
        )),
        (Some(m), _) | (None, Some(m)) => Ok(m),
        (None, None) => Ok(TlsMode::None),
    }
}

fn tls_name(mode: TlsMode) -> &'static str {
    match mode {
        TlsMode::None => "none",
        TlsMode::Explicit => "explicit",
        TlsMode::Implicit => "implicit",
    }
}

/// cafile and no_verify only make sense with TLS, and not together; the CA file must be readable
/// PEM now, not at the first connection.
fn check_tls_options(tls: &TlsConfig) -> Result<(), String> {
    let given = match (&tls.cafile, tls.no_verify) {
        (Some(_), true) => return Err("options cafile and no_verify exclude each other".into()),
        (Some(_), false) => "cafile",
        (None, true) => "no_verify",
        (None, false) => return Ok(()),
    };
    if tls.mode == TlsMode::None {
        return Err(format!(
            "option {given} needs FTPS: use an ftpes:// or ftps:// URL, or -o tls=explicit"
        ));
    }
    if let Some(path) = &tls.cafile {
        ca_file_roots(path)?;
    }
    Ok(())
}

/// `/dev/fd/N` names descriptor N, which mount.fuse3 opened on /dev/fuse and mounted.
fn fuse_fd_of(mountpoint: &std::path::Path) -> Option<i32> {
    let n = mountpoint.to_str()?.strip_prefix("/dev/fd/")?;
    n.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| n.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    pub fn parse(args: &[&str]) -> Result<Config, String> {
        let cli = Cli::try_parse_from(std::iter::once("ftpfs").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        config_from(cli)
    }

    #[test]
    fn schemes_choose_the_tls_mode_and_default_port() {
        let cases = [
            ("ftp://h/", TlsMode::None, 21, "ftp://anonymous@h:21/"),
            (
                "ftpes://u:pw@h/d",
                TlsMode::Explicit,
                21,
                "ftpes://u@h:21/d",
            ),
            ("ftps://u:pw@h", TlsMode::Implicit, 990, "ftps://u@h:990/"),
            (
                "ftps://u:pw@h:2990/",
                TlsMode::Implicit,
                2990,
                "ftps://u@h:2990/",
            ),
            (
                "ftpes://u:pw@[::1]:2121/",
                TlsMode::Explicit,
                2121,
                "ftpes://u@[::1]:2121/",
            ),
        ];
        for (url, mode, port, shown) in cases {
            let c = parse(&[url, "/m"]).unwrap();
            assert_eq!(
                (
                    c.remote.tls.mode,
                    c.remote.port,
                    c.remote.display_url().as_str()
                ),
                (mode, port, shown),
                "{url}"
            );
            assert!(!c.remote.tls.no_verify && c.remote.tls.cafile.is_none());
        }
    }

    #[test]
    fn the_tls_option_applies_to_ftp_urls() {
        let c = parse(&["ftp://u:pw@h/", "/m", "-o", "tls=explicit"]).unwrap();
        assert_eq!((c.remote.tls.mode, c.remote.port), (TlsMode::Explicit, 21));
        assert_eq!(c.remote.display_url(), "ftpes://u@h:21/");
        let c = parse(&["ftp://h/", "/m", "-o", "tls=implicit"]).unwrap();
        assert_eq!((c.remote.tls.mode, c.remote.port), (TlsMode::Implicit, 990));
        let c = parse(&["ftp://h/", "/m", "-o", "tls=none"]).unwrap();
        assert_eq!(c.remote.tls.mode, TlsMode::None);
        // Agreeing with the scheme is fine; contradicting it is refused.
        assert!(parse(&["ftpes://h/", "/m", "-o", "tls=explicit"]).is_ok());
        let e = parse(&["ftps://h/", "/m", "-o", "tls=explicit"]).unwrap_err();
        assert!(
            e.contains("tls=explicit contradicts the ftps:// URL"),
            "{e}"
        );
        let e = parse(&["ftpes://h/", "/m", "-o", "tls=none"]).unwrap_err();
        assert!(e.contains("contradicts"), "{e}");
        let e = parse(&["ftp://h/", "/m", "-o", "tls=maybe"]).unwrap_err();
        assert_eq!(e, "option tls: \"maybe\" is not none, explicit or implicit");
        let e = parse(&["ftp://h/", "/m", "-o", "tls"]).unwrap_err();
        assert!(e.contains("tls needs a value"), "{e}");
    }

    #[test]
    fn cafile_and_no_verify_need_tls_and_a_usable_file() {
        let e = parse(&["ftpes://h/", "/m", "-o", "cafile=/nonexistent/ca.pem"]).unwrap_err();
        assert_eq!(e, "cafile /nonexistent/ca.pem: No such file or directory");
        let e = parse(&["ftpes://h/", "/m", "-o", "cafile=no-such-ca.pem"]).unwrap_err();
        let cwd = std::env::current_dir().unwrap();
        assert!(
            e.starts_with(&format!("cafile {}/no-such-ca.pem:", cwd.display())),
            "a relative CA file is made absolute: {e}"
        );
        let e = parse(&["ftp://h/", "/m", "-o", "cafile=/etc/hostname"]).unwrap_err();
        assert!(e.contains("option cafile needs FTPS"), "{e}");
        let e = parse(&["ftp://h/", "/m", "-o", "no_verify"]).unwrap_err();
        assert!(e.contains("option no_verify needs FTPS"), "{e}");
        let e = parse(&["ftps://h/", "/m", "-o", "no_verify=1"]).unwrap_err();
        assert_eq!(e, "option no_verify takes no value");
        let e = parse(&["ftps://h/", "/m", "-o", "no_verify,cafile=/x.pem"]).unwrap_err();
        assert_eq!(e, "options cafile and no_verify exclude each other");
        let c = parse(&["ftps://h/", "/m", "-o", "no_verify"]).unwrap();
        assert!(c.remote.tls.no_verify);
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "no certificate here\n").unwrap();
        let e = parse(&[
            "ftpes://h/",
            "/m",
            "-o",
            &format!("cafile={}", text.display()),
        ])
        .unwrap_err();
        assert!(e.ends_with("no PEM certificate in it"), "{e}");
    }

    #[test]
    fn tls_urls_never_echo_the_password() {
        let e = parse(&["ftps://u:topsecret@h/", "/m", "-o", "tls=none"]).unwrap_err();
        assert!(!e.contains("topsecret"), "{e}");
        let c = parse(&["ftpes://u:topsecret@h/", "/m"]).unwrap();
        assert_eq!(c.remote.password.expose(), "topsecret");
        assert!(!c.remote.display_url().contains("topsecret"));
        let e = parse(&["sftp://u:topsecret@h/", "/m"]).unwrap_err();
        assert!(
            e.contains("ftp://, ftpes:// or ftps://") && !e.contains("topsecret"),
            "{e}"
        );
    }

    #[test]
    fn full_url_and_options() {
        let c = parse(&[
            "ftp://bob:p%40ss@example.org:2121/pub/dir/",
            "/mnt/x",
            "-o",
            "max_conns=6,dir_cache_ttl=60,attr_timeout=2.5,cache_size=64",
            "-o",
            "timeout=5,allow_other,ro",
        ])
        .unwrap();
        assert_eq!(c.remote.host, "example.org");
        assert_eq!(c.remote.port, 2121);
        assert_eq!(c.remote.user, "bob");
        assert_eq!(c.remote.password.expose(), "p@ss");
        assert_eq!(c.remote.path, "pub/dir");
        assert_eq!(c.remote.max_conns, 6);
        assert_eq!(c.fs.dir_cache_ttl, Duration::from_secs(60));
        assert_eq!(c.fs.attr_timeout, Duration::from_millis(2500));
        assert_eq!(c.fs.cache_size, 64 << 20);
        assert_eq!(c.remote.timeout, Duration::from_secs(5));
        assert!(c.mount.allow_other && c.fs.read_only);
        assert!(!c.mount.foreground);
    }

    #[test]
    fn defaults() {
        let c = parse(&["ftp://anonymous@h", "/mnt/x"]).unwrap();
        assert_eq!(c.remote.port, 21);
        assert_eq!(c.remote.path, "");
        assert_eq!(c.remote.max_conns, 8);
    }

    #[test]
    fn allow_other_brings_default_permissions_unless_turned_off() {
        let c = |o: &str| parse(&["ftp://h/", "/m", "-o", o]).unwrap().mount;
        let m = c("rw");
        assert!(!m.allow_other && !m.default_permissions);
        let m = c("allow_other");
        assert!(m.allow_other && m.default_permissions);
        let m = c("allow_other,no_default_permissions");
        assert!(m.allow_other && !m.default_permissions);
        let m = c("no_default_permissions,allow_other");
        assert!(m.allow_other && !m.default_permissions);
        let m = c("default_permissions");
        assert!(!m.allow_other && m.default_permissions);
        assert!(parse(&["ftp://h/", "/m", "-o", "default_permissions=1"]).is_err());
    }

    #[test]
    fn credentials_option_reads_the_file() {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"username=carol\npassword=from-file\n")
            .unwrap();
        let path = f.path().to_str().unwrap().to_string();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = parse(&["ftp://h/", "/m", "-o", &format!("credentials={path}")]).unwrap();
        assert_eq!(c.remote.user, "carol");
        assert_eq!(c.remote.password.expose(), "from-file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = parse(&["ftp://h/", "/m", "-o", &format!("credentials={path}")]).unwrap_err();
        assert!(e.contains(&format!("chmod 600 {path}")), "{e}");
        assert!(!e.contains("from-file"), "{e}");
    }

    #[test]
    fn a_dev_fd_mountpoint_names_a_fuse_descriptor() {
        let c = parse(&["ftp://h/", "/dev/fd/7"]).unwrap();
        assert_eq!(c.mount.fuse_fd, Some(7));
        for other in ["/mnt/x", "/dev/fd/", "/dev/fd/7x", "/dev/fd/+7"] {
            assert_eq!(parse(&["ftp://h/", other]).unwrap().mount.fuse_fd, None);
        }
        // mount.fuse3 applied the options itself: allow_other needs an explicit choice.
        let e = parse(&["ftp://h/", "/dev/fd/7", "-o", "allow_other"]).unwrap_err();
        assert!(e.contains("default_permissions"), "{e}");
        let c = parse(&[
            "ftp://h/",
            "/dev/fd/7",
            "-o",
            "allow_other,default_permissions",
        ])
        .unwrap();
        assert!(c.mount.default_permissions);
        assert!(parse(&["ftp://h/", "/mnt/x", "-o", "allow_other"]).is_ok());
    }

    #[test]
    fn the_helper_form_takes_options_after_the_mountpoint() {
        // What mount.fuse3 runs: ftpfs SOURCE MOUNTPOINT -o opts.
        let c = parse(&["ftp://u:pw@h:2000/d", "/m", "-o", "ro,max_conns=2"]).unwrap();
        assert!(c.fs.read_only && c.remote.max_conns == 2 && c.remote.port == 2000);
    }

    #[test]
    fn probe_needs_no_mountpoint() {
        let c = parse(&["--probe", "ftp://u:pw@h/"]).unwrap();
        assert!(c.probe);
        assert!(
            parse(&["ftp://u:pw@h/"]).is_err(),
            "a mount needs a mountpoint"
        );
    }

    #[test]
    fn the_proxy_option() {
        use crate::config::ProxyKind;
        let c = parse(&["ftp://u:pw@h/", "/m", "-o", "proxy=socks5://127.0.0.1:1081"]).unwrap();
        let p = c.remote.proxy.unwrap();
        assert_eq!(
            (p.kind, p.host.as_str(), p.port),
            (ProxyKind::Socks5, "127.0.0.1", 1081)
        );
        assert_eq!((p.user, p.password), (None, None));
        assert!(parse(&["ftp://u:pw@h/", "/m"])
            .unwrap()
            .remote
            .proxy
            .is_none());
        let c = parse(&[
            "ftp://u:pw@h/",
            "/m",
            "-o",
            "proxy=http://bob:topsecret@p:3128",
        ])
        .unwrap();
        assert!(!format!("{:?}", c.remote).contains("topsecret"));
        let p = c.remote.proxy.unwrap();
        assert_eq!(p.kind, ProxyKind::HttpConnect);
        assert_eq!(p.password.as_ref().map(|s| s.expose()), Some("topsecret"));
        assert_eq!(p.display(), "http://bob@p:3128");
        for active in ["active", "active_addr=127.0.0.1"] {
            let e = parse(&[
                "ftp://h/",
                "/m",
                "-o",
                &format!("{active},proxy=socks5://127.0.0.1:1080"),
            ])
            .unwrap_err();
            assert!(
                e.contains("cannot go with proxy=") && e.contains("passive"),
                "{e}"
            );
        }
        let e = parse(&["ftp://h/", "/m", "-o", "proxy="]).unwrap_err();
        assert!(e.contains("proxy needs a value"), "{e}");
        let e = parse(&["ftp://h/", "/m", "-o", "proxy=socks5://bob@p:1080"]).unwrap_err();
        assert!(e.contains("no password for proxy user bob"), "{e}");
    }

    #[test]
    fn the_proxy_login_can_come_from_the_credentials_file() {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"password=ftp-pw\nproxy_username=carol\nproxy_password=proxy-pw\n")
            .unwrap();
        let path = f.path().to_str().unwrap().to_string();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let opts = format!("credentials={path},proxy=socks5://127.0.0.1:1080");
        let c = parse(&["ftp://bob@h/", "/m", "-o", &opts]).unwrap();
        assert_eq!(c.remote.password.expose(), "ftp-pw");
        let p = c.remote.proxy.unwrap();
        assert_eq!(p.user.as_deref(), Some("carol"));
        assert_eq!(p.password.unwrap().expose(), "proxy-pw");
    }

    #[test]
    fn debug_implies_foreground() {
        let c = parse(&["ftp://h/", "/m", "-d"]).unwrap();
        assert!(c.mount.foreground && c.debug);
    }
}
