//! Quick exchanges: a random read's download in one round trip instead of three, and a rename in
//! one instead of two. suppaftp sends `EPSV`, `REST` and `RETR` one after the other, each waiting
//! for its reply, and opens the data connection in between. Here the data connection of a
//! connection's next ranged read is opened in advance (`arm`, a `Spare`) when its previous one
//! ends, off the reader's path; the read itself then writes `REST` and `RETR` in one packet, and
//! is read and ended like any download (`FtpRead`, over a `raw::Transfer`).
//!
//! The exchange runs on the control socket directly, past suppaftp (`raw`), so it is used only
//! where that is sound: plain FTP, passive mode, servers that stay in step after a download cut
//! short (`Features::reuse_after_cut`). Any suppaftp command on the connection first drops its
//! spare data connection (`FtpStore::data_mode_for`), because its own `EPSV` would replace the
//! server's listener.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use log::debug;
use suppaftp::FtpError;

use super::raw::{bad_reply, expect, read_reply, replies, send, Data, Replies, Transfer};
use super::{data_socket, outcome, Conn, FtpConnector, Link, MIN_WINDOW};
use crate::remote::pool::Pooled;
use crate::remote::RemoteError;

/// A spare data connection older than this is not trusted: the server may have given up on its
/// listener (none of the servers checked does, but nothing requires them to wait).
const SPARE_TTL: Duration = Duration::from_secs(5);

/// A passive data connection opened before its transfer command was sent.
pub(super) struct Spare {
    stream: TcpStream,
    made: Instant,
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

/// Opens a passive data connection on `conn`: `EPSV` (or `PASV`), then a connection to the
/// control peer at the port the server names, with a receive buffer of `window` bytes.
fn open_passive(
    conn: &Conn,
    replies: &mut Replies,
    epsv: bool,
    window: usize,
    timeout: Duration,
) -> Result<TcpStream, FtpError> {
    let (cmd, code) = if epsv {
        ("EPSV\r\n", 229)
    } else {
        ("PASV\r\n", 227)
    };
    send(conn, cmd)?;
    let reply = expect(replies, &[code])?;
    let port = if epsv {
        epsv_port(&reply.text)
    } else {
        pasv_port(&reply.text)
    }
    .ok_or_else(|| bad_reply(&reply.text))?;
    let peer = conn.socket.peer_addr().map_err(FtpError::ConnectionError)?;
    data_socket(SocketAddr::new(peer.ip(), port), timeout, window)
        .map_err(FtpError::ConnectionError)
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

/// Starts a ranged download of `len` bytes of `path` from `offset` on `conn`, with its spare data
/// connection when it has a fresh one. The caller reads it as any download (`FtpRead`) and, once
/// it ended, calls `arm`.
pub(super) fn start(
    mut conn: Pooled<FtpConnector>,
    epsv: bool,
    path: &str,
    offset: u64,
    len: u64,
    timeout: Duration,
) -> Result<Started, Box<(Pooled<FtpConnector>, Failure)>> {
    let spare = conn
        .spare
        .take()
        .filter(|s| s.made.elapsed() < SPARE_TTL && len <= super::MAX_WINDOW);
    let used_spare = spare.is_some();
    let mut replies = replies(&conn);
    let mut rest_refused = false;
    let watch = conn.watch(timeout);
    let started = (|| {
        let data = match spare {
            Some(s) => s.stream,
            None => {
                let window = len.clamp(MIN_WINDOW, super::MAX_WINDOW) as usize;
                open_passive(&conn, &mut replies, epsv, window, timeout)?
            }
        };
        // One write, so one packet: the server finds both commands at once.
        let cmd = if offset > 0 {
            format!("REST {offset}\r\nRETR {path}\r\n")
        } else {
            format!("RETR {path}\r\n")
        };
        send(&conn, &cmd)?;
        if offset > 0 {
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
