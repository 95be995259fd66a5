#!/usr/bin/env bash
# The ftpfs demo. Builds ftpfs, starts the project's own FTP server (examples/ftpserver.rs, libunftp)
# on 127.0.0.1 over a sample folder, mounts it, shows ordinary tools working on it, and unmounts.
#   scripts/demo.sh                          # the built-in server and sample folder
#   scripts/demo.sh ftp://user@host/dir      # mount that server instead (password: FTPFS_PASSWORD,
#                                            # ~/.netrc, or in the URL)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v fusermount3 >/dev/null; then
  echo "demo: installing fuse3"
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q fuse3
fi

echo "== building"
cargo build --release --quiet --bin ftpfs --example ftpserver

work=$(mktemp -d /tmp/ftpfs-demo.XXXXXX)
mnt="$work/mnt"
mkdir "$mnt"
server_pid=""
cleanup() {
  if mountpoint -q "$mnt"; then fusermount3 -u "$mnt" || fusermount3 -u -z "$mnt"; fi
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ $# -ge 1 ]; then
  url=$1
else
  sample="$work/sample"
  mkdir -p "$sample/docs" "$sample/data/2026" "$sample/src"
  printf 'Welcome to the ftpfs demo.\nThis folder is served over FTP from 127.0.0.1.\n' > "$sample/README.txt"
  printf 'ftpfs maps FUSE calls onto a pool of FTP connections.\n' > "$sample/docs/notes.md"
  for m in 01 02 03 04 05 06; do
    seq 1 2000 | awk -v m="$m" '{print "2026-" m "," $1 "," ($1 * 37) % 1000}' > "$sample/data/2026/sales-$m.csv"
  done
  cp src/remote/mod.rs "$sample/src/remote.rs"
  head -c $((16 << 20)) /dev/urandom > "$sample/data/random.bin"
  "$PWD/target/release/examples/ftpserver" --root "$sample" --port 0 --user demo --password demo \
    > "$work/server.out" 2> "$work/server.err" &
  server_pid=$!
  for _ in $(seq 100); do
    grep -q '^listening on' "$work/server.out" 2>/dev/null && break
    sleep 0.1
  done
  addr=$(sed -n 's/^listening on //p' "$work/server.out")
  [ -n "$addr" ] || { echo "demo: the FTP server did not start:"; cat "$work/server.err"; exit 1; }
  echo "== FTP server (libunftp) on $addr serving $sample"
  url="ftp://demo@$addr/"
  export FTPFS_PASSWORD=demo
fi

show() { echo; echo "\$ $*"; "$@"; }

echo "== mounting $url on $mnt"
target/release/ftpfs "$url" "$mnt"
cd "$mnt"
show ls -l
show sh -c "ls -lR | head -n 30"
show stat README.txt
show cat README.txt
show grep -rl "pool" .
show sh -c "find . -type f | sort | head -n 20"
show du -sh .
show df -h .
if [ -f data/random.bin ]; then
  show sha256sum data/random.bin "$work/sample/data/random.bin"
  show cp data/random.bin "$work/copy.bin"
  show cmp data/random.bin "$work/copy.bin"
  show sh -c "tar cf - data | wc -c"
fi
echo
echo "== writing through the mount"
show mkdir -p demo-upload
show cp "$OLDPWD/README.md" demo-upload/README.md
show sh -c "echo 'one more line' >> demo-upload/README.md && tail -n 1 demo-upload/README.md"
show mv demo-upload/README.md demo-upload/notes.md
show ls -l demo-upload
if [ -n "${sample:-}" ]; then
  show sh -c "tail -n 1 '$sample/demo-upload/notes.md'   # on the server's disk"
fi
show rm -r demo-upload
show cat .ftpfs-stats
cd /
echo
echo "== unmounting"
fusermount3 -u "$mnt"
echo "done."
