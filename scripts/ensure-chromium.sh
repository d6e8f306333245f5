#!/usr/bin/env bash
# Makes sure chromium is on PATH for the browser test in e2e/, installing
# Debian's chromium package where that is possible. The test starts its own
# headless browser with a fresh profile; nothing here starts a browser.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
	exit 0
fi

echo "chromium not found; installing it" >&2
if command -v apt-get >/dev/null 2>&1; then
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
			echo "need root (or sudo) to run: apt-get update && apt-get install -y chromium" >&2
			exit 1
		fi
	fi
	$SUDO apt-get update
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium
else
	cat >&2 <<'MSG'
Cannot install chromium automatically on this system.
Install Chromium so that `chromium` is on PATH (the browser test drives it headless):
  Debian/Ubuntu: apt-get update && apt-get install -y chromium
  Fedora:        dnf install -y chromium
  Alpine:        apk add chromium
MSG
	exit 1
fi
command -v chromium >/dev/null 2>&1 || { echo "chromium still not on PATH after installing" >&2; exit 1; }
