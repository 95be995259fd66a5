//! Names as the server has them, as the kernel gets them, and as ftpfs carries them in between.
//! This module owns the three conversions and nothing else.
//!
//! FTP names are bytes: many servers send names that are not UTF-8 (a Windows code page, Latin-1,
//! Shift-JIS, GBK, EUC-KR...), and the kernel takes any bytes but `/` and NUL. By default ftpfs
//! passes them through byte for byte: the bytes a listing holds are the bytes `readdir` gives, and
//! the bytes a program names are the bytes sent back. `ls` may show `?`, but every operation works.
//!
//! In between (the inode table, the caches, the core's paths, `RemoteStore` paths) a name is a
//! `String` in one lossless form, so that paths keep `str`'s operations and one type everywhere:
//! - a name whose bytes are UTF-8 with no character of U+F780..=U+F7FF is itself;
//! - any other name has each byte of 0x80 and above as the character U+F700 + byte (the Private
//!   Use Area), and ASCII as itself.
//!
//! The two forms cannot meet (the first has no such character, the second has at least one), and
//! the second maps bytes one to one, so every byte string has exactly one inner form and comes
//! back from it unchanged. This is the idea of Python's `surrogateescape` (PEP 383), moved into the
//! Private Use Area because a Rust `String` cannot hold lone surrogates. The form is decided per
//! path component: `/` is ASCII in every encoding ftpfs accepts, so it splits paths in both.
//!
//! With `-o encoding=LABEL` the server's names are text in that encoding: inside and for the
//! kernel they are UTF-8, they are encoded on the way to the server, and a name the encoding cannot
//! write is refused (`EILSEQ`) before anything is sent.

use std::borrow::Cow;

use encoding_rs::Encoding;

/// The escape range: U+F700 + byte, for the bytes 0x80..=0xFF.
const ESCAPE_BASE: u32 = 0xF700;

fn escaped(c: char) -> Option<u8> {
    let c = c as u32;
    (ESCAPE_BASE + 0x80..=ESCAPE_BASE + 0xFF)
        .contains(&c)
        .then(|| (c - ESCAPE_BASE) as u8)
}

/// The inner form of one name's bytes (see the module doc).
pub fn escape(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if !is_escaped(text) {
            return Cow::Borrowed(text);
        }
    }
    Cow::Owned(
        bytes
            .iter()
            .map(|&b| {
                if b.is_ascii() {
                    b as char
                } else {
                    char::from_u32(ESCAPE_BASE + b as u32).expect("a Private Use Area character")
                }
            })
            .collect(),
    )
}

/// The bytes of one name in the inner form. A string that `escape` cannot have made (escaped
/// bytes next to other non-ASCII characters: a hand-written name) keeps those characters as UTF-8.
pub fn unescape(name: &str) -> Cow<'_, [u8]> {
    if !is_escaped(name) {
        return Cow::Borrowed(name.as_bytes());
    }
    let mut out = Vec::with_capacity(name.len());
    for c in name.chars() {
        match escaped(c) {
            Some(b) => out.push(b),
            None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    Cow::Owned(out)
}

/// `escape` for each component of a path.
pub fn escape_path(bytes: &[u8]) -> Cow<'_, str> {
    // The common case, at every operation: text with no escape character is its own inner form,
    // and so is each of its components (split at an ASCII byte, they stay text).
    if let Ok(text) = std::str::from_utf8(bytes) {
        if !is_escaped(text) {
            return Cow::Borrowed(text);
        }
    }
    per_component(bytes, b'/', |c| escape(c).into_owned().into_bytes()).map_or_else(
        || escape(bytes),
        |v| Cow::Owned(String::from_utf8(v).expect("escaped")),
    )
}

/// `unescape` for each component of a path.
pub fn unescape_path(path: &str) -> Cow<'_, [u8]> {
    // The common case, at every command: no escape character anywhere, no component changes.
    if !is_escaped(path) {
        return Cow::Borrowed(path.as_bytes());
    }
    per_component(path.as_bytes(), b'/', |c| {
        let c = std::str::from_utf8(c).expect("split at an ASCII byte");
        unescape(c).into_owned()
    })
    .map_or_else(|| unescape(path), Cow::Owned)
}

