//! Data connections, every way ftpfs opens one: passive (`EPSV`, or `PASV` whose address is
//! ignored: data goes to the control connection's peer), active (`PORT`/`EPRT` and a listener
//! that accepts the server only, on a port the kernel picks or one of a configured range), plain
//! or TLS (resuming the control connection's session), and a passive connection opened ahead for
//! the session's next transfer (a `Spare`), which saves that transfer the round trip of `EPSV`.
//! `Session::start_transfer` sends the transfer's commands (`REST` where it starts past 0, then
//! `RETR`, `STOR`, `APPE`, `LIST` or `MLSD`), in one packet where the session may pipeline, reads
//! the server's preliminary reply, and hands back the data connection; the transfer's owner
//! (`transfer`) reads or writes it and reads the closing reply.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use log::debug;

use super::errors::Failure;
use super::session::{Line, Reply, Session};
use super::sockets::{
    accept, data_socket, epsv_port, listen_in, pasv_port, port_command, Later, Route,
};
use super::tls::{DataTls, TlsStream};

/// Bounds of the receive buffer of a ranged download's data connection. Not below 32 KiB: with a
/// buffer barely the size of the read the kernel's window is smaller still, the server sends the
/// bytes in pieces that wait for window updates, and random 4 KiB reads on loopback fell to half
/// their rate (measured: 4 KiB buffers ~1,200 reads/s, 32 KiB ~1,900, 64 KiB ~1,600).
pub const MIN_WINDOW: usize = 32 << 10;
pub const MAX_WINDOW: usize = 256 << 10;
/// The receive buffer of a listing read on a connection opened ahead.
const LISTING_WINDOW: usize = 4 << 20;

/// A data connection opened ahead and older than this is not used: the server may have given up
/// on its listener (none of the servers checked does, but nothing requires them to wait).
const SPARE_TTL: Duration = Duration::from_secs(5);

/// The command that asks the server to listen for a passive data connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passive {
    /// `EPSV` (RFC 2428): a port only, for IPv4 and IPv6.
    Epsv,
    /// `PASV`: an IPv4 address (ignored) and a port, for servers without `EPSV`.
    Pasv,
}

impl Passive {
    /// The command and the code of its reply.
    pub fn command(self) -> (Line, u16) {
        match self {
            Passive::Epsv => (Line::bare("EPSV"), 229),
            Passive::Pasv => (Line::bare("PASV"), 227),
        }
    }

    /// The port a reply to this command names.
    fn port(self, reply: &str) -> Option<u16> {
        match self {
            Passive::Epsv => epsv_port(reply),
            Passive::Pasv => pasv_port(reply),
        }
    }
}

/// How a mount opens data connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The server listens and we connect to the control connection's peer.
    Passive(Passive),
    /// We listen and the server connects (`PORT`, `EPRT` for IPv6): on `bind` (else the control
    /// connection's local address), on a port of `ports` (else one the kernel picks).
    Active {
        bind: Option<IpAddr>,
        ports: Option<(u16, u16)>,
    },
}

/// What a session keeps for its data connections between transfers.
#[derive(Default)]
pub struct DataSide {
    /// TLS for data connections (FTPS, `PROT P`).
    pub tls: Option<DataTls>,
    /// A passive data connection opened for the next transfer.
    spare: Option<Spare>,
    /// How data connections reach the server: like the control connection, straight or through
    /// the proxy.
    pub route: Route,
    /// A `REST` sent on this session may still be armed on the server: the transfer it was for
    /// ended early. libunftp keeps the offset then and applies it to the next transfer (a file
    /// downloaded from 0 came back empty), so the next file transfer sends `REST 0` first.
    rest_armed: bool,
}

impl DataSide {
    /// The transfer that a `REST` went with ended early (see `rest_armed`).
    pub fn cut_short(&mut self) {
        self.rest_armed = true;
    }
}

/// A passive data connection opened before its transfer command was sent; its connect (or a
/// proxy's handshake) may still be under way.
struct Spare {
    stream: Later,
    made: Instant,
}

