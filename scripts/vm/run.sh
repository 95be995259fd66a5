#!/usr/bin/env bash
# The VM test layer: boots Debian's kernel with systemd as PID 1 in QEMU and runs scripts/vm/guest.sh
# there (systemd units and fstab automounts, autofs, fusermount3 as a user, the .deb, and
# tests/system.rs), on a machine whose own kernel or init cannot (no autofs, PID 1 not systemd).
# Fails on any FAIL line, a guest that does not finish, or a failed boot, within bounded time.
#   scripts/vm/image.sh   the guest's root file system (debootstrap, cached)
#   scripts/package.sh    the .deb the guest installs
# FTPFS_VM_ACCEL=kvm|tcg forces an accelerator. Otherwise KVM is tried where /dev/kvm opens, and if a
# KVM guest does not boot within $boot_limit s (it hangs on some hosts), the cache remembers that and
# the run goes on with TCG (emulation, about 15 s to boot and power off with nothing to do).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
cache="${FTPFS_VM_CACHE:-/var/cache/ftpfs-test-vm}"
boot_limit=30 # s from start to the guest's BOOTED line
run_limit=900 # s for the whole guest run under TCG

for tool in qemu-system-x86_64 mkfs.ext4 readelf gdb; do
  command -v "$tool" >/dev/null || {
    echo "vm/run.sh: $tool is missing: apt-get install qemu-system-x86 e2fsprogs binutils gdb" >&2
    exit 1
  }
done
start=$SECONDS
image=$(scripts/vm/image.sh)
[ -f "$image/root.img" ] || { echo "vm/run.sh: image.sh gave no image: '$image'" >&2; exit 1; }
echo "vm/run.sh: image $image ready after $((SECONDS - start)) s"

