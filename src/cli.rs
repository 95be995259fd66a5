//! The command line: clap definitions, the `-o` option list, and URL parsing (`ftp://`, `ftpes://`,
//! `ftps://`), turned into a plain `Config`. This is the only module that knows clap; nothing here
//! touches the network (a CA file is read once to check it).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::config::{Config, TlsConfig, TlsMode};
use crate::credentials;
use crate::remote::tls::ca_file_roots;

/// Mount an FTP server as a local folder.
#[derive(Parser, Debug)]
#[command(name = "ftpfs", version, about)]
pub struct Cli {
    /// The server and directory to mount: ftp://[user[:password]@]host[:port][/path]; ftpes://
    /// for explicit FTPS (AUTH TLS), ftps:// for implicit FTPS (port 990 by default).
    pub url: String,
    /// The directory to mount it on (must exist).
    pub mountpoint: PathBuf,
    /// Mount options, comma-separated (repeatable): max_conns=N, dir_cache_ttl=SECS,
    /// attr_timeout=SECS, cache_size=MIB, timeout=SECS, allow_other, ro, rw, cache_dir=DIR,
    /// atomic_upload=yes|no, tls=none|explicit|implicit, cafile=PATH, no_verify.
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

/// Parses and checks everything the user gave, reading the password from the environment or
/// `~/.netrc` when the URL has none.
pub fn config_from(cli: Cli) -> Result<Config, String> {
    let mut cfg = Config::default();
    let url =
        url::Url::parse(&cli.url).map_err(|e| format!("bad URL {:?}: {e}", redact(&cli.url)))?;
    let scheme_mode = match url.scheme() {
        "ftp" => None,
        "ftpes" => Some(TlsMode::Explicit),
        "ftps" => Some(TlsMode::Implicit),
        _ => {
            return Err(format!(
                "bad URL {:?}: the scheme must be ftp://, ftpes:// or ftps://",
                redact(&cli.url)
            ))
        }
    };
    let host = match url.host() {
        Some(url::Host::Ipv6(a)) => a.to_string(),
        Some(h) => h.to_string(),
        None => return Err(format!("bad URL {:?}: no host", redact(&cli.url))),
    };
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "bad URL {:?}: no query or fragment allowed",
            redact(&cli.url)
        ));
    }
    let user = decode(url.username())?;
    let password = url.password().map(decode).transpose()?;
    let home_netrc = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".netrc"));
    let (user, password) = credentials::resolve(
        &host,
        (!user.is_empty()).then_some(user.as_str()),
        password.as_deref(),
        std::env::var("FTPFS_PASSWORD").ok(),
        home_netrc.as_deref(),
    )?;
    cfg.remote.host = host;
    cfg.remote.user = user;
    cfg.remote.password = password;
    let path = decode(url.path())?;
    if path.contains(['\r', '\n']) {
        return Err("bad URL: the path contains a line break".into());
    }
    cfg.remote.base_path = path.trim_end_matches('/').to_string();

    let mut tls_option = None;
    for opt in cli.options.iter().flat_map(|o| o.split(',')) {
        apply_option(&mut cfg, &mut tls_option, opt.trim())?;
    }
    cfg.remote.tls.mode = tls_mode(url.scheme(), scheme_mode, tls_option)?;
    // The mount process works from `/` once in the background: keep a relative path meaningful.
    if let Some(path) = cfg.remote.tls.cafile.take() {
        cfg.remote.tls.cafile = Some(std::path::absolute(&path).unwrap_or(path));
    }
    check_tls_options(&cfg.remote.tls)?;
    cfg.remote.port = url.port().unwrap_or(cfg.remote.tls.mode.default_port());
    cfg.mount.mountpoint = cli.mountpoint;
    cfg.mount.foreground = cli.foreground || cli.debug;
    cfg.debug = cli.debug || cli.verbose;
    cfg.fs.timeout = cfg.remote.timeout;
    // Keep at least one connection for the reader itself.
    cfg.fs.prefetch_workers = (cfg.remote.max_conns - 1).min(3);
    // SAFETY: getuid/getgid cannot fail and touch no memory.
    cfg.fs.uid = unsafe { libc::getuid() };
    cfg.fs.gid = unsafe { libc::getgid() };
    Ok(cfg)
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