/// A transfer to start.
#[derive(Debug)]
pub struct Order {
    /// `RETR path`, `STOR path`, `APPE path`, `LIST -a path`, `MLSD path`.
    pub command: Line,
    /// Start at this byte (`REST`); 0 for the start.
    pub offset: u64,
    /// A file transfer (`REST` applies to it); listings are not.
    pub file: bool,
    /// An upload: the data goes to the server.
    pub upload: bool,
    /// The receive buffer of the data connection, for a download of that many bytes at most (a
    /// ranged read); `None`: the system's. A small buffer keeps the server from sending far past
    /// the bytes wanted before our early close reaches it.
    pub window: Option<usize>,
    /// A passive command (`EPSV`/`PASV`) for the next transfer, sent in the same packet behind
    /// the transfer command, on a server that reads no command during a transfer: its reply comes
    /// after the transfer's closing reply, so the next data connection costs no round trip of
    /// its own (`Started::owed` says it was sent).
    pub then: Option<Passive>,
}

/// A data connection, plain or TLS.
pub struct Data {
    stream: DataStream,
}

enum DataStream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Data {
    /// The TCP socket under the data connection.
    pub fn socket(&self) -> &TcpStream {
        match &self.stream {
            DataStream::Plain(s) => s,
            DataStream::Tls(t) => t.socket(),
        }
    }

