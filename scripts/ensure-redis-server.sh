#!/usr/bin/env bash
# Makes sure redis-server is on PATH for the tests, installing it from the
# system's packages where that is possible. The tests start their own
# servers on free ports; nothing here starts or touches a server.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
	exit 0
fi

echo "redis-server not found; installing it" >&2
if command -v apt-get >/dev/null 2>&1; then
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
			echo "need root (or sudo) to run: apt-get update && apt-get install -y redis-server" >&2
			exit 1
		fi
	fi
	$SUDO apt-get update
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y redis-server
elif command -v brew >/dev/null 2>&1; then
	brew install redis
else
	cat >&2 <<'MSG'
Cannot install redis-server automatically on this system.
Install Redis 6.2 or newer so that `redis-server` is on PATH:
  Debian/Ubuntu: apt-get update && apt-get install -y redis-server
  Fedora:        dnf install -y redis
  Alpine:        apk add redis
  macOS:         brew install redis
MSG
	exit 1
fi
command -v redis-server >/dev/null 2>&1 || { echo "redis-server still not on PATH after installing" >&2; exit 1; }
