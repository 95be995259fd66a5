//! `FileReader`: the read side of one open file handle. Reads are served block by block from the
//! `BlockCache`, or from a download stream (`REST` + `RETR`) that a fetch thread runs ahead of the
//! reader into a bounded queue while the reader stays sequential. The read-ahead window starts small
//! and doubles with every sequential block, up to `MAX_WINDOW`; a backward or far seek ends the
//! stream and starts another at the new offset. Every block fetched also goes to the `BlockCache`.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use log::debug;

use super::prefetch::InFlight;
use crate::cache::{Block, BlockCache, FileVersion, BLOCK_SIZE, SEGMENT_BLOCKS};
use crate::caller::{self, Stop};
use crate::error::{FsError, FsResult};
use crate::remote::{Cancel, RemoteRead, RemoteStore};
use crate::sync::lock;

/// Most blocks a stream may fetch ahead of the reader: 16 MiB, enough to keep a loopback or LAN link
/// busy while the kernel copies, small enough that several readers stay well inside the memory bound.
const MAX_WINDOW: u64 = 128;
/// Window of a stream started at offset 0: most files are read whole from the start.
const START_WINDOW: u64 = 4;
/// A read this many blocks past the stream's position still uses the stream (reading and dropping the
/// gap is cheaper than a new `RETR`); further is a seek.
const SKIP_AHEAD: u64 = 16;
/// Blocks kept behind the reader, for reads the kernel issues out of order.
const KEEP_BEHIND: u64 = 4;
/// A stream nobody has asked anything of for this long gives its connection back to the pool.
const IDLE_STREAM: Duration = Duration::from_secs(3);
/// Fetch threads running at once, at most. Each holds a pooled connection while it reads, so
/// more than a few times the pool's size would only wait for one; the bound keeps a program that
/// reads thousands of files at once from starting thousands of threads. A stream that finds them
/// all busy waits for one (up to `timeout`), as it would for a connection.
const MAX_FETCH_THREADS: usize = 64;

#[derive(Default)]
struct StreamState {
    /// Fetched blocks, ascending and contiguous, ending just before `next`.
    queue: VecDeque<(u64, Block)>,
    /// Index of the next block the fetch thread will read.
    next: u64,
    /// The thread may fetch blocks below this index (the reader's position plus the window).
    want_until: u64,
    /// The block the reader asked for last (blocks well behind it are dropped from the queue).
    reader_at: u64,
    /// The file ended (the last block is in the queue).
    eof: bool,
    error: Option<FsError>,
    /// The reader is gone, or moved elsewhere: the thread ends.
    stop: bool,
    /// When the reader last asked for something.
    last_demand: Option<Instant>,
    /// Stops the download from the reader's side (`stop`): the thread must not sit in a read on
    /// a slow server for a reader that went away.
    cancel: Option<Cancel>,
}

struct Shared {
    state: Mutex<StreamState>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, StreamState> {
        lock(&self.state)
    }
}

/// A download running ahead of the reader on its own thread.
struct Stream {
    shared: Arc<Shared>,
    start: u64,
}

