//! `Session`: one FTP control connection, and the only place where ftpfs speaks FTP on it.
//! Commands go out as bytes (`Line`: a verb and an argument that may hold any byte but CR, LF and
//! NUL, which would end the command and start another), one or several in a single write; several
//! at once is pipelining, which callers use only where the server has shown it takes it
//! (`features::Learned`). Replies come back through one buffer the session owns, one reply at a
//! time, each checked for its form and bounded in size. Bytes that arrive when no reply is due
//! mean the session is out of step (`quiet`), and it is discarded rather than trusted.
//!
//! The control connection is plain TCP or a TLS stream that the session alone owns; a second
//! handle on the TCP socket under it lets the watchdog cut an exchange that outlives its budget.
//! Data connections are opened through the session too (`data`), so that the rules tying them to
//! the control connection (a data connection opened ahead, a `REST` still armed on the server)
//! live with it.

use std::borrow::Cow;
use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use log::trace;

use super::data::DataSide;
use super::errors::Failure;
use super::features::Learned;
use super::tls::TlsStream;
use crate::remote::watchdog::Watch;

/// Longest reply accepted (a multi-line FEAT or greeting included): a server that sends more is
/// broken or hostile, and must not make us allocate without bound.
const MAX_REPLY: usize = 64 << 10;

/// One command line, CRLF-terminated, ready to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Line {
    bytes: Vec<u8>,
    /// The argument is a secret (`PASS`): logs show the verb only.
    secret: bool,
}

impl Line {
    /// A command without argument (`PWD`, `EPSV`).
    pub fn bare(verb: &str) -> Line {
        Line {
            bytes: format!("{verb}\r\n").into_bytes(),
            secret: false,
        }
    }

    /// `verb arg`. The argument may hold any byte but CR, LF and NUL: those would end the command
    /// line early and let the rest of a name be read as a command of its own.
    pub fn new(verb: &str, arg: impl AsRef<[u8]>) -> Result<Line, Failure> {
        let arg = arg.as_ref();
        if arg.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(Failure::BadName(
                String::from_utf8_lossy(arg).escape_debug().to_string(),
            ));
        }
        let mut bytes = Vec::with_capacity(verb.len() + arg.len() + 3);
        bytes.extend_from_slice(verb.as_bytes());
        bytes.push(b' ');
        bytes.extend_from_slice(arg);
        bytes.extend_from_slice(b"\r\n");
        Ok(Line {
            bytes,
            secret: false,
        })
    }

    /// `verb arg` whose argument never appears in a log (`PASS`).
    pub fn secret(verb: &str, arg: &str) -> Result<Line, Failure> {
        let mut line = Line::new(verb, arg)?;
        line.secret = true;
        Ok(line)
    }

    /// The line as sent, CRLF included.
    #[cfg(test)]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The verb (`RETR`).
    pub fn verb(&self) -> Cow<'_, str> {
        let end = self
            .bytes
            .iter()
            .position(|&b| b == b' ' || b == b'\r')
            .unwrap_or(self.bytes.len());
        String::from_utf8_lossy(&self.bytes[..end])
    }
}

impl fmt::Debug for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret {
            return write!(f, "{} ***", self.verb());
        }
        let text = String::from_utf8_lossy(&self.bytes);
        f.write_str(text.trim_end_matches(['\r', '\n']))
    }
}

/// A reply on the control connection.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Every line of the reply as the server sent it, the code included, without line ends,
    /// joined by `\n`.
    bytes: Vec<u8>,
}

impl Reply {
    /// The reply as text (bytes that are not UTF-8 shown as U+FFFD).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The reply's bytes, lines joined by `\n`.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The lines of a multi-line reply between its first and last (FEAT's features).
    pub fn inner_lines(&self) -> Vec<String> {
        let text = self.text();
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() < 3 {
            return Vec::new();
        }
        lines[1..lines.len() - 1]
            .iter()
            .map(|l| l.to_string())
            .collect()
    }

