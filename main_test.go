package redstream_test

import (
	"os"
	"testing"
)

var processTempDir string

func tempDirForProcess() string {
	if processTempDir == "" {
		d, err := os.MkdirTemp("", "redstream-test-")
		if err != nil {
			panic(err)
		}
		processTempDir = d
	}
	return processTempDir
}

func TestMain(m *testing.M) {
	if os.Getenv(faultRoleEnv) != "" {
		os.Exit(runFaultProcess())
	}
	code := m.Run()
	runCleanups()
	if processTempDir != "" {
		os.RemoveAll(processTempDir)
	}
	os.Exit(code)
}
