#!/usr/bin/env bash
# Runs the Watermill adapter's tests, Watermill's conformance suite included.
#
# One subtest of that suite, TestPubSub/TestReconnect, has a race of its
# own (see watermill/README.md, "Known flake"): it compares what it received
# with what its publishers recorded before the last publisher has recorded
# its message. When that test, and only that test, fails with exactly that
# symptom, it is run again, up to twice, and this script says so. Any other
# failure fails at once.
set -uo pipefail
cd "$(dirname "$0")/../watermill"

log=$(mktemp)
trap 'rm -f "$log"' EXIT

go vet ./... || exit 1
if go test -count=1 ./... 2>&1 | tee "$log"; then
	exit 0
fi

failed=$(grep -E '^\s*--- FAIL' "$log" | sed -E 's/^\s*--- FAIL: ([^ ]+).*/\1/' | sort -u)
only_reconnect=1
for name in $failed; do
	case "$name" in
	TestPubSub | TestPubSub/TestReconnect | TestPubSub/TestReconnect/*) ;;
	*) only_reconnect=0 ;;
	esac
done
if [ -z "$failed" ] || [ "$only_reconnect" -ne 1 ] || ! grep -q "extra \[" "$log"; then
	echo "watermill: tests failed" >&2
	exit 1
fi

for attempt in 1 2; do
	echo "watermill: TestPubSub/TestReconnect hit the suite's known race (an 'extra' message recorded late); running it again ($attempt of 2)" >&2
	if go test -count=1 -run '^TestPubSub$/^TestReconnect$' . ; then
		exit 0
	fi
done
echo "watermill: TestPubSub/TestReconnect failed three times" >&2
exit 1
