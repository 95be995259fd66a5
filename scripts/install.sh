#!/usr/bin/env bash
# Builds ftpfs in release mode and installs it, as root, on Debian:
#   $PREFIX/bin/ftpfs                                   (PREFIX defaults to /usr/local)
#   $PREFIX/share/man/man1/ftpfs.1                      (man ftpfs)
#   $PREFIX/share/bash-completion/completions/ftpfs
#   $PREFIX/share/zsh/site-functions/_ftpfs
#   $PREFIX/share/fish/vendor_completions.d/ftpfs.fish
# The man page and the completions come from the clap definition (src/bin/ftpfs-docs.rs). mount(8)
# and fstab lines of type fuse.ftpfs need nothing more: Debian's mount.fuse3 (package fuse3,
# installed here if missing) runs `ftpfs SOURCE MOUNTPOINT -o OPTIONS`, found on mount(8)'s fixed
# PATH, which has /usr/local/bin. Running this again replaces every file with the current build.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${PREFIX:-/usr/local}"

if ! [ -x /sbin/mount.fuse3 ] || ! command -v fusermount3 >/dev/null; then
  if command -v apt-get >/dev/null; then
    echo "install.sh: installing fuse3 (mount.fuse3, fusermount3)"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q fuse3
  else
    echo "install.sh: fuse3 (mount.fuse3, fusermount3) is missing; install it first" >&2
    exit 1
  fi
fi

cargo build --release --locked --bin ftpfs --bin ftpfs-docs

docs="$(mktemp -d)"
trap 'rm -rf "$docs"' EXIT
target/release/ftpfs-docs man "$docs"
target/release/ftpfs-docs completions "$docs"

install -D -m 755 target/release/ftpfs "$prefix/bin/ftpfs"
install -D -m 644 "$docs/ftpfs.1" "$prefix/share/man/man1/ftpfs.1"
install -D -m 644 "$docs/ftpfs.bash" "$prefix/share/bash-completion/completions/ftpfs"
install -D -m 644 "$docs/_ftpfs" "$prefix/share/zsh/site-functions/_ftpfs"
install -D -m 644 "$docs/ftpfs.fish" "$prefix/share/fish/vendor_completions.d/ftpfs.fish"
echo "install.sh: installed $("$prefix/bin/ftpfs" --version) in $prefix"
