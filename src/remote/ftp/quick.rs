//! Quick exchanges: a random read's download in one round trip instead of three, an upload's
//! start in one instead of three and its end in one instead of two, and a rename in one instead of
//! two. suppaftp sends `EPSV`, `REST` and `RETR` (or `STOR`) one after the other, each waiting for
//! its reply, and opens the data connection in between. Here the data connection of a
//! connection's next transfer is opened in advance (a `Spare`): after a ranged read, off the
//! reader's path (`arm`); after an upload, by an `EPSV` sent in the same packet as the size check
//! (`finish_upload`; on vsftpd with the end of the data itself), its connect left to complete while
//! the upload's rename is under way. The
//! transfer itself then writes its commands in one packet, and is read and ended like any
//! transfer (`FtpRead`, `FtpWrite`, over a `raw::Transfer`).
//!
//! The exchange runs on the control socket directly, past suppaftp (`raw`), so it is used only
//! where that is sound: plain FTP, passive mode, servers that stay in step after a download cut
//! short (`Features::reuse_after_cut`). Any suppaftp command on the connection first drops its
//! spare data connection (`FtpStore::data_mode_for`), because its own `EPSV` would replace the
//! server's listener.

use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use log::debug;
use suppaftp::FtpError;

use super::raw::{bad_reply, expect, read_reply, replies, send, Data, Replies, Reply, Transfer};
use super::{data_socket, outcome, poll_ready, Conn, FtpConnector, Link, MIN_WINDOW};
use crate::remote::pool::Pooled;
use crate::remote::RemoteError;

/// A spare data connection older than this is not trusted: the server may have given up on its
/// listener (none of the servers checked does, but nothing requires them to wait).
const SPARE_TTL: Duration = Duration::from_secs(5);

/// A passive data connection opened before its transfer command was sent; its connect may still
/// be under way (`finish_upload` does not wait for it).
pub(super) struct Spare {
    stream: TcpStream,
    made: Instant,
    connecting: bool,
}

impl Spare {
    /// The connection, once its connect completed (waited for up to `timeout`).
    fn ready(self, timeout: Duration) -> std::io::Result<TcpStream> {
        if self.connecting {
            if !poll_ready(self.stream.as_raw_fd(), libc::POLLOUT, timeout)? {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            if let Some(e) = self.stream.take_error()? {
                return Err(e);
            }
            self.stream.set_nonblocking(false)?;
        }
        self.stream.set_read_timeout(Some(timeout))?;
        self.stream.set_write_timeout(Some(timeout))?;
        Ok(self.stream)
    }
}

/// Starts a connect to `addr` without waiting for it, with a receive buffer of `window` bytes.
fn connect_later(addr: SocketAddr, window: usize) -> std::io::Result<TcpStream> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    sock.set_recv_buffer_size(window)?;
    sock.set_nonblocking(true)?;
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(sock.into())
}

/// The port of a `229 ... (|||port|)` reply.
pub(super) fn epsv_port(text: &str) -> Option<u16> {
    let inner = text.split_once('(')?.1.split_once(')')?.0;
    // "(|||port|)": RFC 2428 lets the delimiter be any printable character; all use '|'.
    let delim = inner.chars().next()?;
    let fields: Vec<&str> = inner.split(delim).collect();
    if fields.len() != 5 {
        return None;
    }
    fields[3].parse().ok()
}

/// The port of a `227 ... (h1,h2,h3,h4,p1,p2)` reply; the address is ignored, as suppaftp's NAT
/// workaround does: data goes to the control connection's peer.
pub(super) fn pasv_port(text: &str) -> Option<u16> {
    // The numbers follow the code, with or without parentheses around them.
    let rest = text.get(3..)?;
    let start = rest.find(|c: char| c.is_ascii_digit())?;
    let nums: Vec<u16> = rest[start..]
        .split(|c: char| !(c.is_ascii_digit() || c == ','))
        .next()?
        .split(',')
        .map(|n| n.parse::<u16>())
        .collect::<Result<_, _>>()
        .ok()?;
    if nums.len() != 6 || nums[4] > 255 || nums[5] > 255 {
        return None;
    }
    Some(nums[4] * 256 + nums[5])
}

