#!/usr/bin/env bash
# Runs every test layer of ftpfs, after installing what is missing (Debian, as root):
#   1. unit tests inside the modules (parsers, caches, inode table, pool, CLI);
#   2. the filesystem core over the in-memory store (tests/core_mem.rs);
#   3. the FTP store against libunftp in-process and vsftpd started by the tests (tests/ftp_store.rs);
#   2b. the write path of the core over the in-memory store, with failure injection (tests/core_write.rs);
#   4. kernel mounts of the real binary against vsftpd and libunftp (tests/mount.rs, reading;
#      tests/mount_write.rs: cp, rsync, editor saves, O_RDWR, appends, truncate, fsx, a full disk).
#   5. network faults against a vsftpd the tests stop, freeze and restart (tests/faults.rs) and hostile
#      servers scripted by the tests (tests/hostile.rs).
# Nothing is skipped: a missing /dev/fuse or vsftpd makes the run fail.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v fusermount3 >/dev/null || need+=(fuse3)
[ -x /usr/sbin/vsftpd ] || need+=(vsftpd)
command -v tar >/dev/null || need+=(tar)
command -v rsync >/dev/null || need+=(rsync)
if ((${#need[@]})); then
  echo "test.sh: installing ${need[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi
# fsx, the file-operation exerciser the write tests run (10,000 checked operations).
if [ ! -x "$HOME/.cargo/bin/fsx" ]; then
  echo "test.sh: installing fsx"
  cargo install --locked fsx
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
