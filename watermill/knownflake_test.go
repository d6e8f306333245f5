package redstreamwm_test

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestKnownFlakeScript feeds scripts/watermill-known-flake.sh, which
// decides whether scripts/test-watermill.sh may run Watermill's
// TestPubSub/TestReconnect again, logs of failed runs (testdata/known-flake:
// known-flake.log is a real run, trimmed; the others are edited from it,
// with the data race report of a real -race run). Only the documented
// symptom may pass: nothing missing, one extra message, received = sent + 1,
// nothing else failed.
func TestKnownFlakeScript(t *testing.T) {
	script, err := filepath.Abs(filepath.Join("..", "scripts", "watermill-known-flake.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		log string
		why []string // each printed when rejected; none: accepted
	}{
		{"known-flake.log", nil},
		{"pure-loss.log", []string{"want missing: [] and exactly one extra", "received 9998, sent 10000"}},
		{"loss-and-extra.log", []string{"want missing: [] and exactly one extra"}},
		{"loss-and-two-extras.log", []string{"want missing: [] and exactly one extra"}},
		{"two-extras.log", []string{"want missing: [] and exactly one extra", "received 10000, sent 9998"}},
		{"other-test.log", []string{"another test failed: TestPubSub/TestConsumerGroups"}},
		{"symptom-elsewhere.log", []string{"another test failed: TestPubSub/TestConcurrentSubscribe", "TestReconnect did not fail"}},
		{"restart-error.log", []string{"a failure message outside TestPubSub/TestReconnect: main_test.go:83"}},
		{"race.log", []string{"the log reports: WARNING: DATA RACE"}},
	} {
		t.Run(tc.log, func(t *testing.T) {
			out, err := exec.Command(script, filepath.Join("testdata", "known-flake", tc.log)).CombinedOutput()
			var exit *exec.ExitError
			switch {
			case err == nil:
				if tc.why != nil {
					t.Fatalf("accepted as the known flake; want it rejected (%s)", strings.Join(tc.why, "; "))
				}
			case errors.As(err, &exit) && exit.ExitCode() == 1:
				if tc.why == nil {
					t.Fatalf("rejected; want it accepted as the known flake:\n%s", out)
				}
				for _, why := range tc.why {
					if !strings.Contains(string(out), why) {
						t.Errorf("rejected without saying %q:\n%s", why, out)
					}
				}
			default:
				t.Fatalf("%s: %v\n%s", script, err, out)
			}
		})
	}
}