    /// One reply read from `text` (for tests and recorded exchanges).
    pub fn parse_one(text: &str) -> Result<Reply, Failure> {
        let mut r = ReplyReader::default();
        r.inbox.extend_from_slice(text.as_bytes());
        r.next(&mut std::io::empty())
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// Reads replies from a byte stream through a buffer of its own: several replies that arrived
/// together (pipelined commands) are handed out one at a time.
#[derive(Default)]
struct ReplyReader {
    inbox: Vec<u8>,
}

impl ReplyReader {
    /// The next reply: a single line `ddd text`, or lines from `ddd-text` up to `ddd text` with
    /// the same code.
    fn next(&mut self, from: &mut impl Read) -> Result<Reply, Failure> {
        let mut bytes: Vec<u8> = Vec::new();
        let mut code: Option<u16> = None;
        loop {
            let room = MAX_REPLY.saturating_sub(bytes.len());
            let line = self.line(from, room)?;
            if !bytes.is_empty() {
                bytes.push(b'\n');
            }
            bytes.extend_from_slice(&line);
            let numbered = line.len() >= 3 && line[..3].iter().all(u8::is_ascii_digit);
            let sep = line.get(3).copied();
            let this = numbered.then(|| {
                line[..3]
                    .iter()
                    .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'))
            });
            match code {
                None if numbered && matches!(sep, None | Some(b' ') | Some(b'-')) => {
                    let c = this.expect("three digits");
                    if sep != Some(b'-') {
                        return Ok(Reply { code: c, bytes });
                    }
                    code = Some(c);
                }
                None => {
                    // Shown to the user: control bytes escaped, at most 80 characters.
                    let shown: String = String::from_utf8_lossy(&line)
                        .chars()
                        .take(80)
                        .collect::<String>()
                        .escape_debug()
                        .to_string();
                    return Err(Failure::Unreadable(shown));
                }
                Some(c) if this == Some(c) && sep != Some(b'-') => {
                    return Ok(Reply { code: c, bytes });
                }
                Some(_) => {}
            }
        }
    }

    /// The next line, without its CRLF (or LF); at most `room` bytes.
    fn line(&mut self, from: &mut impl Read, room: usize) -> Result<Vec<u8>, Failure> {
        let mut searched = 0;
        loop {
            if let Some(i) = self.inbox[searched..].iter().position(|&b| b == b'\n') {
                let end = searched + i;
                if end > room {
                    return Err(Failure::Unreadable("a reply longer than 64 KiB".into()));
                }
                let mut line: Vec<u8> = self.inbox.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            searched = self.inbox.len();
            if searched > room {
                return Err(Failure::Unreadable("a reply longer than 64 KiB".into()));
            }
            let mut chunk = [0u8; 4096];
            let n = from.read(&mut chunk)?;
            if n == 0 {
                return Err(Failure::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            self.inbox.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The control connection's stream.
enum Control {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Read for Control {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Control::Plain(s) => s.read(buf),
            Control::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Control {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Control::Plain(s) => s.write(buf),
            Control::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Control::Plain(s) => s.flush(),
            Control::Tls(t) => t.flush(),
        }
    }
}

/// One FTP control connection (see the module doc).
pub struct Session {
    control: Control,
    replies: ReplyReader,
    /// A second handle on the TCP socket under the control connection: for the watchdog, the
    /// addresses, and the check for bytes nobody asked for.
    socket: Arc<TcpStream>,
    /// Budget of one exchange.
    pub timeout: Duration,
    /// How this session's data connections are made, and what it keeps between transfers.
    pub data: DataSide,
    /// What the mount learned about the server (shared by its sessions): whether commands may
    /// go together, and what the server refused.
    pub learned: Arc<Learned>,
    /// The last download on this session was cut short: if the session turns out to be out of
    /// step, that is why (see `features::Learned::cut_reuse`).
    pub after_cut: bool,
    /// A reply is still to come that no command will ask for, or a read of one failed: the
    /// session reads no more replies and must not be reused.
    out_of_step: bool,
}

impl Session {
    /// A session on a plain control connection (`socket`), up to the greeting, which is still
    /// to be read.
    pub fn plain(
        socket: TcpStream,
        timeout: Duration,
        learned: Arc<Learned>,
    ) -> std::io::Result<Session> {
        let handle = Arc::new(socket.try_clone()?);
        Ok(Session {
            control: Control::Plain(socket),
            replies: ReplyReader::default(),
            socket: handle,
            timeout,
            data: DataSide::default(),
            learned,
            after_cut: false,
            out_of_step: false,
        })
    }

    /// Protects the control connection with `tls` from now on (after `AUTH TLS`, or from the
    /// first byte for implicit FTPS).
    pub fn start_tls(&mut self, tls: TlsStream) -> Result<(), Failure> {
        if !self.replies.inbox.is_empty() {
            // Plain bytes that came after the reply to AUTH TLS would be read as if the server
            // had sent them protected.
            return Err(Failure::OutOfStep(
                "bytes after the reply to AUTH TLS".into(),
            ));
        }
        self.control = Control::Tls(Box::new(tls));
        Ok(())
    }

    /// The TCP socket under the control connection.
    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }

    /// The server's address on the control connection (where passive data connections go).
    pub fn peer(&self) -> std::io::Result<SocketAddr> {
        self.socket.peer_addr()
    }

    /// Our address on the control connection (where active data connections listen).
    pub fn local(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Arms the watchdog on this session for one exchange.
    pub fn watch(&self, budget: Duration) -> Watch {
        Watch::arm(&self.socket, budget)
    }

    /// Sends `lines` in one write: one packet, so a server reads them together (pipelining when
    /// there is more than one).
    pub fn send(&mut self, lines: &[&Line]) -> Result<(), Failure> {
        let mut out = Vec::with_capacity(lines.iter().map(|l| l.bytes.len()).sum());
        for line in lines {
            trace!("> {line:?}");
            out.extend_from_slice(&line.bytes);
        }
        self.control.write_all(&out)?;
        self.control.flush()?;
        Ok(())
    }

    /// Reads the next reply. A session that lost step reads none: the next reply would answer
    /// some other command, or, after a silence, come (if ever) only after a second full wait. A
    /// read that fails (a timeout, an early end, bytes that are no reply) loses step too, since
    /// where it stopped among the server's replies is unknown. So no caller has to remember not
    /// to wait after a failure: every later read fails at once.
    pub fn reply(&mut self) -> Result<Reply, Failure> {
        if self.out_of_step {
            return Err(Failure::OutOfStep(
                "no reply is read on a session that lost step".into(),
            ));
        }
        match self.replies.next(&mut self.control) {
            Ok(reply) => {
                trace!("< {reply:?}");
                Ok(reply)
            }
            Err(e) => {
                self.out_of_step = true;
                Err(e)
            }
        }
    }

    /// Whether the next reply is here or starts to arrive within `wait`, without reading it. Over
    /// TLS a reply the TLS layer took in already is not seen: the answer is then "not yet",
    /// which only costs the caller the other way round.
    pub fn reply_within(&self, wait: Duration) -> bool {
        if self.replies.inbox.contains(&b'\n') {
            return true;
        }
        crate::sys::poll_ready(&*self.socket, libc::POLLIN, wait).unwrap_or(true)
    }

    /// Reads the next reply and insists that its code is one of `ok`.
    pub fn expect(&mut self, ok: &[u16]) -> Result<Reply, Failure> {
        let reply = self.reply()?;
        if ok.contains(&reply.code) {
            Ok(reply)
        } else {
            Err(Failure::Refused(reply))
        }
    }

    /// Sends `line` and reads its reply, which must be one of `ok`.
    pub fn command(&mut self, line: &Line, ok: &[u16]) -> Result<Reply, Failure> {
        self.send(&[line])?;
        self.expect(ok)
    }

    /// Whether the replies still match the commands: every reply that came was read, and none is
    /// known to be on its way unasked. A session out of step is discarded, never reused.
    pub fn in_step(&self) -> bool {
        !self.out_of_step && self.replies.inbox.is_empty()
    }

    /// Whether the session lost step (`reply`). Unlike `in_step`, this allows replies already
    /// read into the buffer: a transfer that just started may have its closing reply there (a
    /// small file, sent before we looked).
    pub fn lost_step(&self) -> bool {
        self.out_of_step
    }

    /// Records that a reply is on its way that no command will ask for, or that the server went
    /// silent on a data connection: from now on `reply` fails at once.
    pub fn lose_step(&mut self) {
        self.out_of_step = true;
    }

    /// Checks, without waiting, that nothing came that nobody asked for: no reply is due when a
    /// session is taken up for a new exchange, so bytes waiting then (a second answer to a
    /// transfer cut short, say) mean the replies no longer match the commands. A closed control
    /// connection fails the check too.
    pub fn check_quiet(&mut self) -> Result<(), Failure> {
        if !self.replies.inbox.is_empty() {
            return Err(Failure::OutOfStep("replies nobody read".into()));
        }
        let mut probe = [0u8; 512];
        let got = match &mut self.control {
            // A peek leaves the bytes for the error message's sake no matter; it is one system
            // call, made at every command.
            Control::Plain(s) => crate::sys::peek_now(s, &mut probe),
            // TLS records the server sends unasked (session tickets) are no reply: reading
            // through TLS takes them in and yields application data only.
            Control::Tls(t) => {
                self.socket.set_nonblocking(true)?;
                let got = t.read(&mut probe);
                self.socket.set_nonblocking(false)?;
                got
            }
        };
        match got {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(Failure::Io(e)),
            Ok(0) => Err(Failure::Io(std::io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => {
                let text: String = String::from_utf8_lossy(&probe[..n])
                    .trim_end()
                    .chars()
                    .take(80)
                    .collect();
                Err(Failure::OutOfStep(format!("an unasked reply {text:?}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replies(text: &str) -> Vec<Result<Reply, String>> {
        let mut r = ReplyReader::default();
        let mut src = text.as_bytes();
        let mut out = Vec::new();
        loop {
            match r.next(&mut src) {
                Ok(reply) => out.push(Ok(reply)),
                Err(Failure::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return out,
                Err(e) => {
                    out.push(Err(format!("{e:?}")));
                    return out;
                }
            }
        }
    }

    #[test]
    fn single_and_multi_line_replies() {
        let r = Reply::parse_one("350 Restart position accepted (4096).\r\n").unwrap();
        assert_eq!(r.code, 350);
        assert_eq!(r.text(), "350 Restart position accepted (4096).");
        let r = Reply::parse_one("150-Opening\r\n 150 not the end\r\n150 BINARY mode\r\n").unwrap();
        assert_eq!(r.code, 150);
        assert_eq!(r.text().lines().count(), 3);
        // A bare code, and a LF without CR.
        assert_eq!(Reply::parse_one("200\n").unwrap().code, 200);
    }

    #[test]
    fn pipelined_replies_are_read_one_at_a_time() {
        // What vsftpd sent for `REST 4096\r\nRETR f\r\n` in one packet, and the transfer's end.
        let got = replies(
            "350 Restart position accepted (4096).\r\n\
             150 Opening BINARY mode data connection for f (10000 bytes).\r\n\
             226 Transfer complete.\r\n",
        );
        let codes: Vec<u16> = got.iter().map(|r| r.as_ref().unwrap().code).collect();
        assert_eq!(codes, [350, 150, 226]);
    }

    #[test]
    fn a_feat_reply_lists_its_features() {
        let feat = Reply::parse_one(
            "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n211 End\r\n",
        )
        .unwrap();
        assert_eq!(feat.code, 211);
        assert_eq!(
            feat.inner_lines(),
            [
                " EPRT",
                " EPSV",
                " MDTM",
                " PASV",
                " REST STREAM",
                " SIZE",
                " TVFS"
            ]
        );
    }

    #[test]
    fn what_is_no_reply_is_refused() {
        assert!(matches!(
            Reply::parse_one("hello\r\n"),
            Err(Failure::Unreadable(_))
        ));
        assert!(matches!(
            Reply::parse_one("12 short\r\n"),
            Err(Failure::Unreadable(_))
        ));
        // A multi-line reply that never ends, and one line that never ends.
        assert!(matches!(
            Reply::parse_one("150-never ends\r\n"),
            Err(Failure::Io(_))
        ));
        let endless = "220-welcome, and more\r\n".repeat(4000);
        assert!(matches!(
            Reply::parse_one(&endless),
            Err(Failure::Unreadable(m)) if m.contains("64 KiB")
        ));
        let huge = format!("220 {}", "A".repeat(MAX_REPLY + 10));
        assert!(matches!(
            Reply::parse_one(&huge),
            Err(Failure::Unreadable(m)) if m.contains("64 KiB")
        ));
        // Garbage after a good reply is found when the next reply is read.
        let got = replies("200 ok\r\n\x00\u{fffd}HELLO\r\n");
        assert!(got[0].is_ok());
        assert!(got[1].as_ref().unwrap_err().contains("Unreadable"));
    }

    /// A session on one end of a loopback connection, and the server's end.
    fn session_pair() -> (Session, TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (theirs, _) = listener.accept().unwrap();
        let timeout = Duration::from_millis(100);
        ours.set_read_timeout(Some(timeout)).unwrap();
        let learned = Arc::new(Learned::default());
        (Session::plain(ours, timeout, learned).unwrap(), theirs)
    }

    #[test]
    fn after_a_silence_no_reply_is_waited_for() {
        let (mut session, mut server) = session_pair();
        let start = std::time::Instant::now();
        assert!(
            matches!(session.reply(), Err(Failure::Io(e)) if super::super::errors::is_timeout(&e))
        );
        assert!(start.elapsed() >= Duration::from_millis(100));
        // The reply that comes late answers nothing that is still asked: it is never read, and
        // the next read fails without a second wait.
        server.write_all(b"226 late\r\n").unwrap();
        let again = std::time::Instant::now();
        assert!(matches!(session.reply(), Err(Failure::OutOfStep(_))));
        assert!(again.elapsed() < Duration::from_millis(50));
        assert!(!session.in_step());
    }

    #[test]
    fn a_session_that_lost_step_reads_no_reply() {
        let (mut session, mut server) = session_pair();
        server.write_all(b"200 one\r\n200 two\r\n").unwrap();
        assert_eq!(session.reply().unwrap().text(), "200 one");
        session.lose_step();
        assert!(matches!(session.reply(), Err(Failure::OutOfStep(_))));
        assert!(session.lost_step() && !session.in_step());
    }

    #[test]
    fn lines_carry_bytes_but_never_a_line_break() {
        let l = Line::new("RETR", b"/caf\xe9 latin-1.txt").unwrap();
        assert_eq!(l.as_bytes(), b"RETR /caf\xe9 latin-1.txt\r\n");
        assert_eq!(l.verb(), "RETR");
        for bad in [&b"a\r\nDELE b"[..], b"a\nb", b"a\rb", b"a\0b"] {
            assert!(matches!(Line::new("RETR", bad), Err(Failure::BadName(_))));
        }
        assert_eq!(Line::bare("PWD").as_bytes(), b"PWD\r\n");
        let pass = Line::secret("PASS", "hunter2").unwrap();
        assert_eq!(format!("{pass:?}"), "PASS ***");
        assert_eq!(
            format!("{:?}", Line::new("CWD", "/a b").unwrap()),
            "CWD /a b"
        );
    }
}