/// Applies `f` to each `sep`-separated part of `s`, or `None` when there is only one part.
fn per_component(s: &[u8], sep: u8, f: impl Fn(&[u8]) -> Vec<u8>) -> Option<Vec<u8>> {
    if !s.contains(&sep) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len());
    for (i, part) in s.split(|&b| b == sep).enumerate() {
        if i > 0 {
            out.push(sep);
        }
        out.extend_from_slice(&f(part));
    }
    Some(out)
}

/// A name the server's encoding cannot write (`-o encoding=`): refused before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unencodable(pub String);

/// How server bytes (a listing, a reply) were read as text for the parsers, so that a name
/// found in the text goes back to its exact bytes (`Names::from_text`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// The bytes were not all UTF-8 and were read as Latin-1: every byte one character, so the
    /// parsers see the ASCII structure of the lines, and a name's characters give back its bytes.
    latin1: bool,
}

/// How names are coded between the server, ftpfs and the kernel (`-o encoding=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Names {
    /// The server's encoding; `None`: names are bytes, passed through unchanged.
    encoding: Option<&'static Encoding>,
}

impl Names {
    /// Byte for byte (the default).
    pub const BYTES: Names = Names { encoding: None };

    /// Names in the encoding `label` names (as `encoding_rs` knows labels: `latin1`,
    /// `windows-1251`, `shift_jis`, `gbk`, `euc-kr`...). UTF-8 itself is the default's job, and the
    /// UTF-16 family cannot be an FTP name (its bytes hold NUL and line ends).
    pub fn with_encoding(label: &str) -> Result<Names, String> {
        let encoding = Encoding::for_label(label.trim().as_bytes())
            .ok_or_else(|| format!("unknown encoding {label:?}"))?;
        if encoding == encoding_rs::UTF_16LE
            || encoding == encoding_rs::UTF_16BE
            || encoding == encoding_rs::REPLACEMENT
        {
            return Err(format!("{label:?} cannot encode FTP names"));
        }
        if encoding == encoding_rs::UTF_8 {
            return Ok(Names::BYTES);
        }
        Ok(Names {
            encoding: Some(encoding),
        })
    }

