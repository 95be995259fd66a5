//! Who writes a file: the processes that opened it for writing or wrote through it. The kernel
//! sends a flush at every `close()` of a descriptor, also of a copy a child inherited and closes
//! when it execs or exits. Such a close carries no data of its own; finishing the upload there
//! would publish a partial file under the real name mid-write and restart the upload as `APPE`,
//! and when that upload broke, nobody who could react would hear of it. So a close uploads only
//! when it may be a writer's; everything that cannot be told apart counts as a writer.

use std::collections::{HashMap, HashSet};

/// More threads than this seen writing one file: stop telling them apart (every close uploads).
const MAX_THREADS: usize = 256;

/// The writers of one file, as FUSE names them: by thread id, resolved to their process.
#[derive(Debug, Default)]
pub struct Writers {
    /// Thread id → process, for every thread seen opening or writing.
    threads: HashMap<u32, u32>,
    processes: HashSet<u32>,
    /// A writer could not be named (the kernel, a thread `/proc` did not know, too many).
    anyone: bool,
}

impl Writers {
    /// Records a writer: thread `tid` (`None`: unknown), resolved with `process_of`.
    pub fn add(&mut self, tid: Option<u32>, process_of: impl Fn(u32) -> Option<u32>) {
        if self.anyone {
            return;
        }
        let Some(tid) = tid else {
            self.anyone = true;
            return;
        };
        if self.threads.contains_key(&tid) {
            return;
        }
        match process_of(tid) {
            Some(p) if self.threads.len() < MAX_THREADS => {
                self.threads.insert(tid, p);
                self.processes.insert(p);
            }
            _ => self.anyone = true,
        }
    }

    /// Whether a close by thread `tid` may be a writer's. Only a thread that `/proc` places in a
    /// process that never wrote is not; a thread id seen writing is trusted even if it was reused.
    pub fn may_include(&self, tid: Option<u32>, process_of: impl Fn(u32) -> Option<u32>) -> bool {
        let Some(tid) = tid else {
            return true;
        };
        if self.anyone || self.threads.contains_key(&tid) {
            return true;
        }
        match process_of(tid) {
            Some(p) => self.processes.contains(&p),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threads 10 and 11 are process 10; 20 is process 20; 30 is unknown to `/proc`.
    fn proc_of(tid: u32) -> Option<u32> {
        match tid {
            10 | 11 => Some(10),
            20 | 21 => Some(20),
            _ => None,
        }
    }

    #[test]
    fn a_close_by_a_process_that_never_wrote_is_not_a_writers() {
        let mut w = Writers::default();
        w.add(Some(10), proc_of);
        assert!(w.may_include(Some(10), proc_of));
        assert!(
            w.may_include(Some(11), proc_of),
            "another thread of the writer"
        );
        assert!(
            !w.may_include(Some(20), proc_of),
            "a child that inherited the descriptor"
        );
        assert!(
            w.may_include(Some(30), proc_of),
            "unknown to /proc: may be a writer"
        );
        assert!(w.may_include(None, proc_of), "the kernel");
        w.add(Some(21), proc_of);
        assert!(w.may_include(Some(20), proc_of), "process 20 wrote too");
    }

    #[test]
    fn a_writer_that_cannot_be_named_makes_every_close_a_writers() {
        for unknown in [None, Some(30)] {
            let mut w = Writers::default();
            w.add(Some(10), proc_of);
            w.add(unknown, proc_of);
            assert!(w.may_include(Some(20), proc_of), "{unknown:?}");
        }
        let mut w = Writers::default();
        for tid in 1000..1000 + MAX_THREADS as u32 + 1 {
            w.add(Some(tid), Some);
        }
        assert!(
            w.may_include(Some(20), proc_of),
            "too many threads to track"
        );
    }
}
