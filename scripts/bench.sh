#!/usr/bin/env bash
# ftpfs benchmark: ftpfs against rclone mount, raw FTP clients and the local disk, all reading from
# ONE vsftpd that this script starts on 127.0.0.1 (Debian, as root; installs what is missing).
#
#   scripts/bench.sh                 # full run: 1 GiB file, 100 dirs x 100 small files (~2-3 min
#                                    #   on 2 cores, plus ~20 s the first time to create the data;
#                                    #   every step is capped with `timeout`, so well under 10 min)
#   scripts/bench.sh --quick         # smoke test: 64 MiB file, 10 x 100 files (~30 s)
#   scripts/bench.sh --only raw      # only one column family: ftpfs | rclone | raw (local always runs)
#   scripts/bench.sh --help          # every option
#
# What it measures (each mount is fresh where it says cold, after `echo 3 > drop_caches`):
#   seq read cold/warm  MB/s (10^6 B/s) reading the big file: cold on a fresh mount, warm = the same
#                       file again on the same mount. The server's page cache is warm for every
#                       column (the file is read on the server's disk first), so the rows measure the
#                       FTP path and the mount, not the disk. Mounts are read by `cat >/dev/null`
#                       as curl writes to /dev/null: one copy into the reader and no consumer taking
#                       CPU from the pipeline (a checksum in the timed run would cost ftpfs, which
#                       needs both cores, more than curl). Every byte is then checked, untimed,
#                       through SHA-256: the mount's (from the page cache the cold read filled), and
#                       one more curl's. Raw = curl (-o /dev/null, byte count checked); the warm
#                       row's raw figure is the second curl.
#   N readers           MB/s together: 4 programs at once, each reading its own 256 MiB file (cat
#                       on a mount; raw = 4 curls at once), from a warm server page cache; the log
#                       line gives each reader's time, to show the link is shared fairly.
#   N readers, RAM      what bounds the N readers on a machine whose loopback is faster than its
#   N spliced dls       cores, in CPU-seconds per GiB of the whole machine: the same N cats on a
#                       mount whose block cache already holds the files (page cache dropped, no
#                       byte on the network: checked in .ftpfs-stats), which is what FUSE costs;
#                       and N downloads whose bytes go socket -> pipe -> /dev/null (parread.py
#                       splice), what a download costs without the copy into user memory that
#                       curl and ftpfs make. A note turns their sum into the fastest rate any
#                       mount could reach here.
#   random 4K reads     reads/s: scripts/bench/randread.py (pread at seeded random 4 KiB-aligned
#                       offsets, each block compared with the server's disk); raw = raw_randread.py,
#                       the same offsets over ONE FTP connection (REST + RETR, read 4 KiB, close,
#                       expect 426/226). Server's page cache warm, as for the sequential rows.
#                       rclone is capped in time; its figure then says how many reads it finished.
#   ls -lR cold/warm    seconds for `ls -lR` of the tree (files counted); raw = `lftp find -l`.
#   small files         files/s reading every file of the tree on a fresh mount (find | sort |
#                       xargs cat | sha256sum, compared with the manifest); raw = a Python ftplib
#                       loop, one RETR after another in the same order (capped at 60 s; the rate
#                       is over the files it read). small (mirror): `lftp mirror` of the tree
#                       to local disk (timed, then every file checked, then deleted).
#   seq cold CPU        CPU-seconds per GiB the cold sequential read kept the machine busy (all
#                       processes: server, kernel, reader, client; from /proc/stat): what bounds a
#                       cold read on a machine whose loopback is faster than its cores. A note
#                       under the table turns it into the fastest rate this machine allows.
#   peak RSS            MiB, VmHWM of the ftpfs daemon after the seq reads; rclone's for reference.
#   Writes (scripts/bench/writes.py; each timed until the server's disk shows the result, and
#   checked there; on a fresh mount per column, into a scratch folder of the server):
#   seq write+fsync     MB/s copying the big file (from the local page cache) into the mount in
#                       16 MiB writes, then fsync and close, until the server holds every byte
#                       (its SHA-256 is then checked, untimed); raw = curl -T of the same file.
#   seq write CPU       CPU-seconds per GiB of that write, all processes (as seq cold CPU).
#   create 4K files     files/s creating 1,000 files of 4 KiB (open, write, close each);
#                       raw = an ftplib loop of STOR, each waiting for its 226.
#   create (writeback)  the same with ftpfs -o writeback and rclone --vfs-cache-mode writes (close
#                       returns before the upload), timed until every file is on the server's disk.
#   O_RDWR 256x4K       seconds for 256 random 4 KiB pwrites into a 64 MiB file opened O_RDWR, until
#                       the server's copy has all of them. rclone needs --vfs-cache-mode writes for
#                       this (with "off" it refuses O_RDWR): its column is measured that way here.
#   mkdir, rmdir,       ops/s: mkdir of 3,000 directories, then rmdir of them; unlink of the 1,000
#   unlink              files; raw = ftplib loops of MKD, RMD, DELE on one connection. Raw's loop
#                       and ftpfs's are interleaved (scripts/bench/meta_rows.py): chunks of 100
#                       operations, done by each in turn in its own folder, the first rotating,
#                       each chunk timed until the server's disk shows it. The server's disk
#                       changes pace from minute to minute; this way both meet the same one.
#   (floor)             for each of the three, a note gives the rate of examples/fuse_floor.rs, a
#                       FUSE file system that does nothing but the one FTP command per call (one
#                       connection, no cache), interleaved with the others: with one thread, the
#                       most any FUSE mount reaches against this server here; with as many threads
#                       as ftpfs runs (so that a call waiting on the server never holds up the
#                       others), the most such a mount reaches.
#   local               the same workloads on the server's own disk (what the FTP server reads).
#
# How to read the table: one row per workload; the unit says whether higher (MB/s, reads/s,
# files/s) or lower (s, MiB) is better. ftpfs/raw and ftpfs/rclone are plain quotients of the two
# figures (for seconds, below 1x means ftpfs was faster). "target" is the goal for ftpfs and
# "check" says PASS or MISS; "-" means a figure is missing (column not run, or timeout). Notes under
# the table tell about capped or timed-out runs. The table is also saved in the work directory.
#
# Exit status: 0 when every byte read checked out, 1 when any check failed or ftpfs failed (mount,
# error, timeout), 2 on bad usage; with --strict, 3 when all checks passed but a target was missed.
set -euo pipefail
export LC_ALL=C
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in scripts/bench

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPERS=$ROOT/scripts/bench
FTP_USER=ftpfstest
FTP_PASS=ftpfstest-pw

usage() {
  cat <<EOF
usage: scripts/bench.sh [--quick] [--only ftpfs|rclone|raw] [--work DIR] [--cache-size MIB]
                        [--max-conns N] [--ftpfs-opts OPTS] [--no-build] [--strict]
  --quick            64 MiB file and 1,000 small files, 500 random reads: a smoke test
  --only WHAT        run only the ftpfs, rclone or raw (curl/lftp/ftplib) column; local always runs
  --work DIR         where the data set lives and is reused
                     (default /var/tmp/ftpfs-bench, or /var/tmp/ftpfs-bench-quick with --quick)
  --cache-size MIB   ftpfs cache_size (default 128); the RSS target is this + 64 MiB
  --max-conns N      ftpfs max_conns (default 8, as ftpfs)
  --ftpfs-opts OPTS  more ftpfs -o options, comma-separated (e.g. dir_cache_ttl=60)
  --no-build         use target/release/ftpfs as it is (no cargo build --release)
  --strict           exit 3 when a target is missed (all checks passing)
  --link RATE        run everything in a private network namespace whose loopback is limited
                     to RATE (tc tbf: 1gbit, 2.5gbit, 10gbit...): a network slower than the
                     CPUs, as a real link is, instead of loopback at memory speed
  --rtt MS           put scripts/bench/delay_proxy.py between every client and vsftpd (which then
                     listens on 127.0.0.2): MS milliseconds of round trip on every connection,
                     control and data, as on a LAN (~0.5) or a WAN (10-50), each connection
                     starting in TCP slow start. The proxy moves bytes with splice(2) but on the
                     same two cores as everything else, which caps throughput: it models latency
                     (random reads, ls -lR, small files, creates); combine with --link for both
EOF
}

QUICK=0
ONLY=all
STRICT=0
BUILD=1
CACHE_MIB=128
MAX_CONNS=8
EXTRA_OPTS=""
WORK=""
LINK=""
RTT=""
ARGS=("$@")
while (($#)); do
  case $1 in
    --quick) QUICK=1 ;;
    --only) ONLY=${2:-}; shift ;;
    --only=*) ONLY=${1#*=} ;;
    --work) WORK=${2:-}; shift ;;
    --work=*) WORK=${1#*=} ;;
    --cache-size) CACHE_MIB=${2:-}; shift ;;
    --cache-size=*) CACHE_MIB=${1#*=} ;;
    --max-conns) MAX_CONNS=${2:-}; shift ;;
    --max-conns=*) MAX_CONNS=${1#*=} ;;
    --ftpfs-opts) EXTRA_OPTS=${2:-}; shift ;;
    --ftpfs-opts=*) EXTRA_OPTS=${1#*=} ;;
    --strict) STRICT=1 ;;
    --no-build) BUILD=0 ;;
    --link) LINK=${2:-}; shift ;;
    --link=*) LINK=${1#*=} ;;
    --rtt) RTT=${2:-}; shift ;;
    --rtt=*) RTT=${1#*=} ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
case $ONLY in all | ftpfs | rclone | raw) ;; *) echo "bench: --only takes ftpfs, rclone or raw" >&2; exit 2 ;; esac
[[ $CACHE_MIB =~ ^[0-9]+$ && $MAX_CONNS =~ ^[1-9][0-9]*$ ]] || { echo "bench: --cache-size and --max-conns take whole numbers" >&2; exit 2; }
run_col() { [ "$ONLY" = all ] || [ "$ONLY" = "$1" ]; }
# ftpfs's FUSE threads at this max_conns (src/mount.rs): the second floor runs as many.
FTPFS_THREADS=$((MAX_CONNS * 2 > 4 ? MAX_CONNS * 2 : 4))

