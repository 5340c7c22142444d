#!/usr/bin/env bash
# install-deps: the Debian packages capsa needs to build, test and benchmark.
# Idempotent: installs only what is missing. Run as root.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: run as root (apt-get needs it)" >&2
	exit 1
fi

packages=(
	gcc libc6-dev    # cgo C stage of capsa-runtime, linked statically
	musl-tools       # ... against musl: a faster static start than glibc
	busybox-static   # offline rootfs for tests and the README example
	runc crun        # peers: conformance and benchmark comparisons
	iproute2         # network namespace checks in tests
	containernetworking-plugins # CNI bridge, host-local and portmap: capsad's networks
	iptables         # network isolation and published ports
	docker.io        # the docker CLI against capsad: compatibility tests
	docker-registry  # a real registry on 127.0.0.1 for pull tests (its service is never used)
	qemu-system-x86  # make test-cgroup2: a VM with a pure cgroup v2 hierarchy,
	linux-image-amd64 # ... booting this kernel (the host's own is untouched)
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
