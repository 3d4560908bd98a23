#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Host check of the bad-image damage itself (corrupt.py), before any guest sees
# it: for every case, an image made by the btt tool (for the flog cases, one per
# count of 0 to 6 writes on lane 0: two full turns of the flog's 1, 2, 3
# sequence cycle; else one with 4 writes) is damaged, then
# `btt check` must report the damaged field (or, for the stale flog slot, that
# the image is clean) and leave the image as it was.
#
# Why: the guest suite's images get their writes from whichever CPU ran the
# writer, so lane 0's position in the cycle varies from run to run. A helper
# that picked the wrong slot there (max(seq) instead of btt_log_get_old()'s
# rule) damaged the stale slot in some runs (how many depends on the machine's
# scheduling) and the guest test point failed for a reason that was not the
# driver's.
# Prints KTAP; exit status 0 only if every test point passed.
# Usage: host-check.sh BTT-TOOL [WORKDIR]
set -u
btt=${1:?path of the btt tool}
work=${2:-}
if [ -z "$work" ]; then
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
fi
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
img=$work/host-check.img
size=$((32 * 1024 * 1024))

# What `btt check` must say about each case: a "problem" line naming the field,
# or "clean" (the stale flog slot is never read: C ignores it, as does btt-rs).
expect_of() {
	case $1 in
	info-checksum | info2-bad) echo 'problem:.*field checksum' ;;
	version) echo 'problem:.*field version_major' ;;
	nlba-too-large) echo 'problem:.*field external_nlba' ;;
	mapoff-outside) echo 'problem:.*field mapoff' ;;
	nfree-zero) echo 'problem:.*field nfree' ;;
	flog-range) echo 'problem:.*flog lane 0: .*flog new_map' ;;
	flog-stale-range) echo clean ;;
	map-duplicate) echo 'problem:.*owned twice' ;;
	*) echo unknown ;;
	esac
}

mapfile -t cases < <(python3 "$here/corrupt.py" --list | cut -f1)
[ ${#cases[@]} -gt 0 ] || { echo "# corrupt.py --list gave no case"; exit 1; }
echo "TAP version 13"
echo "1..${#cases[@]}"
n=0 nfail=0
for c in "${cases[@]}"; do
	n=$((n + 1))
	want=$(expect_of "$c") bad= ks=4
	case $c in flog-*) ks="0 1 2 3 4 5 6" ;; esac
	for k in $ks; do
		was=$bad
		rm -f "$img"
		truncate -s $size "$img"
		"$btt" create "$img" --size $((size - 4096)) --offset 4096 --lbasize 4096 --version 1.1 >/dev/null ||
			{ bad="$bad k=$k:create"; continue; }
		for lba in $(seq 1 $k); do
			head -c 4096 /dev/urandom | "$btt" write "$img" "$lba" --offset 4096 >/dev/null ||
				bad="$bad k=$k:write"
		done
		python3 "$here/corrupt.py" "$img" "$c" || { bad="$bad k=$k:corrupt"; continue; }
		before=$(sha256sum <"$img")
		out=$("$btt" check "$img" --offset 4096 2>&1)
		rc=$?
		[ "$(sha256sum <"$img")" = "$before" ] || bad="$bad k=$k:check-wrote"
		if [ "$want" = clean ]; then
			[ $rc = 0 ] && grep -q '^clean:' <<<"$out" || bad="$bad k=$k:not-clean"
		else
			[ $rc != 0 ] && grep -qE "$want" <<<"$out" || bad="$bad k=$k:missed"
		fi
		[ "$bad" = "$was" ] || echo "$out" | grep -E '^(problem|clean)' | head -3 | sed "s/^/# $c k=$k: /"
	done
	if [ -z "$bad" ]; then
		echo "ok $n corrupt.py $c: btt check says '$want' after $(echo $ks | tr ' ' ,) writes on lane 0, image untouched"
	else
		echo "not ok $n corrupt.py $c: btt check, expected '$want':$bad"
		nfail=$((nfail + 1))
	fi
done
rm -f "$img"
[ $nfail = 0 ]