    /// The encoding's name, when one was set.
    pub fn encoding(&self) -> Option<&'static str> {
        self.encoding.map(|e| e.name())
    }

    /// A name or path the server sent (a `PWD` reply's directory) in the inner form.
    pub fn from_server<'a>(&self, bytes: &'a [u8]) -> Cow<'a, str> {
        match self.encoding {
            None => escape_path(bytes),
            Some(enc) => enc.decode_without_bom_handling(bytes).0,
        }
    }

    /// A path (or name) in the server's bytes, for a command.
    pub fn to_server<'a>(&self, path: &'a str) -> Result<Cow<'a, [u8]>, Unencodable> {
        match self.encoding {
            None => Ok(unescape_path(path)),
            Some(enc) => {
                let (bytes, _, unmappable) = enc.encode(path);
                if unmappable {
                    Err(Unencodable(format!(
                        "{path:?} cannot be written in {}",
                        enc.name()
                    )))
                } else {
                    Ok(bytes)
                }
            }
        }
    }

    /// A name the kernel gave in the inner form; `None` when it cannot be one (not UTF-8 while
    /// the server's names are text in an encoding).
    pub fn from_kernel<'a>(&self, bytes: &'a [u8]) -> Option<Cow<'a, str>> {
        match self.encoding {
            None => Some(escape_path(bytes)),
            Some(_) => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
        }
    }

    /// A name or path in the inner form as the kernel's bytes.
    pub fn to_kernel<'a>(&self, name: &'a str) -> Cow<'a, [u8]> {
        match self.encoding {
            None => unescape_path(name),
            Some(_) => Cow::Borrowed(name.as_bytes()),
        }
    }

    /// Server bytes (one line, or a reply) as text for a parser (see `Decoded`).
    pub fn text<'a>(&self, bytes: &'a [u8]) -> (Cow<'a, str>, Decoded) {
        let utf8 = Decoded { latin1: false };
        match self.encoding {
            Some(enc) => (enc.decode_without_bom_handling(bytes).0, utf8),
            None => match std::str::from_utf8(bytes) {
                Ok(text) => (Cow::Borrowed(text), utf8),
                Err(_) => (Cow::Owned(latin1(bytes)), Decoded { latin1: true }),
            },
        }
    }

    /// A listing's lines as text, all read the same way: as UTF-8 when every line is, else each
    /// as Latin-1 (lossless for every name either way; a listing that mixes both loses only
    /// non-ASCII month names of its UTF-8 lines).
    /// Takes the lines, so that UTF-8 ones become text without a copy.
    pub fn texts(&self, lines: Vec<Vec<u8>>) -> (Vec<String>, Decoded) {
        let all_utf8 =
            self.encoding.is_some() || lines.iter().all(|l| std::str::from_utf8(l).is_ok());
        let how = Decoded { latin1: !all_utf8 };
        let texts = lines
            .into_iter()
            .map(|l| match self.encoding {
                Some(enc) => enc.decode_without_bom_handling(&l).0.into_owned(),
                None if how.latin1 => latin1(&l),
                None => String::from_utf8(l).expect("checked UTF-8"),
            })
            .collect();
        (texts, how)
    }

    /// A name (or link target) a parser found in text read as `how` says, in the inner form.
    pub fn from_text(&self, how: Decoded, found: &str) -> String {
        if how.latin1 {
            let bytes: Vec<u8> = found.chars().map(|c| c as u32 as u8).collect();
            escape_path(&bytes).into_owned()
        } else if self.encoding.is_some() {
            found.to_string()
        } else {
            escape_path(found.as_bytes()).into_owned()
        }
    }

    /// Whether a name in the inner form can be sent back: always for bytes; with an encoding, not
    /// when decoding it found malformed bytes (U+FFFD, which the encoding cannot write back).
    pub fn sendable(&self, name: &str) -> bool {
        self.to_server(name).is_ok()
    }
}

