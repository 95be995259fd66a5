//! The URL of the server to mount: `ftp://`, `ftpes://` or `ftps://`, a user and maybe a password
//! (percent-decoded), a host (IPv6 in brackets), a port, and the path of the mount's root, which is
//! relative to the login directory unless it starts with `%2F`. Messages never show the password.

use crate::config::{ProxyKind, TlsMode};

/// What a URL names.
#[derive(Debug)]
pub struct Target {
    /// The scheme as written (`ftp`, `ftpes`, `ftps`).
    pub scheme: String,
    /// The TLS mode the scheme names (`None` for ftp://: plain unless `-o tls=` says otherwise).
    pub scheme_mode: Option<TlsMode>,
    pub host: String,
    pub port: Option<u16>,
    /// The user, decoded; empty when the URL names none.
    pub user: String,
    pub password: Option<String>,
    /// The mount's root as the URL names it (see `url_path`).
    pub path: String,
}

impl Target {
    /// Parses `raw`; errors are one line that never shows the password.
    pub fn parse(raw: &str) -> Result<Target, String> {
        let url = url::Url::parse(raw).map_err(|e| format!("bad URL {:?}: {e}", redact(raw)))?;
        let scheme_mode = match url.scheme() {
            "ftp" => None,
            "ftpes" => Some(TlsMode::Explicit),
            "ftps" => Some(TlsMode::Implicit),
            _ => {
                return Err(format!(
                    "bad URL {:?}: the scheme must be ftp://, ftpes:// or ftps://",
                    redact(raw)
                ))
            }
        };
        let host = match url.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) => h.to_string(),
            None => return Err(format!("bad URL {:?}: no host", redact(raw))),
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "bad URL {:?}: no query or fragment allowed",
                redact(raw)
            ));
        }
        Ok(Target {
            scheme: url.scheme().to_string(),
            scheme_mode,
            host,
            port: url.port(),
            user: decode(url.username())?,
            password: url.password().map(decode).transpose()?,
            path: url_path(url.path())?,
        })
    }
}

/// What `-o proxy=URL` names: `socks5://[user[:password]@]host[:port]` (or `socks5h://`, the
/// same: the proxy resolves the server's name), or `http://[user[:password]@]host[:port]` for an
/// HTTP proxy's CONNECT tunnel.
#[derive(Debug)]
pub struct ProxyUrl {
    pub kind: ProxyKind,
    pub host: String,
    /// The port, 1080 for SOCKS5 and 80 for HTTP when the URL names none.
    pub port: u16,
    /// The user, decoded; `None` when the URL names none.
    pub user: Option<String>,
    /// The password, decoded.
    pub password: Option<String>,
    /// The password as written, to hide it in the process's command line.
    pub raw_password: Option<String>,
}

impl ProxyUrl {
    /// Parses `raw`; errors are one line that never shows the password.
    pub fn parse(raw: &str) -> Result<ProxyUrl, String> {
        let bad = |why: &str| format!("option proxy: bad URL {:?}: {why}", redact(raw));
        let url = url::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
        let kind = match url.scheme() {
            "socks5" | "socks5h" => ProxyKind::Socks5,
            "http" => ProxyKind::HttpConnect,
            _ => return Err(bad("the scheme must be socks5:// or http://")),
        };
        let host = match url.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) if !h.to_string().is_empty() => h.to_string(),
            _ => return Err(bad("no host")),
        };
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("a proxy URL has no path, query or fragment"));
        }
        let port = match (url.port_or_known_default(), kind) {
            (Some(p), _) => p,
            (None, ProxyKind::Socks5) => 1080,
            (None, ProxyKind::HttpConnect) => 80,
        };
        let user = Some(decode(url.username())?).filter(|u| !u.is_empty());
        let password = url.password().map(decode).transpose()?;
        // As written: between the first ':' of the user part and its last '@'.
        let raw_password = password.as_ref().and_then(|_| {
            let rest = raw.split_once("://")?.1;
            let userinfo = &rest[..rest.rfind('@')?];
            Some(userinfo.split_once(':')?.1.to_string())
        });
        Ok(ProxyUrl {
            kind,
            host,
            port,
            user,
            password,
            raw_password,
        })
    }
}

/// The mount's directory as the URL names it (see `RemoteConfig::path`): the `/` after the host
/// only separates, so `ftp://h/pub` is `pub` in the login directory, while `ftp://h/%2Fsrv` and
/// `ftp://h//srv` are the absolute `/srv` (RFC 1738 §3.2.2, as curl reads it).
fn url_path(raw: &str) -> Result<String, String> {
    // The path names the server's bytes (`%E9` is the byte 0xE9, as curl sends it), so it may be
    // any bytes: kept in the inner form of `crate::names`.
    let bytes: Vec<u8> =
        percent_encoding::percent_decode_str(raw.strip_prefix('/').unwrap_or(raw)).collect();
    if bytes.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err("bad URL: it contains a control character".into());
    }
    let path = crate::names::escape_path(&bytes).into_owned();
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
    use crate::cli::tests::parse;

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
        // Bytes that are not UTF-8 name the server's bytes.
        assert_eq!(path("ftp://h/caf%E9/x"), "caf\u{F7E9}/x");
        let bad = parse(&["ftp://h/a%0D%0ADELE%20x", "/m"]).unwrap_err();
        assert!(bad.contains("control character"), "{bad}");
        let c = parse(&["ftp://h/caf%E9", "/m"]).unwrap();
        assert_eq!(c.remote.display_url(), "ftp://anonymous@h:21/caf%E9");
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
    fn proxy_urls() {
        use super::ProxyUrl;
        use crate::config::ProxyKind;
        let p = ProxyUrl::parse("socks5://127.0.0.1:1081").unwrap();
        assert_eq!(
            (p.kind, p.host.as_str(), p.port),
            (ProxyKind::Socks5, "127.0.0.1", 1081)
        );
        assert_eq!((p.user, p.password, p.raw_password), (None, None, None));
        let p = ProxyUrl::parse("socks5h://proxy.corp").unwrap();
        assert_eq!((p.kind, p.port), (ProxyKind::Socks5, 1080));
        let p = ProxyUrl::parse("http://b%40b:p%3Aw%40x@[::1]:3128/").unwrap();
        assert_eq!(
            (p.kind, p.host.as_str(), p.port),
            (ProxyKind::HttpConnect, "::1", 3128)
        );
        assert_eq!(p.user.as_deref(), Some("b@b"));
        assert_eq!(p.password.as_deref(), Some("p:w@x"));
        assert_eq!(p.raw_password.as_deref(), Some("p%3Aw%40x"));
        assert_eq!(ProxyUrl::parse("http://proxy").unwrap().port, 80);
        for (bad, why) in [
            ("https://u:topsecret@proxy:443", "socks5:// or http://"),
            ("socks4://proxy:1080", "socks5:// or http://"),
            ("socks5://u:topsecret@proxy:1080/x", "no path"),
            ("proxy:1080", "socks5:// or http://"),
            ("socks5://u:topsecret@:1080", "bad URL"),
        ] {
            let e = ProxyUrl::parse(bad).unwrap_err();
            assert!(
                e.starts_with("option proxy: bad URL") && e.contains(why),
                "{bad}: {e}"
            );
            assert!(!e.contains("topsecret"), "{e}");
        }
    }

    #[test]
    fn line_breaks_in_the_path_are_refused() {
        assert!(parse(&["ftp://h/a%0d%0aDELE%20x", "/m"]).is_err());
    }
}
