//! The command line: clap definitions, the `-o` option list, and URL parsing, turned into a plain
//! `Config`. This is the only module that knows clap; nothing here touches the network.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use log::debug;

use crate::config::{Config, DataMode, TlsConfig, TlsMode};
use crate::credentials;
use crate::remote::ftp::tls::ca_file_roots;

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
    #[arg(required_unless_present = "probe")]
    pub mountpoint: Option<PathBuf>,
    /// Mount nothing: connect, log in, and print what ftpfs detects on the server and will use
    /// (FEAT, listing command, data connections, TLS, SITE CHMOD, the time zone of LIST dates,
    /// how many connections it allows). Exits 0 if the server can be mounted.
    #[arg(long)]
    pub probe: bool,
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

/// One `-o` option as the documentation shows it.
pub struct OptionDoc {
    /// How it is written (`max_conns=N`).
    pub name: &'static str,
    /// Its default, in words.
    pub default: &'static str,
    /// What it does.
    pub meaning: &'static str,
}

/// Every `-o` option: the source of `--help`'s and the man page's option list (the README's table
/// is checked against it by a test).
pub const MOUNT_OPTIONS: &[OptionDoc] = &[
    OptionDoc {
        name: "credentials=FILE",
        default: "none",
        meaning: "read username= and password= lines from FILE, which must be private to its \
                  owner (chmod 600)",
    },
    OptionDoc {
        name: "max_conns=N",
        default: "4",
        meaning: "FTP control connections at most; if the server refuses more (421), ftpfs lowers \
                  its bound and callers wait their turn",
    },
    OptionDoc {
        name: "dir_cache_ttl=SECS",
        default: "30",
        meaning:
            "how long a directory listing is trusted; changes made by others show up after this",
    },
    OptionDoc {
        name: "attr_timeout=SECS",
        default: "5",
        meaning: "how long the kernel keeps attributes and names without asking ftpfs",
    },
    OptionDoc {
        name: "cache_size=MIB",
        default: "128",
        meaning: "bound of the block cache (file contents), in MiB",
    },
    OptionDoc {
        name: "timeout=SECS",
        default: "10",
        meaning: "bound on every network wait: each read or write on a socket, one command's \
                  complete reply, a whole login, waiting for a free connection",
    },
    OptionDoc {
        name: "active",
        default: "off (passive)",
        meaning: "active data connections: the server connects back (PORT/EPRT) to a port ftpfs \
                  listens on, for servers and networks where passive connections cannot be \
                  opened",
    },
    OptionDoc {
        name: "active_addr=IP[:LOW-HIGH]",
        default: "the control connection's local address",
        meaning: "active mode, listening on this local address (the control connection is made \
                  from it too), on a port between LOW and HIGH if given (for a firewall that \
                  lets the server in on those ports only), else on one the kernel picks",
    },
    OptionDoc {
        name: "keepalive=SECS",
        default: "off",
        meaning: "send NOOP on pooled connections idle this long, so servers and firewalls that \
                  close idle sessions keep them",
    },
    OptionDoc {
        name: "cache_dir=DIR",
        default: "$XDG_CACHE_HOME/ftpfs, else ~/.cache/ftpfs, else /var/tmp/ftpfs",
        meaning: "where spool files live; data that could not be uploaded is kept there",
    },
    OptionDoc {
        name: "atomic_upload=yes|no",
        default: "yes",
        meaning: "upload to a hidden temporary name and rename it over the target once the \
                  server confirmed it; no: write the target directly (servers that forbid renames)",
    },
    OptionDoc {
        name: "tls=none|explicit|implicit",
        default: "the URL's scheme: ftp:// none, ftpes:// explicit, ftps:// implicit",
        meaning: "FTPS with an ftp:// URL: explicit sends AUTH TLS after the greeting, implicit \
                  speaks TLS from the first byte; data connections are protected (PROT P)",
    },
    OptionDoc {
        name: "cafile=PATH",
        default: "the system's CA store",
        meaning: "trust the CA certificates (PEM) in PATH instead, for a private CA",
    },
    OptionDoc {
        name: "no_verify",
        default: "off",
        meaning: "do not check the server's certificate or name (a warning says so): anyone on \
                  the path can pose as the server",
    },
    OptionDoc {
        name: "ro",
        default: "off",
        meaning: "mount read-only: every change answers EROFS",
    },
    OptionDoc {
        name: "rw",
        default: "on",
        meaning: "the opposite of ro",
    },
    OptionDoc {
        name: "uid=USER",
        default: "the mounting user",
        meaning: "owner shown for every file (a name or a number)",
    },
    OptionDoc {
        name: "gid=GROUP",
        default: "the mounting user's group",
        meaning: "group shown for every file (a name or a number)",
    },
    OptionDoc {
        name: "umask=OCTAL",
        default: "000",
        meaning: "mode bits taken away from the modes shown (the server's, or 0644/0755 when the \
                  listing has none)",
    },
    OptionDoc {
        name: "file_mode=OCTAL",
        default: "the server's mode",
        meaning: "mode shown for every regular file; beats umask",
    },
    OptionDoc {
        name: "dir_mode=OCTAL",
        default: "the server's mode",
        meaning: "mode shown for every directory, the root included; beats umask",
    },
    OptionDoc {
        name: "allow_other",
        default: "off",
        meaning: "let other users use the mount (turns on default_permissions)",
    },
    OptionDoc {
        name: "default_permissions",
        default: "on with allow_other, else off",
        meaning: "the kernel checks every access against the modes and owners shown; \
                  no_default_permissions turns it off",
    },
    OptionDoc {
        name: "noexec",
        default: "off",
        meaning: "programs on the mount cannot be executed (exec: the opposite)",
    },
    OptionDoc {
        name: "fsname=NAME",
        default: "the URL without password",
        meaning: "the source shown in /proc/mounts and df",
    },
];