impl Stream {
    fn start<S: RemoteStore>(
        store: &Arc<S>,
        cache: &Arc<BlockCache>,
        version: &FileVersion,
        start: u64,
        window: u64,
        timeout: Duration,
    ) -> FsResult<Stream> {
        let slot = FetchSlot::take(timeout)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(StreamState {
                next: start,
                want_until: start + window,
                reader_at: start,
                last_demand: Some(Instant::now()),
                ..Default::default()
            }),
            changed: Condvar::new(),
        });
        let (store, cache, version, s) = (
            Arc::clone(store),
            Arc::clone(cache),
            version.clone(),
            Arc::clone(&shared),
        );
        std::thread::Builder::new()
            .name("ftpfs-fetch".into())
            .spawn(move || {
                fetch(&*store, &cache, &version, start, &s);
                drop(slot);
            })
            .map_err(|e| FsError::Io(format!("cannot start a thread: {e}")))?;
        Ok(Stream { shared, start })
    }

    fn stop(&self) {
        let mut st = self.shared.lock();
        st.stop = true;
        if let Some(cancel) = st.cancel.take() {
            cancel.cancel();
        }
        drop(st);
        self.shared.changed.notify_all();
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A place among the `MAX_FETCH_THREADS` fetch threads, held by one while it runs.
struct FetchSlot;

/// Fetch threads running now, and the signal that one ended.
static FETCH_SLOTS: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

impl FetchSlot {
    /// Waits for a place, at most `timeout` and only while the caller lives.
    fn take(timeout: Duration) -> FsResult<FetchSlot> {
        let deadline = Instant::now() + timeout;
        let (count, freed) = &FETCH_SLOTS;
        let mut running = lock(count);
        while *running >= MAX_FETCH_THREADS {
            running = match caller::wait(freed, running, deadline) {
                Ok(r) => r,
                Err(Stop::Interrupted) => return Err(FsError::Interrupted),
                Err(Stop::TimedOut) => {
                    return Err(FsError::Io(format!(
                        "{MAX_FETCH_THREADS} downloads running: none ended within {} s",
                        timeout.as_secs()
                    )))
                }
            };
        }
        *running += 1;
        Ok(FetchSlot)
    }
}

impl Drop for FetchSlot {
    fn drop(&mut self) {
        let (count, freed) = &FETCH_SLOTS;
        *lock(count) -= 1;
        freed.notify_one();
    }
}

/// The fetch thread: downloads blocks from `start` while the reader wants them; its handle to
/// cancel the download goes when it ends.
fn fetch<S: RemoteStore + ?Sized>(
    store: &S,
    cache: &BlockCache,
    version: &FileVersion,
    start: u64,
    shared: &Shared,
) {
    download(store, cache, version, start, shared);
    shared.lock().cancel = None;
}

/// Downloads blocks from `start` while the reader wants them.
fn download<S: RemoteStore + ?Sized>(
    store: &S,
    cache: &BlockCache,
    version: &FileVersion,
    start: u64,
    shared: &Shared,
) {
    let mut remote: Option<Box<dyn RemoteRead>> = None;
    let mut index = start;
    // Buffers grow from one block (the reader is waiting for the first) to a whole segment.
    let mut segment = 1;
    loop {
        // Buffers end on whole-segment offsets of the file (1 MiB), where the kernel's aligned
        // requests (128 or 256 KiB) never cross: only a request across a buffer's end costs a copy.
        let to_boundary = SEGMENT_BLOCKS - (index % SEGMENT_BLOCKS as u64) as usize;
        let wanted = segment.min(to_boundary);
        let blocks = {
            let mut st = shared.lock();
            loop {
                if st.stop {
                    break;
                }
                // Read a whole buffer's worth once the window has room for it, or whatever there
                // is room for when the reader is waiting for this very block. (Reading one block
                // each time the window moves by one would cut the stream into single blocks.)
                let room = st.want_until.saturating_sub(index);
                if room >= wanted as u64 || (room > 0 && st.reader_at >= index) {
                    break;
                }
                let idle = st.last_demand.map(|t| t.elapsed()).unwrap_or_default();
                if idle >= IDLE_STREAM {
                    debug!("{}: idle stream at block {index} ends", version.path);
                    st.stop = true;
                    break;
                }
                st = crate::sync::wait_timeout(&shared.changed, st, IDLE_STREAM - idle).0;
            }
            if st.stop {
                break;
            }
            wanted.min((st.want_until - index) as usize)
        };
        segment = (segment * 2).min(SEGMENT_BLOCKS);
        if remote.is_none() {
            match store.open_read(&version.path, index * BLOCK_SIZE) {
                Ok(r) => {
                    let mut st = shared.lock();
                    st.cancel = r.canceller();
                    if st.stop {
                        // Stopped while the download started: end it at once.
                        drop(st);
                        r.finish();
                        return;
                    }
                    remote = Some(r);
                }
                Err(e) => {
                    shared.lock().error = Some(e.into());
                    shared.changed.notify_all();
                    return;
                }
            }
        }
        let r = remote.as_mut().expect("opened above");
        let mut buf = Block::buffer(blocks);
        let wanted = buf.len();
        let result = r.read_full(&mut buf);
        let mut st = shared.lock();
        match result {
            Ok(n)
                if n < wanted
                    && index * BLOCK_SIZE + (n as u64) < version.size
                    && !ends_at(store, version, index * BLOCK_SIZE + n as u64) =>
            {
                st.error = Some(ended_early(version, index * BLOCK_SIZE + n as u64));
                drop(st);
                shared.changed.notify_all();
                return;
            }
            Ok(n) => {
                let eof = n < wanted;
                for block in Block::split(buf, n) {
                    cache.insert(version, index, block.clone());
                    st.queue.push_back((index, block));
                    index += 1;
                }
                while st
                    .queue
                    .front()
                    .is_some_and(|(i, _)| i + KEEP_BEHIND < st.reader_at)
                {
                    st.queue.pop_front();
                }
                st.next = index;
                st.eof = eof;
                drop(st);
                shared.changed.notify_all();
                if eof {
                    // The read that returned 0 already read the server's closing reply.
                    return;
                }
            }
            Err(e) => {
                st.error = Some(e.into());
                drop(st);
                shared.changed.notify_all();
                // The connection is in an unknown state: drop it without finishing.
                drop(remote);
                return;
            }
        }
    }
    if let Some(r) = remote {
        r.finish();
    }
}

/// Whether the server says the file is `at` bytes long (`SIZE`), for a download that ended there,
/// before the listed size: the listing's size was not exact (VMS lists whole 512-byte blocks) or
/// the file shrank since. Then that end is the file's end. One round trip, only in that case.
fn ends_at<S: RemoteStore + ?Sized>(store: &S, version: &FileVersion, at: u64) -> bool {
    match store.size(&version.path) {
        Ok(size) if size == at => {
            debug!(
                "{}: ends at byte {at}, not at the listed {} (SIZE says so)",
                version.path, version.size
            );
            true
        }
        _ => false,
    }
}

/// A download that ended, with the server's blessing, before the size the listing gave. Servers do
/// this when a data connection goes wrong (libunftp sends an empty transfer and 226 after two aborted
/// ones), so it is treated as a link failure, which the reader retries once, never as the file's end.
fn ended_early(version: &FileVersion, at: u64) -> FsError {
    FsError::Io(format!(
        "{}: the download ended at byte {at} of {}",
        version.path, version.size
    ))
}

/// Bytes returned by a read: a slice of one cached block (no copy), or bytes gathered from
/// several blocks or from the spool.
#[derive(Debug)]
pub enum ReadData {
    Slice(Block, std::ops::Range<usize>),
    Owned(Vec<u8>),
}

impl std::ops::Deref for ReadData {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ReadData::Slice(b, r) => &b[r.clone()],
            ReadData::Owned(v) => v,
        }
    }
}

