//! Transfers under way: `Download` (a `RemoteRead`) and `Upload` (a `RemoteWrite`), each a data
//! connection and the pooled session it belongs to. A download's end of data counts only with
//! the server's closing reply (a link that dropped half-way is an error, never an early end of
//! the file); one cut short is ended on the background threads (`crate::later`), which close
//! its data connection, read the server's 426, and, for a ranged read, open the session's next
//! data connection ahead. An upload's bytes go out on a thread of their own (`WriterThread`);
//! its end reads the server's verdict, and where the server takes pipelined commands asks in the
//! same round trip for the size that landed and for the next data connection.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::debug;

use super::connect::FtpConnector;
use super::data::{Data, Passive, Started};
use super::errors::{io_text, is_timeout, outcome, Failure, Link};
use super::session::{Line, Reply};
use crate::remote::pool::Pooled;
use crate::remote::{Cancel, RemoteError, RemoteRead, RemoteResult, RemoteWrite, Stored};
use crate::stats::{Command, Traffic};
use crate::writer_thread::{WriterThread, CHUNK as UPLOAD_CHUNK};

/// A pooled session.
pub type Conn = Pooled<FtpConnector>;

/// A data connection failed with `e`: its session is discarded, and a timeout puts the pool in
/// back-off like a command without an answer.
pub fn lost(conn: &mut Conn, e: &std::io::Error) {
    if is_timeout(e) {
        // The server is not going to answer on the control connection either: no reply is
        // waited for (`Session::reply`).
        conn.lose_step();
        conn.mark_silent(&format!("data connection: {}", io_text(e)))
    } else {
        conn.mark_broken()
    }
}

/// Reads a transfer's closing reply (`226`, or `250` from some servers) under the watchdog; a
/// session left in an unknown state is marked broken.
fn verdict(conn: &mut Conn, timeout: Duration) -> Result<(), RemoteError> {
    let watch = conn.watch(timeout);
    let result = conn.expect(&[226, 250]).map(|_| ());
    outcome(result, watch.disarm(), timeout).map_err(|(err, link)| {
        if link != Link::Ok {
            conn.mark_broken();
        }
        err
    })
}

/// A running `RETR`.
pub struct Download {
    data: Option<Data>,
    conn: Option<Conn>,
    traffic: Arc<Traffic>,
    timeout: Duration,
    /// Where the download started (a `REST` went with it).
    offset: u64,
    /// Once it ended, its session opens the next transfer's data connection with this command:
    /// ranged reads come in runs.
    ahead: Option<Passive>,
    /// That command went out with the transfer command (`Order::then`): its reply is owed
    /// after the closing reply, and makes the next data connection.
    owed: Option<Passive>,
}

impl Download {
    pub fn new(
        conn: Conn,
        started: Started,
        offset: u64,
        ahead: Option<Passive>,
        timeout: Duration,
    ) -> Download {
        Download {
            traffic: Arc::clone(&conn.connector().traffic),
            data: Some(started.data),
            conn: Some(conn),
            timeout,
            offset,
            ahead,
            owed: started.owed,
        }
    }

    /// Reads the reply owed to the passive command sent with the transfer (after its closing
    /// reply) and makes the next data connection from it; the session then needs no other.
    fn take_owed(&mut self) {
        let (Some(how), Some(conn)) = (self.owed.take(), self.conn.as_mut()) else {
            return;
        };
        self.ahead = None;
        let watch = conn.watch(self.timeout);
        let reply = conn.reply();
        match outcome(reply, watch.disarm(), self.timeout) {
            Ok(r) if r.code == how.command().1 => {
                if let Err(e) = conn.spare_from(how, &r) {
                    debug!("no data connection ahead: {e:?}");
                }
            }
            Ok(r) => {
                debug!("no data connection ahead: {}", r.text());
                if !(500..600).contains(&r.code) {
                    conn.mark_broken();
                }
            }
            Err((e, _)) => {
                debug!("no data connection ahead: {e}");
                conn.mark_broken();
            }
        }
    }

