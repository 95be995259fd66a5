//! The fuser adapter: one thin handler per kernel request that calls the core (`FtpFs`) and turns the
//! result into a reply or an errno. Nothing here decides semantics: it only translates fuser's types
//! (flags, times, handles) into the core's. Requests that only look (lookups, listings, reads) record
//! their caller (`caller::serve`) so that their waits end when it is killed; changes are carried
//! through, because their outcome on the server must be known. Opens, writes, truncations and
//! closes record which thread asked (`caller::request`): a close uploads only for a writer.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, BsdFileFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    Generation, INodeNo, InitFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr,
    ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen,
    ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use log::{debug, warn};

use crate::caller;
use crate::error::FsError;
use crate::fs::{Attr, DirEntry, DirSink, FtpFs, OpenMode, Opened, RenameMode, SetAttr};
use crate::remote::{EntryKind, RemoteStore};

/// Serves an `FtpFs` to the kernel.
pub struct FuseAdapter<S: RemoteStore> {
    fs: Arc<FtpFs<S>>,
}

impl<S: RemoteStore> FuseAdapter<S> {
    /// The core is shared so the mount can run its last uploads after the session ends.
    pub fn new(fs: Arc<FtpFs<S>>) -> Self {
        FuseAdapter { fs }
    }

    /// The errno for a failed request, logged as loudly as it deserves and counted.
    fn errno(&self, op: &str, e: &FsError) -> Errno {
        if e.is_noteworthy() {
            warn!("{op}: {e}");
        } else {
            debug!("{op}: {e}");
        }
        self.fs.note_error(e);
        Errno::from_i32(e.errno())
    }
}

/// The kernel's flags for an opened file.
fn fopen_flags(o: &Opened) -> FopenFlags {
    let mut f = FopenFlags::empty();
    if o.keep_cache {
        f |= FopenFlags::FOPEN_KEEP_CACHE;
    }
    if o.direct_io {
        f |= FopenFlags::FOPEN_DIRECT_IO;
    }
    f
}

fn open_mode(flags: i32) -> OpenMode {
    let acc = flags & libc::O_ACCMODE;
    OpenMode {
        read: acc != libc::O_WRONLY,
        write: acc != libc::O_RDONLY,
        append: flags & libc::O_APPEND != 0,
    }
}

fn system_time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

fn file_attr(a: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: a.blocks(),
        atime: a.atime,
        mtime: a.mtime,
        ctime: a.ctime,
        crtime: a.mtime,
        kind: file_type(a.kind),
        perm: a.perm,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: 0,
        blksize: a.blksize,
        flags: 0,
    }
}

fn file_type(k: EntryKind) -> FileType {
    match k {
        EntryKind::File => FileType::RegularFile,
        EntryKind::Dir => FileType::Directory,
        EntryKind::Symlink => FileType::Symlink,
    }
}

const GEN: Generation = Generation(0);

struct Plain(ReplyDirectory);
impl DirSink for Plain {
    fn add(&mut self, e: &DirEntry, next: u64) -> bool {
        self.0
            .add(INodeNo(e.attr.ino), next, file_type(e.attr.kind), &e.name)
    }
}

struct Plus(ReplyDirectoryPlus, Duration);
impl DirSink for Plus {
    fn add(&mut self, e: &DirEntry, next: u64) -> bool {
        self.0.add(
            INodeNo(e.attr.ino),
            next,
            &e.name,
            &self.1,
            &file_attr(&e.attr),
            GEN,
        )
    }
}

