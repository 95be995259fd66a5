#!/usr/bin/env bash
# Builds the Debian package of ftpfs from the release build, with dpkg-deb:
#   /usr/bin/ftpfs                                      stripped (debug info: see below)
#   /usr/share/man/man1/ftpfs.1.gz                      (man ftpfs)
#   /usr/share/bash-completion/completions/ftpfs
#   /usr/share/zsh/vendor-completions/_ftpfs
#   /usr/share/fish/vendor_completions.d/ftpfs.fish
#   /usr/share/doc/ftpfs/copyright
# The version is Cargo.toml's. It depends on fuse3: mount(8) and fstab lines of type fuse.ftpfs go
# through fuse3's mount.fuse3, which runs `ftpfs` from /usr/bin (docs/system.md); nothing else is
# needed for them. The release profile keeps debug info (Cargo.toml, for profiling); the package
# ships the binary without it, and the debug info goes to a file beside the .deb
# (ftpfs_VERSION_ARCH.debug; gdb finds it through the binary's .gnu_debuglink once it is in
# /usr/lib/debug/usr/bin/ or beside the binary).
# Prints the path of the .deb on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in dpkg-deb dpkg-shlibdeps objcopy; do
  command -v "$tool" >/dev/null || {
    echo "package.sh: $tool is missing: apt-get install dpkg-dev binutils" >&2
    exit 1
  }
done

version=$(awk -F'"' '/^version *=/ { print $2; exit }' Cargo.toml)
arch=$(dpkg --print-architecture)
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked --bin ftpfs --bin ftpfs-docs >&2

out="$(realpath -m "$target/debian")"
stage="$out/ftpfs_${version}_$arch"
rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$stage/usr/bin"
deb="$stage.deb"
debug="$stage.debug"

# dh_strip's way: the debug sections to their own file, then the binary without them.
objcopy --only-keep-debug --compress-debug-sections "$target/release/ftpfs" "$debug"
objcopy --strip-debug --strip-unneeded --remove-section=.comment \
  --add-gnu-debuglink="$debug" "$target/release/ftpfs" "$stage/usr/bin/ftpfs"
chmod 755 "$stage/usr/bin/ftpfs"

docs=$(mktemp -d)
trap 'rm -rf "$docs"' EXIT
"$target/release/ftpfs-docs" man "$docs"
"$target/release/ftpfs-docs" completions "$docs"
install -D -m 644 "$docs/ftpfs.1" "$stage/usr/share/man/man1/ftpfs.1"
gzip -9n "$stage/usr/share/man/man1/ftpfs.1"
install -D -m 644 "$docs/ftpfs.bash" "$stage/usr/share/bash-completion/completions/ftpfs"
install -D -m 644 "$docs/_ftpfs" "$stage/usr/share/zsh/vendor-completions/_ftpfs"
install -D -m 644 "$docs/ftpfs.fish" "$stage/usr/share/fish/vendor_completions.d/ftpfs.fish"
license=$(awk -F'"' '/^license *=/ { print $2; exit }' Cargo.toml)
install -d "$stage/usr/share/doc/ftpfs"
printf 'ftpfs\nLicense: %s\n' "$license" >"$stage/usr/share/doc/ftpfs/copyright"

# The shared libraries the binary links (libc6, libgcc-s1) with the versions its symbols need, as
# dpkg-shlibdeps finds them; it wants a debian/control, which a package built this way has not.
mkdir -p "$docs/debian"
printf 'Source: ftpfs\n\nPackage: ftpfs\nArchitecture: any\n' >"$docs/debian/control"
shlibs=$(cd "$docs" && dpkg-shlibdeps -O -e"$stage/usr/bin/ftpfs" | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "package.sh: dpkg-shlibdeps found no libraries" >&2; exit 1; }

description=$(awk -F'"' '/^description *=/ { print $2; exit }' Cargo.toml)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: ftpfs
Version: $version
Architecture: $arch
Maintainer: ftpfs developers <ftpfs@localhost>
Depends: $shlibs, fuse3
Section: utils
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Description: $description
 ftpfs mounts a directory of an FTP or FTPS server as a local file system
 with FUSE, from the command line, mount(8), /etc/fstab, systemd or autofs.
CONTROL
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >&2
rm -rf "$stage"
echo "$deb"