work=$(mktemp -d)
qemu_pid=
cleanup() {
  [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null && wait "$qemu_pid" 2>/dev/null
  # The last run's console stays for a look at what the guest did (FTPFS_VM_VERBOSE=1: all of it).
  cp "$work/console" "$cache/console.last" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The test disk: the .deb, the guest script, tests/system.rs's binary (its debug info stripped, as
# it is not needed to run it), and the paths compiled into that binary, which the guest recreates.
deb=$(scripts/package.sh | tail -n 1)
built=$(cargo test --locked --test system --no-run --message-format=json |
  grep -o '"executable":"[^"]*"' | cut -d'"' -f4)
tests=$(grep '/deps/system-' <<<"$built")
bin=$(grep '/debug/ftpfs$' <<<"$built")
[ -x "$tests" ] && [ -x "$bin" ] || { echo "vm/run.sh: no test binary of tests/system.rs" >&2; exit 1; }
payload="$work/payload"
mkdir "$payload"
cp "$deb" "$payload/ftpfs.deb"
cp scripts/vm/guest.sh "$payload/run"
cp scripts/setup-test-user.sh docs/system.md "$payload/"
objcopy --strip-debug "$tests" "$payload/system"
printf 'BIN=%q\nMANIFEST_DIR=%q\nONLY=%q\n' "$bin" "$repo" "${FTPFS_VM_ONLY:-}" >"$payload/env"
# The package ships the binary without its debug info (split off by package.sh).
dpkg-deb -x "$deb" "$work/deb"
if readelf -S "$work/deb/usr/bin/ftpfs" | grep -q '\.debug_info'; then
  echo "FAIL the .deb's /usr/bin/ftpfs carries debug info"
  exit 1
fi
echo "PASS the .deb's /usr/bin/ftpfs is stripped ($(du -h "$work/deb/usr/bin/ftpfs" | cut -f1))"
# Its debug info, split off beside the .deb, serves gdb. gdb looks for the file its .gnu_debuglink
# names beside the binary and under the debug directory plus the binary's directory: for
# /usr/bin/ftpfs that is /usr/lib/debug/usr/bin/, where the README says to copy it. The same layout
# here, for the binary unpacked in $work/deb, with gdb's debug directory at $work/dbg.
bindir="$work/deb/usr/bin"
mkdir -p "$work/dbg/$bindir"
cp "${deb%.deb}.debug" "$work/dbg/$bindir/"
line=$(gdb -batch -nx -iex "set debug-file-directory $work/dbg" \
  -ex 'info line ftpfs::main' "$bindir/ftpfs" 2>&1 | tail -n 1) || true
if ! grep -q '^Line [0-9]* of "src/main.rs"' <<<"$line"; then
  echo "FAIL gdb does not find the .deb's split debug info: $line"
  exit 1
fi
echo "PASS gdb finds the split debug info ($(basename "${deb%.deb}.debug")): $line"
mkfs.ext4 -q -L ftpfs-test -d "$payload" "$work/test.img" $(($(du -sm "$payload" | cut -f1) + 16))M

# FTPFS_VM_VERBOSE=1 shows the kernel's and systemd's boot messages on the console.
quiet=quiet
[ -z "${FTPFS_VM_VERBOSE:-}" ] || quiet=
# boot ACCEL: runs the guest until it powers off; 1 if it did not boot in time, 2 if it did not
# finish in time, 3 if qemu ended before the guest booted (qemu's error is on stderr).
boot() {
  local limit=$run_limit booted= rebooted=
  [ "$1" = kvm ] && limit=$((run_limit / 3))
  : >"$work/result"
  qemu-system-x86_64 -accel "$1" -m 1024 -smp 2 -nic none \
    -display none -monitor none -serial "file:$work/console" -serial "file:$work/result" \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 ${quiet} panic=-1" \
    -drive "file=$image/root.img,format=raw,if=virtio,snapshot=on" \
    -drive "file=$work/test.img,format=raw,if=virtio,readonly=on" &
  qemu_pid=$!
  local t0=$SECONDS
  while kill -0 "$qemu_pid" 2>/dev/null; do
    if [ -z "$booted" ] && grep -q '^BOOTED' "$work/result"; then
      booted=1
      echo "vm/run.sh: the guest ($1) booted in $((SECONDS - t0)) s"
    fi
    # The guest reboots once, on purpose (guest.sh checks what starts at boot); a third boot is
    # a reboot loop (a panic reboots: panic=-1).
    # The second boot must reach multi-user.target (where ftpfs-test.service starts) as fast as
    # the first: a unit that stalls the boot fails the run here, not at the run's time limit.
    if [ -z "$rebooted" ] && grep -q '^REBOOT' "$work/result"; then rebooted=$SECONDS; fi
    if [ -n "$rebooted" ] && (($(grep -c '^BOOTED' "$work/result") < 2)) &&
      ((SECONDS - rebooted > 3 * boot_limit)); then
      echo "vm/run.sh: the second boot did not reach multi-user.target in $((3 * boot_limit)) s"
      limit=0
    fi
    if { [ -z "$booted" ] && ((SECONDS - t0 > boot_limit)); } || ((SECONDS - t0 > limit)) ||
      (($(grep -c '^BOOTED' "$work/result") > 2)); then
      kill "$qemu_pid"
      wait "$qemu_pid" 2>/dev/null || true
      qemu_pid=
      [ -n "$booted" ] && return 2
      return 1
    fi
    sleep 1
  done
  wait "$qemu_pid" || true
  qemu_pid=
  grep -q '^BOOTED' "$work/result" || return 3
}

accel=${FTPFS_VM_ACCEL:-}
if [ -z "$accel" ]; then
  accel=tcg
  if [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ ! -e "$cache/kvm-hangs" ]; then accel=kvm; fi
fi
status=0
boot "$accel" || status=$?
if [ "$status" = 1 ] && [ "$accel" = kvm ] && [ -z "${FTPFS_VM_ACCEL:-}" ]; then
  echo "vm/run.sh: a KVM guest did not boot in $boot_limit s; using TCG now and from now on ($cache/kvm-hangs)"
  touch "$cache/kvm-hangs"
  accel=tcg
  status=0
  boot tcg || status=$?
fi
grep -v '^BOOTED' "$work/result" || true
fail() {
  echo "vm/run.sh: FAILED ($1) after $((SECONDS - start)) s; the guest's console:" >&2
  tail -n 60 "$work/console" >&2 || true
  echo "vm/run.sh: the whole console will be in $cache/console.last" >&2
  exit 1
}
case $status in
  1) fail "the guest did not boot within $boot_limit s" ;;
  2) fail "the guest did not finish within its time" ;;
  3) fail "qemu ended before the guest booted" ;;
esac
grep -q '^DONE' "$work/result" || fail "the guest stopped before the end of its checks"
! grep -q '^FAIL' "$work/result" || fail "a check failed"
[ -z "${FTPFS_VM_ONLY:-}" ] || fail "only the checks matching FTPFS_VM_ONLY ran"
echo "vm/run.sh: all checks passed in the VM ($accel), $((SECONDS - start)) s in all"
