#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the operator page's browser
# test (examples/internal/operator), and prints its path.
#
#   .ci/chromium.sh          # installs chromium when /usr/bin/chromium is missing
#
# When /usr/bin/chromium exists nothing is installed. Otherwise it runs
# `apt-get update` once and `apt-get install -y chromium` (as root, or through
# sudo when available). It prints the browser's path on stdout and everything
# else on stderr, so `CHROMIUM=$(.ci/chromium.sh)` works; it exits non-zero
# when Chromium could not be installed.
set -euo pipefail

chromium_log() { echo "chromium.sh: $*" >&2; }

bin=/usr/bin/chromium
if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo_cmd=(sudo -n)
	else
		chromium_log "$bin is missing and this is not root (no sudo): install Debian's chromium package"
		exit 1
	fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
	chromium_log "$bin is missing and apt-get is not available: install Chromium by hand"
	exit 1
fi

chromium_log "installing Debian's chromium (apt-get update, apt-get install -y chromium)"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq >&2
"${sudo_cmd[@]}" apt-get install -y -q chromium >&2

if [ ! -x "$bin" ]; then
	chromium_log "apt-get finished but $bin is still missing"
	exit 1
fi
chromium_log "$("$bin" --version 2>/dev/null || echo installed)"
echo "$bin"
