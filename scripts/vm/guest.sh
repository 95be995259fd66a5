#!/bin/bash
# Runs inside the test VM (scripts/vm/run.sh puts it on the test disk as /test/run; the image's
# ftpfs-test.service starts it once systemd, PID 1, has booted). Prints one line per check, PASS or
# FAIL (with what went wrong, indented), then DONE; run.sh fails on any FAIL or a missing DONE.
# It runs twice: the first boot's checks end by enabling the docs' mount unit and fstab automount
# and rebooting (the root disk's changes last until qemu exits); the second boot checks what
# systemd started at boot, then prints DONE.
# The mount forms are docs/system.md's own blocks, taken from /test/system.md: its user bob, host
# `host` (127.0.0.1 here), directory /dir, credentials file and mountpoints, served by a vsftpd on
# port 21. Only the timeouts are shortened (autofs 60 s -> 3 s, systemd idle 5 min -> 3 s).
set -u
echo BOOTED
. /test/env # BIN and MANIFEST_DIR: the paths compiled into the test binary /test/system
HELLO="hello from the VM"
export BIN MANIFEST_DIR HELLO
fails=0

# check NAME FUNCTION [SECONDS]: runs FUNCTION (bounded, 120 s unless told) and prints its verdict;
# on failure, with the processes and journal lines that tell why. FTPFS_VM_ONLY (a regular
# expression, from run.sh) runs only the checks whose names match (and the setup and the .deb
# they need), for work on one of them.
check() {
  local out
  if [ -n "${ONLY:-}" ] && [ "$2" != setup ] && [ "$2" != deb_installs ] && ! [[ $1 =~ $ONLY ]]; then return; fi
  if out=$(timeout "${3:-120}" bash -c "set -euo pipefail; $(declare -f); $2" 2>&1); then
    echo "PASS $1"
  else
    echo "FAIL $1"
    {
      printf '%s\n' "$out"
      echo "-- processes:"
      ps -eo pid,pgid,sid,args | grep -e '[f]tpfs' -e '[m]ount' -e '[a]utomount'
      echo "-- journal:"
      journalctl -b --no-pager -n 30 -o short-monotonic
    } | sed 's/^/    | /'
    fails=$((fails + 1))
  fi
  reset
}

# Back to the state before any check, whatever a failed one left: units stopped, no mount, no
# ftpfs, fstab as the image has it.
reset() {
  systemctl stop autofs mnt-x.automount mnt-x.mount 2>/dev/null
  sed -i '/fuse.ftpfs/d' /etc/fstab
  rm -f /etc/systemd/system/mnt-x.mount /etc/auto.master.d/ftp.autofs
  systemctl daemon-reload
  findmnt -rn -t fuse.ftpfs -o TARGET | while read -r m; do umount -l "$m"; done
  local pids
  pids=$(pgrep -x ftpfs) && kill -9 $pids
  return 0
}

# The Nth (from 1) fenced block of language LANG (empty: none) in section SECTION of system.md.
block() {
  awk -v sec="## $1" -v fence="\`\`\`$2" -v n="$3" '
    /^## / { inside = ($0 == sec) }
    open && /^```/ { open = 0; next }
    !open && /^```/ { open = 1; take = inside && $0 == fence && ++count == n; next }
    open && take { print }' /test/system.md
}

# until_ SECONDS COMMAND...: true once COMMAND succeeds, false after SECONDS.
until_() {
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.2
  done
}
# From /proc/mounts, without touching the path: any access (findmnt's stat too) is a use that
# restarts autofs's and systemd's idle timers.
ftpfs_mounted() { awk -v m="$1" '$2 == m && $3 == "fuse.ftpfs" { f = 1 } END { exit !f }' /proc/mounts; }
not_mounted() { ! ftpfs_mounted "$1"; }
no_ftpfs() { ! pgrep -x ftpfs >/dev/null; }
# The mount at $1 serves the server's file, shows as fuse.ftpfs, and its daemon runs.
serves() {
  [ "$(cat "$1/hello.txt")" = "$HELLO" ] || { echo "$1/hello.txt: wrong or missing"; return 1; }
  ftpfs_mounted "$1" || { echo "$1 is not a fuse.ftpfs mount"; cat /proc/mounts; return 1; }
}
# The mount at $1 and every ftpfs process are gone (within 10 s).
gone() {
  until_ 10 not_mounted "$1" || { echo "$1 still mounted"; return 1; }
  until_ 10 no_ftpfs || { echo "ftpfs still runs:"; pgrep -a ftpfs; return 1; }
}