/// What a stream could say about a block.
enum Fetched {
    Block(Block),
    /// The file ends before this block.
    Eof,
}

/// The read side of one open file.
pub struct FileReader<S: RemoteStore> {
    store: Arc<S>,
    cache: Arc<BlockCache>,
    in_flight: Arc<InFlight>,
    version: FileVersion,
    timeout: Duration,
    stream: Option<Stream>,
    /// The block after the last one read, for telling sequential reads from seeks.
    next_expected: Option<u64>,
    /// Where the last read ended, in bytes: a read starting there is sequential.
    last_end: Option<u64>,
    window: u64,
}

impl<S: RemoteStore> FileReader<S> {
    pub fn new(
        store: Arc<S>,
        cache: Arc<BlockCache>,
        in_flight: Arc<InFlight>,
        version: FileVersion,
        timeout: Duration,
    ) -> Self {
        FileReader {
            store,
            cache,
            in_flight,
            version,
            timeout,
            stream: None,
            next_expected: None,
            last_end: None,
            window: 1,
        }
    }

    /// Up to `size` bytes from `offset`; fewer only at the end of the file.
    pub fn read(&mut self, offset: u64, size: u32) -> FsResult<ReadData> {
        let end = (offset + size as u64).min(self.version.size);
        if offset >= end {
            return Ok(ReadData::Owned(Vec::new()));
        }
        let sequential = offset == 0 || self.last_end == Some(offset);
        self.last_end = Some(end);
        let index = offset / BLOCK_SIZE;
        if !sequential
            && !self.stream_serves(index)
            && self.cache.get(&self.version, index).is_none()
        {
            // A seek away from any stream: fetch exactly the bytes asked for, as a raw REST+RETR
            // would, rather than a block; the kernel's page cache keeps them.
            self.stream = None;
            self.next_expected = Some((end - 1) / BLOCK_SIZE + 1);
            return self.fetch_range(offset, end);
        }
        let mut parts: Vec<(Block, std::ops::Range<usize>)> = Vec::new();
        let mut pos = offset;
        while pos < end {
            let index = pos / BLOCK_SIZE;
            let block = match self.block(index)? {
                Fetched::Block(b) => b,
                Fetched::Eof => break,
            };
            let from = (pos - index * BLOCK_SIZE) as usize;
            if from >= block.len() {
                break;
            }
            let to = block.len().min((end - index * BLOCK_SIZE) as usize);
            pos = index * BLOCK_SIZE + to as u64;
            let short = block.len() < BLOCK_SIZE as usize;
            parts.push((block, from..to));
            if short {
                break;
            }
        }
        // The usual cases, a read inside one block or across blocks read into one buffer, are
        // answered from the buffer itself without a copy.
        if parts.len() == 1 {
            let (b, r) = parts.pop().expect("one part");
            return Ok(ReadData::Slice(b, r));
        }
        if let Some((b, r)) = Block::joined(&parts) {
            return Ok(ReadData::Slice(b, r));
        }
        let total = (pos - offset) as usize;
        if total <= BLOCK_SIZE as usize {
            // Gathered into a recycled block buffer: a fresh 128 KiB allocation is an mmap and
            // 32 page faults each time.
            let mut buf = Block::buffer(1);
            let mut at = 0;
            for (b, r) in parts {
                buf[at..at + r.len()].copy_from_slice(&b[r.clone()]);
                at += r.len();
            }
            return Ok(ReadData::Slice(Block::single(buf, total), 0..total));
        }
        let mut out = Vec::with_capacity(total);
        for (b, r) in parts {
            out.extend_from_slice(&b[r]);
        }
        Ok(ReadData::Owned(out))
    }

