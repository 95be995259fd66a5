//! What went wrong in an exchange with the server, and what it means. A `Failure` is what the
//! session saw (a reply it did not ask for, a socket error, bytes that are no reply); `classify`
//! turns it into the `RemoteError` the core sees and the `Link` verdict on the connection: still
//! in step (the server answered, with an error), broken (closed, reset, out of step: a fresh
//! connection may work), or silent (no answer in time: the server itself is not answering, so
//! nobody should wait for it again at once). `outcome` lets the watchdog's verdict win over the
//! error its cut produced. The retry policy built on these verdicts is in `store` (`with_retry`).

use std::time::Duration;

use super::proxy::ProxyError;
use super::session::Reply;
use super::tls::tls_failure;
use crate::remote::watchdog::Fired;
use crate::remote::RemoteError;

/// What an exchange on a control or data connection ran into.
#[derive(Debug)]
pub enum Failure {
    /// The server answered with a reply the exchange does not go on from.
    Refused(Reply),
    /// The server refused `REST` (the transfer it was for did not start from there).
    RestRefused(Reply),
    /// The server refused `EPSV`.
    EpsvRefused(Reply),
    /// The server refused `PASV`.
    PasvRefused(Reply),
    /// The socket failed: a timeout, a reset, an early end, a TLS error.
    Io(std::io::Error),
    /// The server's bytes are not an FTP reply.
    Unreadable(String),
    /// More replies came than were asked for, or one that belongs to no command sent: the session
    /// no longer knows which reply answers what.
    OutOfStep(String),
    /// A name the protocol cannot carry (CR, LF, NUL), refused before anything was sent.
    BadName(String),
    /// No local port for an active data connection: nothing was sent, the link is fine.
    NoPort(std::io::Error),
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Io(e)
    }
}

impl Failure {
    /// The reply's code, when the server refused with one.
    pub fn code(&self) -> Option<u16> {
        match self {
            Failure::Refused(r)
            | Failure::RestRefused(r)
            | Failure::EpsvRefused(r)
            | Failure::PasvRefused(r) => Some(r.code),
            _ => None,
        }
    }
}

/// What a failed exchange says about its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Still in step: the server answered, with an error.
    Ok,
    /// Closed, reset, or out of step: discard it; a fresh connection may work.
    Broken,
    /// No answer in time: discard it; the server itself is not answering.
    Silent,
}

/// How `io_text` words a timeout.
pub const TIMED_OUT: &str = "timed out";

/// Whether `e` is a read or write that ran out of time. A socket with a timeout reports that as
/// `WouldBlock` on Linux and `TimedOut` elsewhere; both mean the peer went silent.
pub fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// The text of an I/O error without the OS error number noise; TLS failures in one line.
pub fn io_text(e: &std::io::Error) -> String {
    if let Some(tls) = tls_failure(e) {
        return format!("TLS: {tls}");
    }
    // A proxy's failure says which proxy and what it said.
    if let Some(proxy) = e.get_ref().and_then(|i| i.downcast_ref::<ProxyError>()) {
        return proxy.to_string();
    }
    if is_timeout(e) {
        return TIMED_OUT.into();
    }
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::UnexpectedEof => "the server closed the connection".into(),
        _ => e.to_string(),
    }
}

/// The result of a watched exchange: the watchdog's verdict, when it cut the exchange, overrides
/// whatever error the cut socket produced.
pub fn outcome<T>(
    result: Result<T, Failure>,
    fired: Option<Fired>,
    budget: Duration,
) -> Result<T, (RemoteError, Link)> {
    match (fired, result) {
        (None, Ok(v)) => Ok(v),
        (None, Err(e)) => Err(classify(e)),
        (Some(Fired::Interrupted), _) => Err((RemoteError::Interrupted, Link::Broken)),
        (Some(Fired::Deadline), _) => Err((
            RemoteError::Connection(format!(
                "no complete answer from the server within {} s",
                budget.as_secs_f32()
            )),
            Link::Silent,
        )),
    }
}

/// What a failure means, and what it says about the connection it happened on.
pub fn classify(e: Failure) -> (RemoteError, Link) {
    match e {
        Failure::Io(io) => {
            let link = if is_timeout(&io) {
                Link::Silent
            } else {
                Link::Broken
            };
            (RemoteError::Connection(io_text(&io)), link)
        }
        Failure::NoPort(io) => (RemoteError::Connection(io_text(&io)), Link::Ok),
        Failure::Refused(reply)
        | Failure::RestRefused(reply)
        | Failure::EpsvRefused(reply)
        | Failure::PasvRefused(reply) => reply_error(&reply),
        Failure::Unreadable(what) => (
            RemoteError::Connection(format!("unreadable reply from the server: {what}")),
            Link::Broken,
        ),
        Failure::OutOfStep(what) => (
            RemoteError::Connection(format!("the server is out of step: {what}")),
            Link::Broken,
        ),
        Failure::BadName(name) => (RemoteError::InvalidName(name), Link::Ok),
    }
}

