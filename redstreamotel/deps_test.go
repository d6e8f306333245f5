package redstreamotel_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestCoreDoesNotImportOpenTelemetry: package redstream, and what it
// imports, stay free of OpenTelemetry; only this package brings it in.
func TestCoreDoesNotImportOpenTelemetry(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/redstream-go/redstream").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "github.com/redis/rueidis") {
		t.Fatalf("go list -deps lists no rueidis; is it listing the core?\n%s", out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "go.opentelemetry.io/") {
			t.Errorf("package redstream depends on %s", pkg)
		}
	}
}