    fn block(&mut self, index: u64) -> FsResult<Fetched> {
        let sequential = self.next_expected == Some(index);
        self.next_expected = Some(index + 1);
        if let Some(b) = self.queued_block(index) {
            self.advance(index, sequential);
            return Ok(Fetched::Block(b));
        }
        if let Some(b) = self.cache.get(&self.version, index) {
            return Ok(Fetched::Block(b));
        }
        if index == 0 && self.version.size <= BLOCK_SIZE {
            // A prefetch of this small file may be under way: wait for it rather than fetch twice.
            self.in_flight.wait(&self.version, self.timeout);
            if let Some(b) = self.cache.get(&self.version, 0) {
                return Ok(Fetched::Block(b));
            }
        }
        // One retry on a fresh stream: a connection the server dropped while idle is not an error the
        // reader should see.
        match self.stream_block(index, sequential) {
            Err(FsError::Io(e)) => {
                debug!("{}: stream failed ({e}); retrying once", self.version.path);
                self.stream = None;
                self.stream_block(index, sequential)
            }
            other => other,
        }
    }

    /// Whether the current stream holds `index` or will reach it soon.
    fn stream_serves(&self, index: u64) -> bool {
        self.stream.as_ref().is_some_and(|s| {
            let st = s.shared.lock();
            !st.stop && st.error.is_none() && index >= s.start && index <= st.next + SKIP_AHEAD
        })
    }

