#!/bin/sh
# Makes a local Debian bookworm base image without a registry or a Docker
# engine: debootstrap a minbase root file system, copy it into an empty
# buildah container and commit that as IMAGE. Tweaked like the official
# debian:bookworm-slim (apt sources with updates and security, no docs, no
# service starts), so docker/Dockerfile builds the same on either base.
#   usage: docker/make-base.sh IMAGE [BUILDAH COMMAND...]
#   e.g.   docker/make-base.sh localhost/redisai-base:bookworm buildah --storage-driver overlay
set -eu
image=$1
shift
[ $# -gt 0 ] || set -- buildah
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

rootfs=$(mktemp -d "${TMPDIR:-/var/tmp}/redisai-base.XXXXXX")
ctr=
cleanup() {
    if [ -n "$ctr" ]; then "$@" umount "$ctr" >/dev/null 2>&1 || true; "$@" rm "$ctr" >/dev/null || true; fi
    # debootstrap unmounts what it mounted; make sure before deleting the tree.
    for m in proc sys dev/pts; do umount "$rootfs/$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$rootfs"
}
trap 'cleanup "$@"' EXIT
trap 'exit 1' INT TERM

debootstrap --variant=minbase bookworm "$rootfs" "$mirror"

# As debian:bookworm-slim: deb822 sources with updates and security ...
rm -f "$rootfs/etc/apt/sources.list"
cat > "$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
# ... no service starts from package scripts ...
printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"
chmod 755 "$rootfs/usr/sbin/policy-rc.d"
# ... no documentation ...
cat > "$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/man/*
path-exclude /usr/share/lintian/*
DPKG
# ... and nothing of this host or of the download.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
       "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/tmp/* \
       "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname"
: > "$rootfs/etc/machine-id"

ctr=$("$@" from scratch)
mnt=$("$@" mount "$ctr")
cp -a "$rootfs/." "$mnt/"
"$@" umount "$ctr" >/dev/null
"$@" config --cmd bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
"$@" commit --quiet "$ctr" "$image"