# The server: docs' bob with a password, served /srv/ftp (chroot), the docs' /dir in it.
setup() {
  echo "127.0.0.1 host" >>/etc/hosts
  mkdir -p "$MANIFEST_DIR/scripts" "$(dirname "$BIN")" /srv/ftp/dir /etc/ftpfs
  cp /test/setup-test-user.sh "$MANIFEST_DIR/scripts/"
  "$MANIFEST_DIR/scripts/setup-test-user.sh"
  useradd -m -s /bin/bash bob
  echo bob:bob-pw | chpasswd
  echo "$HELLO" >/srv/ftp/dir/hello.txt
  printf 'username=bob\npassword=bob-pw\n' >/etc/ftpfs/host.cred
  chmod 600 /etc/ftpfs/host.cred
  cat >/etc/ftpfs-test-vsftpd.conf <<CONF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
chroot_local_user=YES
allow_writeable_chroot=YES
local_root=/srv/ftp
pam_service_name=ftpfs-vsftpd
seccomp_sandbox=NO
secure_chroot_dir=/var/run/vsftpd/empty
CONF
  systemd-run -q --unit=ftpfs-test-vsftpd /usr/sbin/vsftpd /etc/ftpfs-test-vsftpd.conf
  until_ 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/21' || { echo "vsftpd does not listen"; return 1; }
}

deb_installs() {
  dpkg -i /test/ftpfs.deb
  [ "$(command -v ftpfs)" = /usr/bin/ftpfs ]
  ftpfs --version
  for f in /usr/share/man/man1/ftpfs.1.gz /usr/share/bash-completion/completions/ftpfs; do
    [ -f "$f" ] || { echo "$f is missing"; return 1; }
  done
  # The mount(8) tests of /test/system run the installed binary.
  ln -sf /usr/bin/ftpfs "$BIN"
}

fstab_line_mounts() {
  block "mount(8) and fstab" "" 1 >>/etc/fstab
  mkdir -p /mnt/x
  mount /mnt/x
  serves /mnt/x
  findmnt -n -o SOURCE /mnt/x | grep -x 'ftp://bob@host\(:21\)\?/dir' || { findmnt /mnt/x; return 1; }
  umount /mnt/x
  gone /mnt/x
}

mount_unit_starts_and_stops() {
  block systemd ini 1 >/etc/systemd/system/mnt-x.mount
  systemctl daemon-reload
  systemctl enable mnt-x.mount
  systemctl start mnt-x.mount
  serves /mnt/x
  systemctl stop mnt-x.mount
  gone /mnt/x
  [ "$(systemctl show -P Result mnt-x.mount)" = success ]
  systemctl disable mnt-x.mount
}

fstab_automount_mounts_expires_and_remounts() {
  block systemd "" 1 | sed 's/x-systemd.idle-timeout=5min/x-systemd.idle-timeout=3s/' >>/etc/fstab
  systemctl daemon-reload
  # The generator wires the automount into remote-fs.target, as at boot.
  systemctl start remote-fs.target
  systemctl is-active mnt-x.automount
  serves /mnt/x
  until_ 30 not_mounted /mnt/x || { echo "not unmounted after the idle timeout"; return 1; }
  until_ 10 no_ftpfs
  serves /mnt/x
  systemctl stop mnt-x.automount mnt-x.mount
  gone /mnt/x
  [ "$(systemctl show -P Result mnt-x.mount)" = success ]
}

autofs_mounts_expires_and_remounts() {
  block autofs "" 1 | sed 's/--timeout=60/--timeout=3/' >/etc/auto.master.d/ftp.autofs
  block autofs "" 2 >/etc/auto.ftp
  # automount's debug log, for the journal lines a failure prints.
  echo 'OPTIONS="-d"' >>/etc/default/autofs
  systemctl start autofs
  serves /auto/ftp
  until_ 30 not_mounted /auto/ftp || { echo "not unmounted after the timeout"; return 1; }
  until_ 10 no_ftpfs
  serves /auto/ftp
  systemctl stop autofs
  gone /auto/ftp
}

a_user_mounts_and_fusermount3_unmounts() {
  useradd -m -s /bin/bash alice
  install -o alice -m 600 /etc/ftpfs/host.cred /home/alice/bob.cred
  runuser -u alice -- mkdir /home/alice/mnt
  runuser -u alice -- ftpfs ftp://bob@host/dir /home/alice/mnt -o credentials=/home/alice/bob.cred
  [ "$(runuser -u alice -- cat /home/alice/mnt/hello.txt)" = "$HELLO" ]
  grep " /home/alice/mnt fuse.ftpfs .*user_id=$(id -u alice)," /proc/mounts
  runuser -u alice -- fusermount3 -u /home/alice/mnt
  gone /home/alice/mnt
}

