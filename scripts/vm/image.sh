#!/usr/bin/env bash
# Builds, or finds already built, the VM test layer's guest (scripts/vm/run.sh boots it): a Debian
# root file system made with debootstrap, as an ext4 image, plus the host's Debian kernel and initrd
# (package linux-image-amd64). Prints the directory that holds root.img, vmlinuz and initrd.img.
#
# The image is cached outside the repository, under $FTPFS_VM_CACHE (default
# /var/cache/ftpfs-test-vm), in a directory named by a hash of what goes into it: this script, the
# Debian suite and mirror, and the kernel version. A change to any of them builds a new image (and
# removes the old ones); nothing the tests change is stored in it (run.sh boots it with snapshot=on).
# What is tested (ftpfs, its .deb, the checks) comes in on a second disk at each run, so changing
# ftpfs does not rebuild the image.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${FTPFS_VM_CACHE:-/var/cache/ftpfs-test-vm}"

# The newest Debian kernel installed on the host; its modules go into the image (the guest needs
# fuse and autofs4, which this kernel builds as modules).
kernel=$(ls /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -n 1)
if [ -z "$kernel" ]; then
  echo "image.sh: no Debian kernel in /boot: apt-get install linux-image-amd64 (scripts/test.sh does)" >&2
  exit 1
fi
kver=${kernel#/boot/vmlinuz-}
[ -f "/boot/initrd.img-$kver" ] && [ -d "/lib/modules/$kver" ] || {
  echo "image.sh: /boot/initrd.img-$kver or /lib/modules/$kver is missing: reinstall linux-image-$kver" >&2
  exit 1
}

# The same suite and mirror apt uses here, so debootstrap works wherever apt-get does.
. /etc/os-release
suite=$VERSION_CODENAME
mirror=$(apt-get indextargets --format '$(REPO_URI)' "Release: $suite" 'Created-By: Packages' | head -n 1)
[ -n "$mirror" ] || { echo "image.sh: apt has no source for Debian $suite" >&2; exit 1; }

key=$(cat "$0" <(echo "$suite $mirror $kver") | sha256sum | cut -c1-16)
dir="$cache/$key"
if [ -f "$dir/root.img" ]; then
  echo "$dir"
  exit 0
fi

command -v debootstrap >/dev/null || { echo "image.sh: debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
# Everything but the last line goes to stderr: run.sh takes stdout for the path.
exec 3>&1 >&2
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
# Another run may have built it while this one waited for the lock.
if [ -f "$dir/root.img" ]; then
  echo "$dir" >&3
  exit 0
fi
rm -rf "${cache:?}"/*/ # older images: their inputs changed
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
echo "image.sh: building the test VM image (debootstrap $suite from $mirror, kernel $kver)"

# systemd as PID 1; fuse3 for mount.fuse3 and fusermount3 (and what ftpfs's .deb depends on);
# autofs; vsftpd, the FTP server the checks mount; util-linux and bsdutils for the mount(8) tests
# of tests/system.rs (unshare, nsenter, setpriv, script); procps for pgrep.
packages=systemd,systemd-sysv,udev,kmod,fuse3,autofs,vsftpd,util-linux,bsdutils,procps
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror"

# The kernel's modules: only the file systems the checks use (fuse, autofs4), to keep the image small.
mods="$root/lib/modules/$kver"
mkdir -p "$mods/kernel/fs"
cp -a "/lib/modules/$kver/kernel/fs/fuse" "/lib/modules/$kver/kernel/fs/autofs" "$mods/kernel/fs/"
cp -a "/lib/modules/$kver"/modules.{builtin,builtin.modinfo,order} "$mods/"
depmod -b "$root" "$kver"
printf 'fuse\nautofs4\n' >"$root/etc/modules-load.d/ftpfs-test.conf"

# No login prompt, network or clock to wait for: the guest runs one thing and powers off.
echo ftpfs-vm >"$root/etc/hostname"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$root/etc/fstab"
chroot "$root" systemctl mask -q serial-getty@ttyS0.service getty@tty1.service \
  apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer
# Neither starts at boot: the checks start a vsftpd with their own configuration, and autofs once
# they have written its map (scripts/vm/guest.sh).
chroot "$root" systemctl disable -q vsftpd.service autofs.service
# The test unit: mounts the second disk (label ftpfs-test) and runs its `run`, whose output goes to
# the second serial port (the host's result file); then powers off, whatever happened, unless the
# run asked for a reboot (/run/ftpfs-test-reboot: its second part checks what starts at boot).
cat >"$root/etc/systemd/system/ftpfs-test.service" <<'UNIT'
[Unit]
Description=ftpfs VM checks
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'mkdir -p /test && mount -o ro LABEL=ftpfs-test /test && exec /test/run >/dev/ttyS1 2>&1'
ExecStopPost=/bin/sh -c 'test -e /run/ftpfs-test-reboot || exec /bin/systemctl --no-block poweroff'
[Install]
WantedBy=multi-user.target
UNIT
chroot "$root" systemctl enable -q ftpfs-test.service
# apt's lists and archives are not needed in the guest.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

size=$(( $(du -sm "$root" | cut -f1) + 700 ))
mkfs.ext4 -q -L ftpfs-root -d "$root" "$work/root.img" "${size}M"
cp "$kernel" "$work/vmlinuz"
cp "/boot/initrd.img-$kver" "$work/initrd.img"
mkdir -p "$dir"
mv "$work/root.img" "$work/vmlinuz" "$work/initrd.img" "$dir/"
echo "$dir" >&3
