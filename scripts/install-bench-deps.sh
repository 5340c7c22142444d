#!/usr/bin/env bash
# install-bench-deps: the Debian packages that `make bench` compares capsa
# with (bench/runlatency, bench/engine and bench/pull). Idempotent: installs
# only what is missing. Run as root.
#
# The bench starts every daemon itself with private state (see
# bench/engine/README.md): nothing here is enabled or started, and no
# configuration under /etc is changed.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "install-bench-deps: run as root (apt-get needs it)" >&2
	exit 1
fi

packages=(
	busybox-static   # the offline busybox image every engine runs
	runc crun        # the peers' OCI runtimes (runlatency; runc under the engines)
	podman conmon    # podman and its per-container monitor
	containernetworking-plugins # podman 4.3's default (CNI) network
	docker.io        # dockerd, the docker CLI and its managed containerd
	containerd       # containerd and ctr on their own
	skopeo umoci     # image tools; bench/pull measures skopeo copy + umoci unpack
	docker-registry  # the local registry bench/pull pulls from (127.0.0.1 only)
	iptables         # the engines' default networks add their rules
	iproute2         # lo up in the bench's private network namespace
	util-linux       # unshare, nsenter, mount
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-bench-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# docker.io and podman recommend and start services on a systemd host;
	# without recommends, and with policy-rc.d saying no, nothing starts.
	policy=/usr/sbin/policy-rc.d
	made_policy=
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		made_policy=1
	fi
	trap 'if [ -n "$made_policy" ]; then rm -f "$policy"; fi' EXIT
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