system_tests() {
  cd /tmp
  /test/system --include-ignored --test-threads=2 2>&1 | tail -n 40
}

# For the second boot, as a user's system would have it: vsftpd as an enabled service started
# before remote file systems (and only "started" once it listens), the docs' mount unit enabled,
# and the docs' fstab automount line (its path moved to /mnt/y, beside the unit's /mnt/x).
prepare_second_boot() {
  cat >/etc/systemd/system/ftpfs-test-ftpd.service <<'UNIT'
[Unit]
Description=vsftpd for the ftpfs VM checks
Before=remote-fs-pre.target
Wants=remote-fs-pre.target
[Service]
Type=exec
ExecStart=/usr/sbin/vsftpd /etc/ftpfs-test-vsftpd.conf
ExecStartPost=/bin/bash -c 'for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/21) 2>/dev/null && exit 0; sleep 0.1; done; exit 1'
[Install]
WantedBy=multi-user.target
UNIT
  block systemd ini 1 >/etc/systemd/system/mnt-x.mount
  block systemd "" 1 | sed 's| /mnt/x | /mnt/y |' >>/etc/fstab
  mkdir -p /mnt/x /mnt/y
  systemctl daemon-reload
  systemctl enable ftpfs-test-ftpd.service mnt-x.mount
}

# Second boot: the enabled mount unit mounted /mnt/x while booting (it is in /proc/mounts before
# anything here touched the path), and serves it.
mount_unit_mounted_at_boot() {
  until_ 30 ftpfs_mounted /mnt/x || {
    echo "/mnt/x not mounted after boot"
    systemctl status mnt-x.mount ftpfs-test-ftpd.service
    return 1
  }
  systemctl is-active mnt-x.mount
  serves /mnt/x
  systemctl stop mnt-x.mount
  gone /mnt/x
}

# Second boot: the fstab line's automount was armed at boot (by remote-fs.target, nothing here
# started it); nothing is mounted until the first access, which mounts.
fstab_automount_armed_at_boot() {
  systemctl is-active mnt-y.automount
  not_mounted /mnt/y || { echo "/mnt/y was mounted before any access"; return 1; }
  serves /mnt/y
  systemctl stop mnt-y.automount mnt-y.mount
  gone /mnt/y
}

if [ -e /var/lib/ftpfs-test/second-boot ]; then
  fails=$(cat /var/lib/ftpfs-test/second-boot)
  # What boot set up is what these checks look at: nothing to undo between them (the VM powers off
  # after them, and its disk's changes are dropped).
  reset() { :; }
  check "systemd at boot: the docs' mount unit, enabled, mounted before any access" \
    mount_unit_mounted_at_boot
  check "systemd at boot: the docs' x-systemd.automount line is armed, mounts on first access" \
    fstab_automount_armed_at_boot
  echo "DONE failed=$fails"
  exit 0
fi

check setup setup
check "dpkg -i installs the .deb" deb_installs
check "mount -t fuse.ftpfs from the docs' fstab line" fstab_line_mounts
check "systemd: the docs' mount unit starts and stops" mount_unit_starts_and_stops
check "systemd: the docs' x-systemd.automount line mounts, expires and remounts" \
  fstab_automount_mounts_expires_and_remounts
check "autofs: the docs' map mounts, expires and remounts" autofs_mounts_expires_and_remounts
check "a non-root user mounts and unmounts with fusermount3" a_user_mounts_and_fusermount3_unmounts
check "tests/system.rs (mount(8), autofs...) in the VM" system_tests 400
if [ -n "${ONLY:-}" ] && ! [[ "at boot" =~ $ONLY ]]; then
  echo "DONE failed=$fails"
  exit 0
fi
if out=$(set -euo pipefail; prepare_second_boot 2>&1); then
  mkdir -p /var/lib/ftpfs-test
  echo "$fails" >/var/lib/ftpfs-test/second-boot
  sync
  echo "REBOOT for the checks of what starts at boot"
  touch /run/ftpfs-test-reboot
  systemctl --no-block reboot
else
  echo "FAIL preparing the second boot"
  printf '%s\n' "$out" | sed 's/^/    | /'
  echo "DONE failed=$((fails + 1))"
fi
