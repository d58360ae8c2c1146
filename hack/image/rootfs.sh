#!/usr/bin/env bash
# rootfs.sh BINARY OUTDIR: the operator image's whole root filesystem, and nothing else:
#   /usr/local/bin/studio-operator   the release binary (its assets, assets/activity-reporter,
#                                    are compiled in with include_str!)
#   the ELF interpreter and the shared libraries `ldd` names for it (glibc, libgcc_s)
#   /etc/ssl/certs/ca-certificates.crt   Debian's CA bundle (the AWS SDK's rustls client loads
#                                    the platform roots from it for TLS to AWS)
#   /etc/passwd, /etc/group          root and nonroot (65532), as in distroless images
# Every entry is owned by root, directories 0755, files 0644 (the binary 0755).
#
# Used by both builds of the image, so they hold the same files: the Dockerfile's builder stage
# (Debian 12, as this machine) and `make image` (hack/image/build.sh).
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 BINARY OUTDIR" >&2; exit 2; }
bin="$1"
out="$2"
[ -x "$bin" ] || { echo "rootfs.sh: $bin is not an executable file" >&2; exit 1; }
[ ! -e "$out" ] || [ -z "$(ls -A "$out")" ] || { echo "rootfs.sh: $out is not empty" >&2; exit 1; }
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[ -s "$ca_bundle" ] || { echo "rootfs.sh: $ca_bundle missing (install Debian's ca-certificates)" >&2; exit 1; }

umask 022
install -D -m 0755 "$bin" "$out/usr/local/bin/studio-operator"

# ldd prints "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and the interpreter as
# "/lib64/ld-linux-x86-64.so.2 (0x...)"; linux-vdso has no file. Each library is copied (symlinks
# resolved) to the path the loader asks for.
libs="$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)"
[ -n "$libs" ] || { echo "rootfs.sh: ldd found no libraries for $bin (a static binary needs none: drop this check)" >&2; exit 1; }
for lib in $libs; do
  install -D -m 0644 "$(readlink -f "$lib")" "$out$lib"
done
# The interpreter must stay executable.
interp="$(ldd "$bin" | awk '$1 ~ /^\// {print $1}')"
chmod 0755 "$out$interp"

install -D -m 0644 "$ca_bundle" "$out$ca_bundle"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$out/etc/passwd.new"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$out/etc/group.new"
mv "$out/etc/passwd.new" "$out/etc/passwd"
mv "$out/etc/group.new" "$out/etc/group"
chmod 0644 "$out/etc/passwd" "$out/etc/group"
find "$out" -type d -exec chmod 0755 {} +
chown -R 0:0 "$out" 2>/dev/null || true
