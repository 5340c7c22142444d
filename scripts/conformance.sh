#!/usr/bin/env bash
# conformance.sh runs the OCI runtime conformance suite (the validation/
# programs of opencontainers/runtime-tools) against one runtime and counts
# the TAP results.
#
#   scripts/conformance.sh                 bin/capsa-runtime
#   scripts/conformance.sh runc            a peer (a name on PATH or a path)
#   RUNTIME=crun make conformance          the same through make
#   PROGRAMS="default hostname" scripts/conformance.sh runc
#                                          only these programs
#   TIMEOUT=60                             seconds per program (default 60)
#   HIDE_UNIFIED=1|0                       unmount /sys/fs/cgroup/unified in
#                                          the suite's mount namespace
#                                          (default: 1 for crun, 0 otherwise)
#   OCI_VERSION=1.0.2                      ociVersion of the suite's configs
#                                          (empty: the suite's own, 1.3.0)
#
# The suite is fetched through the Go module proxy at a pinned master commit
# (the newest tag, v0.9.0, predates go.mod and does not build), copied to
# _output/runtime-tools and built once; the binaries are reused until
# RUNTIME_TOOLS_VERSION changes. Each program runs as root with
# RUNTIME=<absolute path>, its working directory holding the two files the
# suite opens by relative path (runtimetest and rootfs-<arch>.tar.gz), in a
# private mount namespace of its own. Its TAP output goes to
# _output/conformance/<runtime>/<program>.tap, its stderr beside it in
# .stderr. The one change made to the suite's source is patch_suite's.
#
# Counting: "ok" lines are passed, except "ok ... # SKIP" lines, which are
# counted apart as skipped; "not ok" lines are failed. A program adds one
# failure for each "error" diagnostic not attached to a test line (how the
# hook programs report), and one if it exits non-zero, times out, or prints
# fewer results than its plan. A program that exits 0 and prints no TAP at
# all (the *_fail programs when the runtime refused the config) counts as one
# pass. A program is clean when it has no failure. The last two lines are
# "K of T programs clean" and "N passed, M failed". The exit status is 1 when
# anything failed.
#
# cgroups: most programs leave linux.cgroupsPath empty, which puts a runc or
# crun container into the caller's cgroup. So the script first moves its own
# shell into a fresh cgroup named capsa-conformance at the top of every
# hierarchy it is in, runs the suite from there, then moves back and removes
# what it and the suite created (capsa-conformance and its subtree, and the
# suite's absolute /cgrouptest where it did not exist before). It creates
# nothing anywhere else.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNTIME_TOOLS_VERSION=${RUNTIME_TOOLS_VERSION:-v0.9.1-0.20251205004911-5e639034dcdc}
SUITE=$ROOT/_output/runtime-tools
TIMEOUT=${TIMEOUT:-60}
GO=${GO:-go}
CG_NAME=capsa-conformance

die() { echo "conformance: $*" >&2; exit 2; }

# PATCH_LEVEL names the changes patch_suite makes; a new one rebuilds.
PATCH_LEVEL=ociversion2