    /// Closes a download's data connection, at its end or early. The socket is shut down, not
    /// only closed: a handle on it may live elsewhere (a `Cancel`), and the server waits for our
    /// end of the connection before its closing reply (vsftpd lingers on it).
    pub fn close(self) {
        let socket = self.socket().try_clone();
        drop(self);
        if let Ok(s) = socket {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Ends an upload's data: the end of the data is the close (over TLS, one that keeps the
    /// session tickets, see `TlsStream::close_upload`).
    pub fn close_upload(self) {
        match self.stream {
            DataStream::Plain(s) => {
                let _ = s.shutdown(std::net::Shutdown::Write);
            }
            DataStream::Tls(mut t) => t.close_upload(),
        }
    }
}

impl Read for Data {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.stream {
            DataStream::Plain(s) => s.read(buf),
            DataStream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Data {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.stream {
            DataStream::Plain(s) => s.write(buf),
            DataStream::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.stream {
            DataStream::Plain(s) => s.flush(),
            DataStream::Tls(t) => t.flush(),
        }
    }
}

/// A transfer under way.
pub struct Started {
    pub data: Data,
    /// It runs on a data connection opened ahead.
    pub ahead: bool,
    /// `Order::then` went out: its reply is owed after the transfer's closing reply.
    pub owed: Option<Passive>,
    /// An upload whose data may go before the server's `150` (see `Session::run`): the
    /// command, whose preliminary reply is still to be read.
    pub mark: Option<Line>,
}

impl Session {
    /// Starts `order` (see the module doc), on the data connection opened ahead when there is a
    /// fresh one that suits it. Commands that go together leave in one packet where the server
    /// has shown it takes that. A refused `REST` fails the transfer and leaves the session in
    /// step.
    pub fn start_transfer(&mut self, plan: Plan, order: &Order) -> Result<Started, Failure> {
        // Listings too: small, and the connection's window grows for a large one (`run`).
        let suits = order.upload || order.window.is_some() || !order.file;
        let spare = self
            .data
            .spare
            .take()
            .filter(|s| suits && s.made.elapsed() < SPARE_TTL);
        if let (Some(spare), Plan::Passive(_)) = (spare, plan) {
            match spare.stream.ready(self.timeout) {
                Ok(tcp) => match self.run(order, Opened::Connected(grown(tcp, order))) {
                    Ok((data, owed, mark)) => {
                        return Ok(Started {
                            data,
                            ahead: true,
                            owed,
                            mark,
                        })
                    }
                    // The server no longer had the listener (it may close it at any other
                    // command): nothing was sent, the ordinary way is open.
                    Err(Failure::Refused(r)) if r.code == 425 && self.in_step() => {
                        debug!("the data connection opened ahead was refused: {}", r.text())
                    }
                    Err(e) => return Err(e),
                },
                Err(e) => debug!("the data connection opened ahead did not connect: {e}"),
            }
        }
        let opened = match plan {
            Plan::Passive(how) => {
                let window = order.window.map(|w| w.clamp(MIN_WINDOW, MAX_WINDOW));
                Opened::Connected(self.passive(how, window)?)
            }
            Plan::Active { bind, ports } => Opened::Listening(self.listen(bind, ports)?),
        };
        let (data, owed, mark) = self.run(order, opened)?;
        Ok(Started {
            data,
            ahead: false,
            owed,
            mark,
        })
    }

    /// Opens the next transfer's data connection now: `EPSV` (or `PASV`) and a connect that
    /// completes meanwhile. Any failure just leaves the session without one.
    pub fn open_ahead(&mut self, how: Passive) -> Result<(), Failure> {
        let (cmd, code) = how.command();
        let reply = self.command(&cmd, &[code])?;
        self.spare_from(how, &reply)
    }

    /// Reads the reply to a passive command sent behind another one (`Order::then`) where the
    /// session is still in step, and makes the next data connection from it; anything else
    /// leaves the session out of step.
    pub fn take_passive_reply(&mut self, how: Passive) {
        // (Not `in_step`: the reply may be in the buffer already, read with the one before.)
        if self.lost_step() {
            return;
        }
        match self.reply() {
            Ok(r) if r.code == how.command().1 && self.spare_from(how, &r).is_ok() => {}
            Ok(r) if (500..600).contains(&r.code) => {}
            _ => self.lose_step(),
        }
    }

    /// Makes the data connection for the next transfer from a passive reply (`229`/`227`) read
    /// in another exchange; its connect completes in the background.
    pub fn spare_from(&mut self, how: Passive, reply: &Reply) -> Result<(), Failure> {
        let addr = self.passive_addr(how, reply)?;
        let stream = self.data.route.dial_later(addr, MIN_WINDOW, self.timeout)?;
        self.data.spare = Some(Spare {
            stream,
            made: Instant::now(),
        });
        Ok(())
    }

    /// `EPSV` (or `PASV`) and a connection to the control peer at the port the server names.
    fn passive(&mut self, how: Passive, window: Option<usize>) -> Result<TcpStream, Failure> {
        let (cmd, code) = how.command();
        let reply = self.command(&cmd, &[code]).map_err(|e| match e {
            Failure::Refused(r) if how == Passive::Epsv => Failure::EpsvRefused(r),
            Failure::Refused(r) => Failure::PasvRefused(r),
            e => e,
        })?;
        let addr = self.passive_addr(how, &reply)?;
        Ok(data_socket(&self.data.route, addr, self.timeout, window)?)
    }

    /// Where a passive reply says to connect: the control connection's peer, at the port it
    /// names. The address in a `PASV` reply is ignored (servers behind NAT announce private
    /// addresses, and a hostile one could aim us at another host). Through a proxy the peer is
    /// the proxy; only the port counts then (`Route::dial`).
    fn passive_addr(&self, how: Passive, reply: &Reply) -> Result<SocketAddr, Failure> {
        let text = reply.text();
        let port = how
            .port(&text)
            .ok_or_else(|| Failure::Unreadable(text.clone()))?;
        Ok(SocketAddr::new(self.peer()?.ip(), port))
    }

    /// A listener for an active data connection.
    fn listen(
        &mut self,
        bind: Option<IpAddr>,
        ports: Option<(u16, u16)>,
    ) -> Result<TcpListener, Failure> {
        let ip = match bind {
            Some(ip) => ip,
            None => self.local()?.ip(),
        };
        let listener = match ports {
            Some((low, high)) => listen_in(ip, low, high, self.timeout),
            None => TcpListener::bind(SocketAddr::new(ip, 0)),
        };
        listener.map_err(Failure::NoPort)
    }

    /// Sends the transfer's commands on a data connection that is `opened`, reads the server's
    /// preliminary reply, and returns the data connection (accepted, for active mode; with TLS
    /// when the session protects data).
    fn run(&mut self, order: &Order, opened: Opened) -> Result<Running, Failure> {
        let mut lines: Vec<Line> = Vec::with_capacity(3);
        if let Opened::Listening(l) = &opened {
            lines.push(port_command(l.local_addr()?));
        }
        let rest = order.file && (order.offset > 0 || self.data.rest_armed);
        if rest {
            lines.push(Line::new("REST", order.offset.to_string())?);
        }
        lines.push(order.command.clone());
        let expected: Vec<&[u16]> = lines
            .iter()
            .map(|l| match l.verb().as_ref() {
                "PORT" | "EPRT" => &[200][..],
                "REST" => &[350][..],
                _ => &[150, 125][..],
            })
            .collect();
        // A REST the server refused once goes alone: the transfer command behind it would
        // start the file from 0.
        let alone = if rest && !self.learned.rest_with_transfer() {
            lines.iter().position(|l| l.verb() == "REST").map(|i| i + 1)
        } else {
            None
        };
        // Where each group of commands sent together ends.
        let ends: Vec<usize> = match (self.learned.pipelining(), alone) {
            (false, _) => (1..=lines.len()).collect(),
            (true, Some(cut)) => vec![cut, lines.len()],
            (true, None) => vec![lines.len()],
        };
        // The next transfer's passive command rides behind the last group (see `Order::then`).
        let then = order
            .then
            .filter(|_| self.learned.pipelining())
            .map(|how| (how, how.command().0));
        // A lone `STOR` on a plain passive connection, to a server that takes
        // pipelined commands: its data goes at once, without waiting a round trip for the
        // `150` (the server's kernel holds the connection and the bytes until it accepts them).
        // The `150` is read later (`Upload`), before more than one chunk is sent, so a refusal
        // costs at most what the caller still holds. TLS waits: its handshake needs the server.
        // Not `APPE`: servers that refuse it (ProFTPD by default) must say so before any data
        // goes, so that the append can go through a local copy instead.
        let defer = order.upload
            && order.command.verb() == "STOR"
            && lines.len() == 1
            && then.is_none()
            && self.data.tls.is_none()
            && self.learned.pipelining()
            && matches!(opened, Opened::Connected(_));
        let last = ends.len();
        let mut start = 0;
        for (i, end) in ends.into_iter().enumerate() {
            let group = start..end;
            start = end;
            let mut sent: Vec<&Line> = lines[group.clone()].iter().collect();
            if let (true, Some((_, line))) = (i + 1 == last, &then) {
                sent.push(line);
            }
            self.send(&sent)?;
            if i + 1 == last {
                half_close(&opened, order, self.data.tls.is_some());
            }
            if defer {
                break;
            }
            if let Err(e) = self.read_replies(&lines[group.clone()], &expected[group]) {
                if let (true, Some((how, _))) = (i + 1 == last, then) {
                    // Its reply comes behind a refusal (a missing file): it makes the next data
                    // connection, and the session stays in step. After no answer, or none that
                    // makes sense, the session lost step and nothing is read.
                    self.take_passive_reply(how);
                }
                return Err(e);
            }
        }
        let owed = then.map(|(how, _)| how);
        if rest {
            self.data.rest_armed = false;
        }
        let tcp = match opened {
            Opened::Connected(tcp) => tcp,
            Opened::Listening(l) => accept(&l, self.peer()?.ip(), self.timeout)?,
        };
        tcp.set_read_timeout(Some(self.timeout))?;
        tcp.set_write_timeout(Some(self.timeout))?;
        let stream = match &self.data.tls {
            Some(tls) => DataStream::Tls(Box::new(
                tls.wrap(tcp)
                    .map_err(|m| Failure::Io(std::io::Error::other(m)))?,
            )),
            None => DataStream::Plain(tcp),
        };
        let mark = defer.then(|| lines.swap_remove(0));
        Ok((Data { stream }, owed, mark))
    }

    /// Reads one reply per command sent together, each one of its expected codes. After a
    /// refusal the replies of the commands behind it are read too (they were sent), and the first
    /// refusal is the error. A transfer the server started behind a refused command (the file
    /// from its start, after a refused `REST`) leaves the session out of step: its closing reply
    /// is still to come.
    ///
    /// A reply that fits a later command of the group and not its own shows a server that
    /// answered them out of order (and may have carried them out so: a `RETR` before its
    /// `REST`): commands go one at a time from then on, and the session is out of step.
    fn read_replies(&mut self, lines: &[Line], expected: &[&[u16]]) -> Result<(), Failure> {
        let mut refusal: Option<Failure> = None;
        for (i, (line, ok)) in lines.iter().zip(expected).enumerate() {
            if refusal.is_some() && self.lost_step() {
                // A transfer started behind the refusal: the replies left are not read.
                break;
            }
            let reply = self.reply()?;
            let later = expected[i + 1..]
                .iter()
                .any(|codes| codes.contains(&reply.code));
            match &refusal {
                None if ok.contains(&reply.code) => {}
                None if later => {
                    self.learned.set_pipelining(
                        false,
                        &format!("the server answered {line:?} out of order"),
                    );
                    self.lose_step();
                    return Err(Failure::OutOfStep(format!(
                        "a reply out of order: {}",
                        reply.text()
                    )));
                }
                None => {
                    if line.verb() == "REST" {
                        self.learned.refuse_rest(&reply.text());
                    }
                    refusal = Some(refused(line, reply));
                }
                Some(_) if (100..200).contains(&reply.code) => self.lose_step(),
                Some(_) => {}
            }
        }
        refusal.map_or(Ok(()), Err)
    }
}

/// The failure of `line` refused with `reply`.
fn refused(line: &Line, reply: Reply) -> Failure {
    if line.verb() == "REST" {
        Failure::RestRefused(reply)
    } else {
        Failure::Refused(reply)
    }
}

/// A connection opened ahead with the small window of a ranged read, made ready for a listing:
/// its window may grow to `LISTING_WINDOW` (the window scale of the handshake allows it), so a
/// large listing is not read a few kilobytes per round trip.
fn grown(tcp: TcpStream, order: &Order) -> TcpStream {
    if !order.file {
        if let Err(e) = socket2::SockRef::from(&tcp).set_recv_buffer_size(LISTING_WINDOW) {
            debug!("the listing's window stays small: {e}");
        }
    }
    tcp
}

/// A transfer's data connection, the passive command owed behind it (`Started::owed`), and the
/// command whose `150` is still to be read (`Started::mark`).
type Running = (Data, Option<Passive>, Option<Line>);

/// A data connection before its transfer command.
/// Ends our side of a download's (or listing's) plain passive data connection as its command
/// leaves: nothing is ever sent on it, and servers that wait for the client's close before their
/// closing reply (vsftpd reads the data connection to its end after the last byte, so a `226`
/// never comes before the client has seen all the data) then answer with the data instead of a
/// round trip after it: a listing or a small file far away costs one round trip, not two. Not on
/// TLS (its close is a message of its own) nor on an active connection (not made yet).
fn half_close(opened: &Opened, order: &Order, tls: bool) {
    if let (Opened::Connected(tcp), false, false) = (opened, order.upload, tls) {
        if let Err(e) = tcp.shutdown(std::net::Shutdown::Write) {
            debug!("data connection: no early close of our side ({e})");
        }
    }
}

enum Opened {
    /// Passive: connected to the server's listener.
    Connected(TcpStream),
    /// Active: our listener, for the server to connect to.
    Listening(TcpListener),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::ftp::features::Learned;
    use std::io::{BufRead, BufReader};
    use std::sync::Arc;

    /// A server that replays a recorded exchange: for each step, the bytes it must receive (in
    /// one read, as one packet) and what it answers; `{port}` in an answer is its data port, and
    /// `DATA` sends the data connection's bytes and closes it.
    fn replay(steps: Vec<(&'static str, &'static str)>, data: &'static [u8]) -> u16 {
        let control = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = control.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut c, _) = control.accept().unwrap();
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let data_port = listener.local_addr().unwrap().port();
            let mut reader = BufReader::new(c.try_clone().unwrap());
            for (want, answer) in steps {
                let mut first = String::new();
                if reader.read_line(&mut first).unwrap() == 0 {
                    return;
                }
                // Commands sent together are in the buffer with the first: one packet.
                let together = String::from_utf8_lossy(reader.buffer()).into_owned();
                reader.consume(together.len());
                assert_eq!(first + &together, want, "the commands as sent");
                for part in answer.split_inclusive("\r\n") {
                    if part == "DATA\r\n" {
                        let (mut d, _) = listener.accept().unwrap();
                        d.write_all(data).unwrap();
                    } else {
                        let text = part.replace("{port}", &data_port.to_string());
                        c.write_all(text.as_bytes()).unwrap();
                    }
                }
            }
        });
        port
    }

    fn session(port: u16, pipelining: bool) -> Session {
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let learned = Arc::new(Learned::default());
        learned.set_pipelining(pipelining, "a test");
        Session::plain(tcp, Duration::from_secs(5), learned).unwrap()
    }

    fn retr_from(offset: u64) -> Order {
        Order {
            then: None,
            command: Line::new("RETR", "/a b.bin").unwrap(),
            offset,
            file: true,
            upload: false,
            window: Some(4096),
        }
    }

    /// vsftpd's answers to a ranged read: `EPSV`, then `REST` and `RETR` in one packet.
    #[test]
    fn a_ranged_read_sends_rest_and_retr_in_one_packet() {
        let port = replay(
            vec![
                (
                    "EPSV\r\n",
                    "229 Entering Extended Passive Mode (|||{port}|)\r\n",
                ),
                (
                    "REST 4096\r\nRETR /a b.bin\r\n",
                    "350 Restart position accepted (4096).\r\n\
                     150 Opening BINARY mode data connection for /a b.bin (8192 bytes).\r\n\
                     DATA\r\n226 Transfer complete.\r\n",
                ),
            ],
            b"0123456789",
        );
        let mut s = session(port, true);
        let started = s
            .start_transfer(Plan::Passive(Passive::Epsv), &retr_from(4096))
            .unwrap();
        let mut got = Vec::new();
        let mut data = started.data;
        data.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"0123456789");
        assert_eq!(s.expect(&[226]).unwrap().code, 226);
        assert!(s.in_step());
    }

