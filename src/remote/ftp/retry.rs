//! How an exchange runs on a pooled session, and when it is tried again. Every exchange takes a
//! session from the pool, checks that nothing unasked came on it meanwhile (`check_quiet`), and
//! runs under the watchdog. After a broken link the other idle sessions are dropped too (they most
//! likely broke the same way), and an idempotent exchange, or a transfer the server has not
//! accepted yet (not a byte has moved), is tried once more on a fresh session; never after the
//! server stopped answering, which would double the wait. A data exchange refused in `EPSV` mode
//! by a server that offered `EPSV` gets `PASV`, which is kept for the mount once it works.

use std::time::Duration;

use log::debug;

use super::connect::FtpConnector;
use super::data::{Passive, Plan};
use super::errors::{classify, is_unknown_command, outcome, Failure, Link};
use super::session::Reply;
use super::transfer::Conn;
use crate::remote::pool::Pool;
use crate::remote::{RemoteError, RemoteResult};
use crate::stats::Command;

/// Sessions found unusable before an exchange, at most, before the exchange fails: the first one
/// drops every idle session, so the next ones are fresh logins; a server whose fresh sessions
/// are out of step at once is broken, and must not make us log in forever.
const UNUSABLE_SESSIONS: usize = 3;

/// Runs exchanges on a pool's sessions.
pub struct Runner<'a> {
    pub pool: &'a std::sync::Arc<Pool<FtpConnector>>,
}