# Sizes and time caps (seconds). Every timed command runs under `timeout`.
if ((QUICK)); then
  BIG_MIB=64 NDIRS=10 NFILES=100 RAND_N=500 PAR_MIB=16
  WORK=${WORK:-/var/tmp/ftpfs-bench-quick}
  CAP_SEQ=60 CAP_RAND=60 RCLONE_RAND_SECS=15 CAP_LS=60 CAP_SMALL=90
  W_SMALL=200 W_DIRS=50 W_RDWR_MIB=16 CAP_WRITE=90
else
  BIG_MIB=1024 NDIRS=100 NFILES=100 RAND_N=2000 PAR_MIB=256
  WORK=${WORK:-/var/tmp/ftpfs-bench}
  CAP_SEQ=120 CAP_RAND=120 RCLONE_RAND_SECS=45 CAP_LS=60 CAP_SMALL=180
  W_SMALL=1000 W_DIRS=200 W_RDWR_MIB=64 CAP_WRITE=180
fi
W_RDWR_N=256
# mkdir/rmdir on loopback take ~150 us each: 3,000 of them. The server's disk has slow spells
# (for ~150-200 ms after the unlink row's 4,000 deletions every mkdir takes 2-3x as long, for every
# tool; ext4 skips the inodes it freed recently, docs/performance.md): with 1,000 (ten chunks a
# tool) a spell fell on one or two of a tool's chunks and moved its total by up to 30%, with 3,000
# by a third of that. Far away each is one round trip: 200 (4 s at 20 ms) say as much.
if [ -n "$RTT" ] || ((QUICK)); then :; else W_DIRS=3000; fi
PAR_N=4
# The raw small-file loop (one RETR after another) is capped: at 20 ms it does ~9 files/s.
CAP_SMALL_RAW=60
TREE_SEED=1
RAND_SEED=20240611
BIG_BYTES=$((BIG_MIB << 20))
DATA=$WORK/data
MANIFEST=$WORK/manifest
TREE_SUMS=$WORK/tree.sha256
PAR_SUMS=$WORK/par.sha256
FTPFS_BIN=$ROOT/target/release/ftpfs
FLOOR_BIN=$ROOT/target/release/examples/fuse_floor

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*"; }
now() { date +%s.%N; }

