//! The command line: clap definitions, the `-o` option list, and URL parsing, turned into a plain
//! `Config`. This is the only module that knows clap; nothing here touches the network.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::config::Config;
use crate::credentials;

/// Mount an FTP server as a local folder.
#[derive(Parser, Debug)]
#[command(name = "ftpfs", version, about)]
pub struct Cli {
    /// The server and directory to mount: ftp://[user[:password]@]host[:port][/path]
    pub url: String,
    /// The directory to mount it on (must exist).
    pub mountpoint: PathBuf,
    /// Mount options, comma-separated (repeatable): max_conns=N, dir_cache_ttl=SECS,
    /// attr_timeout=SECS, cache_size=MIB, timeout=SECS, keepalive=SECS, allow_other, ro, rw.
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
    if url.scheme() != "ftp" {
        return Err(format!(
            "bad URL {:?}: the scheme must be ftp://",
            redact(&cli.url)
        ));
    }
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
    cfg.remote.port = url.port().unwrap_or(21);
    cfg.remote.user = user;
    cfg.remote.password = password;
    let path = decode(url.path())?;
    if path.contains(['\r', '\n']) {
        return Err("bad URL: the path contains a line break".into());
    }
    cfg.remote.base_path = path.trim_end_matches('/').to_string();

    for opt in cli.options.iter().flat_map(|o| o.split(',')) {
        apply_option(&mut cfg, opt.trim())?;
    }
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

fn apply_option(cfg: &mut Config, opt: &str) -> Result<(), String> {
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
        ("keepalive", Some(v)) if !v.is_empty() => {
            let every = seconds(key, v)?;
            if every.is_zero() {
                return Err("keepalive must be at least 1 second".into());
            }
            cfg.remote.keepalive = Some(every);
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
        (
            "max_conns" | "dir_cache_ttl" | "attr_timeout" | "cache_size" | "timeout" | "cache_dir"
            | "atomic_upload" | "keepalive",
            _,
        ) if value.is_none_or(str::is_empty) => {
            return Err(format!("option {key} needs a value ({key}=...)"))
        }
        ("allow_other" | "ro" | "rw", Some(_)) => {
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
    fn network_failure_options() {
        let d = parse(&["ftp://h/", "/m"]).unwrap();
        assert!(
            d.remote.timeout <= Duration::from_secs(30),
            "default timeout"
        );
        assert_eq!(d.remote.keepalive, None);
        let c = parse(&["ftp://h/", "/m", "-o", "keepalive=20,timeout=5"]).unwrap();
        assert_eq!(c.remote.keepalive, Some(Duration::from_secs(20)));
        assert_eq!(c.remote.timeout, Duration::from_secs(5));
        assert!(parse(&["ftp://h/", "/m", "-o", "keepalive=0"]).is_err());
        assert!(parse(&["ftp://h/", "/m", "-o", "keepalive"])
            .unwrap_err()
            .contains("needs a value"));
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
    fn debug_implies_foreground() {
        let c = parse(&["ftp://h/", "/m", "-d"]).unwrap();
        assert!(c.mount.foreground && c.debug);
    }
}