/// The passive command and the code of its reply.
fn passive_command(epsv: bool) -> (&'static str, u32) {
    if epsv {
        ("EPSV\r\n", 229)
    } else {
        ("PASV\r\n", 227)
    }
}

/// Where the passive reply `reply` (to `EPSV` or `PASV`) says to connect: the control peer, at
/// the port it names.
fn passive_addr(conn: &Conn, epsv: bool, reply: &Reply) -> Result<SocketAddr, FtpError> {
    let port = if epsv {
        epsv_port(&reply.text)
    } else {
        pasv_port(&reply.text)
    }
    .ok_or_else(|| bad_reply(&reply.text))?;
    let peer = conn.socket.peer_addr().map_err(FtpError::ConnectionError)?;
    Ok(SocketAddr::new(peer.ip(), port))
}

/// Opens a passive data connection on `conn`: `EPSV` (or `PASV`), then a connection to the
/// control peer at the port the server names, with a receive buffer of `window` bytes.
fn open_passive(
    conn: &Conn,
    replies: &mut Replies,
    epsv: bool,
    window: usize,
    timeout: Duration,
) -> Result<TcpStream, FtpError> {
    let (cmd, code) = passive_command(epsv);
    send(conn, cmd)?;
    let reply = expect(replies, &[code])?;
    let addr = passive_addr(conn, epsv, &reply)?;
    data_socket(addr, timeout, window).map_err(FtpError::ConnectionError)
}

/// How `start` failed.
pub(super) enum Failure {
    /// The exchange failed; `Link` says what it means for the connection (not yet marked).
    Failed(RemoteError, Link),
    /// The server did not take the exchange as expected but the ordinary download may work:
    /// a spare connection it no longer accepted (`425`), a reply other than the ones a download
    /// starts with. With `disable`, it never will (it refused `REST`, or its passive reply is
    /// unreadable): quick reads are off for the mount.
    Unsupported { err: RemoteError, disable: bool },
}

/// The connection, the transfer, and whether it ran on a spare data connection.
type Started = (Pooled<FtpConnector>, Transfer, bool);

/// What a quick transfer moves.
#[derive(Debug, Clone, Copy)]
pub(super) enum Job {
    /// A ranged download of `len` bytes from `offset`.
    Read { offset: u64, len: u64 },
    /// An upload: `STOR`, or `APPE` when `append`.
    Upload { append: bool },
}