[ -z "$RTT" ] || [[ $RTT =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--rtt takes milliseconds, such as 0.5 or 20"
[ "$(id -u)" = 0 ] || die "run as root (drop_caches, apt-get, the test user, vsftpd)"

# --link: the whole run again inside a fresh network namespace with a rate-limited loopback. Its
# servers still listen on 127.0.0.1 (the namespace's own), its mounts live in the mount namespace
# `ip netns exec` makes for the run, and the namespace is deleted afterwards.
if [ -n "$LINK" ] && [ -z "${FTPFS_BENCH_NETNS:-}" ]; then
  [[ $LINK =~ ^[0-9.]+[kmgt]?bit$ ]] || die "--link takes a rate such as 1gbit or 2.5gbit"
  command -v tc >/dev/null && command -v ip >/dev/null || die "--link needs ip and tc (iproute2)"
  NS=ftpfs-bench-$$
  ip netns add "$NS" || die "cannot create the network namespace $NS"
  trap 'ip netns del "$NS" 2>/dev/null' EXIT
  ip netns exec "$NS" ip link set lo up
  # burst: enough for the highest rates at the kernel's timer granularity; latency: the queue.
  ip netns exec "$NS" tc qdisc add dev lo root tbf rate "$LINK" burst 8mb latency 50ms ||
    die "cannot limit the namespace's loopback to $LINK (tc tbf)"
  log "network namespace $NS: loopback limited to $LINK"
  FTPFS_BENCH_NETNS=$LINK ip netns exec "$NS" "$0" "${ARGS[@]}"
  exit $?
fi

# ---------------------------------------------------------------------------------------------
# Cleanup: every mount made, every process started (by PID), the scratch directory.
RUN=""
CHILD=""
VSFTPD_PID=""
PROXY_PID=""
POLICY_RC_CREATED=0
MOUNTS=()
PIDS=()
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  local rc=$? m p
  set +e
  trap - EXIT INT TERM
  if [ -n "$CHILD" ]; then kill -TERM "$CHILD" 2>/dev/null; wait "$CHILD" 2>/dev/null; fi
  if [ -n "$PROXY_PID" ] && ! kill -0 "$PROXY_PID" 2>/dev/null; then
    echo "bench: the delay proxy had ended; its last words:" >&2
    tail -n 40 "$RUN/proxy.out" >&2
  fi
  for m in "${MOUNTS[@]}"; do
    if mountpoint -q "$m" 2>/dev/null; then
      fusermount3 -u "$m" 2>/dev/null || { sleep 1; fusermount3 -u "$m" 2>/dev/null; } ||
        { echo "bench: lazy unmount of $m" >&2; fusermount3 -u -z "$m"; }
    fi
  done
  for p in "${PIDS[@]}"; do stop_pid "$p"; done
  if [ -n "$VSFTPD_PID" ]; then
    # vsftpd was started with setsid: its PID is its process group, which holds its sessions too.
    kill -TERM -- "-$VSFTPD_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$VSFTPD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$VSFTPD_PID" 2>/dev/null
    wait "$VSFTPD_PID" 2>/dev/null
  fi
  ((POLICY_RC_CREATED)) && rm -f /usr/sbin/policy-rc.d
  rm -rf "$WORK/mirror-tmp" "$DATA"/wbench-* "$WORK/local-w" 2>/dev/null
  if [ -n "$RUN" ] && [ -d "$RUN" ]; then
    local busy=0
    for m in "${MOUNTS[@]}"; do mountpoint -q "$m" 2>/dev/null && busy=1; done
    if ((busy)); then echo "bench: $RUN left in place (a mount is still busy)" >&2; else rm -rf "$RUN"; fi
  fi
  exit "$rc"
}
# Ends one process we started (or the ftpfs daemon we found by its mountpoint): TERM, then KILL.
stop_pid() {
  local p=$1
  kill -0 "$p" 2>/dev/null || { wait "$p" 2>/dev/null || true; return 0; }
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  fi
  wait "$p" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Tools. Package installs must not start Debian's own vsftpd on 0.0.0.0:21: forbid service starts.
need=()
[ -x /usr/sbin/vsftpd ] || need+=(vsftpd)
command -v rclone >/dev/null || need+=(rclone)
command -v lftp >/dev/null || need+=(lftp)
command -v curl >/dev/null || need+=(curl)
command -v fusermount3 >/dev/null || need+=(fuse3)
command -v python3 >/dev/null || need+=(python3)
command -v pgrep >/dev/null || need+=(procps)
command -v setsid >/dev/null && command -v mountpoint >/dev/null || need+=(util-linux)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    POLICY_RC_CREATED=1
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
  if ((POLICY_RC_CREATED)); then rm -f /usr/sbin/policy-rc.d; POLICY_RC_CREATED=0; fi
fi
[ -c /dev/fuse ] || die "/dev/fuse is missing: no FUSE mounts possible here"

[ -x "$ROOT/scripts/setup-test-user.sh" ] || die "scripts/setup-test-user.sh is missing: it creates the user $FTP_USER and PAM service ftpfs-vsftpd"
"$ROOT/scripts/setup-test-user.sh"
id "$FTP_USER" >/dev/null || die "setup-test-user.sh did not create $FTP_USER"
[ -f /etc/pam.d/ftpfs-vsftpd ] || die "setup-test-user.sh did not create /etc/pam.d/ftpfs-vsftpd"

if run_col ftpfs; then
  if ((BUILD)); then
    log "building ftpfs (cargo build --release)"
    (cd "$ROOT" && cargo build --release --bin ftpfs --example fuse_floor) || die "cargo build --release failed"
  fi
  [ -x "$FTPFS_BIN" ] || die "$FTPFS_BIN is missing"
  [ -x "$FLOOR_BIN" ] || die "$FLOOR_BIN is missing (cargo build --release --example fuse_floor)"
fi

# ---------------------------------------------------------------------------------------------
# The data set, created once and reused while its manifest matches these sizes.
PARAMS="params big_mib=$BIG_MIB dirs=$NDIRS files=$NFILES tree_seed=$TREE_SEED"
manifest_get() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$MANIFEST"; }
data_complete() {
  [ -f "$MANIFEST" ] && [ "$(head -n1 "$MANIFEST")" = "$PARAMS" ] || return 1
  [ "$(stat -c %s "$DATA/big.bin" 2>/dev/null)" = "$BIG_BYTES" ] || return 1
  [ "$(find "$DATA/tree" -type f 2>/dev/null | wc -l)" = "$(manifest_get tree_files)" ] || return 1
  [ -f "$TREE_SUMS" ]
}
mkdir -p "$WORK"
chmod 755 "$WORK"
if data_complete; then
  log "reusing the data set in $DATA"
else
  log "creating the data set in $DATA (${BIG_MIB} MiB file, $NDIRS x $NFILES small files)"
  rm -rf "$DATA" "$MANIFEST" "$TREE_SUMS" "$WORK/mirror-tmp"
  mkdir -p "$DATA"
  head -c "$BIG_BYTES" /dev/urandom >"$DATA/big.bin.part"
  mv "$DATA/big.bin.part" "$DATA/big.bin"
  {
    echo "$PARAMS"
    echo "big_sha256 $(python3 "$HELPERS/sha256.py" "$DATA/big.bin" | cut -d' ' -f1)"
    echo "big_cksum $(cksum <"$DATA/big.bin")"
    python3 "$HELPERS/mkdata.py" "$DATA" "$NDIRS" "$NFILES" "$TREE_SEED" "$TREE_SUMS"
  } >"$MANIFEST.part"
  mv "$MANIFEST.part" "$MANIFEST"
fi
# The parallel readers' files: PAR_N files of PAR_MIB MiB, made once, checked by size and sums.
par_complete() {
  [ -f "$PAR_SUMS" ] && [ "$(wc -l <"$PAR_SUMS")" = "$PAR_N" ] || return 1
  local i
  for ((i = 0; i < PAR_N; i++)); do
    [ "$(stat -c %s "$DATA/par/p$i.bin" 2>/dev/null)" = $((PAR_MIB << 20)) ] || return 1
  done
}
if ! par_complete; then
  log "creating $PAR_N files of $PAR_MIB MiB for the parallel readers"
  rm -rf "$DATA/par" "$PAR_SUMS"
  mkdir -p "$DATA/par"
  for ((i = 0; i < PAR_N; i++)); do head -c $((PAR_MIB << 20)) /dev/urandom >"$DATA/par/p$i.bin"; done
  (cd "$DATA" && sha256sum par/p*.bin >"$PAR_SUMS.part") && mv "$PAR_SUMS.part" "$PAR_SUMS"
fi
chown -R "$FTP_USER:" "$DATA"
chmod 755 "$DATA"
BIG_SHA=$(manifest_get big_sha256)
TREE_FILES=$(manifest_get tree_files)
TREE_CAT=$(manifest_get tree_cat_sha256)
TREE_DIRS=$NDIRS

# ---------------------------------------------------------------------------------------------
# The FTP server.
RUN=$(mktemp -d /tmp/ftpfs-bench-run.XXXXXX)
chmod 755 "$RUN"
mkdir -m 555 "$RUN/empty"
: >"$RUN/errors.log"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PASV_MIN=$((20000 + RANDOM % 9000))
PASV_MAX=$((PASV_MIN + 2000))
# With --rtt the clients reach vsftpd through the delay proxy: vsftpd listens on 127.0.0.2 and
# announces 127.0.0.1 (the proxy, at the same ports) in its passive replies.
VS_ADDR=127.0.0.1
if [ -n "$RTT" ]; then
  VS_ADDR=127.0.0.2
  PASV_MAX=$((PASV_MIN + 300))
fi
cat >"$RUN/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=$VS_ADDR
listen_port=$PORT
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
chroot_local_user=YES
allow_writeable_chroot=YES
local_root=$DATA
pam_service_name=ftpfs-vsftpd
userlist_enable=NO
seccomp_sandbox=NO
secure_chroot_dir=$RUN/empty
max_clients=500
max_per_ip=500
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port=$PASV_MIN
pasv_max_port=$PASV_MAX
connect_from_port_20=NO
xferlog_enable=NO
vsftpd_log_file=$RUN/vsftpd.log
idle_session_timeout=600
data_connection_timeout=120
EOF
setsid /usr/sbin/vsftpd "$RUN/vsftpd.conf" >"$RUN/vsftpd.out" 2>&1 &
VSFTPD_PID=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/$VS_ADDR/$PORT") 2>/dev/null && break
  kill -0 "$VSFTPD_PID" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$VSFTPD_PID" 2>/dev/null || { cat "$RUN/vsftpd.out" >&2; die "vsftpd did not start"; }
if [ -n "$RTT" ]; then
  python3 "$HELPERS/delay_proxy.py" --rtt "$RTT" --listen 127.0.0.1 --target "$VS_ADDR" \
    --ports "$PORT,$PASV_MIN-$PASV_MAX" >"$RUN/proxy.out" 2>&1 &
  PIDS+=($!)
  PROXY_PID=$!
  for _ in $(seq 100); do grep -q ready "$RUN/proxy.out" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$RUN/proxy.out" || { cat "$RUN/proxy.out" >&2; die "the delay proxy did not start"; }
  log "delay proxy (pid ${PIDS[-1]}): 127.0.0.1:$PORT and the passive ports -> $VS_ADDR, $RTT ms round trip"
fi
curl -sS --max-time 20 -u "$FTP_USER:$FTP_PASS" "ftp://127.0.0.1:$PORT/" -o /dev/null ||
  { cat "$RUN/vsftpd.out" "$RUN/vsftpd.log" >&2 2>/dev/null; die "cannot log in to vsftpd as $FTP_USER"; }
log "vsftpd (pid $VSFTPD_PID) on 127.0.0.1:$PORT, passive ports $PASV_MIN-$PASV_MAX, serving $DATA"

# ---------------------------------------------------------------------------------------------
# Measuring and recording.
declare -A RES=()  # "row col" -> number, or a word (timeout, error, BAD)
NOTES=()
FAILS=()
DROP_OK=1
drop_caches() {
  sync
  if ! (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
    if ((DROP_OK)); then NOTES+=("could not drop the page cache: cold figures are not fully cold"); fi
    DROP_OK=0
  fi
}
# The sequential and random rows measure the FTP path, not the server's disk: caches are dropped,
# then the server reads the big file once locally, so every column starts with the server's page
# cache warm and its own side cold (a fresh mount has an empty page cache and block cache). With a
# cold server disk the random row would mostly time the disk, and unevenly: the kernel reads ahead
# 8 KiB through a mount where the raw script asks for 4 KiB.
server_warm_big() {
  drop_caches
  cat "$DATA/big.bin" >/dev/null
}
fail() { FAILS+=("$*"); echo "bench: CHECK FAILED: $*" >&2; }
fdiv() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.6g", a / b }'; }

# timed CAP OUT CMD...: runs CMD under `timeout CAP` with stdout to OUT and stderr to the error log;
# sets T_SECS and T_RC (124 or 137: timed out).
T_SECS=0
T_RC=0
timed() {
  local cap=$1 out=$2 t0 t1
  shift 2
  echo "== $(date +%T) $*" >>"$RUN/errors.log"
  t0=$(now)
  # In the background and waited for, so that a signal to this script is handled at once.
  timeout -k 10 "$cap" "$@" >"$out" 2>>"$RUN/errors.log" &
  CHILD=$!
  set +e
  wait "$CHILD"
  T_RC=$?
  set -e
  CHILD=""
  t1=$(now)
  T_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}
timed_out() { [ "$T_RC" = 124 ] || [ "$T_RC" = 137 ]; }
# outcome COL ROW WHAT: after a timed command that failed, records timeout/error; returns 1 then.
outcome() {
  local col=$1 row=$2 what=$3
  ((T_RC == 0)) && return 0
  if timed_out; then
    RES["$row $col"]=timeout
    NOTES+=("$col: $what timed out after ${T_SECS}s")
    [ "$col" = ftpfs ] && fail "ftpfs: $what timed out"
  else
    RES["$row $col"]=error
    fail "$col: $what failed (exit $T_RC); see the log lines below"
    tail -n 5 "$RUN/errors.log" >&2
  fi
  return 1
}

# ---------------------------------------------------------------------------------------------
# Mounts.
MNT=""
MNT_PID=""
mount_ftpfs() { # TAG [MORE_OPTS]
  local tag=$1 opts pids
  MNT=$RUN/mnt-ftpfs-$tag
  mkdir "$MNT"
  MOUNTS+=("$MNT")
  opts="max_conns=$MAX_CONNS,cache_size=$CACHE_MIB${EXTRA_OPTS:+,$EXTRA_OPTS}${2:+,$2}"
  if ! FTPFS_PASSWORD=$FTP_PASS timeout 60 "$FTPFS_BIN" "ftp://$FTP_USER@127.0.0.1:$PORT/" "$MNT" -o "$opts" \
    >"$RUN/ftpfs-$tag.log" 2>&1; then
    cat "$RUN/ftpfs-$tag.log" >&2
    die "ftpfs FAILED TO MOUNT ftp://$FTP_USER@127.0.0.1:$PORT/ on $MNT (-o $opts)"
  fi
  mountpoint -q "$MNT" || { cat "$RUN/ftpfs-$tag.log" >&2; die "ftpfs returned but $MNT is not a mountpoint"; }
  pids=$(pgrep -f -- "ftpfs ftp://[^ ]* $MNT( |\$)" || true)
  if [ -z "$pids" ] || [ "$(wc -w <<<"$pids")" != 1 ]; then
    die "cannot find the one ftpfs daemon of $MNT (found: ${pids:-none})"
  fi
  MNT_PID=$pids
  PIDS+=("$MNT_PID")
}
RCLONE_PASS_OBSCURED=""
mount_rclone() { # TAG [VFS_CACHE_MODE]
  local tag=$1 mode=${2:-off}
  MNT=$RUN/mnt-rclone-$tag
  mkdir "$MNT"
  MOUNTS+=("$MNT")
  [ -n "$RCLONE_PASS_OBSCURED" ] || RCLONE_PASS_OBSCURED=$(rclone obscure "$FTP_PASS")
  : >"$RUN/rclone.conf"
  env RCLONE_CONFIG_BENCHFTP_TYPE=ftp RCLONE_CONFIG_BENCHFTP_HOST=127.0.0.1 \
    RCLONE_CONFIG_BENCHFTP_PORT="$PORT" RCLONE_CONFIG_BENCHFTP_USER="$FTP_USER" \
    RCLONE_CONFIG_BENCHFTP_PASS="$RCLONE_PASS_OBSCURED" \
    setsid rclone --config "$RUN/rclone.conf" mount benchftp: "$MNT" --vfs-cache-mode "$mode" \
    --cache-dir "$RUN/rclone-cache" \
    >"$RUN/rclone-$tag.log" 2>&1 &
  MNT_PID=$!
  PIDS+=("$MNT_PID")
  for _ in $(seq 300); do
    mountpoint -q "$MNT" && return 0
    kill -0 "$MNT_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$RUN/rclone-$tag.log" >&2
  die "rclone mount did not come up on $MNT"
}
# mount_fs ftpfs|rclone TAG [RCLONE_VFS_CACHE_MODE [FTPFS_OPTS]]
mount_fs() { if [ "$1" = ftpfs ]; then mount_ftpfs "$2" "${4:-}"; else mount_rclone "$2" "${3:-off}"; fi; }
umount_fs() {
  if mountpoint -q "$MNT"; then
    fusermount3 -u "$MNT" 2>/dev/null || { sleep 1; fusermount3 -u "$MNT" 2>/dev/null; } ||
      { NOTES+=("lazy unmount of $MNT"); fusermount3 -u -z "$MNT"; }
  fi
  stop_pid "$MNT_PID"
}
# Busy CPU time of the whole machine so far, in clock ticks (user, nice, system, irq, softirq):
# a cold read's CPU cost counts the server, the kernel and the reader too, not only the client.
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
CLK_TCK=$(getconf CLK_TCK)
# cpu_per_gib ROW COL T0 T1 [BYTES]: RES["ROW COL"] = busy CPU-seconds per GiB of BYTES (big.bin's
# size by default) between the busy_ticks T0 and T1.
cpu_per_gib() {
  RES["$1 $2"]=$(awk -v a="$3" -v b="$4" -v t="$CLK_TCK" -v n="${5:-$BIG_BYTES}" \
    'BEGIN { printf "%.3f", (b - a) / t / (n / 1073741824) }')
}
# line_rate LINE: ops/s from a helper's `secs=.. ops=..` line.
line_rate() {
  awk -v n="$(sed -n 's/.*ops=\([0-9]*\).*/\1/p' <<<"$1")" -v s="$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' <<<"$1")" \
    'BEGIN { printf "%.1f", n / s }'
}
vmhwm_mib() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || true; }

# ---------------------------------------------------------------------------------------------
# Workloads on a mount (ftpfs or rclone) or the local disk ("local": DIR is the data directory).
seq_reads() { # COL DIR
  local col=$1 dir=$2 rate got row
  server_warm_big
  for row in seq_cold seq_warm; do
    # Timed like curl -o /dev/null: one copy into the reader, no consumer competing for the CPU.
    local b0 b1
    b0=$(busy_ticks)
    # shellcheck disable=SC2016 # $1 is expanded by the inner sh
    timed "$CAP_SEQ" "$RUN/out" sh -c 'cat -- "$1" >/dev/null' sh "$dir/big.bin"
    b1=$(busy_ticks)
    if outcome "$col" "$row" "${row/_/ read } of big.bin"; then
      [ "$row" = seq_cold ] && cpu_per_gib cpu_cold "$col" "$b0" "$b1"
      rate=$(awk -v b="$BIG_BYTES" -v s="$T_SECS" 'BEGIN { printf "%.1f", b / s / 1e6 }')
      RES["$row $col"]=$rate
      log "[$col] ${row/_/ read }: $BIG_BYTES bytes in ${T_SECS}s = $rate MB/s"
    fi
  done
  # Every byte through SHA-256, untimed: what the cold read put in the page cache (or, if evicted,
  # a fresh read through the mount).
  [ "$col" = local ] && return 0
  if got=$(timeout "$CAP_SEQ" python3 "$HELPERS/sha256.py" "$dir/big.bin"); then
    [ "${got%% *}" = "$BIG_SHA" ] || { fail "$col: big.bin sha256 ${got%% *} differs from the manifest"; RES["seq_cold $col"]=BAD; }
  else
    fail "$col: the sha256 read of big.bin failed or timed out"
  fi
}
rand_reads() { # COL FILE [MAX_SECONDS]
  local col=$1 file=$2 max=${3:-0} line
  server_warm_big
  timed "$CAP_RAND" "$RUN/out" python3 "$HELPERS/randread.py" "$file" "$DATA/big.bin" \
    --count "$RAND_N" --seed "$RAND_SEED" --max-seconds "$max"
  line=$(cat "$RUN/out")
  if [[ $line == *mismatches=* ]] && [[ $line != *mismatches=0* ]]; then
    fail "$col: random reads returned wrong bytes ($line)"
    RES["rand $col"]=BAD
    return 0
  fi
  outcome "$col" rand "random reads" || return 0
  record_rand "$col" "$line"
}
record_rand() { # COL "reads=.. planned=.. secs=.. rate=.. capped=.."
  local col=$1 line=$2 reads planned rate capped
  reads=$(sed -n 's/.*reads=\([0-9]*\).*/\1/p' <<<"$line")
  planned=$(sed -n 's/.*planned=\([0-9]*\).*/\1/p' <<<"$line")
  rate=$(sed -n 's/.*rate=\([0-9.]*\).*/\1/p' <<<"$line")
  capped=$(sed -n 's/.*capped=\([0-9]*\).*/\1/p' <<<"$line")
  RES["rand $col"]=$rate
  log "[$col] random 4 KiB reads: $line"
  if [ "$capped" = 1 ]; then
    NOTES+=("$col: random reads capped by time: $reads of $planned done; the figure is over those $reads")
  fi
}
# par_reads COL: PAR_N readers at once, each its own file (cat on a mount, curl for raw), from a
# warm server page cache; the row is the aggregate MB/s, the log line says each reader's time.
par_reads() { # COL [DIR]
  local col=$1 dir=${2:-} line secs bytes each i
  drop_caches
  cat "$DATA"/par/p*.bin >/dev/null
  local b0 b1
  b0=$(busy_ticks)
  if [ "$col" = raw ] || [ "$col" = splice ]; then
    local paths=() how=curl
    [ "$col" = raw ] || how=splice
    for ((i = 0; i < PAR_N; i++)); do paths+=("par/p$i.bin"); done
    timed "$CAP_SEQ" "$RUN/out" env FTP_PASSWORD="$FTP_PASS" BENCH_PAR_BYTES=$((PAR_MIB << 20)) \
      python3 "$HELPERS/parread.py" "$how" 127.0.0.1 "$PORT" "$FTP_USER" "${paths[@]}"
  else
    local files=()
    for ((i = 0; i < PAR_N; i++)); do files+=("$dir/par/p$i.bin"); done
    timed "$CAP_SEQ" "$RUN/out" python3 "$HELPERS/parread.py" cat "${files[@]}"
  fi
  b1=$(busy_ticks)
  outcome "$col" par "$PAR_N parallel readers" || return 0
  cpu_per_gib cpu_par "$col" "$b0" "$b1" $((PAR_N * PAR_MIB << 20))
  line=$(cat "$RUN/out")
  secs=$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' <<<"$line")
  bytes=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' <<<"$line")
  each=$(sed -n 's/.*each=\([0-9.,]*\).*/\1/p' <<<"$line")
  RES["busy_par $col"]=$(sed -n 's/.*busy=\([0-9,]*\).*/\1/p' <<<"$line")
  RES["par $col"]=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.1f", b / s / 1e6 }')
  log "[$col] $PAR_N parallel readers x $PAR_MIB MiB: ${secs}s = ${RES["par $col"]} MB/s together; each reader's seconds: $each; the CPUs' busy share per 100 ms (%): ${RES["busy_par $col"]}"
  # Every byte checked, untimed (from the page cache the timed reads filled).
  if [ -n "$dir" ] && ! (cd "$dir" && timeout "$CAP_SEQ" sha256sum -c --quiet "$PAR_SUMS" >>"$RUN/errors.log" 2>&1); then
    fail "$col: the parallel readers' files read back with wrong bytes"
    RES["par $col"]=BAD
  fi
}
# par_from_ram: the FUSE part of the N readers' cost. A mount whose block cache holds the N files
# (read once through it) serves them again after the page cache is dropped, with no network;
# .ftpfs-stats must show no byte read from the server meanwhile.
par_from_ram() {
  local files=() i b0 b1 net0 net1
  mount_ftpfs parram "cache_size=$((PAR_N * PAR_MIB + 64))"
  for ((i = 0; i < PAR_N; i++)); do files+=("$MNT/par/p$i.bin"); done
  cat "${files[@]}" >/dev/null
  drop_caches
  net0=$(sed -n 's/^bytes read: //p' "$MNT/.ftpfs-stats")
  b0=$(busy_ticks)
  timed "$CAP_SEQ" "$RUN/out" python3 "$HELPERS/parread.py" cat "${files[@]}"
  b1=$(busy_ticks)
  net1=$(sed -n 's/^bytes read: //p' "$MNT/.ftpfs-stats")
  if outcome ftpfs par_ram "$PAR_N readers from the block cache"; then
    if [ -z "$net0" ] || [ "$net0" != "$net1" ]; then
      fail "ftpfs: the readers from the block cache read from the server (bytes read: $net0 -> $net1)"
      RES["cpu_par_ram ftpfs"]=BAD
    else
      cpu_per_gib cpu_par_ram ftpfs "$b0" "$b1" $((PAR_N * PAR_MIB << 20))
      log "[ftpfs] $PAR_N readers from the block cache: $(cat "$RUN/out"); ${RES["cpu_par_ram ftpfs"]} CPU-s/GiB, server bytes read $net0 -> $net1"
    fi
  fi
  umount_fs
}
list_tree() { # COL DIR
  local col=$1 dir=$2 row files dirs
  drop_caches
  for row in ls_cold ls_warm; do
    timed "$CAP_LS" "$RUN/out" ls -lR "$dir/tree"
    outcome "$col" "$row" "ls -lR (${row#ls_})" || continue
    files=$(grep -c '^-' "$RUN/out" || true)
    dirs=$(grep -c '^d' "$RUN/out" || true)
    if [ "$files" != "$TREE_FILES" ] || [ "$dirs" != "$TREE_DIRS" ]; then
      fail "$col: ls -lR (${row#ls_}) listed $files files and $dirs dirs, expected $TREE_FILES and $TREE_DIRS"
      RES["$row $col"]=BAD
      continue
    fi
    RES["$row $col"]=$T_SECS
    log "[$col] ls -lR ${row#ls_}: $files files in ${T_SECS}s"
  done
}
read_small() { # COL DIR
  local col=$1 dir=$2 got rate
  drop_caches
  # shellcheck disable=SC2016  # $1 is expanded by the inner bash
  timed "$CAP_SMALL" "$RUN/out" bash -c 'set -o pipefail; cd "$1" && find tree -type f -print0 | sort -z | xargs -0 cat | sha256sum' _ "$dir"
  outcome "$col" small "reading all small files" || return 0
  got=$(cut -d' ' -f1 "$RUN/out")
  if [ "$got" != "$TREE_CAT" ]; then
    fail "$col: the small files read back with sha256 $got, manifest says $TREE_CAT"
    RES["small $col"]=BAD
    return 0
  fi
  rate=$(awk -v n="$TREE_FILES" -v s="$T_SECS" 'BEGIN { printf "%.1f", n / s }')
  RES["small $col"]=$rate
  log "[$col] small files: $TREE_FILES files in ${T_SECS}s = $rate files/s (sha256 ok)"
}

# write_work COL DIR SERVERDIR: the write rows; DIR is where COL sees SERVERDIR (the same for local).
write_work() {
  local col=$1 dir=$2 sdir=$3 line got secs
  wrow() { # ROW WHAT UNIT-FROM-LINE: records secs or a rate from writes.py's line
    local row=$1 what=$2 kind=$3
    line=$(cat "$RUN/out")
    outcome "$col" "$row" "$what" || return 1
    secs=$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' <<<"$line")
    case $kind in
      mbs) RES["$row $col"]=$(awk -v b="$BIG_BYTES" -v s="$secs" 'BEGIN { printf "%.1f", b / s / 1e6 }') ;;
      rate) RES["$row $col"]=$(line_rate "$line") ;;
      secs) RES["$row $col"]=$secs ;;
    esac
    log "[$col] $what: $line -> ${RES["$row $col"]}"
  }
  server_warm_big
  local b0 b1
  b0=$(busy_ticks)
  timed "$CAP_WRITE" "$RUN/out" python3 "$HELPERS/writes.py" --wait "$CAP_WRITE" seq "$dir/big.out" "$sdir/big.out" "$DATA/big.bin"
  b1=$(busy_ticks)
  if wrow seq_write "sequential write of big.bin (16 MiB writes, fsync, close)" mbs; then
    cpu_per_gib cpu_write "$col" "$b0" "$b1"
    got=$(timeout "$CAP_SEQ" python3 "$HELPERS/sha256.py" "$sdir/big.out" || true)
    [ "${got%% *}" = "$BIG_SHA" ] || { fail "$col: the written big.out has sha256 ${got%% *} on the server's disk"; RES["seq_write $col"]=BAD; }
  fi
  rm -f "$dir/big.out"
  # The create loop starts with nothing left for the server's disk to write back (the 1 GiB just
  # written), right after raw's create loop when this is ftpfs's column (raw_meta, which starts
  # the same way).
  [ "$col" != ftpfs ] || ! run_col raw || raw_meta create
  sync
  timed "$CAP_WRITE" "$RUN/out" python3 "$HELPERS/writes.py" --wait "$CAP_WRITE" small "$dir/small" "$sdir/small" "$W_SMALL" 4096
  wrow create "create $W_SMALL 4 KiB files" rate || true
  if [ "$col" = ftpfs ]; then
    meta_rows unlink "$dir/small" "$sdir/small"
    meta_rows mkdir "$dir/dirs" "$sdir/dirs"
    meta_rows rmdir "$dir/dirs" "$sdir/dirs"
    return 0
  fi
  sync
  timed "$CAP_WRITE" "$RUN/out" python3 "$HELPERS/writes.py" --wait "$CAP_WRITE" unlink "$dir/small" "$sdir/small"
  wrow unlink "unlink $W_SMALL files" rate || true
  sync
  timed "$CAP_WRITE" "$RUN/out" python3 "$HELPERS/writes.py" --wait "$CAP_WRITE" mkdir "$dir/dirs" "$sdir/dirs" "$W_DIRS"
  wrow mkdir "mkdir $W_DIRS dirs" rate || true
  sync
  timed "$CAP_WRITE" "$RUN/out" python3 "$HELPERS/writes.py" --wait "$CAP_WRITE" rmdir "$dir/dirs" "$sdir/dirs" "$W_DIRS"
  wrow rmdir "rmdir $W_DIRS dirs" rate || true
}
# meta_rows ROW DIR SERVERDIR: ftpfs's unlink, mkdir or rmdir loop (DIR on the mount) timed
# interleaved with raw's (ftplib, in wbench-raw; unless raw is not measured) and the floors'
# (floor_mount): scripts/bench/meta_rows.py, chunks of 100 operations done by each tool in
# turn, so that all four meet the server's disk at the same pace (it moves by 2x from one minute
# to the next, docs/performance.md). Each chunk is timed until the server's disk shows it.
meta_rows() {
  local row=$1 dir=$2 sdir=$3 sub args=() line t
  case $row in unlink) sub=small ;; *) sub=dirs ;; esac
  ! run_col raw || args+=(--raw "wbench-raw/$sub" "$DATA/wbench-raw/$sub")
  floor_mount
  args+=(--mount floor "$RUN/mnt-floor" "$DATA/wbench-floor")
  args+=(--mount floormt "$RUN/mnt-floormt" "$DATA/wbench-floormt")
  args+=(--mount ftpfs "$dir" "$sdir")
  # What ftpfs sent to the server during the row, from its counters: the log shows both lines.
  local sent0
  sent0=$(grep '^commands:' "$MNT/.ftpfs-stats" || true)
  timed "$CAP_WRITE" "$RUN/out" env FTP_PASSWORD="$FTP_PASS" python3 "$HELPERS/meta_rows.py" \
    --wait 30 127.0.0.1 "$PORT" "$FTP_USER" "$row" "$W_DIRS" "${args[@]}"
  log "[ftpfs] $row: .ftpfs-stats before: $sent0"
  log "[ftpfs] $row: .ftpfs-stats after:  $(grep '^commands:' "$MNT/.ftpfs-stats" || true)"
  if ! grep -q '^tool=' "$RUN/out"; then
    outcome ftpfs "$row" "the interleaved $row loops" || true
    return 0
  fi
  while read -r line; do
    if [[ $line == chunks* ]]; then
      log "$row, interleaved: $line"
      t=$(sed -n 's/^chunks \([a-z0-9]*\):.*/\1/p' <<<"$line")
      RES["chunks $row $t"]=${line#*us/op }
      continue
    fi
    t=$(sed -n 's/^tool=\([a-z0-9]*\) .*/\1/p' <<<"$line")
    [ -n "$t" ] || continue
    if [[ $line == *ok=1* ]]; then
      RES["$row $t"]=$(line_rate "$line")
    else
      RES["$row $t"]=BAD
      fail "$t: its $row loop did not show on the server's disk"
    fi
    log "[$t] $row, interleaved: $line -> ${RES["$row $t"]}/s"
  done <"$RUN/out"
  ((T_RC == 0)) || fail "the interleaved $row loops exited $T_RC"
  [ "$row" != rmdir ] || ! run_col raw || raw_meta_done
}
# floor_mount: examples/fuse_floor.rs mounted twice (once a run), a FUSE file system that only
# sends the row's one command per call (one connection, no cache): on the server's folder
# wbench-floor with one thread, and on wbench-floormt with as many as ftpfs runs (twice max_conns,
# at least 4, src/mount.rs). The first bounds what any FUSE mount reaches here, the second what
# one reaches that serves calls side by side; a note compares them. Each folder starts with
# W_SMALL files of 4 KiB, put on the server's disk here, for its unlink loop (it learns them with
# one NLST when it starts).
FLOOR_MOUNTED=""
floor_mount() {
  [ -z "$FLOOR_MOUNTED" ] || return 0
  FLOOR_MOUNTED=1
  floor_mount_one floor 1
  floor_mount_one floormt "$FTPFS_THREADS"
}
floor_mount_one() { # LABEL THREADS
  local label=$1 threads=$2 pid mnt=$RUN/mnt-$1
  mkdir "$mnt"
  MOUNTS+=("$mnt")
  rm -rf "$DATA/wbench-$label"
  mkdir "$DATA/wbench-$label"
  head -c $((W_SMALL * 4096)) "$DATA/big.bin" | split -b 4096 -a 5 -d - "$DATA/wbench-$label/f"
  chown -R "$FTP_USER:" "$DATA/wbench-$label"
  # In a session of its own, as ftpfs's daemon is (and vsftpd): with the kernel's autogroup
  # scheduling each session is one scheduling group, and the mounts should differ only in what
  # they do per call, not in whom they share CPU time with.
  FTP_PASSWORD=$FTP_PASS setsid "$FLOOR_BIN" 127.0.0.1 "$PORT" "$FTP_USER" "/wbench-$label" "$mnt" "$threads" \
    >"$RUN/$label.out" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do grep -q ready "$RUN/$label.out" 2>/dev/null && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  mountpoint -q "$mnt" || { cat "$RUN/$label.out" >&2; die "fuse_floor ($threads threads) did not mount $mnt"; }
}
# The O_RDWR row: a fresh W_RDWR_MIB file on the server, written through DIR.
rdwr_work() { # COL DIR SERVERDIR
  local col=$1 dir=$2 sdir=$3
  head -c $((W_RDWR_MIB << 20)) "$DATA/big.bin" >"$sdir/rdwr.bin"
  chown "$FTP_USER:" "$sdir/rdwr.bin"
  timed "$CAP_WRITE" "$RUN/out" python3 "$HELPERS/writes.py" --wait "$CAP_WRITE" rdwr "$dir/rdwr.bin" "$sdir/rdwr.bin" "$W_RDWR_N" 7
  line=$(cat "$RUN/out")
  if outcome "$col" rdwr "O_RDWR random writes"; then
    RES["rdwr $col"]=$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' <<<"$line")
    log "[$col] O_RDWR $W_RDWR_N random 4 KiB writes into $W_RDWR_MIB MiB: $line"
  fi
}
scratch() { # COL: a fresh scratch folder on the server, owned by the FTP user
  local sdir=$DATA/wbench-$1
  rm -rf "$sdir"
  mkdir -p "$sdir/small" "$sdir/dirs"
  chown -R "$FTP_USER:" "$sdir"
}

