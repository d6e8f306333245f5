#!/usr/bin/env bash
# Runs the Watermill adapter's tests, Watermill's conformance suite
# included, with -race, except for one subtest of that suite.
#
# TestPubSub/TestReconnect (watermill v1.5.1) has a race of its own (see
# watermill/README.md, "Known flake"): its publishers append each message
# to the "sent" list in another goroutine after Publish returned, and it
# compares that list with what it received without waiting for the last
# append. Under -race that is a data race in Watermill's test code
# (pubsub/tests/test_pubsub.go: the append at line 1086, the read at line
# 1120), reported on most runs, so this subtest alone runs without -race,
# after everything else passed with it.
#
# Without -race the same race shows now and then as one message received
# but not yet recorded as sent. When TestReconnect fails with exactly that
# symptom (scripts/watermill-known-flake.sh decides), it is run again, up
# to four times, and this script says so. Any other failure fails at once.
# It fails about one run in four on a busy 2-core machine (3 of 12 when
# measured), so three attempts would still fail CI about one time in 60;
# five bring that to about one in a thousand.
#
# Every attempt is the same command. The rest of TestPubSub adds no load
# to it: the suite runs TestReconnect as its only non-parallel subtest,
# while the parallel ones wait for it to finish.
set -uo pipefail
scripts=$(cd "$(dirname "$0")" && pwd)
cd "$scripts/../watermill" || exit 1

log=$(mktemp)
trap 'rm -f "$log"' EXIT
reconnect='^TestPubSub$/^TestReconnect$'

go vet ./... || exit 1
go test -race -count=1 -skip "$reconnect" ./... || exit 1

for attempt in 1 2 3 4 5; do
	if go test -count=1 -run "$reconnect" . 2>&1 | tee "$log"; then
		exit 0
	fi
	if ! "$scripts/watermill-known-flake.sh" "$log"; then
		echo "watermill: tests failed" >&2
		exit 1
	fi
	if [ "$attempt" -lt 5 ]; then
		echo "watermill: TestPubSub/TestReconnect hit the suite's known race (one message received before it was recorded as sent); running it again ($attempt of 4)" >&2
	fi
done
echo "watermill: TestPubSub/TestReconnect failed five times" >&2
exit 1