    /// Ends the transfer on this thread: closes the data connection early and reads the server's
    /// answer, then opens the session's next data connection where that was asked for.
    fn finish_now(mut self: Box<Self>) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if let Some(data) = self.data.take() {
            // Closing the data connection early makes the server answer 426 (or 226 if it had
            // sent everything): either keeps the session in step. ABOR is not used: servers
            // answer it in different orders, and some lose step.
            data.close();
            let watch = conn.watch(self.timeout);
            let result = conn.reply();
            let result = outcome(result, watch.disarm(), self.timeout);
            match result {
                Ok(Reply { code, .. }) if code >= 200 => {}
                Ok(other) => {
                    debug!("download ended early: {other:?}");
                    conn.mark_broken();
                }
                Err((err, _)) => {
                    debug!("download ended early: {err}");
                    conn.mark_broken();
                }
            }
            conn.after_cut = true;
            if self.offset > 0 {
                conn.data.cut_short();
            }
            if !conn.connector().learned.cut_reuse() {
                conn.mark_broken();
            }
        }
        if self.owed.is_some() {
            if conn.is_broken() {
                self.owed = None;
            } else {
                self.take_owed();
            }
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if let (Some(how), false) = (self.ahead, conn.is_broken()) {
            let watch = conn.watch(self.timeout);
            let opened = conn.open_ahead(how);
            match outcome(opened, watch.disarm(), self.timeout) {
                Ok(()) if conn.in_step() => {}
                Ok(()) => conn.mark_broken(),
                Err((e, link)) => {
                    debug!("no data connection ahead: {e}");
                    if link != Link::Ok {
                        conn.mark_broken();
                    }
                }
            }
        }
    }
}

impl RemoteRead for Download {
    fn read(&mut self, buf: &mut [u8]) -> RemoteResult<usize> {
        let Some(data) = self.data.as_mut() else {
            return Ok(0);
        };
        match data.read(buf) {
            Ok(0) => {
                // End of data: only the server's 226 says the file really ended here, and not that
                // the link dropped half-way.
                if let Some(data) = self.data.take() {
                    data.close();
                }
                let conn = self
                    .conn
                    .as_mut()
                    .expect("a running download has its session");
                let ended = verdict(conn, self.timeout);
                match &ended {
                    Ok(()) => self.take_owed(),
                    Err(_) if self.owed.take().is_some() => {
                        // The owed reply still comes behind a failed end: out of step.
                        if let Some(c) = self.conn.as_mut() {
                            c.mark_broken();
                        }
                    }
                    Err(_) => {}
                }
                ended.map(|()| 0)
            }
            Ok(n) => {
                self.traffic.read(n);
                Ok(n)
            }
            Err(e) => {
                self.data = None;
                if let Some(c) = self.conn.as_mut() {
                    lost(c, &e);
                }
                Err(RemoteError::Connection(format!(
                    "download: {}",
                    io_text(&e)
                )))
            }
        }
    }

    /// Shuts the data connection down: a blocked read returns, and the server's answer to the
    /// closed connection (426) keeps the session in step.
    fn canceller(&self) -> Option<Cancel> {
        let socket = self.data.as_ref()?.socket().try_clone().ok()?;
        Some(Cancel::new(move || {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }))
    }

    fn finish(self: Box<Self>) {
        if self.data.is_none() && self.ahead.is_none() && self.owed.is_none() {
            // Complete, and nothing to prepare: the session goes back to the pool now.
            return;
        }
        crate::later::later(Box::new(move || self.finish_now()));
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        if self.data.is_some() || self.owed.is_some() {
            // Dropped without finish(): the session's state is unknown, so do not reuse it.
            if let Some(c) = self.conn.as_mut() {
                c.mark_broken();
            }
        }
    }
}

/// How an upload ends where the server takes pipelined commands: `SIZE` of what arrived and the
/// passive command for the next transfer's data connection go in one packet, at once behind the
/// end of the data (a server that reads no command during a transfer, `early`) or right after
/// the verdict.
pub struct AheadEnd {
    pub size: Line,
    /// The command for the next data connection.
    pub passive: Passive,
    pub early: bool,
}

/// The longest an upload's end waits, after the verdict, for the replies behind it before it
/// leaves them to a background thread (at most as long as the verdict took after the data).
const HANDOFF_WAIT: Duration = Duration::from_millis(200);