bench_writes() { # ftpfs | rclone
  local col=$1
  scratch "$col"
  mount_fs "$col" write
  write_work "$col" "$MNT/wbench-$col" "$DATA/wbench-$col"
  umount_fs
  if [ "$col" = rclone ]; then mount_fs rclone rdwr writes; else mount_fs ftpfs rdwr; fi
  rdwr_work "$col" "$MNT/wbench-$col" "$DATA/wbench-$col"
  umount_fs
  # Creates again with close returning before the upload (ftpfs -o writeback, rclone's
  # --vfs-cache-mode writes), timed until every file is on the server's disk.
  rm -rf "$DATA/wbench-$col/small"
  install -d -o "$FTP_USER" "$DATA/wbench-$col/small"
  mount_fs "$col" writeback writes writeback
  timed "$CAP_WRITE" "$RUN/out" python3 "$HELPERS/writes.py" --wait "$CAP_WRITE" small "$MNT/wbench-$col/small" "$DATA/wbench-$col/small" "$W_SMALL" 4096
  line=$(cat "$RUN/out")
  if outcome "$col" create_wb "create $W_SMALL 4 KiB files (writeback)"; then
    RES["create_wb $col"]=$(line_rate "$line")
    log "[$col] create $W_SMALL 4 KiB files with writeback, until all are on the server: $line -> ${RES["create_wb $col"]}"
  fi
  umount_fs
  rm -rf "$DATA/wbench-$col"
}

