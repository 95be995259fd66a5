//! A directory listing's transfer (`MLSD`, `LIST -a`, `LIST`), read with bounds a hostile or
//! broken server cannot get around: the whole listing in size (64 MiB, ~500,000 LIST lines),
//! each line in length, and the transfer in time (a listing dripped a byte at a time is never
//! silent long enough for a socket timeout).

use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use super::data::{Data, Order, Plan};
use super::errors::{is_timeout, Failure};
use super::retry::Runner;
use super::session::Line;
use crate::remote::RemoteResult;
use crate::stats::{Command, Traffic};

/// A listing larger than this is refused.
const MAX_LISTING_BYTES: u64 = 64 << 20;
/// A listing line longer than this is not a real entry.
const MAX_LINE_BYTES: usize = 16 << 10;

/// The lines of the listing that `command` sends (without line ends, empty lines dropped),
/// complete within `budget`. With `ahead` (a server that takes pipelined commands), the passive
/// command for the session's next data connection rides behind the listing command, so a walk
/// of a tree costs one round trip per directory on each session instead of two.
pub fn fetch(
    runner: &Runner<'_>,
    cwd: Option<&Line>,
    command: &Line,
    budget: Duration,
    ahead: bool,
) -> RemoteResult<Vec<Vec<u8>>> {
    let kind = if command.verb() == "MLSD" {
        Command::Mlsd
    } else {
        Command::List
    };
    let traffic = std::sync::Arc::clone(&runner.pool.connector().traffic);
    let (_conn, lines) = runner.run_data(kind, budget, |conn, plan| {
        let deadline = Instant::now() + budget;
        let order = Order {
            // The way this attempt connects (a refused EPSV turns the next into PASV).
            then: match plan {
                Plan::Passive(how) if ahead => Some(how),
                _ => None,
            },
            command: command.clone(),
            offset: 0,
            file: false,
            upload: false,
            window: None,
        };
        if let Some(cwd) = cwd {
            conn.command(cwd, &[250, 200])?;
        }
        let started = conn.start_transfer(plan, &order)?;
        let mut data = Deadline {
            inner: started.data,
            deadline,
        };
        let lines = read_listing(&mut data, &traffic);
        drop(data);
        if let Err(Failure::Io(e)) = &lines {
            if is_timeout(e) {
                // The data went silent: so, most likely, has the server. Its closing reply is
                // not waited for (`Session::reply`), and the session is given up.
                conn.lose_step();
            }
        }
        // The closing reply is read, so the session stays in step; then the owed one, unless the
        // end was not a reply (the session lost step).
        let done = conn.expect(&[226, 250]);
        if let Some(how) = started.owed {
            conn.take_passive_reply(how);
        }
        let lines = lines?;
        done?;
        Ok(lines)
    })?;
    Ok(lines)
}

/// A data stream that fails once its deadline has passed.
struct Deadline {
    inner: Data,
    deadline: Instant,
}

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if Instant::now() >= self.deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the listing did not end in time",
            ));
        }
        self.inner.read(buf)
    }
}

/// Reads a listing's lines with a bound on the total size and on each line.
fn read_listing(stream: &mut impl Read, traffic: &Traffic) -> Result<Vec<Vec<u8>>, Failure> {
    let too_big = || {
        Failure::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "listing larger than the limit",
        ))
    };
    let mut reader = BufReader::new(stream.take(MAX_LISTING_BYTES + 1));
    let mut lines = Vec::new();
    let mut total = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        traffic.read(n);
        if total > MAX_LISTING_BYTES {
            return Err(too_big());
        }
        if buf.len() > MAX_LINE_BYTES && !buf.ends_with(b"\n") {
            return Err(too_big());
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.is_empty() {
            lines.push(line.to_vec());
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_and_bounded() {
        let t = Traffic::default();
        let mut src: &[u8] = b"a\r\n\r\nb\nc";
        assert_eq!(read_listing(&mut src, &t).unwrap(), [b"a", b"b", b"c"]);
        let long = vec![b'x'; MAX_LINE_BYTES + 10];
        assert!(read_listing(&mut &long[..], &t).is_err());
    }
}