/// Options that only concern mount(8), fstab or systemd, accepted and ignored; mount.fuse3 also
/// adds `dev`/`suid` on its own. ftpfs always mounts `nodev,nosuid` and keeps no access times.
pub const IGNORED_OPTIONS: &[&str] = &[
    "auto",
    "noauto",
    "user",
    "nouser",
    "users",
    "owner",
    "group",
    "nofail",
    "_netdev",
    "defaults",
    "dev",
    "nodev",
    "suid",
    "nosuid",
    "atime",
    "noatime",
    "relatime",
    "strictatime",
    "diratime",
    "nodiratime",
    "lazytime",
];

fn is_ignored(key: &str) -> bool {
    IGNORED_OPTIONS.contains(&key) || key.starts_with("x-") || key == "comment"
}

/// The MOUNT OPTIONS text of `--help`.
fn options_help() -> String {
    let mut s =
        String::from("MOUNT OPTIONS (-o opt1,opt2=value; an unknown option is an error):\n");
    for o in MOUNT_OPTIONS {
        s.push_str(&format!(
            "  {}\n      {} (default: {})\n",
            o.name, o.meaning, o.default
        ));
    }
    s.push_str(&format!(
        "Ignored (for mount(8), fstab and systemd): {}, x-*, comment=*.\n",
        IGNORED_OPTIONS.join(", ")
    ));
    s.push_str(
        "\nPASSWORD, from the first of: the URL (warned about: ps shows it), -o credentials=FILE, \
         FTPFS_PASSWORD, ~/.netrc, a prompt when standard input is a terminal; anonymous \
         logins use anonymous@.",
    );
    s
}