fn apply_option(
    cfg: &mut Config,
    tls_option: &mut Option<TlsMode>,
    opt: &str,
) -> Result<(), String> {
    if opt.is_empty() {
        return Ok(());
    }
    let (key, value) = match opt.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (opt, None),
    };
    match (key, value) {
        ("max_conns", Some(v)) => {
            cfg.remote.max_conns = number(key, v)?;
            if cfg.remote.max_conns == 0 {
                return Err("max_conns must be at least 1".into());
            }
        }
        ("dir_cache_ttl", Some(v)) => cfg.fs.dir_cache_ttl = seconds(key, v)?,
        ("attr_timeout", Some(v)) => cfg.fs.attr_timeout = seconds(key, v)?,
        ("cache_size", Some(v)) => cfg.fs.cache_size = number::<u64>(key, v)? << 20,
        ("timeout", Some(v)) => {
            cfg.remote.timeout = seconds(key, v)?;
            if cfg.remote.timeout.is_zero() {
                return Err("timeout must be at least 1 second".into());
            }
        }
        ("allow_other", None) => cfg.mount.allow_other = true,
        ("ro", None) => cfg.fs.read_only = true,
        ("rw", None) => cfg.fs.read_only = false,
        ("cache_dir", Some(v)) if !v.is_empty() => cfg.fs.cache_dir = v.into(),
        ("atomic_upload", Some("yes" | "1" | "true")) => cfg.fs.atomic_upload = true,
        ("atomic_upload", Some("no" | "0" | "false")) => cfg.fs.atomic_upload = false,
        ("atomic_upload", Some(v)) => {
            return Err(format!("option atomic_upload: {v:?} is not yes or no"))
        }
        ("tls", Some("none")) => *tls_option = Some(TlsMode::None),
        ("tls", Some("explicit")) => *tls_option = Some(TlsMode::Explicit),
        ("tls", Some("implicit")) => *tls_option = Some(TlsMode::Implicit),
        ("tls", Some(v)) if !v.is_empty() => {
            return Err(format!(
                "option tls: {v:?} is not none, explicit or implicit"
            ))
        }
        ("cafile", Some(v)) if !v.is_empty() => cfg.remote.tls.cafile = Some(v.into()),
        ("no_verify", None) => cfg.remote.tls.no_verify = true,
        (
            "max_conns" | "dir_cache_ttl" | "attr_timeout" | "cache_size" | "timeout" | "cache_dir"
            | "atomic_upload" | "tls" | "cafile",
            _,
        ) if value.is_none_or(str::is_empty) => {
            return Err(format!("option {key} needs a value ({key}=...)"))
        }
        ("allow_other" | "ro" | "rw" | "no_verify", Some(_)) => {
            return Err(format!("option {key} takes no value"))
        }
        _ => return Err(format!("unknown option: {key}")),
    }
    Ok(())
}

fn number<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("option {key}: {v:?} is not a whole number"))
}

fn seconds(key: &str, v: &str) -> Result<Duration, String> {
    let secs: f64 = v
        .parse()
        .map_err(|_| format!("option {key}: {v:?} is not a number of seconds"))?;
    if !(0.0..=1e9).contains(&secs) {
        return Err(format!("option {key}: {v} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn decode(s: &str) -> Result<String, String> {
    let d = url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if d.contains(['\r', '\n', '\0']) {
        return Err("bad URL: it contains a control character".into());
    }
    Ok(d)
}

/// The URL with any password replaced, for error messages.
fn redact(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(_) => raw.to_string(),
        // Unparseable: hide everything between "://" and the last '@'.
        Err(_) => match (raw.find("://"), raw.rfind('@')) {
            (Some(s), Some(at)) if at > s => format!("{}***{}", &raw[..s + 3], &raw[at..]),
            _ => raw.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let cli = Cli::try_parse_from(std::iter::once("ftpfs").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        config_from(cli)
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
        assert_eq!(c.remote.base_path, "/pub/dir");
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
        assert_eq!(c.remote.base_path, "");
        assert_eq!(c.remote.max_conns, 4);
    }

    #[test]
    fn write_options() {
        let c = parse(&[
            "ftp://h/",
            "/m",
            "-o",
            "cache_dir=/var/spool/x,atomic_upload=no",
        ])
        .unwrap();
        assert_eq!(c.fs.cache_dir, std::path::PathBuf::from("/var/spool/x"));
        assert!(!c.fs.atomic_upload && !c.fs.read_only);
        let d = parse(&["ftp://h/", "/m"]).unwrap();
        assert!(d.fs.atomic_upload);
        let e = parse(&["ftp://h/", "/m", "-o", "atomic_upload=maybe"]).unwrap_err();
        assert!(e.contains("atomic_upload"), "{e}");
        let e = parse(&["ftp://h/", "/m", "-o", "cache_dir="]).unwrap_err();
        assert!(e.contains("cache_dir needs a value"), "{e}");
    }

    #[test]
    fn unknown_option_is_named() {
        let e = parse(&["ftp://anonymous@h/", "/m", "-o", "max_conns=2,frobnicate"]).unwrap_err();
        assert_eq!(e, "unknown option: frobnicate");
    }

    #[test]
    fn bad_values_are_explained() {
        assert!(parse(&["ftp://h/", "/m", "-o", "max_conns=x"])
            .unwrap_err()
            .contains("max_conns"));
        assert!(parse(&["ftp://h/", "/m", "-o", "timeout"])
            .unwrap_err()
            .contains("needs a value"));
        assert!(parse(&["ftp://h/", "/m", "-o", "max_conns=0"]).is_err());
    }

    #[test]
    fn bad_urls_never_echo_the_password() {
        let e = parse(&["http://u:topsecret@h/", "/m"]).unwrap_err();
        assert!(e.contains("scheme") && !e.contains("topsecret"), "{e}");
        let e = parse(&["ftp://u:topsecret@/x", "/m"]).unwrap_err();
        assert!(!e.contains("topsecret"), "{e}");
        let e = parse(&["not a url", "/m"]).unwrap_err();
        assert!(e.starts_with("bad URL"), "{e}");
    }

    #[test]
    fn line_breaks_in_the_path_are_refused() {
        assert!(parse(&["ftp://h/a%0d%0aDELE%20x", "/m"]).is_err());
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
    fn debug_implies_foreground() {
        let c = parse(&["ftp://h/", "/m", "-d"]).unwrap();
        assert!(c.mount.foreground && c.debug);
    }
}
