//! Where the login comes from: the URL, a credentials file (`-o credentials=FILE`), the
//! `FTPFS_PASSWORD` environment variable, `~/.netrc`, and last a prompt on the terminal. This module
//! owns that order, the credentials file format and its permission check, and the proxy's login
//! (`-o proxy=`: its URL, or the file's `proxy_username=`/`proxy_password=`). Nothing here logs,
//! prints or puts into an error message a password, or a line of a file that might hold one.

use std::io::IsTerminal;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use log::warn;

use crate::config::Secret;

/// Asks for the password of the given `user@host` (the terminal prompt).
pub type Prompt<'a> = &'a dyn Fn(&str) -> std::io::Result<String>;

/// Everything that may name the login, each `None` when absent.
#[derive(Default)]
pub struct Sources<'a> {
    /// The server's host name, to pick the netrc entry.
    pub host: &'a str,
    /// The user named in the URL.
    pub url_user: Option<&'a str>,
    /// The password written in the URL.
    pub url_password: Option<&'a str>,
    /// `-o credentials=FILE`.
    pub credentials_file: Option<&'a Path>,
    /// `FTPFS_PASSWORD`.
    pub env_password: Option<String>,
    /// `~/.netrc`; a missing file is no error.
    pub netrc: Option<&'a Path>,
    /// Asks on the terminal; `None` when no terminal is attached (fstab at boot, autofs, scripts).
    pub prompt: Option<Prompt<'a>>,
}

/// The login to use: the user (the URL's, else the credentials file's, else netrc's, else
/// `anonymous`) and the password from the first source that has one, in the order of `Sources`.
pub fn resolve(s: Sources) -> Result<(String, Secret), String> {
    if let Some(p) = s.url_password {
        warn!(
            "the password is in the URL: other users can see it in the process list (ps); \
             prefer -o credentials=FILE, FTPFS_PASSWORD or ~/.netrc"
        );
        return Ok((
            s.url_user.unwrap_or("anonymous").to_string(),
            Secret::new(p),
        ));
    }
    let mut user = s.url_user.map(str::to_string);
    if let Some(path) = s.credentials_file {
        let file = read_credentials_file(path)?;
        match (&user, file.username) {
            (Some(u), Some(f)) if *u != f => {
                return Err(format!(
                    "credentials file {} is for user {f}, but the URL names {u}",
                    path.display()
                ))
            }
            (None, Some(f)) => user = Some(f),
            _ => {}
        }
        if let Some(p) = file.password {
            return Ok((user.unwrap_or_else(|| "anonymous".into()), p));
        }
    }
    if let Some(p) = s.env_password {
        return Ok((user.unwrap_or_else(|| "anonymous".into()), Secret::new(p)));
    }
    if let Some(path) = s.netrc {
        if let Some(found) = from_netrc(path, s.host, user.as_deref())? {
            return Ok(found);
        }
    }
    match user.as_deref() {
        None | Some("anonymous") | Some("ftp") => Ok((
            user.unwrap_or_else(|| "anonymous".into()),
            Secret::new("anonymous@"),
        )),
        Some(u) => match s.prompt {
            Some(ask) => {
                let p = ask(&format!("{u}@{}", s.host))
                    .map_err(|e| format!("cannot read the password from the terminal: {e}"))?;
                Ok((u.to_string(), Secret::new(p)))
            }
            None => Err(format!(
                "no password for {u}@{}: give -o credentials=FILE, FTPFS_PASSWORD or a \
                 ~/.netrc entry (no terminal to ask on)",
                s.host
            )),
        },
    }
}

/// The terminal prompt, when standard input is a terminal: reads from /dev/tty without echo.
pub fn terminal_prompt() -> Option<Prompt<'static>> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    Some(&ask_terminal)
}

fn ask_terminal(who: &str) -> std::io::Result<String> {
    rpassword::prompt_password(format!("Password for {who}: "))
}

/// What a credentials file holds.
#[derive(Debug, Default)]
pub struct CredentialsFile {
    /// `username=` (or `user=`).
    pub username: Option<String>,
    /// `password=` (or `pass=`).
    pub password: Option<Secret>,
    /// `proxy_username=` (or `proxy_user=`): the user for `-o proxy=`.
    pub proxy_username: Option<String>,
    /// `proxy_password=` (or `proxy_pass=`): the password for `-o proxy=`.
    pub proxy_password: Option<Secret>,
}

