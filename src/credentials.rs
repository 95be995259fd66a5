//! Where the password comes from when the URL carries none: the `FTPFS_PASSWORD` environment variable,
//! then `~/.netrc` (`machine`/`login`/`password`, or `default`). Nothing here logs a password.

use std::path::Path;

use crate::config::Secret;

/// The login to use: the URL's user (or netrc's, or `anonymous`) and a password from the first source
/// that has one.
pub fn resolve(
    host: &str,
    url_user: Option<&str>,
    url_password: Option<&str>,
    env_password: Option<String>,
    netrc_path: Option<&Path>,
) -> Result<(String, Secret), String> {
    if let Some(p) = url_password {
        let user = url_user.unwrap_or("anonymous");
        return Ok((user.to_string(), Secret::new(p)));
    }
    if let Some(p) = env_password {
        return Ok((url_user.unwrap_or("anonymous").to_string(), Secret::new(p)));
    }
    if let Some(path) = netrc_path {
        if let Some((login, password)) = from_netrc(path, host, url_user)? {
            return Ok((login, password));
        }
    }
    match url_user {
        None | Some("anonymous") | Some("ftp") => Ok((
            url_user.unwrap_or("anonymous").to_string(),
            Secret::new("anonymous@"),
        )),
        Some(u) => Err(format!(
            "no password for {u}@{host}: put it in the URL, in FTPFS_PASSWORD or in ~/.netrc"
        )),
    }
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

    fn netrc(text: &str) -> tempfile::NamedTempFile {
        use std::io::Write;
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn url_password_wins() {
        let (u, p) = resolve("h", Some("bob"), Some("pw"), Some("env".into()), None).unwrap();
        assert_eq!((u.as_str(), p.expose()), ("bob", "pw"));
    }

    #[test]
    fn environment_comes_before_netrc() {
        let f = netrc("machine h login bob password fromnetrc\n");
        let (_, p) = resolve("h", Some("bob"), None, Some("env".into()), Some(f.path())).unwrap();
        assert_eq!(p.expose(), "env");
    }

    #[test]
    fn netrc_gives_login_and_password() {
        let f = netrc("machine other login x password y\nmachine h login bob password s3cret\n");
        let (u, p) = resolve("h", None, None, None, Some(f.path())).unwrap();
        assert_eq!((u.as_str(), p.expose()), ("bob", "s3cret"));
        let (u, p) = resolve("h", Some("bob"), None, None, Some(f.path())).unwrap();
        assert_eq!((u.as_str(), p.expose()), ("bob", "s3cret"));
    }

    #[test]
    fn netrc_default_entry_and_user_mismatch() {
        let f = netrc("machine h login carol password c\ndefault login dave password d\n");
        let (u, p) = resolve("h", Some("dave"), None, None, Some(f.path())).unwrap();
        assert_eq!((u.as_str(), p.expose()), ("dave", "d"));
    }

    #[test]
    fn named_user_without_password_is_an_error_that_names_the_sources() {
        let e = resolve("h", Some("bob"), None, None, None).unwrap_err();
        assert!(e.contains("FTPFS_PASSWORD") && e.contains("netrc"), "{e}");
    }

    #[test]
    fn no_user_means_anonymous() {
        let (u, _) = resolve("h", None, None, None, None).unwrap();
        assert_eq!(u, "anonymous");
    }
}