/// Starts `job` on `path` on `conn`, with its spare data connection when it has a fresh one. The
/// caller reads or writes it as any transfer (`FtpRead`, `FtpWrite`); a download, once it ended,
/// calls `arm`; an upload ends with `finish_upload`.
pub(super) fn start(
    mut conn: Pooled<FtpConnector>,
    epsv: bool,
    path: &str,
    job: Job,
    timeout: Duration,
) -> Result<Started, Box<(Pooled<FtpConnector>, Failure)>> {
    let fits = match job {
        Job::Read { len, .. } => len <= super::MAX_WINDOW,
        Job::Upload { .. } => true,
    };
    let mut spare = conn
        .spare
        .take()
        .filter(|s| s.made.elapsed() < SPARE_TTL && fits);
    let mut replies = replies(&conn);
    let mut rest_refused = false;
    let mut used_spare = false;
    let watch = conn.watch(timeout);
    let started = (|| {
        let ready = spare.take().map(|s| s.ready(timeout));
        let data = match ready {
            Some(Ok(stream)) => {
                used_spare = true;
                stream
            }
            other => {
                if let Some(Err(e)) = other {
                    // Nothing was sent for it: a data connection made now does as well.
                    debug!("the spare data connection did not connect: {e}");
                }
                let window = match job {
                    Job::Read { len, .. } => len.clamp(MIN_WINDOW, super::MAX_WINDOW) as usize,
                    Job::Upload { .. } => 0,
                };
                open_passive(&conn, &mut replies, epsv, window, timeout)?
            }
        };
        // One write, so one packet: the server finds both commands at once.
        let cmd = match job {
            Job::Read { offset, .. } if offset > 0 => format!("REST {offset}\r\nRETR {path}\r\n"),
            Job::Read { .. } => format!("RETR {path}\r\n"),
            Job::Upload { append: true } => format!("APPE {path}\r\n"),
            Job::Upload { append: false } => format!("STOR {path}\r\n"),
        };
        send(&conn, &cmd)?;
        if matches!(job, Job::Read { offset, .. } if offset > 0) {
            let rest = read_reply(&mut replies)?;
            if rest.code != 350 {
                rest_refused = true;
                return Err(rest.unexpected());
            }
        }
        expect(&mut replies, &[150, 125])?;
        Ok(data)
    })();
    match outcome(started, watch.disarm(), timeout) {
        Ok(data) => Ok((conn, Transfer::new(Data::Plain(data), replies), used_spare)),
        Err((err, link)) => {
            if rest_refused || !replies.buffer().is_empty() {
                // A refused REST still has the RETR behind it, whose reply (and data: the file
                // from its start) is yet to come: the connection is out of step.
                conn.mark_broken();
            }
            let unreadable =
                matches!(&err, RemoteError::Connection(m) if m.starts_with("unreadable reply"));
            let failure = match (&err, link) {
                _ if rest_refused || unreadable => Failure::Unsupported { err, disable: true },
                (RemoteError::Connection(m), Link::Ok) if used_spare && m.starts_with("425") => {
                    Failure::Unsupported {
                        err,
                        disable: false,
                    }
                }
                (RemoteError::Protocol(_), Link::Ok) => Failure::Unsupported {
                    err,
                    disable: false,
                },
                _ => Failure::Failed(err, link),
            };
            if matches!(failure, Failure::Unsupported { .. }) && link != Link::Ok {
                conn.mark_broken();
            }
            Err(Box::new((conn, failure)))
        }
    }
}

/// `RNFR` and `RNTO` in one packet: one round trip instead of two (every atomic upload ends with
/// one). A refused `RNFR` makes the server refuse the `RNTO` too (503); both replies are read, and
/// the `RNFR` refusal is the error.
pub(super) fn rename(conn: &Conn, from: &str, to: &str) -> Result<(), FtpError> {
    let mut replies = replies(conn);
    send(conn, &format!("RNFR {from}\r\nRNTO {to}\r\n"))?;
    let rnfr = read_reply(&mut replies)?;
    let rnto = read_reply(&mut replies)?;
    if !replies.buffer().is_empty() {
        return Err(bad_reply("more replies than RNFR and RNTO ask for"));
    }
    if rnfr.code != 350 {
        return Err(rnfr.unexpected());
    }
    if rnto.code != 250 {
        return Err(rnto.unexpected());
    }
    Ok(())
}

/// How a quick upload ends (`finish_upload`).
pub(super) struct UploadEnd {
    /// The path uploaded, for `SIZE`.
    pub path: String,
    /// `EPSV` (true) or `PASV` for the next data connection.
    pub epsv: bool,
    /// Send them at once, behind the end of the data (a server that does not read commands
    /// during a transfer: `Features::queues_during_transfer`); else after its verdict, since
    /// some servers read commands during a transfer.
    pub early: bool,
}