bench_mount() { # ftpfs | rclone
  local col=$1 rss
  log "== $col"
  mount_fs "$col" seq
  seq_reads "$col" "$MNT"
  rss=$(vmhwm_mib "$MNT_PID")
  if [ -n "$rss" ]; then
    RES["rss $col"]=$rss
    log "[$col] peak RSS (VmHWM) after the sequential reads: $rss MiB"
  else
    RES["rss $col"]=error
    [ "$col" = ftpfs ] && fail "ftpfs: cannot read VmHWM of pid $MNT_PID"
  fi
  umount_fs

  mount_fs "$col" par
  par_reads "$col" "$MNT"
  umount_fs
  [ "$col" != ftpfs ] || par_from_ram

  mount_fs "$col" rand
  if [ "$col" = rclone ]; then
    rand_reads "$col" "$MNT/big.bin" "$RCLONE_RAND_SECS"
  else
    rand_reads "$col" "$MNT/big.bin"
  fi
  umount_fs

  mount_fs "$col" ls
  list_tree "$col" "$MNT"
  umount_fs

  mount_fs "$col" small
  read_small "$col" "$MNT"
  umount_fs
}

bench_raw() {
  local row got size line files
  log "== raw FTP clients (curl, ftplib, lftp)"
  local url="ftp://127.0.0.1:$PORT/big.bin"
  server_warm_big
  for row in seq_cold seq_warm; do
    local b0 b1
    b0=$(busy_ticks)
    timed "$CAP_SEQ" "$RUN/out" curl -sS -u "$FTP_USER:$FTP_PASS" -o /dev/null -w '%{size_download}' "$url"
    b1=$(busy_ticks)
    outcome raw "$row" "curl of big.bin ($row)" || continue
    [ "$row" = seq_cold ] && cpu_per_gib cpu_cold raw "$b0" "$b1"
    size=$(cat "$RUN/out")
    if [ "$size" != "$BIG_BYTES" ]; then
      fail "raw: curl fetched $size bytes of big.bin, expected $BIG_BYTES"
      RES["$row raw"]=BAD
      continue
    fi
    RES["$row raw"]=$(awk -v b="$BIG_BYTES" -v s="$T_SECS" 'BEGIN { printf "%.1f", b / s / 1e6 }')
    log "[raw] curl ${row#seq_} (server cache ${row#seq_}): $size bytes in ${T_SECS}s = ${RES["$row raw"]} MB/s"
  done
  got=$(curl -sS -u "$FTP_USER:$FTP_PASS" "$url" | python3 "$HELPERS/sha256.py" -)
  [ "${got%% *}" = "$BIG_SHA" ] || { fail "raw: curl's big.bin has sha256 ${got%% *}, manifest says $BIG_SHA"; RES["seq_cold raw"]=BAD; }

  par_reads raw
  par_reads splice
  RES["cpu_par_splice raw"]=${RES["cpu_par splice"]:-}

  server_warm_big
  timed "$CAP_RAND" "$RUN/out" env FTP_PASSWORD="$FTP_PASS" python3 "$HELPERS/raw_randread.py" \
    127.0.0.1 "$PORT" "$FTP_USER" /big.bin "$DATA/big.bin" --count "$RAND_N" --seed "$RAND_SEED" \
    --max-seconds $((CAP_RAND - 30))
  line=$(cat "$RUN/out")
  if outcome raw rand "raw random reads (ftplib)"; then record_rand raw "$line"; fi

  local lftp_open="set ftp:ssl-allow no; set net:max-retries 2; set net:timeout 30; set cmd:fail-exit yes; open -u $FTP_USER,$FTP_PASS -p $PORT 127.0.0.1"
  drop_caches
  for row in ls_cold ls_warm; do
    timed "$CAP_LS" "$RUN/out" lftp -c "$lftp_open; find -l /tree"
    outcome raw "$row" "lftp find -l (${row#ls_})" || continue
    files=$(grep -c '^-' "$RUN/out" || true)
    if [ "$files" != "$TREE_FILES" ]; then
      fail "raw: lftp find -l listed $files files, expected $TREE_FILES"
      RES["$row raw"]=BAD
      continue
    fi
    RES["$row raw"]=$T_SECS
    log "[raw] lftp find -l ${row#ls_}: $files files in ${T_SECS}s"
  done

  # The small files as a script reads them: one RETR after another on one connection, in the
  # order `find | sort` gives (capped in time; the rate is then over the files it read).
  drop_caches
  timed $((CAP_SMALL_RAW + 60)) "$RUN/out" env FTP_PASSWORD="$FTP_PASS" python3 "$HELPERS/raw_ops.py" \
    127.0.0.1 "$PORT" "$FTP_USER" read tree --max-seconds "$CAP_SMALL_RAW"
  if outcome raw small "ftplib RETR loop over the small files"; then
    line=$(cat "$RUN/out")
    if [[ $line == *sha256=* ]] && [[ $line != *"sha256=$TREE_CAT"* ]]; then
      fail "raw: the ftplib loop read the small files with wrong bytes ($line)"
      RES["small raw"]=BAD
    else
      raw_ops_rate small "ftplib RETR loop over the small files" "$line"
    fi
  fi

  local mir=$WORK/mirror-tmp
  rm -rf "$mir"
  mkdir -p "$mir"
  drop_caches
  timed "$CAP_SMALL" "$RUN/out" lftp -c "$lftp_open; mirror /tree $mir/tree"
  if outcome raw small_lftp "lftp mirror"; then
    files=$(find "$mir/tree" -type f | wc -l)
    if [ "$files" != "$TREE_FILES" ] || ! (cd "$mir" && sha256sum -c --quiet "$TREE_SUMS" >>"$RUN/errors.log" 2>&1); then
      fail "raw: lftp mirror copied $files files or wrong bytes (expected $TREE_FILES files matching $TREE_SUMS)"
      RES["small_lftp raw"]=BAD
    else
      RES["small_lftp raw"]=$(awk -v n="$TREE_FILES" -v s="$T_SECS" 'BEGIN { printf "%.1f", n / s }')
      log "[raw] lftp mirror: $files files in ${T_SECS}s = ${RES["small_lftp raw"]} files/s (every file's sha256 ok)"
    fi
  fi
  rm -rf "$mir"

  scratch raw
  server_warm_big
  b0=$(busy_ticks)
  timed "$CAP_WRITE" "$RUN/out" curl -sS -u "$FTP_USER:$FTP_PASS" -T "$DATA/big.bin" "ftp://127.0.0.1:$PORT/wbench-raw/big.out"
  b1=$(busy_ticks)
  if outcome raw seq_write "curl -T of big.bin"; then
    cpu_per_gib cpu_write raw "$b0" "$b1"
    RES["seq_write raw"]=$(awk -v b="$BIG_BYTES" -v s="$T_SECS" 'BEGIN { printf "%.1f", b / s / 1e6 }')
    got=$(python3 "$HELPERS/sha256.py" "$DATA/wbench-raw/big.out")
    [ "${got%% *}" = "$BIG_SHA" ] || { fail "raw: curl -T wrote sha256 ${got%% *}"; RES["seq_write raw"]=BAD; }
    log "[raw] curl -T: $BIG_BYTES bytes in ${T_SECS}s = ${RES["seq_write raw"]} MB/s"
  fi
  rm -rf "$DATA/wbench-raw"
  # The create loop runs right before the mount's, and the metadata loops interleaved with the
  # mount's (write_work), unless ftpfs is not measured in this run.
  if ! run_col ftpfs; then
    local row
    for row in create unlink mkdir rmdir; do raw_meta "$row"; done
  fi
}
# raw_meta ROW: the raw baseline of a create or metadata row (create, unlink, mkdir, rmdir), as a
# script does it: one ftplib command after another on one connection, each waiting for its reply,
# in the server's folder wbench-raw; checked on the server's disk. The create loop runs right
# before the mount's, after the same `sync`: the server's disk moves the time of a mkdir by 2x
# from one minute to the next (docs/performance.md), and a raw loop timed minutes away from the
# mount's measured that as much as either. (With ftpfs measured, the metadata rows' raw loops run
# interleaved with its own instead: meta_rows.)
raw_meta() {
  local row=$1 n dir
  case $row in
    create) scratch raw; n=$W_SMALL dir=wbench-raw/small ;;
    unlink) n=0 dir=wbench-raw/small ;;
    mkdir | rmdir) n=$W_DIRS dir=wbench-raw/dirs ;;
  esac
  sync
  timed "$CAP_WRITE" "$RUN/out" env FTP_PASSWORD="$FTP_PASS" python3 "$HELPERS/raw_ops.py" \
    127.0.0.1 "$PORT" "$FTP_USER" "$row" "$dir" "$n"
  if outcome raw "$row" "ftplib $row loop"; then
    raw_ops_rate "$row" "ftplib $row loop" "$(cat "$RUN/out")"
  fi
  # A script's STOR loop has no writeback: the same baseline for both create rows.
  [ "$row" != create ] || RES["create_wb raw"]=${RES["create raw"]:-}
  [ "$row" != rmdir ] || raw_meta_done
}
# raw_meta_done: after raw's rmdir loop, its unlink and rmdir loops must have left wbench-raw's two
# folders empty; then wbench-raw goes.
raw_meta_done() {
  [ "$(find "$DATA/wbench-raw/small" "$DATA/wbench-raw/dirs" -mindepth 1 | wc -l)" = 0 ] ||
    { fail "raw: the ftplib loops left entries behind in wbench-raw"; RES["unlink raw"]=BAD; RES["rmdir raw"]=BAD; }
  rm -rf "$DATA/wbench-raw"
}
# raw_ops_rate ROW WHAT LINE: records ops/s from raw_ops.py's line (and a note when it was capped).
raw_ops_rate() {
  local row=$1 what=$2 line=$3 ops
  ops=$(sed -n 's/.*ops=\([0-9]*\).*/\1/p' <<<"$line")
  RES["$row raw"]=$(line_rate "$line")
  log "[raw] $what: $line -> ${RES["$row raw"]}/s"
  [[ $line != *capped=1* ]] || NOTES+=("raw: $what capped at ${CAP_SMALL_RAW}s: the figure is over the $ops it did")
}