/// A running `STOR`/`APPE`.
pub struct Upload {
    thread: Option<WriterThread<Data>>,
    conn: Conn,
    traffic: Arc<Traffic>,
    timeout: Duration,
    end: Option<AheadEnd>,
    /// The transfer command whose `150` is not read yet (`Started::mark`).
    mark: Option<Line>,
    /// Bytes taken so far.
    taken: usize,
}

impl Upload {
    pub fn new(conn: Conn, started: Started, end: Option<AheadEnd>, timeout: Duration) -> Upload {
        Upload {
            traffic: Arc::clone(&conn.connector().traffic),
            thread: Some(WriterThread::new(started.data, "ftpfs-upload")),
            conn,
            timeout,
            end,
            mark: started.mark,
            taken: 0,
        }
    }

    /// Reads the `150` of a command sent without waiting for it. Until then every byte stayed
    /// in `WriterThread`'s first chunk, or went out at the end of a small upload: a refusal
    /// here is the transfer's error, as it would have been at its start.
    fn read_mark(&mut self) -> RemoteResult<()> {
        let Some(line) = self.mark.take() else {
            return Ok(());
        };
        let conn = &mut self.conn;
        let watch = conn.watch(self.timeout);
        let result = conn.expect(&[150, 125]).map(|_| ());
        outcome(result, watch.disarm(), self.timeout).map_err(|(err, link)| {
            debug!("{line:?} refused: {err}");
            if link != Link::Ok {
                conn.mark_broken();
            }
            err
        })
    }

    /// The verdict and, in the same round trip, the size that landed and the next data
    /// connection (see `AheadEnd`). The size is `None` when the server did not say (or said it
    /// out of turn: a server that reads commands during a transfer answers `SIZE` before its
    /// verdict, when the file may not be complete; the caller then asks again), and when the
    /// server is still busy with the file after its verdict (`HANDOFF_WAIT`): the caller then asks
    /// on another connection, and this session's replies are read on a background thread.
    fn end_ahead(mut self: Box<Self>, end: AheadEnd, data_end: Instant) -> RemoteResult<Stored> {
        let (passive, code) = end.passive.command();
        let timeout = self.timeout;
        let big = self.taken >= UPLOAD_CHUNK;
        let conn = &mut self.conn;
        let watch = conn.watch(timeout);
        let result = (|| {
            // (Sent early by `finish` already.)
            let first = conn.reply()?;
            // Answered out of turn (the size's 213, or the next data connection's reply, came
            // first): the verdict follows the two early replies. A failed verdict (451, 452,
            // 552...) is no such answer: it is handled below.
            if end.early && (first.code == 213 || first.code == code) {
                let next = conn.reply()?;
                let verdict = conn.reply()?;
                if verdict.code != 226 && verdict.code != 250 {
                    return Err(Failure::Refused(verdict));
                }
                return Ok(Some((None, next)));
            }
            if first.code != 226 && first.code != 250 {
                if end.early {
                    // The replies of the commands sent early are still to come.
                    conn.lose_step();
                }
                return Err(Failure::Refused(first));
            }
            if !end.early {
                conn.send(&[&end.size, &passive])?;
            }
            // The verdict is in: the server has every byte. Its next replies come once it is
            // done with the file, at once for most servers, but vsftpd first pushes a big file's
            // pages towards its disk (ext4's flush at close of a file it truncated: half a second
            // a GiB, which was a quarter of a 1 GiB write's time on loopback). Where another
            // connection is free, the caller goes on there and the wait is left to a background thread.
            let wait = data_end.elapsed().min(HANDOFF_WAIT);
            if big && !conn.reply_within(wait) && conn.others_free() {
                return Ok(None);
            }
            let size = conn.reply()?;
            let next = conn.reply()?;
            let size = (size.code == 213)
                .then(|| size.text().get(4..)?.trim().parse::<u64>().ok())
                .flatten();
            Ok(Some((size, next)))
        })();
        let told = outcome(result, watch.disarm(), timeout).map_err(|(err, link)| {
            if link != Link::Ok || !conn.in_step() {
                conn.mark_broken();
            }
            err
        })?;
        let Some((size, next)) = told else {
            debug!("upload verdict in; its session ends on a background thread");
            crate::later::later(Box::new(move || self.rest_ahead(&end)));
            return Ok(Stored { size: None });
        };
        self.next_ahead(&end, &next);
        Ok(Stored { size })
    }