/// The login for the proxy (`-o proxy=`): the user from the proxy URL, else the credentials
/// file's `proxy_username=`; the password from the URL (warned about, like the FTP password
/// there), else the file's `proxy_password=`. No user: no authentication. A user without a
/// password, or a password without a user, is an error that says where to give the other.
pub fn proxy_login(
    url_user: Option<&str>,
    url_password: Option<&str>,
    file: Option<(&Path, &CredentialsFile)>,
) -> Result<Option<(String, Secret)>, String> {
    if let Some(p) = url_password {
        warn!(
            "the proxy password is in -o proxy=: ftpfs hides it from the process list (ps) once \
             started, but it shows there until then, and in shell history and fstab; prefer \
             proxy_password= in -o credentials=FILE"
        );
        return match url_user {
            Some(u) => Ok(Some((u.to_string(), Secret::new(p)))),
            None => Err("the proxy URL has a password but no user name".into()),
        };
    }
    let mut user = url_user.map(str::to_string);
    let mut password = None;
    if let Some((path, file)) = file {
        match (&user, &file.proxy_username) {
            (Some(u), Some(f)) if u != f => {
                return Err(format!(
                    "credentials file {} is for proxy user {f}, but the proxy URL names {u}",
                    path.display()
                ))
            }
            (None, Some(f)) => user = Some(f.clone()),
            _ => {}
        }
        password = file.proxy_password.clone();
    }
    match (user, password) {
        (None, None) => Ok(None),
        (Some(u), Some(p)) => Ok(Some((u, p))),
        (Some(u), None) => Err(format!(
            "no password for proxy user {u}: give proxy_password= in -o credentials=FILE"
        )),
        (None, Some(_)) => Err(
            "the credentials file has a proxy_password= but no proxy user: name one in the \
             proxy URL (socks5://USER@HOST:PORT) or with proxy_username="
                .into(),
        ),
    }
}

/// Reads a credentials file in mount.cifs's format: `username=NAME` and `password=PASS` lines
/// (`user=`/`pass=` too), blank lines and `#` comments. The value is everything after the first
/// `=`, spaces included. The file must be private to its owner (no group or other access bits), or
/// it is refused with the command that fixes it.
pub fn read_credentials_file(path: &Path) -> Result<CredentialsFile, String> {
    let mut f = std::fs::File::open(path)
        .map_err(|e| format!("cannot open credentials file {}: {e}", path.display()))?;
    // Checked on the open file, so the file read is the file checked.
    let meta = f
        .metadata()
        .map_err(|e| format!("credentials file {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!(
            "credentials file {} is not a regular file",
            path.display()
        ));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "credentials file {} is accessible by other users (mode {mode:04o}); \
             make it private with: chmod 600 {}",
            path.display(),
            path.display()
        ));
    }
    let mut text = String::new();
    f.read_to_string(&mut text)
        .map_err(|e| format!("cannot read credentials file {}: {e}", path.display()))?;
    parse_credentials(&text).map_err(|e| format!("credentials file {}: {e}", path.display()))
}

/// Parses the text of a credentials file; errors name the line number, never its content.
pub fn parse_credentials(text: &str) -> Result<CredentialsFile, String> {
    let mut out = CredentialsFile::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!(
                "line {}: expected username=NAME or password=PASS",
                i + 1
            ));
        };
        match key.trim() {
            "username" | "user" => out.username = Some(value.to_string()),
            "password" | "pass" => out.password = Some(Secret::new(value)),
            "proxy_username" | "proxy_user" => out.proxy_username = Some(value.to_string()),
            "proxy_password" | "proxy_pass" => out.proxy_password = Some(Secret::new(value)),
            other => {
                return Err(format!(
                    "line {}: unknown key {other:?} (expected username=, password=, \
                     proxy_username= or proxy_password=)",
                    i + 1
                ))
            }
        }
    }
    let bad_name =
        |u: &Option<String>| u.as_deref().is_some_and(|u| u.contains(['\r', '\n', '\0']));
    let bad_secret = |p: &Option<Secret>| p.as_ref().is_some_and(|p| p.expose().contains('\0'));
    if bad_name(&out.username)
        || bad_name(&out.proxy_username)
        || bad_secret(&out.password)
        || bad_secret(&out.proxy_password)
    {
        return Err("a value contains a control character".into());
    }
    Ok(out)
}