# patch_suite makes the ociVersion of every config.json the suite writes
# settable at run time (OCI_VERSION). The suite writes the version of the
# runtime-spec it is built with (1.3.0), and crun 1.8 refuses anything but
# 1.0.x ("unknown version specified") before it looks at the rest.
patch_suite() {
	local gen=$1/generate/generate.go
	grep -q '^		Version:  rspec.Version,$' "$gen" ||
		die "runtime-tools changed: no 'Version: rspec.Version' line in generate/generate.go to patch"
	sed -i 's/^		Version:  rspec.Version,$/		Version:  capsaOCIVersion(),/' "$gen"
	# Written flush left so that it is gofmt-clean (make lint walks _output).
	cat >"$1/generate/capsa_ociversion.go" <<'EOF'
package generate

import (
	"os"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// capsaOCIVersion is the ociVersion of generated configs: $OCI_VERSION if
// set (by capsa's scripts/conformance.sh), else the spec's own.
func capsaOCIVersion() string {
	if v := os.Getenv("OCI_VERSION"); v != "" {
		return v
	}
	return rspec.Version
}
EOF
}

# build_suite fetches and builds the suite into $SUITE unless the binaries of
# this version are there already.
build_suite() {
	local stamp=$SUITE/.capsa-built
	if [[ -f $stamp && $(<"$stamp") == "$RUNTIME_TOOLS_VERSION+$PATCH_LEVEL" ]]; then
		return
	fi
	echo "conformance: fetching runtime-tools $RUNTIME_TOOLS_VERSION" >&2
	local json dir
	# Outside any module, so that the download touches no go.mod or go.sum.
	json=$(cd / && GOWORK=off GOFLAGS='' "$GO" mod download -json \
		"github.com/opencontainers/runtime-tools@$RUNTIME_TOOLS_VERSION") ||
		die "go mod download runtime-tools@$RUNTIME_TOOLS_VERSION: $json"
	dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")
	[[ -d $dir ]] || die "go mod download gave no source directory: $json"

	rm -rf "$SUITE.tmp"
	mkdir -p "$(dirname "$SUITE")"
	cp -r "$dir" "$SUITE.tmp"
	chmod -R u+w "$SUITE.tmp" # the module cache is read-only
	patch_suite "$SUITE.tmp"
	echo "conformance: building runtimetest and the validation programs" >&2
	# The module zip carries vendor/modules.txt but no vendored code, so the
	# dependencies come from the module proxy (-mod=mod), checked by its go.sum.
	# runtimetest runs inside the container's busybox rootfs: static, no cgo.
	(
		cd "$SUITE.tmp"
		export GOWORK=off GOFLAGS=-mod=mod
		CGO_ENABLED=0 "$GO" build -tags 'netgo osusergo' -o runtimetest ./cmd/runtimetest
		mkdir -p bin
		# One go build for all 58 mains: -o into a directory names each
		# binary after its package directory, and links them in parallel.
		"$GO" build -o bin/ ./validation/...
	) || die "building runtime-tools failed"
	echo "$RUNTIME_TOOLS_VERSION+$PATCH_LEVEL" >"$SUITE.tmp/.capsa-built"
	rm -rf "$SUITE"
	mv "$SUITE.tmp" "$SUITE"
}

# tally prints "passed skipped failed" for one program from its .tap and .rc.
tally() {
	local name=$1 dir=$2
	local rc
	rc=$(cat "$dir/$name.rc" 2>/dev/null || echo 255)
	awk -v rc="$rc" '
		/^not ok/ { f++; test = 1; next }
		/^ok/ { if ($0 ~ /# [Ss][Kk][Ii][Pp]/) s++; else p++; test = 1; next }
		/^1\.\.[0-9]+/ { plan = substr($1, 4) + 0; planned = 1; test = 0; next }
		/^  ---/ { yaml = 1; attached = test; next }
		/^  \.\.\./ { if (orphan) { f++; o++ }; yaml = 0; orphan = 0; test = 0; next }
		# Some programs report a failed check as a YAML diagnostic with an
		# "error" key and no test line of its own (hooks, prestart, ...).
		yaml && !attached && /"error":/ { orphan = 1 }
		END {
			n = p + s + f - o
			if (rc != 0 || (planned && n < plan)) f++ # crash, time-out, short plan
			else if (n == 0 && o == 0) p++            # a silent check that held
			printf "%d %d %d\n", p, s, f
		}' "$dir/$name.tap" 2>/dev/null || echo "0 0 1"
}

# hierarchies prints "mountpoint relative-path" for each cgroup hierarchy this
# shell is in that is mounted here.
hierarchies() {
	local id ctrls path mnt
	while IFS=: read -r id ctrls path; do
		if [[ -z $ctrls ]]; then
			mnt=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
		else
			mnt=$(awk -v want="$ctrls" '$3 == "cgroup" {
				n = split(want, w, ","); split($4, o, ",")
				for (i in o) have[o[i]] = 1
				ok = 1; for (i = 1; i <= n; i++) if (!(w[i] in have)) ok = 0
				delete have
				if (ok) { print $2; exit }
			}' /proc/self/mounts)
		fi
		if [[ -n $mnt && -d $mnt ]]; then
			echo "$mnt $path"
		fi
	done </proc/$$/cgroup
}

declare -a CG_MNT=() CG_ORIG=() CG_HAD_TEST=()

cgroup_enter() {
	local mnt path
	while read -r mnt path; do
		CG_MNT+=("$mnt")
		CG_ORIG+=("$path")
		if [[ -d $mnt/cgrouptest ]]; then CG_HAD_TEST+=(1); else CG_HAD_TEST+=(0); fi
		mkdir -p "$mnt/$CG_NAME"
		# A new v1 cpuset cgroup has empty cpus and mems and takes no task.
		if [[ -f $mnt/$CG_NAME/cpuset.cpus && -z $(<"$mnt/$CG_NAME/cpuset.cpus") ]]; then
			cat "$mnt/cpuset.cpus" >"$mnt/$CG_NAME/cpuset.cpus"
			cat "$mnt/cpuset.mems" >"$mnt/$CG_NAME/cpuset.mems"
		fi
		echo $$ >"$mnt/$CG_NAME/cgroup.procs"
	done < <(hierarchies)
}

cgroup_leave() {
	local i mnt back
	for i in "${!CG_MNT[@]}"; do
		mnt=${CG_MNT[$i]}
		back=$mnt${CG_ORIG[$i]}
		[[ -d $back ]] || back=$mnt
		echo $$ >"$back/cgroup.procs" 2>/dev/null ||
			echo "conformance: could not move back to $back" >&2
		# rmdir only, deepest first: a cgroup that still has tasks stays,
		# and is named.
		find "$mnt/$CG_NAME" -depth -type d -exec rmdir {} + 2>/dev/null || true
		[[ -d $mnt/$CG_NAME ]] && echo "conformance: $mnt/$CG_NAME is not empty, left in place" >&2
		if [[ ${CG_HAD_TEST[$i]} == 0 && -d $mnt/cgrouptest ]]; then
			find "$mnt/cgrouptest" -depth -type d -exec rmdir {} + 2>/dev/null || true
			[[ -d $mnt/cgrouptest ]] && echo "conformance: $mnt/cgrouptest is not empty, left in place" >&2
		fi
	done
	return 0
}

# run_programs runs every program in $PROGRAM_LIST against $RT, writing to
# $OUT. It may run in a private mount namespace (see main).
run_programs() {
	if [[ ${HIDE_UNIFIED} == 1 ]] && mountpoint -q /sys/fs/cgroup/unified; then
		# crun 1.8 refuses the hybrid layout; hide cgroup2 from it, in this
		# namespace only, under a tmpfs: crun still writes there, and that
		# must go with the namespace, not pile up in the host's
		# /sys/fs/cgroup under the cgroup2 mount.
		umount /sys/fs/cgroup/unified
		mount -t tmpfs -o mode=755,size=1m tmpfs /sys/fs/cgroup/unified
	fi
	local before after name rc start p s f id
	before=$("$RT" list -q 2>/dev/null | sort || true)
	for name in $PROGRAM_LIST; do
		start=$SECONDS
		rc=0
		# timeout signals the program's process group, so runtime processes
		# it started die with it; containers left behind are deleted below.
		(cd "$SUITE" && RUNTIME=$RT OCI_VERSION=$OCI_VERSION TMPDIR=$WORK timeout -k 5 "$TIMEOUT" "$SUITE/bin/$name") \
			>"$OUT/$name.tap" 2>"$OUT/$name.stderr" </dev/null || rc=$?
		echo "$rc" >"$OUT/$name.rc"
		read -r p s f < <(tally "$name" "$OUT")
		local note=""
		((s > 0)) && note+=", $s skipped"
		((rc == 124 || rc == 137)) && note+=" (timed out after ${TIMEOUT}s)"
		((rc != 0 && rc != 124 && rc != 137)) && note+=" (exit status $rc)"
		echo "$name: $p passed, $f failed$note [$((SECONDS - start))s]"
	done
	after=$("$RT" list -q 2>/dev/null | sort || true)
	for id in $(comm -13 <(echo "$before") <(echo "$after")); do
		echo "conformance: deleting container $id left behind" >&2
		"$RT" delete -f "$id" >/dev/null 2>&1 || echo "conformance: delete $id failed" >&2
	done
}

cleanup() {
	cgroup_leave
	rm -rf --one-file-system "$WORK" || echo "conformance: could not remove $WORK" >&2
}

main() {
	[[ $(id -u) == 0 ]] || die "the suite creates containers: run as root"

	RT=${1:-${RUNTIME:-$ROOT/bin/capsa-runtime}}
	if [[ $RT != */* ]]; then
		RT=$(command -v "$RT") || die "runtime ${1:-$RUNTIME} is not on PATH"
	fi
	[[ -x $RT ]] || die "runtime $RT is not an executable (make build?)"
	RT=$(cd "$(dirname "$RT")" && pwd)/$(basename "$RT")
	local rtname
	rtname=$(basename "$RT")
	if [[ -z ${HIDE_UNIFIED:-} ]]; then
		HIDE_UNIFIED=0
		[[ $rtname == crun ]] && HIDE_UNIFIED=1
	fi

	build_suite

	PROGRAM_LIST=${PROGRAMS:-$(cd "$SUITE/bin" && ls)}
	local name
	for name in $PROGRAM_LIST; do
		[[ -x $SUITE/bin/$name ]] || die "no validation program $name"
	done
	OUT=$ROOT/_output/conformance/$rtname
	rm -rf "$OUT"
	mkdir -p "$OUT"
	# TMPDIR of the programs, where they make their bundles. Traversable by
	# all, as /tmp is: a container in a user namespace bind-mounts its rootfs
	# as an unprivileged uid.
	WORK=$(mktemp -d /tmp/capsa-conformance.XXXXXX)
	chmod 0755 "$WORK"
	# The same config version for every runtime, one that crun 1.8 reads too.
	OCI_VERSION=${OCI_VERSION-1.0.2}
	export RT OUT WORK PROGRAM_LIST HIDE_UNIFIED SUITE TIMEOUT OCI_VERSION

	echo "conformance: $RT ($("$RT" --version 2>/dev/null | head -n1)), $(wc -w <<<"$PROGRAM_LIST") programs, output in ${OUT#"$ROOT"/}"
	trap cleanup EXIT
	cgroup_enter
	# Always in a private mount namespace: some programs drop the mount
	# namespace from the config, and the runtime then mounts the container's
	# /proc, /dev and /sys in the caller's namespace. Those mounts end with
	# this one instead of staying on the host.
	unshare -m --propagation private "${BASH_SOURCE[0]}" --run-programs
	cleanup
	trap - EXIT

	local p s f tp=0 ts=0 tf=0 total=0 clean=()
	for name in $PROGRAM_LIST; do
		read -r p s f < <(tally "$name" "$OUT")
		((tp += p, ts += s, tf += f, total += 1))
		((f == 0)) && clean+=("$name")
	done
	echo "clean programs: ${clean[*]:-none}"
	((ts > 0)) && echo "$ts skipped (in neither count below)"
	echo "${#clean[@]} of $total programs clean"
	echo "$tp passed, $tf failed"
	((tf == 0))
}

if [[ ${1:-} == --run-programs ]]; then
	run_programs
else
	main "$@"
fi