/// Ends a quick upload on `conn`: closes its data connection and sends `SIZE` of what arrived and
/// `EPSV` (or `PASV`) for the next transfer's data connection in one packet, at once or after the
/// server's verdict (`UploadEnd::early`); that connect is left to complete while the caller renames
/// the upload into place. Returns the size the server holds (`None` when it did not say), or the
/// verdict as the error.
pub(super) fn finish_upload(
    conn: &mut Pooled<FtpConnector>,
    transfer: Transfer,
    end: &UploadEnd,
    timeout: Duration,
) -> Result<Option<u64>, (RemoteError, Link)> {
    let (passive, code) = passive_command(end.epsv);
    let commands = format!("SIZE {}\r\n{passive}", end.path);
    let watch = conn.watch(timeout);
    let verdict = (|| {
        let mut replies = transfer.end_data();
        if end.early {
            send(conn, &commands)?;
        }
        expect(&mut replies, &[226, 250])?;
        Ok(replies)
    })();
    let mut replies = outcome(verdict, watch.disarm(), timeout).inspect_err(|(_, link)| {
        // Sent early, the commands' replies are still to come.
        if *link != Link::Ok || end.early {
            conn.mark_broken();
        }
    })?;
    // The upload is complete (226): what follows only saves round trips, and its failure is no
    // failure of the upload.
    let watch = conn.watch(timeout);
    let after = (|| {
        if !end.early {
            send(conn, &commands)?;
        }
        let size = read_reply(&mut replies)?;
        let next = read_reply(&mut replies)?;
        if !replies.buffer().is_empty() {
            return Err(bad_reply("more replies than SIZE and EPSV ask for"));
        }
        let size = (size.code == 213)
            .then(|| size.text.get(4..)?.trim().parse::<u64>().ok())
            .flatten();
        Ok((size, next))
    })();
    let (size, next) = match outcome(after, watch.disarm(), timeout) {
        Ok(v) => v,
        Err((e, _)) => {
            debug!("after an upload, SIZE and {}: {e}", passive.trim_end());
            conn.mark_broken();
            return Ok(None);
        }
    };
    let spare = (next.code == code)
        .then(|| passive_addr(conn, end.epsv, &next).ok())
        .flatten()
        .map(|addr| connect_later(addr, MIN_WINDOW as usize));
    match spare {
        Some(Ok(stream)) => {
            conn.spare = Some(Spare {
                stream,
                made: Instant::now(),
                connecting: true,
            })
        }
        Some(Err(e)) => debug!("no spare data connection: {e}"),
        None => debug!(
            "no spare data connection: the server answered {}",
            next.text
        ),
    }
    Ok(size)
}

/// Opens the next ranged read's data connection on `conn` now, while nobody waits for it.
pub(super) fn arm(conn: &mut Pooled<FtpConnector>, epsv: bool, timeout: Duration) {
    let mut replies = replies(conn);
    let watch = conn.watch(timeout);
    let opened = open_passive(conn, &mut replies, epsv, MIN_WINDOW as usize, timeout);
    match outcome(opened, watch.disarm(), timeout) {
        Ok(stream) if replies.buffer().is_empty() => {
            conn.spare = Some(Spare {
                stream,
                made: Instant::now(),
                connecting: false,
            })
        }
        Ok(_) => conn.mark_broken(),
        Err((e, link)) => {
            debug!("no spare data connection: {e}");
            if link != Link::Ok {
                conn.mark_broken();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passive_ports() {
        assert_eq!(
            epsv_port("229 Entering Extended Passive Mode (|||31337|)"),
            Some(31337)
        );
        assert_eq!(
            epsv_port("229 Entering Extended Passive Mode (!!!21!)"),
            Some(21)
        );
        assert_eq!(epsv_port("229 no port"), None);
        assert_eq!(epsv_port("229 x (|||99999|)"), None);
        assert_eq!(
            pasv_port("227 Entering Passive Mode (127,0,0,1,122,105)."),
            Some(122 * 256 + 105)
        );
        assert_eq!(
            pasv_port("227 Entering Passive Mode (127,0,0,1,300,1)"),
            None
        );
        assert_eq!(pasv_port("227 =127,0,0,1,1,1"), Some(257));
        assert_eq!(pasv_port("227 Entering Passive Mode (1,2,3)"), None);
    }
}
