#!/usr/bin/env bash
# busybox-image: make busybox:latest offline, from Debian's busybox-static
# (/bin/busybox, statically linked), and import it with the capsa CLI
# given as $1. Idempotent: an existing busybox:latest is kept.
set -euo pipefail

capsa=${1:-capsa}
if "$capsa" image inspect busybox:latest >/dev/null 2>&1; then
	echo "busybox-image: busybox:latest is there"
	exit 0
fi
bb=/bin/busybox
if [ ! -x "$bb" ]; then
	echo "busybox-image: $bb is missing; install busybox-static (make install-deps)" >&2
	exit 1
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,etc,root,tmp,proc,sys,dev,var/spool/cron/crontabs,home,usr/bin,usr/sbin,sbin}
chmod 1777 "$root/tmp"
cp "$bb" "$root/bin/busybox"
for applet in $("$bb" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
nogroup:x:65534:
GROUP
echo "busybox-image: importing busybox:latest ($($bb | head -1))"
tar --numeric-owner --owner=0 --group=0 -C "$root" -cf - . |
	"$capsa" import -c 'CMD ["sh"]' - busybox:latest