impl Runner<'_> {
    fn connector(&self) -> &FtpConnector {
        self.pool.connector()
    }

    /// A session from the pool that nothing unasked came on. One that is closed (a server that
    /// ended an idle session says `421` and hangs up) or out of step is dropped, with every other
    /// idle one (they most likely went the same way), and a fresh one taken: nothing was sent yet,
    /// so any exchange may go on. One found out of step after a download we cut short shows that
    /// this server does not stay in step then.
    pub fn session(&self) -> RemoteResult<Conn> {
        let mut unusable = 0;
        loop {
            let mut conn = self.pool.get()?;
            let after_cut = std::mem::take(&mut conn.after_cut);
            // No watchdog: the check never waits (and arming one costs the watchdog thread a
            // wake-up per exchange, which showed in the per-file rows of the benchmark).
            match conn.check_quiet().map_err(classify) {
                Ok(()) => return Ok(conn),
                Err((e, link)) => {
                    debug!("a pooled session is not usable: {e}");
                    if after_cut {
                        self.connector()
                            .learned
                            .no_cut_reuse(&format!("after a download cut short: {e}"));
                    }
                    if link == Link::Silent {
                        conn.mark_silent(&e.to_string());
                        return Err(e);
                    }
                    conn.mark_broken();
                    self.pool.drop_idle();
                    unusable += 1;
                    if unusable >= UNUSABLE_SESSIONS {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Runs `op` on a session under the watchdog for `budget` (see the module doc); an
    /// `idempotent` op is tried again on a fresh session after the link broke.
    pub fn run<T>(
        &self,
        command: Command,
        idempotent: bool,
        budget: Duration,
        mut op: impl FnMut(&mut Conn) -> Result<T, Failure>,
    ) -> RemoteResult<T> {
        let mut tries = if idempotent { 2 } else { 1 };
        loop {
            tries -= 1;
            let mut conn = self.session()?;
            self.connector().traffic.command(command);
            let watch = conn.watch(budget);
            let result = op(&mut conn);
            match self.settle(&mut conn, outcome(result, watch.disarm(), budget), true) {
                Ok(v) => return Ok(v),
                Err((err, retry)) if retry && tries > 0 => {
                    debug!("retrying on a fresh connection after: {err}");
                }
                Err((err, _)) => return Err(err),
            }
        }
    }

    /// Runs `op`, an exchange with a data connection made as `Plan` says, like `run`; a server
    /// that refuses `EPSV` although it offered it gets `PASV` (see the module doc). Returns the
    /// session with the result, for a transfer that goes on.
    pub fn run_data<T>(
        &self,
        command: Command,
        budget: Duration,
        mut op: impl FnMut(&mut Conn, Plan) -> Result<T, Failure>,
    ) -> RemoteResult<(Conn, T)> {
        let mut tries = 2;
        loop {
            tries -= 1;
            let mut conn = self.session()?;
            self.connector().traffic.command(command);
            let mut plan = self.connector().plan();
            // The refusals met on the way to a plan that works, learned once one does.
            let mut refused: Vec<(Plan, String)> = Vec::new();
            let result = loop {
                let watch = conn.watch(budget);
                let raw = op(&mut conn, plan);
                let next = match &raw {
                    Err(Failure::EpsvRefused(r)) if epsv_unknown(r) => {
                        Some(Plan::Passive(Passive::Pasv))
                    }
                    // Not through a proxy: it carries no connection from the server to us.
                    Err(Failure::PasvRefused(r))
                        if passive_refused(r) && !self.connector().proxied() =>
                    {
                        Some(Plan::Active {
                            bind: None,
                            ports: None,
                        })
                    }
                    _ => None,
                };
                match (outcome(raw, watch.disarm(), budget), next) {
                    (Err((err, Link::Ok)), Some(next)) if conn.in_step() => {
                        refused.push((plan, err.to_string()));
                        plan = next;
                    }
                    (result, _) => {
                        if result.is_ok() {
                            self.learn_refusals(&refused);
                        }
                        break result;
                    }
                }
            };
            // The transfer goes on: its replies may be read already.
            match self.settle(&mut conn, result, false) {
                Ok(v) => return Ok((conn, v)),
                Err((err, retry)) if retry && tries > 0 => {
                    debug!("starting again on a fresh connection after: {err}");
                }
                Err((err, _)) => return Err(err),
            }
        }
    }

    /// Remembers the data connection plans the server refused on the way to one that worked.
    fn learn_refusals(&self, refused: &[(Plan, String)]) {
        let learned = &self.connector().learned;
        for (plan, why) in refused {
            match plan {
                Plan::Passive(Passive::Epsv) => learned.refuse_epsv(why),
                Plan::Passive(Passive::Pasv) => learned.refuse_passive(why),
                Plan::Active { .. } => {}
            }
        }
    }

    /// What an exchange's result means for its session: one out of step is not reused (when the
    /// exchange is `complete`, every reply that came must have been read), a broken or silent one
    /// is dropped (a silent server puts the pool in back-off). Returns the error with whether a
    /// retry on a fresh session may help (the link broke, nothing else is wrong).
    fn settle<T>(
        &self,
        conn: &mut Conn,
        result: Result<T, (RemoteError, Link)>,
        complete: bool,
    ) -> Result<T, (RemoteError, bool)> {
        let result = match result {
            Ok(v) => {
                if conn.lost_step() || (complete && !conn.in_step()) {
                    conn.mark_broken();
                }
                return Ok(v);
            }
            Err(e) => e,
        };
        let (err, link) = result;
        let retry = match link {
            Link::Ok => {
                if !conn.in_step() {
                    conn.mark_broken();
                }
                false
            }
            Link::Broken => {
                conn.mark_broken();
                self.pool.drop_idle();
                err != RemoteError::Interrupted
            }
            Link::Silent => {
                conn.mark_silent(&err.to_string());
                self.pool.drop_idle();
                false
            }
        };
        Err((err, retry))
    }
}

/// Whether the server's refusal of `EPSV` says it does not do `EPSV` although FEAT listed it
/// (500/501/502/504, or 522 "protocol not supported"): then `PASV` is worth a try, and kept for
/// the mount once it works.
/// A `PASV` refusal that means "no passive mode here" (vsftpd with `pasv_enable=NO` says 550).
fn passive_refused(reply: &Reply) -> bool {
    is_unknown_command(&reply.text()) || reply.code == 550
}

fn epsv_unknown(reply: &Reply) -> bool {
    is_unknown_command(&reply.text()) || reply.code == 522
}