impl<S: RemoteStore> Filesystem for FuseAdapter<S> {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // Parallel lookups and readdirs in one directory; readdirplus so `ls -l` needs no per-file
        // round trip. KILLPRIV_V2 says we clear set-id bits on writes ourselves: without it the
        // kernel asks for `security.capability` (a getxattr round trip) before every write; the
        // mount is nosuid, so set-id bits of remote files never take effect here anyway. Failure
        // just means an older kernel: carry on without.
        let wanted = InitFlags::FUSE_PARALLEL_DIROPS
            | InitFlags::FUSE_DO_READDIRPLUS
            | InitFlags::FUSE_READDIRPLUS_AUTO
            | InitFlags::FUSE_HANDLE_KILLPRIV_V2;
        if let Err(missing) = config.add_capabilities(wanted) {
            debug!("kernel lacks capabilities {missing:?}");
        }
        Ok(())
    }

    fn lookup(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let _caller = caller::serve(req.pid());
        match self.fs.lookup(parent.0, name) {
            Ok(a) => reply.entry(&self.fs.attr_ttl(), &file_attr(&a), GEN),
            Err(e) => reply.error(self.errno("lookup", &e)),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.fs.forget(ino.0, nlookup);
    }

    fn getattr(&self, req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let _caller = caller::serve(req.pid());
        match self.fs.getattr(ino.0) {
            Ok(a) => reply.attr(&self.fs.attr_ttl(), &file_attr(&a)),
            Err(e) => reply.error(self.errno("getattr", &e)),
        }
    }

    fn readlink(&self, req: &Request, ino: INodeNo, reply: ReplyData) {
        let _caller = caller::serve(req.pid());
        match self.fs.readlink(ino.0) {
            Ok(t) => reply.data(t.as_encoded_bytes()),
            Err(e) => reply.error(self.errno("readlink", &e)),
        }
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let _caller = caller::serve(req.pid());
        let _from = caller::request(req.pid());
        match self.fs.open(ino.0, open_mode(flags.0)) {
            Ok(o) => reply.opened(FileHandle(o.fh), fopen_flags(&o)),
            Err(e) => reply.error(self.errno("open", &e)),
        }
    }

    fn read(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let _caller = caller::serve(req.pid());
        match self.fs.read(fh.0, offset, size) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(self.errno("read", &e)),
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.fs.release(fh.0);
        reply.ok();
    }

    fn flush(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        let _from = caller::request(req.pid());
        match self.fs.flush(fh.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.errno("flush", &e)),
        }
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.fs.fsync(fh.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.errno("fsync", &e)),
        }
    }

    fn opendir(&self, req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let _caller = caller::serve(req.pid());
        match self.fs.opendir(ino.0) {
            // The kernel caches the entries it reads (getdents then costs no request) and keeps
            // them across opens while the core says they are unchanged.
            Ok(o) => reply.opened(
                FileHandle(o.fh),
                FopenFlags::FOPEN_CACHE_DIR | fopen_flags(&o),
            ),
            Err(e) => reply.error(self.errno("opendir", &e)),
        }
    }

    fn readdir(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectory,
    ) {
        let _caller = caller::serve(req.pid());
        let mut sink = Plain(reply);
        match self.fs.readdir(fh.0, offset, false, &mut sink) {
            Ok(()) => sink.0.ok(),
            Err(e) => sink.0.error(self.errno("readdir", &e)),
        }
    }

    fn readdirplus(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectoryPlus,
    ) {
        let _caller = caller::serve(req.pid());
        let mut sink = Plus(reply, self.fs.attr_ttl());
        match self.fs.readdir(fh.0, offset, true, &mut sink) {
            Ok(()) => sink.0.ok(),
            Err(e) => sink.0.error(self.errno("readdirplus", &e)),
        }
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.fs.releasedir(fh.0);
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let s = self.fs.statfs();
        reply.statfs(
            s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.bsize, s.namelen, s.bsize,
        );
    }

    /// FTP has no extended attributes. Answering ENOSYS (rather than "no such attribute" for each
    /// one) makes the kernel stop asking: otherwise `ls -l` costs a round trip per file for its
    /// `security.selinux` and ACL probes.
    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, _size: u32, reply: ReplyXattr) {
        reply.error(Errno::ENOSYS);
    }

    fn access(&self, req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        let _caller = caller::serve(req.pid());
        if mask.contains(AccessFlags::W_OK) && self.fs.read_only() {
            return reply.error(Errno::EROFS);
        }
        match self.fs.getattr(ino.0) {
            Ok(_) => reply.ok(),
            Err(e) => reply.error(self.errno("access", &e)),
        }
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let _from = caller::request(req.pid());
        let change = SetAttr {
            size,
            mtime: mtime.map(system_time),
            atime: atime.map(system_time),
            mode,
            owner: uid.is_some() || gid.is_some(),
        };
        match self.fs.setattr(ino.0, fh.map(|f| f.0), change) {
            Ok(a) => reply.attr(&self.fs.attr_ttl(), &file_attr(&a)),
            Err(e) => reply.error(self.errno("setattr", &e)),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let _from = caller::request(req.pid());
        let exclusive = flags & libc::O_EXCL != 0;
        let perm = mode & !umask & 0o7777;
        match self
            .fs
            .create_with_perm(parent.0, name, open_mode(flags), exclusive, perm)
        {
            Ok((a, o)) => reply.created(
                &self.fs.attr_ttl(),
                &file_attr(&a),
                GEN,
                FileHandle(o.fh),
                fopen_flags(&o),
            ),
            Err(e) => reply.error(self.errno("create", &e)),
        }
    }

    fn write(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let _from = caller::request(req.pid());
        match self.fs.write(fh.0, offset, data) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(self.errno("write", &e)),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        match self
            .fs
            .mkdir_with_perm(parent.0, name, mode & !umask & 0o7777)
        {
            Ok(a) => reply.entry(&self.fs.attr_ttl(), &file_attr(&a), GEN),
            Err(e) => reply.error(self.errno("mkdir", &e)),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.fs.unlink(parent.0, name) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.errno("unlink", &e)),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.fs.rmdir(parent.0, name) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.errno("rmdir", &e)),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mode = RenameMode {
            no_replace: flags.contains(RenameFlags::RENAME_NOREPLACE),
            exchange: flags.contains(RenameFlags::RENAME_EXCHANGE),
        };
        match self.fs.rename(parent.0, name, newparent.0, newname, mode) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.errno("rename", &e)),
        }
    }

    // FTP has no device nodes, symlink creation or hard links.

    fn mknod(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EPERM);
    }

    fn symlink(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _link_name: &OsStr,
        _target: &Path,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EPERM);
    }

    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EPERM);
    }

    fn destroy(&mut self) {
        self.fs.shutdown();
    }
}
