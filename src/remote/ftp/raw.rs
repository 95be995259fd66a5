//! Exchanges on a plain control connection past suppaftp: one command line written to the
//! control socket, its replies read through a buffer of our own. suppaftp 12 can neither send
//! `REST` and `RETR` in one packet (`quick`) nor listen for an active data connection on a port of
//! our choosing (`active`), so those exchanges are made here. It is sound only between suppaftp
//! commands, when suppaftp's reply buffer is empty (every suppaftp exchange reads its replies to the
//! end and the server sends nothing unasked). Over TLS the exchange goes through the control
//! connection's TLS stream, which `tls::SharedTls` lets suppaftp and us use in turn. Each exchange reads its replies through one `Replies` buffer, which
//! must be empty when the exchange ends: anything left in it means the connection is out of step.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use suppaftp::types::Response;
use suppaftp::{FtpError, Status};

use super::Conn;
use crate::remote::tls::{close_tls_upload, FtpsStream, SharedTls};

/// Longest reply accepted, as suppaftp bounds its own.
const MAX_REPLY: usize = 64 << 10;

/// A reply on the control connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reply {
    pub code: u32,
    /// Every line of the reply, the code included, joined by newlines.
    pub text: String,
}

impl Reply {
    /// The reply as the suppaftp error that `classify` maps to a `RemoteError`.
    pub(super) fn unexpected(self) -> FtpError {
        FtpError::UnexpectedResponse(Response::new(
            Status::from(self.code),
            self.text.into_bytes(),
        ))
    }
}

/// The control connection as a `Read` that can live next to the connection it belongs to: its
/// socket, or its TLS stream.
pub(super) enum Control {
    Plain(Arc<TcpStream>),
    Tls(SharedTls),
}

impl Read for Control {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Control::Plain(s) => (&**s).read(buf),
            Control::Tls(t) => t.read(buf),
        }
    }
}

pub(super) type Replies = BufReader<Control>;

/// A reply buffer over `conn`'s control connection.
pub(super) fn replies(conn: &Conn) -> Replies {
    BufReader::new(match &conn.tls {
        Some(t) => Control::Tls(t.control.clone()),
        None => Control::Plain(Arc::clone(&conn.socket)),
    })
}

pub(super) fn bad_reply(what: &str) -> FtpError {
    FtpError::ConnectionError(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("unreadable reply from the server: {what}"),
    ))
}

/// Reads one reply, single- or multi-line (`123-...` up to `123 ...`).
pub(super) fn read_reply(r: &mut impl BufRead) -> Result<Reply, FtpError> {
    let mut text = String::new();
    let mut code: Option<u32> = None;
    loop {
        let mut line = Vec::new();
        let left = (MAX_REPLY - text.len()) as u64;
        let n = r
            .by_ref()
            .take(left)
            .read_until(b'\n', &mut line)
            .map_err(FtpError::ConnectionError)?;
        if n == 0 {
            return Err(FtpError::ConnectionError(
                std::io::ErrorKind::UnexpectedEof.into(),
            ));
        }
        if !line.ends_with(b"\n") {
            return Err(bad_reply("a reply line too long"));
        }
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches(['\r', '\n']);
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(line);
        let head = line.as_bytes();
        let numbered = head.len() >= 3 && head[..3].iter().all(u8::is_ascii_digit);
        let sep = head.get(3).copied();
        match code {
            None if numbered && matches!(sep, None | Some(b' ') | Some(b'-')) => {
                let c: u32 = line[..3].parse().expect("three digits");
                if sep != Some(b'-') {
                    return Ok(Reply { code: c, text });
                }
                code = Some(c);
            }
            None => return Err(bad_reply(line)),
            Some(c) if numbered && sep != Some(b'-') && line[..3] == c.to_string() => {
                return Ok(Reply { code: c, text })
            }
            Some(_) => {}
        }
    }
}

/// Reads a reply and checks that its code is one of `want`.
pub(super) fn expect(r: &mut Replies, want: &[u32]) -> Result<Reply, FtpError> {
    let reply = read_reply(r)?;
    if want.contains(&reply.code) {
        Ok(reply)
    } else {
        Err(reply.unexpected())
    }
}

