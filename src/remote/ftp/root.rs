//! The mount's root on the server. The URL path is relative to the directory the server puts the
//! user in at login (RFC 1738 §3.2.2; curl, lftp and rclone read it so), unless it starts with `/`
//! (`%2F`, or `//`, in the URL). So after the first login the store asks `PWD` once, and the root
//! is that directory joined with the URL path; every command then uses absolute paths under it.
//! A `PWD` reply that names no absolute path (an error, no quotes, a VMS or MVS form) leaves the
//! server's `/` as the login directory, with a warning.

use log::warn;

use crate::names::Names;

/// Where the mount's root is, once the login directory is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// The login directory as `PWD` named it; `None` when its reply could not be read.
    pub login: Option<String>,
    /// The root: absolute, without a trailing `/`, and empty for the server's `/` (so that
    /// `base + "/name"` is a path under it).
    pub base: String,
}

impl Root {
    /// The root for URL path `path` (see `RemoteConfig::path`) after `PWD` answered `reply`
    /// (its whole bytes, code included). The directory's name keeps its exact bytes, in the inner
    /// form of `crate::names` (`names`: how the server's names are coded).
    pub fn resolve(path: &str, reply: &[u8], names: Names) -> Root {
        let (text, how) = names.text(reply);
        let login = login_directory(&text).map(|dir| names.from_text(how, &dir));
        let start = match &login {
            Some(dir) => dir.as_str(),
            None => {
                if !path.starts_with('/') {
                    warn!(
                        "cannot read the login directory from the server's PWD reply {:?}; the \
                         URL path is taken from the server's /",
                        text.trim_end()
                    );
                }
                "/"
            }
        };
        let joined = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("{start}/{path}")
        };
        Root {
            login,
            base: normalize(&joined),
        }
    }

    /// The root as an absolute path (`/` for the server's root).
    pub fn path(&self) -> &str {
        if self.base.is_empty() {
            "/"
        } else {
            &self.base
        }
    }
}

/// The directory a `257` reply to `PWD` names: the text between the first `"` and its closing
/// `"`, with `""` inside standing for one `"` (RFC 959, Appendix II). Only an absolute Unix-style
/// path is taken: the store builds paths by appending `/name`.
pub fn login_directory(reply: &str) -> Option<String> {
    let first = reply.lines().next()?;
    if !first.starts_with("257") {
        return None;
    }
    let quoted = &first[first.find('"')? + 1..];
    let mut dir = String::new();
    let mut chars = quoted.chars().peekable();
    loop {
        match chars.next()? {
            '"' if chars.peek() == Some(&'"') => {
                chars.next();
                dir.push('"');
            }
            '"' => break,
            c => dir.push(c),
        }
    }
    dir.starts_with('/').then_some(dir)
}

/// `path` without empty components and trailing `/`; `""` for the root.
fn normalize(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty())
        .fold(String::new(), |mut out, c| {
            out.push('/');
            out.push_str(c);
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pwd_replies() {
        let dir = |r: &str| login_directory(r);
        assert_eq!(
            dir("257 \"/home/bob\" is the current directory"),
            Some("/home/bob".into())
        );
        assert_eq!(dir("257 \"/\""), Some("/".into()));
        // A quote inside the name is doubled.
        assert_eq!(
            dir("257 \"/srv/say \"\"hi\"\"\" created"),
            Some("/srv/say \"hi\"".into())
        );
        assert_eq!(dir("257 \"/with space/ü\""), Some("/with space/ü".into()));
        // No quotes, an unclosed quote, an error, a path that is not Unix-style.
        assert_eq!(dir("257 /home/bob"), None);
        assert_eq!(dir("257 \"/home/bob"), None);
        assert_eq!(dir("550 PWD not allowed"), None);
        assert_eq!(dir("257 \"USER1:[BOB]\" is current directory."), None);
        assert_eq!(dir("257 \"'BOB.'\" is working directory."), None);
        assert_eq!(dir(""), None);
    }

    #[test]
    fn the_url_path_is_relative_to_the_login_directory() {
        let home = "257 \"/home/bob\" is the current directory";
        let resolve = |path: &str, reply: &str| Root::resolve(path, reply.as_bytes(), Names::BYTES);
        let root = |path: &str, reply: &str| resolve(path, reply).base;
        assert_eq!(root("", home), "/home/bob");
        assert_eq!(root("pub/dir", home), "/home/bob/pub/dir");
        // %2F (or //) at the start of the URL path: absolute.
        assert_eq!(root("/srv/ftp", home), "/srv/ftp");
        assert_eq!(root("/", home), "");
        // A chrooted login: the login directory is /.
        assert_eq!(root("", "257 \"/\""), "");
        assert_eq!(root("pub", "257 \"/\""), "/pub");
        // A reply that cannot be read: the server's /.
        let odd = resolve("pub", "257 \"DISK$USER:[BOB]\"");
        assert_eq!(odd.login, None);
        assert_eq!(odd.base, "/pub");
        assert_eq!(root("", "502 no PWD here"), "");
        // Empty components and trailing slashes go.
        assert_eq!(root("a//b/", "257 \"/home/bob/\""), "/home/bob/a/b");
        assert_eq!(resolve("", "257 \"/\"").path(), "/");
        assert_eq!(resolve("x", "257 \"/\"").path(), "/x");
    }

    #[test]
    fn a_login_directory_that_is_not_utf8_keeps_its_bytes() {
        let reply = b"257 \"/home/caf\xe9\" is the current directory";
        let root = Root::resolve("sub", reply, Names::BYTES);
        assert_eq!(root.base, "/home/caf\u{F7E9}/sub");
        assert_eq!(
            Names::BYTES.to_server(&root.base).unwrap(),
            &b"/home/caf\xe9/sub"[..]
        );
        let latin1 = Names::with_encoding("latin1").unwrap();
        assert_eq!(Root::resolve("", reply, latin1).base, "/home/caf\u{e9}");
    }
}