/// What a refusal means. FTP's codes say little (550 is "missing", "forbidden" and "exists"
/// alike): the core checks listings where the difference matters.
fn reply_error(reply: &Reply) -> (RemoteError, Link) {
    let text = reply.text();
    match reply.code {
        // The server is closing this connection (idle timeout, shutdown, too many).
        421 => (RemoteError::Connection(text), Link::Broken),
        // The data connection failed; the control connection is still in step.
        425 | 426 => (RemoteError::Connection(text), Link::Ok),
        452 | 552 => (RemoteError::NoSpace(text), Link::Ok),
        530 | 532 | 553 => (RemoteError::PermissionDenied(text), Link::Ok),
        550 => (RemoteError::NotFound(text), Link::Ok),
        // A preliminary reply where none was due: a transfer we did not ask for is under way.
        100..=199 => (
            RemoteError::Connection(format!("the server is out of step: {text}")),
            Link::Broken,
        ),
        _ => (RemoteError::Protocol(text), Link::Ok),
    }
}

/// 500/501/502/504 (and 202, "superfluous"): the server has no such command or parameter.
pub fn is_unknown_command(reply: &str) -> bool {
    ["500", "501", "502", "504", "202"]
        .iter()
        .any(|c| reply.starts_with(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> Failure {
        Failure::Refused(Reply::parse_one(&format!("{text}\r\n")).expect("a reply"))
    }

    #[test]
    fn failures_are_classified() {
        let timeout = || Failure::Io(std::io::ErrorKind::WouldBlock.into());
        let cases = [
            (
                refused("550 No such file"),
                RemoteError::NotFound("550 No such file".into()),
                Link::Ok,
            ),
            (
                refused("552 Quota"),
                RemoteError::NoSpace("552 Quota".into()),
                Link::Ok,
            ),
            (
                refused("421 Timeout"),
                RemoteError::Connection("421 Timeout".into()),
                Link::Broken,
            ),
            (
                refused("426 Closed"),
                RemoteError::Connection("426 Closed".into()),
                Link::Ok,
            ),
            (
                refused("530 Login incorrect"),
                RemoteError::PermissionDenied("530 Login incorrect".into()),
                Link::Ok,
            ),
            (
                refused("500 Huh"),
                RemoteError::Protocol("500 Huh".into()),
                Link::Ok,
            ),
            (
                refused("150 Here it comes"),
                RemoteError::Connection("the server is out of step: 150 Here it comes".into()),
                Link::Broken,
            ),
            (
                Failure::Unreadable("hello".into()),
                RemoteError::Connection("unreadable reply from the server: hello".into()),
                Link::Broken,
            ),
            (
                Failure::BadName("a\\r\\nb".into()),
                RemoteError::InvalidName("a\\r\\nb".into()),
                Link::Ok,
            ),
            (
                timeout(),
                RemoteError::Connection("timed out".into()),
                Link::Silent,
            ),
            (
                Failure::NoPort(std::io::ErrorKind::AddrInUse.into()),
                RemoteError::Connection(
                    std::io::Error::from(std::io::ErrorKind::AddrInUse).to_string(),
                ),
                Link::Ok,
            ),
        ];
        for (failure, remote, link) in cases {
            assert_eq!(classify(failure), (remote, link));
        }
    }

    #[test]
    fn a_cut_exchange_is_reported_by_why_it_was_cut() {
        let budget = Duration::from_secs(3);
        let eof = || Failure::Io(std::io::ErrorKind::UnexpectedEof.into());
        assert_eq!(outcome(Ok(1), None, budget), Ok(1));
        assert_eq!(
            outcome::<()>(Err(eof()), Some(Fired::Interrupted), budget),
            Err((RemoteError::Interrupted, Link::Broken))
        );
        assert_eq!(
            outcome::<()>(Err(eof()), Some(Fired::Deadline), budget),
            Err((
                RemoteError::Connection("no complete answer from the server within 3 s".into()),
                Link::Silent
            ))
        );
        // Cut just as it succeeded: the socket is dead all the same.
        assert!(outcome(Ok(1), Some(Fired::Deadline), budget).is_err());
    }
}