/// A data connection ftpfs opened itself: plain, or TLS.
pub(super) enum Data {
    Plain(TcpStream),
    Tls(Box<FtpsStream>),
}

/// A transfer made past suppaftp (`quick`, `active`): its data connection, and the control
/// replies still to come.
pub(super) struct Transfer {
    data: Option<Data>,
    replies: Replies,
    /// Whether anything was written: an upload, whose TLS side must be closed with care.
    written: bool,
}

impl Transfer {
    /// A transfer on `data` whose replies come through `replies`; its preliminary reply (150)
    /// has been read.
    pub(super) fn new(data: Data, replies: Replies) -> Transfer {
        Transfer {
            data: Some(data),
            replies,
            written: false,
        }
    }

    /// Closes the data connection and reads the transfer's closing reply (`226`/`250`; a
    /// transfer cut short gets the server's `426` as the error). Anything left unread after it
    /// means the connection is out of step: an error that discards it.
    pub(super) fn finish(mut self) -> Result<(), FtpError> {
        self.close_data();
        let verdict = expect(&mut self.replies, &[226, 250]);
        if !self.replies.buffer().is_empty() {
            return Err(bad_reply("more replies than the transfer asked for"));
        }
        verdict.map(|_| ())
    }

    /// Closes the data connection and gives back the reply buffer, the closing reply still to
    /// be read from it (the buffer must not be dropped while it may hold a reply).
    pub(super) fn end_data(mut self) -> Replies {
        self.close_data();
        self.replies
    }

    fn close_data(&mut self) {
        match self.data.take() {
            // An upload's end of data is the close; a download cut short is closed early.
            Some(Data::Plain(data)) => {
                let _ = data.shutdown(std::net::Shutdown::Write);
            }
            Some(Data::Tls(mut tls)) if self.written => close_tls_upload(&mut tls),
            // Dropping it sends close_notify.
            Some(Data::Tls(_)) | None => {}
        }
    }

    fn data(&mut self) -> std::io::Result<&mut dyn ReadWrite> {
        match self.data.as_mut() {
            Some(Data::Plain(s)) => Ok(s),
            Some(Data::Tls(t)) => Ok(&mut **t),
            None => Err(std::io::Error::other("the transfer is finished")),
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

impl Read for Transfer {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.data()?.read(buf)
    }
}

impl Write for Transfer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written = true;
        self.data()?.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.data()?.flush()
    }
}

/// Writes `line` (CRLF-terminated, possibly several commands) to `conn`'s control socket.
pub(super) fn send(conn: &Conn, line: &str) -> Result<(), FtpError> {
    let sent = match &conn.tls {
        Some(t) => {
            let mut control = t.control.clone();
            control
                .write_all(line.as_bytes())
                .and_then(|()| control.flush())
        }
        None => (&*conn.socket).write_all(line.as_bytes()),
    };
    sent.map_err(FtpError::ConnectionError)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> Result<Reply, FtpError> {
        read_reply(&mut text.as_bytes())
    }

    #[test]
    fn replies_single_and_multi_line() {
        assert_eq!(
            reply("350 Restart position accepted (4096).\r\n").unwrap(),
            Reply {
                code: 350,
                text: "350 Restart position accepted (4096).".into()
            }
        );
        let r = reply("150-Opening\r\n 150 not the end\r\n150 BINARY mode\r\n226 x\r\n").unwrap();
        assert_eq!(r.code, 150);
        assert_eq!(r.text.lines().count(), 3);
        // Two replies in one buffer are read one at a time.
        let mut buf: &[u8] = b"350 ok\r\n150 go\r\n";
        assert_eq!(read_reply(&mut buf).unwrap().code, 350);
        assert_eq!(read_reply(&mut buf).unwrap().code, 150);
        assert!(matches!(
            read_reply(&mut buf),
            Err(FtpError::ConnectionError(_))
        ));
        assert!(reply("hello\r\n").is_err());
        assert!(reply("150-never ends\r\n").is_err());
        let huge = format!("150-{}\r\n", "x".repeat(MAX_REPLY));
        assert!(reply(&huge).is_err());
    }
}
