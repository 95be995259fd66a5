//! The floor of a metadata operation through FUSE on this machine: the least a FUSE file system
//! backed by an FTP server can do per `mkdir`, `rmdir` and `unlink`. It mounts one server
//! directory flat, keeps one control connection, answers `LOOKUP` from the names it made itself,
//! and for each call sends the one FTP command (`MKD`, `RMD`, `DELE`) and waits for its reply:
//! no cache, no pool, no watchdog, no retry, one FUSE thread (or THREADS of them, to measure what
//! a daemon that can serve requests side by side pays in dispatch alone). The files already in DIR
//! when it starts (one `NLST`) are known too, as files, so that `unlink` has something to remove.
//! scripts/bench/meta_rows.py (the bench's rows) and interleaved_meta.py time it beside raw
//! ftplib and an ftpfs mount, so that what ftpfs adds over the floor, and what the floor adds
//! over raw, are measured apart. A bench tool, not a file system to use.
//!
//!     FTP_PASSWORD=... cargo run --release --example fuse_floor -- HOST PORT USER DIR MOUNTPOINT [THREADS]
//!
//! Prints `ready` once mounted; unmount with `fusermount3 -u MOUNTPOINT` to end it.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, Generation, INodeNo, ReplyAttr, ReplyEmpty,
    ReplyEntry, Request,
};

const TTL: Duration = Duration::from_secs(60);

struct Control {
    out: TcpStream,
    replies: BufReader<TcpStream>,
}

impl Control {
    fn login(host: &str, port: &str, user: &str, password: &str) -> std::io::Result<Control> {
        let out = TcpStream::connect((host, port.parse::<u16>().map_err(std::io::Error::other)?))?;
        out.set_nodelay(true)?;
        out.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut c = Control {
            replies: BufReader::new(out.try_clone()?),
            out,
        };
        c.expect(220)?;
        c.send(&format!("USER {user}"))?;
        if c.reply()? == 331 {
            c.send(&format!("PASS {password}"))?;
            c.expect(230)?;
        }
        Ok(c)
    }

    fn send(&mut self, line: &str) -> std::io::Result<()> {
        self.out.write_all(format!("{line}\r\n").as_bytes())
    }

    /// The code of the next reply (a multi-line reply is read to its end).
    fn reply(&mut self) -> std::io::Result<u16> {
        let mut line = String::new();
        self.replies.read_line(&mut line)?;
        let code: u16 = line
            .get(..3)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not a reply: {line:?}")))?;
        if line.as_bytes().get(3) == Some(&b'-') {
            let end = format!("{code} ");
            loop {
                line.clear();
                if self.replies.read_line(&mut line)? == 0 || line.starts_with(&end) {
                    break;
                }
            }
        }
        Ok(code)
    }

    fn expect(&mut self, code: u16) -> std::io::Result<()> {
        match self.reply()? {
            c if c == code => Ok(()),
            c => Err(std::io::Error::other(format!(
                "{c} where {code} was expected"
            ))),
        }
    }

