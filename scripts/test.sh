#!/usr/bin/env bash
# Runs every test layer of ftpfs, after installing what is missing (Debian, as root):
#   1. unit tests inside the modules (parsers, caches, inode table, pool, the FTP session against
#      recorded exchanges, CLI);
#   2. the filesystem core over the in-memory store (tests/core_mem.rs);
#   3. the FTP store against libunftp in-process and vsftpd started by the tests (tests/ftp_store.rs),
#      and over FTPS against a TLS-only vsftpd with certificates the tests make (tests/ftp_store_tls.rs);
#   2b. the write path of the core over the in-memory store, with failure injection (tests/core_write.rs);
#   4. kernel mounts of the real binary against vsftpd and libunftp (tests/mount.rs, reading;
#      tests/mount_write.rs: cp, rsync, editor saves, O_RDWR, appends, truncate, fsx, a full disk;
#      tests/mount_tls.rs: ftpes:// and ftps:// mounts, bad certificates, silent TLS servers;
#      tests/system.rs: mount(8) -t fuse.ftpfs, fstab lines, drop_privileges, credentials, the
#      password prompt, owners and modes for other users (its autofs test runs in the VM, 8);
#      tests/stats.rs: live statistics and the log at unmount; tests/proxy.rs: mounts through
#      Debian's dante SOCKS5 server and an HTTP CONNECT proxy of the tests).
#   5. network faults against a vsftpd the tests stop, freeze and restart (tests/faults.rs), uploads
#      by cp and tar that resume across a server restart and cut connections (tests/faults_upload.rs),
#      and hostile servers scripted by the tests (tests/hostile.rs);
#      tests/pjdfstest.rs: pjdfstest's open, mkdir, rmdir, unlink, rename, truncate, ftruncate, chmod
#      and utimensat groups on a mount over vsftpd, failing on any failure not listed as expected.
#   6. the docs against --help (tests/docs.rs);
#   7. the server matrix (tests/matrix.rs): one kernel-mount smoke test against each of vsftpd (chrooted
#      and not), ProFTPD (with and without DefaultRoot), Pure-FTPd, pyftpdlib, libunftp and GNU
#      inetutils ftpd;
#   8. the VM layer (scripts/vm/run.sh): Debian's kernel with systemd as PID 1 under QEMU, where the
#      docs' systemd units and automount, autofs, fusermount3 as a user, the .deb of
#      scripts/package.sh and tests/system.rs (autofs included) run. docs/development.md describes the
#      layers.
# Nothing is skipped: a missing /dev/fuse or a missing server makes the run fail.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v fusermount3 >/dev/null || need+=(fuse3)
[ -x /usr/sbin/vsftpd ] || need+=(vsftpd)
command -v tar >/dev/null || need+=(tar)
command -v rsync >/dev/null || need+=(rsync)
# tests/system.rs: unshare, nsenter, setpriv and script (util-linux, bsdutils) for the mount(8)
# tests. Its autofs test runs in the VM layer, whose image has autofs.
command -v setpriv >/dev/null || need+=(util-linux)
command -v script >/dev/null || need+=(bsdutils)
# systemd-analyze and systemd-fstab-generator check the systemd units of docs/system.md (tests/system.rs).
[ -x /lib/systemd/system-generators/systemd-fstab-generator ] && command -v systemd-analyze >/dev/null ||
  need+=(systemd)
# The FTPS tests make their CA and server certificates with the openssl CLI; without the system's CA
# store (ca-certificates) every FTPS mount without cafile= fails before it connects.
command -v openssl >/dev/null || need+=(openssl)
# tests/mount_write.rs clones a git repository onto a mount (modes kept, `git status` clean).
command -v git >/dev/null || need+=(git)
[ -s /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
# tests/proxy.rs mounts through Debian's SOCKS5 server, dante (its service is not started: the
# tests run their own danted in the foreground).
[ -x /usr/sbin/danted ] || need+=(dante-server)
# The VM layer (scripts/vm/): QEMU, Debian's stock kernel (autofs and fuse as modules) for the guest,
# debootstrap for its root file system, mkfs.ext4 -d for its disks; and for scripts/package.sh,
# dpkg-shlibdeps (dpkg-dev) and objcopy (binutils); gdb reads the split debug info (vm/run.sh).
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
ls /boot/vmlinuz-*-amd64 >/dev/null 2>&1 || need+=(linux-image-amd64)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v objcopy >/dev/null || need+=(binutils)
command -v gdb >/dev/null || need+=(gdb)
# The server matrix (tests/matrix.rs): pyftpdlib installs beside vsftpd; ProFTPD, Pure-FTPd and GNU
# inetutils ftpd are unpacked below (Debian's FTP servers conflict with each other), and their
# binaries need these libraries.
[ -f /usr/lib/python3/dist-packages/pyftpdlib/__init__.py ] || need+=(python3-pyftpdlib)
for lib in libacl1 libcap2 libhiredis0.14 libidn2-0 libmemcached11 libmemcachedutil2 libpam0g \
  libpcre2-posix3 libsodium23 libssl3 libwrap0; do
  dpkg -s "$lib" >/dev/null 2>&1 || need+=("$lib")
done
if ((${#need[@]})); then
  echo "test.sh: installing ${need[*]}"
  apt-get update -q
  # Packages with services (vsftpd) must not start them: the tests start their own servers.
  # Debian asks /usr/sbin/policy-rc.d; 101 means "do not".
  own_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
  if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
# Every Debian FTP server provides and conflicts with `ftp-server`, so only vsftpd is installed; the
# other servers of the matrix are Debian's packages unpacked (dpkg-deb -x, no maintainer scripts, no
# service started) under /opt/ftpfs-test-servers/PACKAGE, where tests/support/servers/daemon.rs
# finds them. A package that cannot be fetched stops the run here.
servers=/opt/ftpfs-test-servers
for pkg in proftpd-core pure-ftpd inetutils-ftpd; do
  [ -d "$servers/$pkg" ] && continue
  echo "test.sh: unpacking Debian's $pkg into $servers/$pkg"
  tmp=$(mktemp -d)
  download() { (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg"); }
  download || { apt-get update -q && download; }
  dpkg-deb -x "$tmp/${pkg}"_*.deb "$tmp/unpacked"
  mkdir -p "$servers"
  mv "$tmp/unpacked" "$servers/$pkg"
  rm -rf "$tmp"
done
# fsx, the file-operation exerciser the write tests run (100,000 checked operations, with and
# without writeback).
if [ ! -x "$HOME/.cargo/bin/fsx" ]; then
  echo "test.sh: installing fsx"
  cargo install --locked fsx
fi
# pjdfstest (the Rust rewrite), the POSIX test suite tests/pjdfstest.rs runs on a mount.
if [ ! -x "$HOME/.cargo/bin/pjdfstest" ]; then
  echo "test.sh: installing pjdfstest"
  cargo install --locked pjdfstest
fi
if [ ! -c /dev/fuse ]; then
  echo "test.sh: /dev/fuse is missing: the kernel mount tests cannot run" >&2
  exit 1
fi
# vsftpd refuses to start from systemd's unit here; make sure no stray instance holds port 21 either
# way: the tests start their own on free ports.
scripts/setup-test-user.sh

echo "== format and lints"
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings

echo "== all test layers"
cargo test --locked --all-targets 2>&1 | tee /tmp/ftpfs-test.log

echo "== the VM layer"
# systemd as PID 1 and autofs, which this machine's kernel and init may lack; the autofs test of
# tests/system.rs runs there (it is #[ignore]d in the run above).
scripts/vm/run.sh 2>&1 | tee -a /tmp/ftpfs-test.log