/// Parses and checks everything the user gave and finds the password (see `credentials`).
pub fn config_from(cli: Cli) -> Result<Config, String> {
    let mut p = Parsed {
        cfg: Config::default(),
        credentials: None,
        default_permissions: None,
        uid: None,
        gid: None,
        tls: None,
    };
    for opt in cli.options.iter().flat_map(|o| o.split(',')) {
        apply_option(&mut p, opt.trim())?;
    }
    let mut cfg = p.cfg;
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
    let (user, password) = credentials::resolve(credentials::Sources {
        host: &host,
        url_user: (!user.is_empty()).then_some(user.as_str()),
        url_password: password.as_deref(),
        credentials_file: p.credentials.as_deref(),
        env_password: std::env::var("FTPFS_PASSWORD").ok(),
        netrc: home_netrc.as_deref(),
        prompt: credentials::terminal_prompt(),
    })?;
    cfg.remote.tls.mode = tls_mode(url.scheme(), scheme_mode, p.tls)?;
    // The mount process works from `/` once in the background: keep a relative path meaningful.
    if let Some(path) = cfg.remote.tls.cafile.take() {
        cfg.remote.tls.cafile = Some(std::path::absolute(&path).unwrap_or(path));
    }
    check_tls_options(&cfg.remote.tls)?;
    if matches!(cfg.remote.data_mode, DataMode::Active { bind: Some(_), .. })
        && cfg.remote.tls.mode == TlsMode::Implicit
    {
        // suppaftp makes the control socket of an implicit-TLS connection itself.
        return Err(
            "option active_addr does not work with ftps:// (implicit TLS); use ftpes:// or \
             plain -o active"
                .into(),
        );
    }
    cfg.remote.host = host;
    cfg.remote.port = url.port().unwrap_or(cfg.remote.tls.mode.default_port());
    cfg.remote.user = user;
    cfg.remote.password = password;
    cfg.remote.path = url_path(url.path())?;

    cfg.probe = cli.probe;
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
    cfg.fs.prefetch_workers = (cfg.remote.max_conns - 1).min(3);
    // SAFETY: getuid/getgid cannot fail and touch no memory.
    cfg.fs.uid = p.uid.unwrap_or_else(crate::sys::getuid);
    cfg.fs.gid = p.gid.unwrap_or_else(crate::sys::getgid);
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

/// What the options say beyond `Config`, settled once all are read.
struct Parsed {
    cfg: Config,
    credentials: Option<PathBuf>,
    default_permissions: Option<bool>,
    uid: Option<u32>,
    gid: Option<u32>,
    /// `-o tls=`, checked against the URL's scheme once the URL is read.
    tls: Option<TlsMode>,
}

/// `/dev/fd/N` names descriptor N, which mount.fuse3 opened on /dev/fuse and mounted.
fn fuse_fd_of(mountpoint: &std::path::Path) -> Option<i32> {
    let n = mountpoint.to_str()?.strip_prefix("/dev/fd/")?;
    n.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| n.parse().ok())
        .flatten()
}

fn apply_option(p: &mut Parsed, opt: &str) -> Result<(), String> {
    if opt.is_empty() {
        return Ok(());
    }
    let (key, value) = match opt.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (opt, None),
    };
    if is_ignored(key) {
        debug!("ignoring option {key}: it concerns mount(8), fstab or systemd");
        return Ok(());
    }
    let cfg = &mut p.cfg;
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
        ("active", None) => {
            if cfg.remote.data_mode == DataMode::Passive {
                cfg.remote.data_mode = DataMode::Active {
                    bind: None,
                    ports: None,
                };
            }
        }
        ("active_addr", Some(v)) if !v.is_empty() => {
            let (ip, ports) = active_addr(v)?;
            cfg.remote.data_mode = DataMode::Active {
                bind: Some(ip),
                ports,
            }
        }
        ("allow_other", None) => cfg.mount.allow_other = true,
        ("default_permissions", None) => p.default_permissions = Some(true),
        ("no_default_permissions", None) => p.default_permissions = Some(false),
        ("ro", None) => cfg.fs.read_only = true,
        ("rw", None) => cfg.fs.read_only = false,
        ("exec", None) => cfg.mount.noexec = false,
        ("noexec", None) => cfg.mount.noexec = true,
        ("cache_dir", Some(v)) if !v.is_empty() => cfg.fs.cache_dir = v.into(),
        ("credentials", Some(v)) if !v.is_empty() => p.credentials = Some(v.into()),
        ("fsname", Some(v)) if !v.is_empty() => cfg.mount.fsname = v.to_string(),
        ("uid", Some(v)) if !v.is_empty() => p.uid = Some(owner_id(key, v)?),
        ("gid", Some(v)) if !v.is_empty() => p.gid = Some(owner_id(key, v)?),
        ("umask", Some(v)) if !v.is_empty() => cfg.fs.umask = octal(key, v, 0o777)?,
        ("file_mode", Some(v)) if !v.is_empty() => cfg.fs.file_mode = Some(octal(key, v, 0o7777)?),
        ("dir_mode", Some(v)) if !v.is_empty() => cfg.fs.dir_mode = Some(octal(key, v, 0o7777)?),
        ("atomic_upload", Some("yes" | "1" | "true")) => cfg.fs.atomic_upload = true,
        ("atomic_upload", Some("no" | "0" | "false")) => cfg.fs.atomic_upload = false,
        ("atomic_upload", Some(v)) => {
            return Err(format!("option atomic_upload: {v:?} is not yes or no"))
        }
        ("tls", Some("none")) => p.tls = Some(TlsMode::None),
        ("tls", Some("explicit")) => p.tls = Some(TlsMode::Explicit),
        ("tls", Some("implicit")) => p.tls = Some(TlsMode::Implicit),
        ("tls", Some(v)) if !v.is_empty() => {
            return Err(format!(
                "option tls: {v:?} is not none, explicit or implicit"
            ))
        }
        ("cafile", Some(v)) if !v.is_empty() => cfg.remote.tls.cafile = Some(v.into()),
        ("no_verify", None) => cfg.remote.tls.no_verify = true,
        (
            "max_conns" | "dir_cache_ttl" | "attr_timeout" | "cache_size" | "timeout" | "cache_dir"
            | "atomic_upload" | "credentials" | "fsname" | "uid" | "gid" | "umask" | "file_mode"
            | "dir_mode" | "tls" | "cafile" | "keepalive" | "active_addr",
            _,
        ) if value.is_none_or(str::is_empty) => {
            return Err(format!("option {key} needs a value ({key}=...)"))
        }
        (
            "allow_other"
            | "default_permissions"
            | "no_default_permissions"
            | "ro"
            | "rw"
            | "exec"
            | "noexec"
            | "no_verify"
            | "active",
            Some(_),
        ) => return Err(format!("option {key} takes no value")),
        _ => return Err(format!("unknown option: {key}")),
    }
    Ok(())
}