bench_local() {
  log "== local disk ($DATA)"
  seq_reads local "$DATA"
  par_reads local "$DATA"
  rand_reads local "$DATA/big.bin"
  list_tree local "$DATA"
  read_small local "$DATA"
  rm -rf "$WORK/local-w"
  mkdir -p "$WORK/local-w/small" "$WORK/local-w/dirs"
  write_work local "$WORK/local-w" "$WORK/local-w"
  rdwr_work local "$WORK/local-w" "$WORK/local-w"
  rm -rf "$WORK/local-w"
}

# ---------------------------------------------------------------------------------------------
T_START=$(now)
log "sizes: big.bin $BIG_MIB MiB, tree $TREE_FILES files in $NDIRS dirs, $RAND_N random reads; ftpfs -o max_conns=$MAX_CONNS,cache_size=$CACHE_MIB${EXTRA_OPTS:+,$EXTRA_OPTS}"
if run_col raw; then bench_raw; fi
bench_local
if run_col ftpfs; then bench_mount ftpfs; bench_writes ftpfs; fi
if run_col rclone; then bench_mount rclone; bench_writes rclone; fi
T_TOTAL=$(awk -v a="$T_START" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }')

# ---------------------------------------------------------------------------------------------
# The table.
isnum() { [[ ${1:-} =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
fmt() { # VALUE DECIMALS
  local v=${RES[$1]:-}
  if isnum "$v"; then awk -v v="$v" -v d="$2" 'BEGIN { printf "%.*f", d, v }'; else echo "${v:--}"; fi
}
ratio() { # ROW COL_A COL_B
  local a=${RES["$1 $2"]:-} b=${RES["$1 $3"]:-}
  if isnum "$a" && isnum "$b" && [ "$(fdiv "$b" 1)" != 0 ]; then
    awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2fx", a / b }'
  else
    echo "-"
  fi
}
# verdict ROW: PASS/MISS/- for ftpfs against the row's target, into VERDICT[ROW]; counts MISSES.
declare -A VERDICT=()
declare -A TARGET=()
MISSES=0
# Far away (--rtt R), the latency-bound rows have absolute targets: those of issue 12 at 20 ms,
# scaled by the round trip (random reads: 90% of one round trip each; small files 100/s, creates
# 22/s and ls -lR 1.0 s at 20 ms). On loopback they are measured against the raw tools.
rtt_scaled() { awk -v r="$RTT" -v k="$1" 'BEGIN { printf "%.3g", k / r }'; }
verdict() {
  local row=$1 f=${RES["$1 ftpfs"]:-} base cond v=- t
  case $row in
    seq_cold) base=${RES["$row raw"]:-} cond="f >= 0.8 * b" t=">= 0.8x raw" ;;
    seq_warm) base=${RES["$row raw"]:-} cond="f >= 1.5 * b" t=">= 1.5x raw" ;;
    par | seq_write) base=${RES["$row raw"]:-} cond="f >= 0.9 * b" t=">= 0.9x raw" ;;
    rand | small) base=${RES["$row raw"]:-} cond="f >= b" t=">= 1x raw" ;;
    ls_cold) base=${RES["$row raw"]:-} cond="f <= 1.2 * b" t="<= 1.2x raw" ;;
    ls_warm) base=${RES["$row local"]:-} cond="f <= 2 * b" t="<= 2x local" ;;
    rss) base=$((CACHE_MIB + 64)) cond="f < b" t="< $base MiB" ;;
    create) base=${RES["$row rclone"]:-} cond="f >= b" t=">= 1x rclone" ;;
    create_wb) base=${RES["$row rclone"]:-} cond="f >= b" t=">= 1x rclone writes" ;;
    rdwr) base=${RES["$row rclone"]:-} cond="f <= b" t="<= rclone writes" ;;
    mkdir | rmdir | unlink) base=${RES["$row raw"]:-} cond="f >= 0.8 * b" t=">= 0.8x raw" ;;
    *) TARGET[$row]=-; VERDICT[$row]=info; return 0 ;;
  esac
  if [ -n "$RTT" ]; then
    case $row in
      rand) base=$(rtt_scaled 900) cond="f >= b" t=">= $base/s" ;;
      small) base=$(rtt_scaled 2000) cond="f >= b" t=">= $base/s" ;;
      create) base=$(rtt_scaled 440) cond="f >= b" t=">= $base/s" ;;
      # Issue 13: 100 files/s at 20 ms with writeback, all on the server.
      create_wb) base=$(rtt_scaled 2000) cond="f >= b" t=">= $base/s" ;;
      ls_cold) base=$(awk -v r="$RTT" 'BEGIN { printf "%.3g", r / 20 }') cond="f <= b" t="<= $base s" ;;
    esac
  fi
  TARGET[$row]=$t
  if isnum "$f" && isnum "$base"; then
    v=$(awk -v f="$f" -v b="$base" "BEGIN { print ($cond) ? \"PASS\" : \"MISS\" }")
  elif [ "$f" = BAD ] || [ "$f" = timeout ] || [ "$f" = error ]; then
    v=MISS
  fi
  if [ "$v" = MISS ]; then MISSES=$((MISSES + 1)); fi
  if [ "$row" = ls_warm ] && [ "$v" != - ]; then v="$v ($(ratio ls_warm ftpfs local) local)"; fi
  VERDICT[$row]=$v
}
ROWS="seq_cold seq_warm cpu_cold par cpu_par cpu_par_ram cpu_par_splice rand ls_cold ls_warm small small_lftp rss seq_write cpu_write create create_wb rdwr mkdir rmdir unlink"
for r in $ROWS; do verdict "$r"; done
# What the machine allows: a cold read that needs C CPU-seconds per GiB (server, kernel, reader and
# client together) cannot go faster than NPROC / C GiB/s, however well its work overlaps.
if isnum "${RES["cpu_cold ftpfs"]:-}" && isnum "${RES["seq_cold raw"]:-}"; then
  ceiling=$(awk -v c="${RES["cpu_cold ftpfs"]}" -v n="$(nproc)" 'BEGIN { printf "%.0f", n / c * 1073.741824 }')
  NOTES+=("seq read cold: ftpfs's read took ${RES["cpu_cold ftpfs"]} CPU-s per GiB on this machine (curl's ${RES["cpu_cold raw"]:-?}); with $(nproc) cores no read costing that can exceed $ceiling MB/s, $(awk -v a="$ceiling" -v b="${RES["seq_cold raw"]}" 'BEGIN { printf "%.2f", a / b }')x curl's rate here")
