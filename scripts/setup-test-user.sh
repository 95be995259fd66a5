#!/usr/bin/env bash
# Prepares this machine for the vsftpd-based tests (tests/support/vsftpd.rs) and scripts/bench.sh:
#   * the local user `ftpfstest` (password `ftpfstest-pw`), whom vsftpd logs in and chroots into the
#     test's root directory;
#   * the PAM service /etc/pam.d/ftpfs-vsftpd with pam_unix only. Debian's /etc/pam.d/vsftpd also
#     runs pam_listfile (/etc/ftpusers) and pam_shells (/etc/shells); a test login must not depend
#     on those files, so the tests' vsftpd uses this service instead (pam_service_name).
# Idempotent and silent when everything is already in place; run as root. Several test processes
# may call it at once, so the whole check-and-fix runs under a lock.
set -euo pipefail

USER_NAME=ftpfstest
USER_PASS=ftpfstest-pw
PAM_FILE=/etc/pam.d/ftpfs-vsftpd
# auth: pam_unix checks the password against /etc/shadow. account: pam_unix checks expiry.
# vsftpd calls no session functions unless session_support=YES, so no session line is needed.
PAM_TEXT='# Written by ftpfs scripts/setup-test-user.sh: password logins for the test vsftpd.
auth    required pam_unix.so
account required pam_unix.so'

if [ "$(id -u)" != 0 ]; then
  echo "setup-test-user.sh: must run as root (creates a user and a PAM service)" >&2
  exit 1
fi

exec 9>/run/lock/ftpfs-setup-test-user.lock
flock 9

# vsftpd changes into the user's home directory before it moves on to local_root and chroots
# there ("500 OOPS: cannot change directory:/home/..." when the home is missing), so the home must
# exist; it stays empty and root's.
USER_HOME=/var/lib/$USER_NAME
if ! getent passwd "$USER_NAME" >/dev/null; then
  # bash is a valid shell for pam_unix and listed in /etc/shells, should some other PAM stack
  # check that.
  useradd --system -M -d "$USER_HOME" -s /bin/bash "$USER_NAME"
fi
home=$(getent passwd "$USER_NAME" | cut -d: -f6)
if [ "$home" != "$USER_HOME" ]; then
  usermod -d "$USER_HOME" "$USER_NAME"
fi
mkdir -p "$USER_HOME"

shell=$(getent passwd "$USER_NAME" | cut -d: -f7)
case "$shell" in
  */nologin | */false | "") usermod -s /bin/bash "$USER_NAME" ;;
esac

# Set the password only when the stored hash does not already match: rewriting /etc/shadow on
# every run would race with other tools and is not silent-idempotent. perl's crypt() is libc's,
# which understands Debian's yescrypt ($y$) hashes.
hash=$(getent shadow "$USER_NAME" | cut -d: -f2)
if ! perl -e 'exit(crypt($ARGV[0], $ARGV[1]) eq $ARGV[1] ? 0 : 1)' "$USER_PASS" "$hash" 2>/dev/null; then
  echo "$USER_NAME:$USER_PASS" | chpasswd
fi
# A locked (!hash) or expiring account would make pam_unix fail; fix only what is wrong.
IFS=: read -r _ hash _ _ max _ _ expire _ < <(getent shadow "$USER_NAME")
if [ "${hash#!}" != "$hash" ]; then
  usermod -U "$USER_NAME"
fi
if [ -n "$expire" ] || { [ -n "$max" ] && [ "$max" != 99999 ]; }; then
  chage -E -1 -M -1 "$USER_NAME"
fi

if [ "$(cat "$PAM_FILE" 2>/dev/null)" != "$PAM_TEXT" ]; then
  printf '%s\n' "$PAM_TEXT" >"$PAM_FILE.tmp.$$"
  chmod 644 "$PAM_FILE.tmp.$$"
  mv -f "$PAM_FILE.tmp.$$" "$PAM_FILE"
fi

# vsftpd's secure_chroot_dir: an empty directory, not writable by anyone but root.
mkdir -p /var/run/vsftpd/empty
chmod 755 /var/run/vsftpd/empty