/// The local address for active data connections, and the range of ports to listen on if given:
/// `IP`, `IP:LOW-HIGH`, `[IPv6]:LOW-HIGH` (a single port is `P-P`).
type ActiveAddr = (std::net::IpAddr, Option<(u16, u16)>);

fn active_addr(v: &str) -> Result<ActiveAddr, String> {
    if let Ok(ip) = v.trim_matches(['[', ']']).parse() {
        return Ok((ip, None));
    }
    let bad = || format!("option active_addr: {v:?} is not IP or IP:LOW-HIGH");
    let (ip, ports) = v.rsplit_once(':').ok_or_else(bad)?;
    let ip: std::net::IpAddr = ip.trim_matches(['[', ']']).parse().map_err(|_| bad())?;
    let (low, high) = ports.split_once('-').ok_or_else(bad)?;
    let (low, high): (u16, u16) = match (low.parse(), high.parse()) {
        (Ok(l), Ok(h)) if l >= 1 && l <= h => (l, h),
        _ => {
            return Err(format!(
                "option active_addr: {ports:?} is not a port range LOW-HIGH with 1 <= LOW <= HIGH \
                 <= 65535"
            ))
        }
    };
    Ok((ip, Some((low, high))))
}

/// A mode or mask in octal (`0640` or `640`), at most `max`.
fn octal(key: &str, v: &str, max: u16) -> Result<u16, String> {
    match u16::from_str_radix(v, 8) {
        Ok(m) if m <= max => Ok(m),
        _ => Err(format!(
            "option {key}: {v:?} is not an octal mode of at most {max:o}"
        )),
    }
}