/// Bytes as Latin-1 text: each byte the character of its value.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// Whether a name or path in the inner form holds an escaped byte (one that is not UTF-8): the
/// conversions copy only such names, and `--probe` reports them.
pub fn is_escaped(name: &str) -> bool {
    name.chars().any(|c| escaped(c).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte string comes back from the inner form unchanged, and different ones have
    /// different inner forms: all strings of up to two bytes, and a pseudo-random sample of longer.
    #[test]
    fn the_inner_form_is_lossless_and_one_to_one() {
        let mut seen = std::collections::HashMap::new();
        let mut check = |bytes: Vec<u8>| {
            let inner = escape(&bytes).into_owned();
            assert_eq!(unescape(&inner), &bytes[..], "{bytes:x?} via {inner:?}");
            if let Some(other) = seen.insert(inner.clone(), bytes.clone()) {
                assert_eq!(other, bytes, "two names share {inner:?}");
            }
        };
        check(Vec::new());
        for a in 0..=255u8 {
            check(vec![a]);
            for b in 0..=255u8 {
                check(vec![a, b]);
            }
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            let len = (x % 9) as usize + 3;
            let mut v = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mostly the bytes UTF-8 and the escape range are made of.
                v.push([b'a', 0xC3, 0xA9, 0xEF, 0x9F, 0x9E, 0xBF, x as u8][(x >> 32) as usize % 8]);
            }
            check(v);
        }
    }

    #[test]
    fn utf8_names_are_themselves_and_others_are_escaped() {
        assert_eq!(escape("café.txt".as_bytes()), "café.txt");
        assert!(matches!(escape(b"plain"), Cow::Borrowed(_)));
        assert_eq!(escape(b"caf\xe9"), "caf\u{F7E9}");
        // A UTF-8 name that holds an escape character is escaped whole, so it cannot be mistaken
        // for the Latin-1 name that escapes to it.
        let tricky = "x\u{F7E9}";
        assert_ne!(escape(tricky.as_bytes()), tricky);
        assert_eq!(unescape(&escape(tricky.as_bytes())), tricky.as_bytes());
        assert!(is_escaped("caf\u{F7E9}") && !is_escaped("café"));
    }

    #[test]
    fn paths_are_coded_per_component() {
        let path = b"/caf\xc3\xa9/caf\xe9/x";
        let inner = escape_path(path);
        assert_eq!(inner, "/café/caf\u{F7E9}/x");
        assert_eq!(unescape_path(&inner), &path[..]);
        assert_eq!(Names::BYTES.to_server(&inner).unwrap(), &path[..]);
        assert_eq!(Names::BYTES.to_kernel("caf\u{F7E9}"), &b"caf\xe9"[..]);
        // Text with no escape character goes both ways as it is, without a copy.
        assert!(matches!(
            escape_path("/café/x".as_bytes()),
            Cow::Borrowed("/café/x")
        ));
        assert!(matches!(unescape_path("/café/x"), Cow::Borrowed(b) if b == "/café/x".as_bytes()));
    }

    #[test]
    fn listing_lines_that_are_not_utf8_are_read_as_latin1() {
        let names = Names::BYTES;
        let raw = b"-rw-r--r-- 1 u g 5 M\xe4r 01 10:00 caf\xe9 \xff.txt";
        let (text, how) = names.text(raw);
        assert!(text.contains("Mär"), "{text:?}");
        assert!(text.ends_with(" caf\u{e9} \u{ff}.txt"), "{text:?}");
        assert_eq!(names.from_text(how, "caf\u{e9}"), "caf\u{F7E9}");
        let (_, utf8) = names.text("x café".as_bytes());
        assert_eq!(names.from_text(utf8, "café"), "café");
        // A listing that mixes UTF-8 and Latin-1 lines: every name keeps its bytes.
        let lines = vec!["a é".as_bytes().to_vec(), b"b \xe9".to_vec()];
        let (texts, how) = names.texts(lines);
        assert_eq!(names.from_text(how, &texts[0][2..]), "é");
        assert_eq!(names.from_text(how, &texts[1][2..]), "\u{F7E9}");
    }

    #[test]
    fn an_encoding_codes_names_both_ways_and_refuses_what_it_cannot_write() {
        let latin1 = Names::with_encoding("latin1").unwrap();
        assert_eq!(latin1.encoding(), Some("windows-1252"));
        assert_eq!(latin1.from_server(b"/caf\xe9"), "/café");
        assert_eq!(latin1.to_server("/café").unwrap(), &b"/caf\xe9"[..]);
        assert_eq!(latin1.to_kernel("café"), "café".as_bytes());
        assert_eq!(
            latin1.from_kernel(b"caf\xe9"),
            None,
            "not UTF-8 from the kernel"
        );
        assert!(latin1.to_server("日本").is_err());
        let sjis = Names::with_encoding("shift_jis").unwrap();
        assert_eq!(sjis.from_server(b"\x93\xfa\x96\x7b"), "日本");
        assert_eq!(sjis.to_server("日本").unwrap(), &b"\x93\xfa\x96\x7b"[..]);
        // Malformed bytes decode to U+FFFD, which cannot be sent back.
        assert!(!sjis.sendable(&sjis.from_server(b"\x93")));
        let gbk = Names::with_encoding("GBK").unwrap();
        let (text, how) = gbk.text(b"-rw-r--r-- 1 u g 5 Mar 01 10:00 \xd6\xd0\xce\xc4.txt");
        assert!(text.ends_with("中文.txt"));
        assert_eq!(gbk.from_text(how, "中文.txt"), "中文.txt");
        assert_eq!(Names::with_encoding("utf-8").unwrap(), Names::BYTES);
        assert!(Names::with_encoding("utf-16le").is_err());
        assert!(Names::with_encoding("klingon").is_err());
    }
}
