#!/usr/bin/env bash
# Usage: scripts/watermill-known-flake.sh LOG
#
# Decides whether LOG, the output of a failed `go test` run (not -v) of the
# Watermill adapter's module, shows the known race of Watermill's own
# TestPubSub/TestReconnect (watermill/README.md, "Known flake") and nothing
# else. Exits 0 if so, 1 (saying why on stderr) for any other failure, 2 on
# bad usage. scripts/test-watermill.sh runs the test again only on 0.
#
# The symptom, as watermill v1.5.1 prints it (pubsub/tests/test_asserts.go,
# AssertAllMessagesReceived, called at the end of TestReconnect):
#
#	id's count is different: received: 10000, sent: 9999
#	received different messages ID's, missing: [], extra [<uuid>]
#
# Accepted only if all of these hold:
#   - the failed tests are TestPubSub, TestPubSub/TestReconnect and its one
#     subtest, nothing else;
#   - the log's only test failure messages (the "file.go:N:" lines) are
#     those two, both from that subtest;
#   - nothing is missing, exactly one message is extra, and received is
#     sent + 1;
#   - no data race, panic, timeout or build failure, and no package other
#     than the adapter's failed.
# Watermill prints "missing: …, extra …" whenever the lists differ, so a
# loss ("missing: [6b1f a9c2], extra []"), a loss and an extra, or two
# extras are all rejected.
set -uo pipefail

if [ $# -ne 1 ] || [ ! -r "$1" ]; then
	echo "usage: $0 LOG (a readable go test log)" >&2
	exit 2
fi
log=$1

# One pass over the log; every reason it is not the known flake is printed.
# A test's "--- FAIL: name" header sits at indent i, its messages at i+4.
awk -v pkg=github.com/redstream-go/redstream/watermill '
function no(why) { print "watermill-known-flake: not the known TestReconnect flake: " why > "/dev/stderr"; bad = 1 }
function indent(s) { match(s, /^ */); return RLENGTH }
function line(s) { s = $0; sub(/^[ \t]+/, "", s); return s }
/WARNING: DATA RACE|race detected during execution of test|^panic: |^fatal error: |test timed out after|\[build failed\]|\[setup failed\]/ {
	no("the log reports: " line())
}
/^FAIL[ \t]+[^ \t]/ && $2 != pkg { no("another package failed: " line()) }
/^ *--- FAIL: / {
	name = $3
	at[indent($0) / 4] = name
	if (name == "TestPubSub/TestReconnect") reconnect = 1
	else if (name ~ /^TestPubSub\/TestReconnect\/[^\/]+$/) leaves++
	else if (name != "TestPubSub") no("another test failed: " name)
	next
}
/^ +[^ \t]+\.go:[0-9]+:/ {
	messages++
	if (at[indent($0) / 4 - 1] !~ /^TestPubSub\/TestReconnect\/[^\/]+$/) {
		no("a failure message outside TestPubSub/TestReconnect: " line())
		next
	}
	text = $0
	sub(/^ +[^ \t]+\.go:[0-9]+: ?/, "", text)
	if (text ~ /^id'"'"'s count is different: received: [0-9]+, sent: [0-9]+$/) {
		counts++
		split(text, f, /: |, /)
		if (f[3] + 0 != f[5] + 1) no("received " f[3] ", sent " f[5] " (want received = sent + 1)")
	} else if (text ~ /^received different messages ID'"'"'s, missing: /) {
		lists++
		if (text !~ /, missing: \[\], extra \[[^] \t]+\]$/) no("want missing: [] and exactly one extra: " line())
	} else {
		no("a failure message other than the known two: " line())
	}
}
END {
	if (!reconnect || leaves != 1) no("TestPubSub/TestReconnect did not fail in exactly one subtest")
	if (messages != 2 || counts != 1 || lists != 1) no("want exactly the two messages of AssertAllMessagesReceived, found " messages + 0 " failure messages")
	exit bad ? 1 : 0
}
' "$log"