/// A user (`uid=`) or group (`gid=`) by number or by name.
fn owner_id(key: &str, v: &str) -> Result<u32, String> {
    if let Ok(n) = v.parse() {
        return Ok(n);
    }
    let found = if key == "uid" {
        crate::sys::user_id(v)
    } else {
        crate::sys::group_id(v)
    };
    found.ok_or_else(|| {
        let what = if key == "uid" { "user" } else { "group" };
        format!("option {key}: no {what} named {v:?}")
    })
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

/// The mount's directory as the URL names it (see `RemoteConfig::path`): the `/` after the host
/// only separates, so `ftp://h/pub` is `pub` in the login directory, while `ftp://h/%2Fsrv` and
/// `ftp://h//srv` are the absolute `/srv` (RFC 1738 §3.2.2, as curl reads it).
fn url_path(raw: &str) -> Result<String, String> {
    let path = decode(raw.strip_prefix('/').unwrap_or(raw))?;
    Ok(match path.trim_end_matches('/') {
        "" if path.starts_with('/') => "/".to_string(),
        trimmed => trimmed.to_string(),
    })
}

/// A percent-encoded URL part as text; control characters (which would end an FTP command) and
/// bytes that are not UTF-8 are refused.
fn decode(s: &str) -> Result<String, String> {
    let d = percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map_err(|_| "bad URL: a percent-encoded part is not UTF-8".to_string())?;
    if d.contains(['\r', '\n', '\0']) {
        return Err("bad URL: it contains a control character".into());
    }
    Ok(d.into_owned())
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
        assert_eq!(c.remote.max_conns, 4);
    }

    #[test]
    fn the_url_path_is_relative_to_the_login_directory_unless_it_starts_with_2f() {
        let path = |url: &str| parse(&[url, "/m"]).unwrap().remote.path;
        assert_eq!(path("ftp://h"), "");
        assert_eq!(path("ftp://h/"), "");
        assert_eq!(path("ftp://h/pub/dir/"), "pub/dir");
        assert_eq!(path("ftp://h/with%20space/a&b+c"), "with space/a&b+c");
        assert_eq!(path("ftp://h/%2Fsrv/ftp"), "/srv/ftp");
        assert_eq!(path("ftp://h/%2fsrv/ftp/"), "/srv/ftp");
        assert_eq!(path("ftp://h//srv/ftp"), "/srv/ftp");
        assert_eq!(path("ftp://h/%2F"), "/");
        assert_eq!(path("ftp://h/caf%C3%A9"), "café");
        let bad = parse(&["ftp://h/a%0D%0ADELE%20x", "/m"]).unwrap_err();
        assert!(bad.contains("control character"), "{bad}");
        let bad = parse(&["ftp://h/%FF", "/m"]).unwrap_err();
        assert!(bad.contains("not UTF-8"), "{bad}");
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
    fn mount_and_systemd_options_are_ignored() {
        let c = parse(&[
            "ftp://h/",
            "/m",
            "-o",
            "rw,noexec,nosuid,nodev,dev,suid,noauto,auto,nofail,_netdev,user,users,nouser,defaults",
            "-o",
            "x-systemd.automount,x-systemd.mount-timeout=30,x-gvfs-hide,comment=systemd.automount,noatime",
        ])
        .unwrap();
        assert!(c.mount.noexec && !c.fs.read_only);
        // Ignoring is by key only: a real option with a typo is still an error.
        let e = parse(&["ftp://h/", "/m", "-o", "nofail,max_con=3"]).unwrap_err();
        assert_eq!(e, "unknown option: max_con");
    }

    #[test]
    fn owner_and_mode_options() {
        let c = parse(&[
            "ftp://h/",
            "/m",
            "-o",
            "uid=1234,gid=root,umask=027,file_mode=0640,dir_mode=750",
        ])
        .unwrap();
        assert_eq!((c.fs.uid, c.fs.gid), (1234, 0));
        assert_eq!(c.fs.umask, 0o027);
        assert_eq!(c.fs.file_mode, Some(0o640));
        assert_eq!(c.fs.dir_mode, Some(0o750));
        let c = parse(&["ftp://h/", "/m", "-o", "uid=root"]).unwrap();
        assert_eq!(c.fs.uid, 0);
        let d = parse(&["ftp://h/", "/m"]).unwrap();
        // SAFETY: getuid cannot fail.
        assert_eq!(d.fs.uid, crate::sys::getuid());
        assert_eq!((d.fs.umask, d.fs.file_mode, d.fs.dir_mode), (0, None, None));
        let e = parse(&["ftp://h/", "/m", "-o", "uid=no-such-user-ftpfs"]).unwrap_err();
        assert!(e.contains("no user named"), "{e}");
        let e = parse(&["ftp://h/", "/m", "-o", "gid=no-such-group-ftpfs"]).unwrap_err();
        assert!(e.contains("no group named"), "{e}");
        for bad in [
            "umask=999",
            "umask=1000",
            "file_mode=rw",
            "dir_mode=",
            "file_mode=17777",
        ] {
            assert!(parse(&["ftp://h/", "/m", "-o", bad]).is_err(), "{bad}");
        }
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
    fn active_mode_options() {
        let c = parse(&["ftp://h/", "/m"]).unwrap();
        assert_eq!(c.remote.data_mode, DataMode::Passive);
        let c = parse(&["ftp://h/", "/m", "-o", "active"]).unwrap();
        let active = |bind, ports| DataMode::Active { bind, ports };
        assert_eq!(c.remote.data_mode, active(None, None));
        let c = parse(&["ftp://h/", "/m", "-o", "active_addr=127.0.0.1"]).unwrap();
        let ip = "127.0.0.1".parse().unwrap();
        assert_eq!(c.remote.data_mode, active(Some(ip), None));
        let c = parse(&["ftp://h/", "/m", "-o", "active_addr=127.0.0.1,active"]).unwrap();
        assert_eq!(c.remote.data_mode, active(Some(ip), None));
        let c = parse(&["ftp://h/", "/m", "-o", "active_addr=10.0.0.1:50000-50100"]).unwrap();
        let ten = "10.0.0.1".parse().unwrap();
        assert_eq!(c.remote.data_mode, active(Some(ten), Some((50000, 50100))));
        let c = parse(&["ftp://h/", "/m", "-o", "active_addr=[::1]:7000-7000"]).unwrap();
        let v6 = "::1".parse().unwrap();
        assert_eq!(c.remote.data_mode, active(Some(v6), Some((7000, 7000))));
        for bad in [
            "10.0.0.1:9-8",
            "10.0.0.1:0-10",
            "10.0.0.1:5-70000",
            "10.0.0.1:5",
        ] {
            let e = parse(&["ftp://h/", "/m", "-o", &format!("active_addr={bad}")]).unwrap_err();
            assert!(e.starts_with("option active_addr: "), "{bad}: {e}");
        }
        assert!(parse(&["ftpes://h/", "/m", "-o", "active_addr=10.0.0.1:50000-50100"]).is_ok());
        assert!(parse(&["ftps://h/", "/m", "-o", "active_addr=10.0.0.1:50000-50100"]).is_err());
        let e = parse(&["ftp://h/", "/m", "-o", "active_addr=nowhere"]).unwrap_err();
        assert!(e.contains("is not IP or IP:LOW-HIGH"), "{e}");
        assert!(parse(&["ftps://h/", "/m", "-o", "active_addr=127.0.0.1"]).is_err());
        assert!(parse(&["ftps://h/", "/m", "-o", "active"]).is_ok());
    }

    #[test]
    fn every_documented_option_is_accepted() {
        for o in MOUNT_OPTIONS {
            let example = o
                .name
                .replace("=N", "=3")
                .replace("=SECS", "=2")
                .replace("=MIB", "=16")
                .replace("=DIR", "=/tmp/x")
                .replace("=yes|no", "=no")
                .replace("=USER", "=0")
                .replace("=GROUP", "=0")
                .replace("=OCTAL", "=022")
                .replace("=NAME", "=myftp")
                .replace("=none|explicit|implicit", "=explicit")
                .replace("[:LOW-HIGH]", "")
                .replace("=IP", "=127.0.0.1");
            if example.starts_with("credentials=") || example.starts_with("cafile=") {
                // They need real files: credentials_option_reads_the_file and
                // cafile_and_no_verify_need_tls_and_a_usable_file.
                continue;
            }
            // ftpes://, since the TLS options need FTPS and the others do not mind.
            parse(&["ftpes://h/", "/m", "-o", &example])
                .unwrap_or_else(|e| panic!("{example}: {e}"));
        }
    }

    #[test]
    fn the_readme_documents_every_option() {
        let readme = include_str!("../README.md");
        for o in MOUNT_OPTIONS {
            // A '|' inside a Markdown table cell is written '\|'.
            let cell = format!("| `{}` |", o.name.replace('|', "\\|"));
            assert!(
                readme.contains(&cell),
                "README.md's option table lacks `{}`",
                o.name
            );
        }
    }

    #[test]
    fn debug_implies_foreground() {
        let c = parse(&["ftp://h/", "/m", "-d"]).unwrap();
        assert!(c.mount.foreground && c.debug);
    }
}
