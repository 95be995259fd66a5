//! The `-o` options: each one's documentation (the source of `--help`, the man page and the
//! check of the docs), the ones mount(8), fstab and systemd pass that ftpfs ignores, and how each
//! value is read into the configuration.

use std::path::PathBuf;
use std::time::Duration;

use log::debug;

use crate::config::{Config, DataMode, TlsMode};
use crate::names::Names;

/// One `-o` option as the documentation shows it.
pub struct OptionDoc {
    /// How it is written (`max_conns=N`).
    pub name: &'static str,
    /// Its default, in words.
    pub default: &'static str,
    /// What it does.
    pub meaning: &'static str,
}

/// Every `-o` option: the source of `--help`'s and the man page's option list (tests/docs.rs checks
/// docs/configuration.md's table against `--help`).
pub const MOUNT_OPTIONS: &[OptionDoc] = &[
    OptionDoc {
        name: "credentials=FILE",
        default: "none",
        meaning: "read username= and password= lines from FILE, which must be private to its \
                  owner (chmod 600)",
    },
    OptionDoc {
        name: "max_conns=N",
        default: "8",
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
        name: "proxy=URL",
        default: "none: straight to the server",
        meaning: "reach the server through a proxy: socks5://[USER@]HOST[:PORT] (SOCKS5, port \
                  1080 by default) or http://[USER@]HOST[:PORT] (an HTTP proxy's CONNECT). The \
                  control connection and every data connection go through it (passive mode \
                  only: active mode is refused); the proxy resolves the server's name. The \
                  password comes from proxy_password= in the credentials file (or the URL, \
                  warned about)",
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
        name: "spool_max=MIB",
        default: "4096",
        meaning: "bound, in MiB, on the local copies that uploads in flight keep until the server \
                  confirmed them (what lets a broken upload resume); past it a file streams \
                  without a copy, and a broken link fails its upload",
    },
    OptionDoc {
        name: "spool_min_free=MIB",
        default: "1024",
        meaning: "no upload's local copy grows while cache_dir's disk has less than this free",
    },
    OptionDoc {
        name: "writeback",
        default: "off",
        meaning: "a writer's close returns once the data is in the spool and synced to the local \
                  disk; uploads run in the background, many files at once, and failed ones are \
                  retried; fsync still waits for the server, and unmount waits for the uploads",
    },
    OptionDoc {
        name: "upload_retry=SECS",
        default: "60",
        meaning: "how long an upload whose link broke keeps resuming (each attempt bounded by \
                  timeout); then close or fsync returns EIO and the data stays in the mount",
    },
    OptionDoc {
        name: "atomic_upload=yes|no",
        default: "yes",
        meaning: "upload to a hidden temporary name and rename it over the target once the \
                  server confirmed it; no: write the target directly (servers that forbid renames)",
    },
    OptionDoc {
        name: "encoding=LABEL",
        default: "none: names pass through as bytes",
        meaning: "the server's names are text in this encoding (latin1, windows-1251, shift_jis, \
                  gbk, euc-kr, ... as encoding_rs labels them): they show as UTF-8 and are \
                  converted back; a name the encoding cannot write fails with EILSEQ; OPTS UTF8 \
                  ON is not sent",
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
        meaning: "the kernel checks every access against the modes and owners shown",
    },
    OptionDoc {
        name: "no_default_permissions",
        default: "off",
        meaning: "the opposite of default_permissions, also with allow_other: every user let in \
                  may do what the mounting user's FTP login may do",
    },
    OptionDoc {
        name: "noexec",
        default: "off",
        meaning: "programs on the mount cannot be executed",
    },
    OptionDoc {
        name: "exec",
        default: "on",
        meaning: "the opposite of noexec",
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

pub fn is_ignored(key: &str) -> bool {
    IGNORED_OPTIONS.contains(&key) || key.starts_with("x-") || key == "comment"
}

/// The MOUNT OPTIONS text of `--help`.
pub fn options_help() -> String {
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
         logins use anonymous@. The proxy's (-o proxy=): its URL (warned about), or \
         proxy_username= and proxy_password= lines in -o credentials=FILE.",
    );
    s
}

/// What the options say beyond `Config`, settled once all are read.
pub struct Parsed {
    pub cfg: Config,
    pub credentials: Option<PathBuf>,
    pub default_permissions: Option<bool>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// `-o tls=`, checked against the URL's scheme once the URL is read.
    pub tls: Option<TlsMode>,
    /// `-o proxy=`, as written: read once the credentials file is known.
    pub proxy: Option<String>,
}

/// Applies one `-o` option (`key` or `key=value`) to `p`.
pub fn apply_option(p: &mut Parsed, opt: &str) -> Result<(), String> {
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
        ("spool_max", Some(v)) => cfg.fs.spool_max = number::<u64>(key, v)? << 20,
        ("spool_min_free", Some(v)) => cfg.fs.spool_min_free = number::<u64>(key, v)? << 20,
        ("upload_retry", Some(v)) => cfg.fs.upload_retry = seconds(key, v)?,
        ("writeback", None) => cfg.fs.writeback = true,
        ("credentials", Some(v)) if !v.is_empty() => p.credentials = Some(v.into()),
        ("proxy", Some(v)) if !v.is_empty() => p.proxy = Some(v.to_string()),
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
        ("encoding", Some(label)) if !label.is_empty() => {
            let names = Names::with_encoding(label).map_err(|e| format!("option encoding: {e}"))?;
            cfg.remote.names = names;
            cfg.fs.names = names;
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
            | "dir_mode" | "tls" | "cafile" | "keepalive" | "active_addr" | "encoding"
            | "spool_max" | "spool_min_free" | "upload_retry" | "proxy",
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
    let (what, found) = if key == "uid" {
        ("user", crate::sys::user_id(v))
    } else {
        ("group", crate::sys::group_id(v))
    };
    match found {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(format!("option {key}: no {what} named {v:?}")),
        Err(e) => Err(format!("option {key}: cannot look up {what} {v:?}: {e}")),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::tests::parse;

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
        let c = parse(&["ftp://h/", "/m", "-o", "encoding=Shift_JIS"]).unwrap();
        assert_eq!(c.remote.names.encoding(), Some("Shift_JIS"));
        assert_eq!(c.fs.names, c.remote.names);
        let e = parse(&["ftp://h/", "/m", "-o", "encoding=klingon"]).unwrap_err();
        assert!(e.contains("unknown encoding"), "{e}");
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
        assert_eq!(d.fs.uid, crate::sys::real_uid());
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
        assert!(parse(&["ftps://h/", "/m", "-o", "active_addr=10.0.0.1:50000-50100"]).is_ok());
        let e = parse(&["ftp://h/", "/m", "-o", "active_addr=nowhere"]).unwrap_err();
        assert!(e.contains("is not IP or IP:LOW-HIGH"), "{e}");
        // Every control socket is ftpfs's own, so implicit FTPS takes active_addr too.
        assert!(parse(&["ftps://h/", "/m", "-o", "active_addr=127.0.0.1"]).is_ok());
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
                .replace("=IP", "=127.0.0.1")
                .replace("=LABEL", "=latin1")
                .replace("=URL", "=socks5://127.0.0.1:1080");
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
}