    /// Downloads `offset..end` on its own, retrying once after a link failure.
    fn fetch_range(&self, offset: u64, end: u64) -> FsResult<ReadData> {
        match self.fetch_range_once(offset, end) {
            Err(FsError::Io(e)) => {
                debug!(
                    "{}: ranged read failed ({e}); retrying once",
                    self.version.path
                );
                self.fetch_range_once(offset, end)
            }
            other => other,
        }
    }

    fn fetch_range_once(&self, offset: u64, end: u64) -> FsResult<ReadData> {
        let mut remote = self
            .store
            .open_read_range(&self.version.path, offset, end - offset)?;
        let mut buf = vec![0u8; (end - offset) as usize];
        let n = remote.read_full(&mut buf)?;
        buf.truncate(n);
        if n as u64 != end - offset
            && offset + (n as u64) < self.version.size
            && !ends_at(&*self.store, &self.version, offset + n as u64)
        {
            return Err(ended_early(&self.version, offset + n as u64));
        }
        // The server may still be sending: the store ends the transfer without the reader.
        remote.finish();
        Ok(ReadData::Owned(buf))
    }

    fn queued_block(&self, index: u64) -> Option<Block> {
        let stream = self.stream.as_ref()?;
        let st = stream.shared.lock();
        st.queue
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, b)| b.clone())
    }

    /// Moves the stream's window along after the reader took `index`.
    fn advance(&mut self, index: u64, sequential: bool) {
        if sequential {
            self.window = (self.window * 2).min(MAX_WINDOW);
        }
        if let Some(stream) = &self.stream {
            let mut st = stream.shared.lock();
            st.reader_at = st.reader_at.max(index);
            st.want_until = st.want_until.max(index + self.window);
            st.last_demand = Some(Instant::now());
            drop(st);
            stream.shared.changed.notify_all();
        }
    }

    fn stream_block(&mut self, index: u64, sequential: bool) -> FsResult<Fetched> {
        if !self.stream_serves(index) {
            self.window = if index == 0 {
                START_WINDOW
            } else if sequential {
                self.window.max(2)
            } else {
                1
            };
            debug!(
                "{}: new stream at block {index} (window {})",
                self.version.path, self.window
            );
            self.stream = Some(Stream::start(
                &self.store,
                &self.cache,
                &self.version,
                index,
                self.window,
                self.timeout,
            )?);
        }
        self.advance(index, sequential);
        let stream = self.stream.as_ref().expect("set above");
        let deadline = Instant::now() + self.timeout + Duration::from_secs(1);
        let mut st = stream.shared.lock();
        loop {
            if let Some((_, b)) = st.queue.iter().find(|(i, _)| *i == index) {
                return Ok(Fetched::Block(b.clone()));
            }
            if let Some(e) = &st.error {
                return Err(e.clone());
            }
            if st.eof && index >= st.next {
                return Ok(Fetched::Eof);
            }
            if st.stop {
                return Err(FsError::Io("download stopped".into()));
            }
            st = match caller::wait(&stream.shared.changed, st, deadline) {
                Ok(st) => st,
                Err(Stop::Interrupted) => return Err(FsError::Interrupted),
                Err(Stop::TimedOut) => {
                    return Err(FsError::Io(format!(
                        "no data from the server within {} s",
                        self.timeout.as_secs()
                    )))
                }
            };
        }
    }
}