/// The netrc entry for `host` (or the `default` entry), if its login matches `user` when one is given.
fn from_netrc(
    path: &Path,
    host: &str,
    user: Option<&str>,
) -> Result<Option<(String, Secret)>, String> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let parsed = netrc::Netrc::parse(std::io::BufReader::new(file))
        .map_err(|e| format!("cannot parse {}: {e:?}", path.display()))?;
    let machine = parsed
        .hosts
        .iter()
        .find(|(name, m)| name == host && user.is_none_or(|u| u == m.login))
        .map(|(_, m)| m)
        .or(parsed
            .default
            .as_ref()
            .filter(|m| user.is_none_or(|u| u == m.login)));
    Ok(machine.and_then(|m| {
        m.password
            .as_ref()
            .map(|p| (m.login.clone(), Secret::new(p.clone())))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(text: &str, mode: u32) -> tempfile::NamedTempFile {
        use std::io::Write;
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        f
    }

    fn netrc(text: &str) -> tempfile::NamedTempFile {
        file_with(text, 0o600)
    }

    fn login(s: Sources) -> (String, String) {
        let (u, p) = resolve(s).unwrap();
        (u, p.expose().to_string())
    }

    /// Sources for host `h` with a netrc file, and a user from the URL or none.
    fn with_netrc<'a>(url_user: Option<&'a str>, netrc: &'a Path) -> Sources<'a> {
        Sources {
            host: "h",
            url_user,
            netrc: Some(netrc),
            ..Default::default()
        }
    }

    fn pair(u: &str, p: &str) -> (String, String) {
        (u.to_string(), p.to_string())
    }

    #[test]
    fn url_password_wins() {
        let creds = file_with("password=fromfile\n", 0o600);
        let got = login(Sources {
            host: "h",
            url_user: Some("bob"),
            url_password: Some("pw"),
            credentials_file: Some(creds.path()),
            env_password: Some("env".into()),
            ..Default::default()
        });
        assert_eq!(got, pair("bob", "pw"));
    }

    #[test]
    fn credentials_file_comes_before_environment_and_netrc() {
        let creds = file_with(
            "# for the backup box\nusername=bob\npassword=fromfile\n",
            0o600,
        );
        let n = netrc("machine h login bob password fromnetrc\n");
        let got = login(Sources {
            host: "h",
            credentials_file: Some(creds.path()),
            env_password: Some("env".into()),
            netrc: Some(n.path()),
            ..Default::default()
        });
        assert_eq!(got, pair("bob", "fromfile"));
    }

    #[test]
    fn a_credentials_file_with_only_a_user_falls_through_to_the_next_source() {
        let creds = file_with("username=bob\n", 0o600);
        let n = netrc("machine h login bob password fromnetrc\n");
        let got = login(Sources {
            host: "h",
            credentials_file: Some(creds.path()),
            netrc: Some(n.path()),
            ..Default::default()
        });
        assert_eq!(got, pair("bob", "fromnetrc"));
    }

    #[test]
    fn a_credentials_file_for_another_user_is_an_error() {
        let creds = file_with("username=carol\npassword=x\n", 0o600);
        let e = resolve(Sources {
            host: "h",
            url_user: Some("bob"),
            credentials_file: Some(creds.path()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.contains("carol") && e.contains("bob"), "{e}");
    }

    #[test]
    fn a_credentials_file_others_can_read_is_refused_with_the_fix() {
        for mode in [0o644, 0o640, 0o604, 0o660] {
            let creds = file_with("password=topsecret\n", mode);
            let e = resolve(Sources {
                host: "h",
                url_user: Some("bob"),
                credentials_file: Some(creds.path()),
                ..Default::default()
            })
            .unwrap_err();
            let path = creds.path().display().to_string();
            assert!(e.contains(&path), "{e}");
            assert!(e.contains(&format!("chmod 600 {path}")), "{e}");
            assert!(e.contains(&format!("{mode:04o}")), "{e}");
            assert!(!e.contains("topsecret"), "{e}");
        }
        // 0400 and 0600 are fine.
        let creds = file_with("password=pw\n", 0o400);
        assert!(read_credentials_file(creds.path()).is_ok());
    }

    #[test]
    fn a_missing_credentials_file_is_named() {
        let e = read_credentials_file(Path::new("/nonexistent/ftpfs.cred")).unwrap_err();
        assert!(e.contains("/nonexistent/ftpfs.cred"), "{e}");
    }

    #[test]
    fn credentials_file_format() {
        let c = parse_credentials(
            "\n# comment\n  username = ignored-spaces-in-key\nuser=bob\r\npass= two words=x \n",
        )
        .unwrap();
        assert_eq!(c.username.as_deref(), Some("bob"));
        // Everything after the first '=' is the password, spaces and '=' included.
        assert_eq!(c.password.unwrap().expose(), " two words=x ");
        let e = parse_credentials("username=bob\nhunter2\n").unwrap_err();
        assert_eq!(e, "line 2: expected username=NAME or password=PASS");
        let e = parse_credentials("domain=x\n").unwrap_err();
        assert!(e.contains("line 1") && e.contains("domain"), "{e}");
        let e = parse_credentials("password=a\0b\n").unwrap_err();
        assert!(!e.contains("a\0b"), "{e}");
    }

    #[test]
    fn proxy_logins_come_from_the_url_or_the_file() {
        let c = parse_credentials(
            "username=bob\npassword=ftp-pw\nproxy_username=carol\nproxy_password=proxy-pw\n",
        )
        .unwrap();
        assert_eq!(c.username.as_deref(), Some("bob"));
        let p = Path::new("/c");
        let got = |u: Option<&str>, pw: Option<&str>, f: Option<&CredentialsFile>| {
            proxy_login(u, pw, f.map(|f| (p, f)))
                .map(|l| l.map(|(u, s)| (u, s.expose().to_string())))
        };
        assert_eq!(got(None, None, None), Ok(None));
        assert_eq!(
            got(None, None, Some(&c)),
            Ok(Some(pair("carol", "proxy-pw")))
        );
        assert_eq!(
            got(Some("carol"), None, Some(&c)),
            Ok(Some(pair("carol", "proxy-pw")))
        );
        assert_eq!(
            got(Some("dave"), Some("url-pw"), Some(&c)),
            Ok(Some(pair("dave", "url-pw")))
        );
        let e = got(Some("dave"), None, Some(&c)).unwrap_err();
        assert!(
            e.contains("proxy user carol") && e.contains("names dave"),
            "{e}"
        );
        let e = got(Some("dave"), None, None).unwrap_err();
        assert!(e.contains("no password for proxy user dave"), "{e}");
        let only_password = parse_credentials("proxy_pass=x\n").unwrap();
        let e = got(None, None, Some(&only_password)).unwrap_err();
        assert!(e.contains("no proxy user"), "{e}");
        let e = got(None, Some("pw"), None).unwrap_err();
        assert!(e.contains("no user name") && !e.contains("pw"), "{e}");
        assert!(parse_credentials("proxy_user=a\0b\n").is_err());
    }

    #[test]
    fn environment_comes_before_netrc() {
        let n = netrc("machine h login bob password fromnetrc\n");
        let got = login(Sources {
            host: "h",
            url_user: Some("bob"),
            env_password: Some("env".into()),
            netrc: Some(n.path()),
            ..Default::default()
        });
        assert_eq!(got, pair("bob", "env"));
    }

    #[test]
    fn netrc_gives_login_and_password() {
        let n = netrc("machine other login x password y\nmachine h login bob password s3cret\n");
        let got = login(with_netrc(None, n.path()));
        assert_eq!(got, pair("bob", "s3cret"));
        let got = login(with_netrc(Some("bob"), n.path()));
        assert_eq!(got, pair("bob", "s3cret"));
    }

    #[test]
    fn netrc_default_entry_and_user_mismatch() {
        let n = netrc("machine h login carol password c\ndefault login dave password d\n");
        let got = login(with_netrc(Some("dave"), n.path()));
        assert_eq!(got, pair("dave", "d"));
    }

    #[test]
    fn the_prompt_is_the_last_source_and_only_for_a_named_user() {
        let asked = std::cell::Cell::new(0);
        let ask = |who: &str| {
            asked.set(asked.get() + 1);
            assert_eq!(who, "bob@h");
            Ok("typed".to_string())
        };
        let got = login(Sources {
            host: "h",
            url_user: Some("bob"),
            prompt: Some(&ask),
            ..Default::default()
        });
        assert_eq!(got, pair("bob", "typed"));
        let got = login(Sources {
            host: "h",
            url_user: Some("bob"),
            env_password: Some("env".into()),
            prompt: Some(&ask),
            ..Default::default()
        });
        assert_eq!(got, pair("bob", "env"));
        let got = login(Sources {
            host: "h",
            prompt: Some(&ask),
            ..Default::default()
        });
        assert_eq!(got, pair("anonymous", "anonymous@"));
        assert_eq!(asked.get(), 1);
    }

    #[test]
    fn named_user_without_password_or_terminal_is_an_error_that_names_the_sources() {
        let e = resolve(Sources {
            host: "h",
            url_user: Some("bob"),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            e.contains("credentials=") && e.contains("FTPFS_PASSWORD") && e.contains("netrc"),
            "{e}"
        );
    }

    #[test]
    fn no_user_means_anonymous() {
        let got = login(Sources {
            host: "h",
            ..Default::default()
        });
        assert_eq!(got.0, "anonymous");
    }
}