fi
# The same for the parallel readers: the machine's cores over their CPU cost per GiB.
if isnum "${RES["cpu_par ftpfs"]:-}" && isnum "${RES["par raw"]:-}"; then
  ceiling=$(awk -v c="${RES["cpu_par ftpfs"]}" -v n="$(nproc)" 'BEGIN { printf "%.0f", n / c * 1073.741824 }')
  NOTES+=("$PAR_N readers: ftpfs's took ${RES["cpu_par ftpfs"]} CPU-s per GiB (the curls' ${RES["cpu_par raw"]:-?}); with $(nproc) cores that caps them at $ceiling MB/s together, $(awk -v a="$ceiling" -v b="${RES["par raw"]}" 'BEGIN { printf "%.2f", a / b }')x the curls' rate here")
fi
# When the readers were bound by the CPU: far away they first wait for TCP's slow start (the
# same for any client), with the cores mostly idle; the shares from the first 100 ms with the
# cores at least 80% busy to the end (the last, partial 100 ms left out) say whether the CPU
# bounded the rest.
if [ -n "${RES["busy_par ftpfs"]:-}" ]; then
  after=$(awk -v s="${RES["busy_par ftpfs"]}" 'BEGIN {
    n = split(s, b, ","); from = 0
    for (i = 1; i <= n; i++) if (b[i] >= 80) { from = i; break }
    if (!from) { print "-"; exit }
    last = (n > from) ? n - 1 : n; sum = 0
    for (i = from; i <= last; i++) sum += b[i]
    printf "%d %.0f", (from - 1) * 100, sum / (last - from + 1) }')
  if [ "$after" = - ]; then
    NOTES+=("$PAR_N readers: the CPUs were never 80% busy in a 100 ms through ftpfs (${RES["busy_par ftpfs"]}): the readers were not bound by the CPU")
  else
    read -r from_ms share <<<"$after"
    bound="not by the CPU alone"
    [ "$share" -ge 95 ] && bound="by the machine's CPU"
    NOTES+=("$PAR_N readers: the CPUs' busy share per 100 ms through ftpfs was ${RES["busy_par ftpfs"]} (%; the curls' ${RES["busy_par raw"]:-?}); from ${from_ms} ms, the first 100 ms at 80% or more, to the end it averaged ${share}%: from there the readers were bound $bound")
  fi