    /// Reads the replies `end_ahead` left (the size's, the next data connection's), on a
    /// background thread; the session goes back to the pool in step, or is discarded.
    fn rest_ahead(mut self: Box<Self>, end: &AheadEnd) {
        let timeout = self.timeout;
        let conn = &mut self.conn;
        let watch = conn.watch(timeout);
        let result = (|| {
            conn.reply()?;
            conn.reply()
        })();
        match outcome(result, watch.disarm(), timeout) {
            Ok(next) => self.next_ahead(end, &next),
            Err((err, _)) => {
                debug!("the end of an upload's session: {err}");
                conn.mark_broken();
            }
        }
    }

    /// After the replies to `end`'s commands: the next data connection opened from `next`.
    fn next_ahead(&mut self, end: &AheadEnd, next: &Reply) {
        let conn = &mut self.conn;
        if !conn.in_step() {
            conn.mark_broken();
            return;
        }
        let (_, code) = end.passive.command();
        if next.code == code {
            if let Err(e) = conn.spare_from(end.passive, next) {
                debug!("no data connection ahead: {e:?}");
            }
        } else {
            debug!("no data connection ahead: the server answered {next:?}");
        }
    }
}

impl RemoteWrite for Upload {
    fn write(&mut self, data: &[u8]) -> RemoteResult<()> {
        if self.mark.is_some() && self.taken + data.len() >= UPLOAD_CHUNK {
            // The first chunk is about to leave: the server must have taken the command.
            if let Err(e) = self.read_mark() {
                // Nothing was sent: the session is as after a refused start.
                self.thread = None;
                return Err(e);
            }
        }
        let Some(thread) = self.thread.as_mut() else {
            return Err(RemoteError::Protocol("upload already finished".into()));
        };
        if let Err(e) = thread.write_all(data) {
            lost(&mut self.conn, &e);
            return Err(RemoteError::Connection(format!("upload: {}", io_text(&e))));
        }
        self.taken += data.len();
        self.traffic.written(data.len());
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> RemoteResult<Stored> {
        let Some(thread) = self.thread.take() else {
            return Err(RemoteError::Protocol("upload already ended".into()));
        };
        let (data, sent) = thread.finish();
        match &sent {
            Err(e) => {
                lost(&mut self.conn, e);
                drop(data);
                if self.conn.lost_step() {
                    // The server stopped taking the data: no verdict is read (`lost`), and the
                    // send's failure is the error.
                    return Err(RemoteError::Connection(format!("upload: {}", io_text(e))));
                }
            }
            Ok(()) => data.close_upload(),
        }
        let data_end = Instant::now();
        let end = self.end.take().filter(|_| sent.is_ok());
        // On a server that reads no command during a transfer, the size and the next data
        // connection are asked for at once behind the data (one round trip for the lot, the
        // `150` of a small upload included).
        let early = end.as_ref().filter(|e| e.early);
        if let Some(end) = early {
            let (passive, _) = end.passive.command();
            if let Err(f) = self.conn.send(&[&end.size, &passive]) {
                let (e, _) = super::errors::classify(f);
                self.conn.mark_broken();
                return Err(e);
            }
        }
        if let Err(e) = self.read_mark() {
            if let Some(end) = early {
                // The replies of the commands sent early follow the refusal: the size's (a
                // refusal too), and the next data connection's, which keeps the session in step.
                if self.conn.reply().is_err() {
                    self.conn.mark_broken();
                } else {
                    self.conn.take_passive_reply(end.passive);
                }
            }
            return Err(e);
        }
        if let Some(end) = end {
            self.traffic.command(Command::Size);
            return self.end_ahead(end, data_end);
        }
        // The server's closing reply is read even after a failed send: it often says why
        // (452/552: no room), which is the error the program should see.
        let verdict = verdict(&mut self.conn, self.timeout);
        match (sent, verdict) {
            (_, Err(e)) => Err(e),
            (Err(e), Ok(())) => Err(RemoteError::Connection(format!("upload: {}", io_text(&e)))),
            (Ok(()), Ok(())) => Ok(Stored::default()),
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.thread.is_some() {
            // Dropped without finish(): nobody will read the verdict, so the session cannot be
            // trusted to be in step.
            self.conn.mark_broken();
        }
    }
}
