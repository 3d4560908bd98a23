#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds the power-cut test's guest program, a static binary the guest runs from
# the 9p share: build/powercut/pcwriter (/btt/build/powercut/pcwriter in the guest).
# Prints its path.
. "$(dirname "$0")/../../../scripts/lib.sh"
src=$BTT_TOP/tools/testing/powercut/pcwriter.c
bin=$BTT_TOP/build/powercut/pcwriter
mkdir -p "$(dirname "$bin")"
if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
	command -v gcc >/dev/null || die "gcc missing (apt-get install gcc libc6-dev)"
	gcc -static -O2 -pthread -Wall -Wextra -Werror -o "$bin.tmp" "$src" ||
		die "building $bin failed"
	mv "$bin.tmp" "$bin"
fi
echo "$bin"