fi
# What bounds the readers: each byte costs at least what FUSE costs (the readers from RAM) plus
# what receiving it costs with no copy at all (the spliced downloads). (Not the curls' receive:
# curl reads in small pieces, and ftpfs's own receive has cost less than theirs.)
if isnum "${RES["cpu_par_ram ftpfs"]:-}" && isnum "${RES["cpu_par_splice raw"]:-}" && isnum "${RES["par raw"]:-}"; then
  ceiling=$(awk -v f="${RES["cpu_par_ram ftpfs"]}" -v r="${RES["cpu_par_splice raw"]}" -v n="$(nproc)" \
    -v c="${RES["par raw"]}" 'BEGIN { m = n / (f + r) * 1073.741824; printf "%.0f MB/s, %.2fx the curls'"'"' rate", m, m / c }')
  NOTES+=("$PAR_N readers: through FUSE alone (ftpfs serving them from memory) the machine spent ${RES["cpu_par_ram ftpfs"]} CPU-s per GiB, and receiving with no copy at all (spliced) ${RES["cpu_par_splice raw"]}; with $(nproc) cores no mount can read faster than the sum allows: $ceiling")
fi
# chunk_median ROW A B: the median over the interleaved chunks of A's rate against B's (B's µs per
# operation over A's, chunk by chunk): the chunks that ran side by side met the same server, so
# the median leaves out the minutes when the server's disk was slow for everyone.
chunk_median() {
  awk -v a="${RES["chunks $1 $2"]:-}" -v b="${RES["chunks $1 $3"]:-}" 'BEGIN {
    n = split(a, x, " "); m = split(b, y, " "); if (m < n) n = m; k = 0
    for (i = 1; i <= n; i++) if (x[i] > 0) r[++k] = y[i] / x[i]
    if (!k) { print "?"; exit }
    for (i = 2; i <= k; i++) { v = r[i]; j = i - 1; while (j >= 1 && r[j] > v) { r[j + 1] = r[j]; j-- } r[j + 1] = v }
    med = (k % 2) ? r[(k + 1) / 2] : (r[k / 2] + r[k / 2 + 1]) / 2
    printf "%.2fx", med }'
}
# What bounds the metadata rows: the floors' rates against raw's, and ftpfs's against the floors'.
for row in mkdir rmdir unlink; do
  if isnum "${RES["$row floor"]:-}" && isnum "${RES["$row floormt"]:-}" && isnum "${RES["$row raw"]:-}" && isnum "${RES["$row ftpfs"]:-}"; then
    NOTES+=("$row: examples/fuse_floor.rs, a FUSE file system that only sends the one command per call, did ${RES["$row floor"]} ops/s with one thread ($(ratio "$row" floor raw) raw's rate) and ${RES["$row floormt"]} with ftpfs's $FTPFS_THREADS ($(ratio "$row" floormt raw)), interleaved with raw and ftpfs; ftpfs did $(ratio "$row" ftpfs floor) the one-thread floor's rate, $(ratio "$row" ftpfs floormt) the $FTPFS_THREADS-thread floor's; chunk by chunk (each tool's chunk k ran beside the others'), the median rate against raw's was $(chunk_median "$row" floor raw) for the one-thread floor, $(chunk_median "$row" floormt raw) for the $FTPFS_THREADS-thread one and $(chunk_median "$row" ftpfs raw) for ftpfs, whose median against the $FTPFS_THREADS-thread floor was $(chunk_median "$row" ftpfs floormt)")
  fi
done
table() {
  local fmtline='%-17s %-8s %9s %9s %9s %-13s %9s %9s %12s  %-18s %s\n'
  # shellcheck disable=SC2059  # the format is a variable on purpose
  printf "$fmtline" workload unit ftpfs rclone raw "raw tool" local ftpfs/raw ftpfs/rclone target check
  local row label unit dec tool
  while IFS='|' read -r row label unit dec tool; do
    # shellcheck disable=SC2059
    printf "$fmtline" "$label" "$unit" "$(fmt "$row ftpfs" "$dec")" "$(fmt "$row rclone" "$dec")" \
      "$(fmt "$row raw" "$dec")" "$tool" "$(fmt "$row local" "$dec")" \
      "$(ratio "$row" ftpfs raw)" "$(ratio "$row" ftpfs rclone)" "${TARGET[$row]}" "${VERDICT[$row]}"
  done <<EOF
seq_cold|seq read cold|MB/s|0|curl
seq_warm|seq read warm|MB/s|0|curl (2nd)
cpu_cold|seq cold CPU|CPU-s/GiB|2|curl
par|${PAR_N} readers|MB/s|0|${PAR_N} curls
cpu_par|${PAR_N} readers CPU|CPU-s/GiB|2|${PAR_N} curls
cpu_par_ram|${PAR_N} readers, RAM|CPU-s/GiB|2|-
cpu_par_splice|${PAR_N} spliced dls|CPU-s/GiB|2|${PAR_N} x splice
rand|random 4K reads|reads/s|0|ftplib REST
ls_cold|ls -lR cold|s|3|lftp find -l
ls_warm|ls -lR warm|s|3|lftp find -l
small|small files|files/s|1|ftplib RETR
small_lftp|small (mirror)|files/s|1|lftp mirror
rss|peak RSS|MiB|0|-
seq_write|seq write+fsync|MB/s|0|curl -T
cpu_write|seq write CPU|CPU-s/GiB|2|curl -T
create|create 4K files|files/s|1|ftplib STOR
create_wb|create (writeback)|files/s|1|ftplib STOR
rdwr|O_RDWR ${W_RDWR_N}x4K|s|3|-
mkdir|mkdir ${W_DIRS}|ops/s|0|ftplib MKD
rmdir|rmdir ${W_DIRS}|ops/s|0|ftplib RMD
unlink|unlink ${W_SMALL}|ops/s|0|ftplib DELE
EOF
}

# idle_policy: how this machine's idle CPUs wait, which sets what each wake-up of a sleeping
# thread costs: in a VM whose idle vCPUs halt at once (cpuidle driver haltpoll with
# guest_halt_poll_ns 0) every wake of another CPU is an exit to the host, and the latency-bound
# loopback rows (mkdir, rmdir, unlink: several wake-ups per call through FUSE, fewer raw) carry
# it. docs/performance.md, "What a wake-up costs here", measures it.
idle_policy() {
  local driver poll
  driver=$(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo none)
  poll=$(cat /sys/module/haltpoll/parameters/guest_halt_poll_ns 2>/dev/null || true)
  echo "cpuidle driver $driver${poll:+, guest_halt_poll_ns $poll}"
}

{
  echo
  echo "ftpfs benchmark, $(date '+%F %T'), $(uname -r), $(nproc) cores; ftpfs $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')"
  echo "data: big.bin $BIG_MIB MiB, $TREE_FILES small files in $NDIRS dirs; $RAND_N random reads; ftpfs -o max_conns=$MAX_CONNS,cache_size=$CACHE_MIB${EXTRA_OPTS:+,$EXTRA_OPTS}; rclone --vfs-cache-mode off (writes for the O_RDWR row); vsftpd on 127.0.0.1${FTPFS_BENCH_NETNS:+ (a network namespace whose loopback is limited to $FTPFS_BENCH_NETNS)}${RTT:+, behind a proxy adding $RTT ms of round trip to every connection}"
  echo "idle CPUs: $(idle_policy)"
  echo "higher is better for MB/s, reads/s, files/s; lower for s and MiB. 'local' is the server's own disk."
  echo
  table
  echo
  for n in "${NOTES[@]}"; do echo "note: $n"; done
  rclone_errs=$(cat "$RUN"/rclone-*.log 2>/dev/null | grep -c ERROR || true)
  if [ "${rclone_errs:-0}" -gt 0 ]; then echo "note: rclone logged $rclone_errs ERROR lines (retried reads; its figures include the retries)"; fi
  for f in "${FAILS[@]}"; do echo "CHECK FAILED: $f"; done
  echo "checks: ${#FAILS[@]} failed; targets missed: $MISSES; total time ${T_TOTAL}s"
} | tee "$WORK/results-latest${FTPFS_BENCH_NETNS:+-$FTPFS_BENCH_NETNS}${RTT:+-rtt${RTT}ms}.txt"

if ((${#FAILS[@]})); then exit 1; fi
if ((STRICT && MISSES)); then exit 3; fi
exit 0