    /// Without pipelining the same read is three exchanges, each command alone.
    #[test]
    fn without_pipelining_each_command_waits_for_its_reply() {
        let port = replay(
            vec![
                (
                    "EPSV\r\n",
                    "229 Entering Extended Passive Mode (|||{port}|)\r\n",
                ),
                ("REST 7\r\n", "350 Restart position accepted (7).\r\n"),
                ("RETR /a b.bin\r\n", "150 Here.\r\nDATA\r\n226 Done.\r\n"),
            ],
            b"xyz",
        );
        let mut s = session(port, false);
        let started = s
            .start_transfer(Plan::Passive(Passive::Epsv), &retr_from(7))
            .unwrap();
        let mut got = Vec::new();
        let mut data = started.data;
        data.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"xyz");
        assert_eq!(s.expect(&[226]).unwrap().code, 226);
    }

    /// A refused REST sent together with its RETR: the RETR's reply is read too, and a transfer
    /// the server started anyway leaves the session out of step.
    #[test]
    fn a_refused_rest_reads_the_reply_of_the_retr_behind_it() {
        let port = replay(
            vec![
                (
                    "EPSV\r\n",
                    "229 Entering Extended Passive Mode (|||{port}|)\r\n",
                ),
                (
                    "REST 4096\r\nRETR /a b.bin\r\n",
                    "502 REST not implemented.\r\n150 Sending the whole file.\r\n",
                ),
            ],
            b"",
        );
        let mut s = session(port, true);
        let e = s
            .start_transfer(Plan::Passive(Passive::Epsv), &retr_from(4096))
            .err()
            .expect("REST refused");
        assert!(
            matches!(e, Failure::RestRefused(ref r) if r.code == 502),
            "{e:?}"
        );
        assert!(s.lost_step() && !s.in_step());
        assert!(!s.learned.rest_with_transfer());
    }
}