    /// The names `NLST dir` gives, over a passive data connection (at start, untimed).
    fn nlst(&mut self, dir: &str) -> std::io::Result<Vec<String>> {
        self.send("PASV")?;
        let mut line = String::new();
        self.replies.read_line(&mut line)?;
        let nums: Vec<u16> = line
            .get(4..)
            .and_then(|t| t.split_once('(').and_then(|(_, r)| r.split_once(')')))
            .map(|(inner, _)| {
                inner
                    .split(',')
                    .filter_map(|n| n.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let [a, b, c, d, p1, p2] = nums[..] else {
            return Err(std::io::Error::other(format!("not a 227 reply: {line:?}")));
        };
        let data = TcpStream::connect((format!("{a}.{b}.{c}.{d}").as_str(), p1 * 256 + p2))?;
        self.send(&format!("NLST {dir}"))?;
        match self.reply()? {
            125 | 150 => {}
            c => return Err(std::io::Error::other(format!("NLST answered {c}"))),
        }
        let names = BufReader::new(data)
            .lines()
            .map(|l| l.map(|l| l.rsplit('/').next().unwrap_or_default().to_string()))
            .collect::<std::io::Result<Vec<_>>>()?;
        self.expect(226)?;
        Ok(names.into_iter().filter(|n| !n.is_empty()).collect())
    }
}

struct Floor {
    dir: String,
    control: Mutex<Control>,
    /// Names made through the mount, with their inode numbers and kinds.
    names: Mutex<HashMap<String, (u64, FileType)>>,
    next_ino: Mutex<u64>,
}

fn attr(ino: u64, kind: FileType) -> FileAttr {
    let now = SystemTime::now();
    FileAttr {
        ino: INodeNo(ino),
        size: 0,
        blocks: 0,
        atime: now,
        mtime: now,
        ctime: now,
        crtime: now,
        kind,
        perm: if kind == FileType::Directory {
            0o755
        } else {
            0o644
        },
        nlink: if kind == FileType::Directory { 2 } else { 1 },
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

impl Floor {
    /// Sends `verb DIR/name` and waits for `ok`.
    fn command(&self, verb: &str, name: &OsStr, ok: u16) -> Result<String, Errno> {
        let name = name.to_str().ok_or(Errno::EINVAL)?;
        if name.contains(['\r', '\n']) {
            return Err(Errno::EINVAL);
        }
        let mut c = self.control.lock().unwrap_or_else(|e| e.into_inner());
        c.send(&format!("{verb} {}/{name}", self.dir))
            .map_err(|_| Errno::EIO)?;
        match c.reply() {
            Ok(code) if code == ok => Ok(name.to_string()),
            Ok(_) => Err(Errno::EACCES),
            Err(_) => Err(Errno::EIO),
        }
    }
}

impl Floor {
    /// `RMD` or `DELE`, and the name is gone.
    fn remove(&self, verb: &str, name: &OsStr, reply: ReplyEmpty) {
        match self.command(verb, name, 250) {
            Ok(name) => {
                self.names.lock().unwrap().remove(&name);
                reply.ok()
            }
            Err(e) => reply.error(e),
        }
    }
}

impl Filesystem for Floor {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let known = name
            .to_str()
            .and_then(|n| self.names.lock().unwrap().get(n).copied());
        match (parent, known) {
            (INodeNo::ROOT, Some((ino, kind))) => {
                reply.entry(&TTL, &attr(ino, kind), Generation(0))
            }
            _ => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let kind = if ino == INodeNo::ROOT {
            Some(FileType::Directory)
        } else {
            let names = self.names.lock().unwrap();
            names.values().find(|(i, _)| *i == ino.0).map(|(_, k)| *k)
        };
        match kind {
            Some(kind) => reply.attr(&TTL, &attr(ino.0, kind)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        _parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        match self.command("MKD", name, 257) {
            Ok(name) => {
                let ino = {
                    let mut next = self.next_ino.lock().unwrap();
                    *next += 1;
                    *next
                };
                self.names
                    .lock()
                    .unwrap()
                    .insert(name, (ino, FileType::Directory));
                reply.entry(&TTL, &attr(ino, FileType::Directory), Generation(0))
            }
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, _parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove("RMD", name, reply)
    }

    fn unlink(&self, _req: &Request, _parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove("DELE", name, reply)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || -> ! {
        eprintln!("usage: FTP_PASSWORD=... fuse_floor HOST PORT USER DIR MOUNTPOINT [THREADS]");
        std::process::exit(2);
    };
    let (fixed, rest) = args.split_at(args.len().min(5));
    let ([host, port, user, dir, mountpoint], [] | [_]) = (fixed, rest) else {
        usage()
    };
    let threads = match rest.first().map(|t| t.parse::<usize>()) {
        None => 1,
        Some(Ok(t)) if t > 0 => t,
        Some(_) => usage(),
    };
    let password = std::env::var("FTP_PASSWORD").unwrap_or_default();
    let dir = dir.trim_end_matches('/').to_string();
    let start = Control::login(host, port, user, &password)
        .and_then(|mut c| c.nlst(&dir).map(|names| (c, names)));
    let (control, files) = match start {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fuse_floor: cannot log in to {host}:{port} and list {dir}: {e}");
            std::process::exit(1);
        }
    };
    let names: HashMap<String, (u64, FileType)> = (files.into_iter().zip(2..))
        .map(|(name, ino)| (name, (ino, FileType::RegularFile)))
        .collect();
    let fs = Floor {
        dir,
        control: Mutex::new(control),
        next_ino: Mutex::new(names.len() as u64 + 1),
        names: Mutex::new(names),
    };
    let mut cfg = fuser::Config::default();
    cfg.mount_options = vec![fuser::MountOption::FSName("fuse_floor".into())];
    cfg.n_threads = Some(threads);
    let session = match fuser::Session::new(fs, mountpoint, &cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fuse_floor: cannot mount {mountpoint}: {e}");
            std::process::exit(1);
        }
    };
    println!("ready");
    if let Err(e) = session.run() {
        eprintln!("fuse_floor: {e}");
        std::process::exit(1);
    }
}
