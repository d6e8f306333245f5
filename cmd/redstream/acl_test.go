package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/redstream-go/redstream/internal/aclroles"
)

// TestACLOperatorRunsTheCLI runs the CLI's inspect and admin commands as
// the README's operator user, created with exactly its documented line:
// each must succeed, and the server's ACL LOG must show no refusal of
// that user. Catches a command the CLI sends that the line lacks.
func TestACLOperatorRunsTheCLI(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	line := aclroles.Operator.Line
	args := strings.Fields(line)
	user, pass := args[2], ""
	for _, a := range args {
		if p, ok := strings.CutPrefix(a, ">"); ok {
			pass = p
		}
	}
	for _, cmd := range [][]string{
		args,
		{"XADD", "orders", "1-1", "k", "a"},
		{"XADD", "orders", "2-1", "k", "b"},
		{"XADD", "orders", "3-1", "k", "c"},
		{"XADD", "orders:dead", "*", "dead.id", "2-1", "dead.stream", "orders", "dead.group", "g", "k", "b"},
		{"ACL", "LOG", "RESET"},
	} {
		if err := do(t, c, cmd...).Error(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	url := fmt.Sprintf("redis://%s:%s@%s", user, pass, srv.Addr())
	dead := func() string {
		es := entries(t, c, "orders:dead")
		if len(es) == 0 {
			t.Fatal("no dead letter left")
		}
		return es[0].ID
	}
	for _, step := range [][]string{
		{"group", "create", "--stream", "orders", "--group", "g", "--start", "0"},
		{"tail", "--stream", "orders", "--from", "0", "--count", "3"},
		{"info", "--stream", "orders"},
		{"info", "--stream", "orders", "--json"},
		{"top", "--stream", "orders", "--iterations", "1"},
		{"top", "--match", "orders*", "--iterations", "1"},
		{"pending", "--stream", "orders", "--group", "g"},
		{"group", "consumers", "--stream", "orders", "--group", "g"},
		{"group", "setid", "--stream", "orders", "--group", "g", "--id", "2-1"},
		{"trim", "--stream", "orders", "--acked", "--yes"},
		{"dlq", "list", "--stream", "orders"},
		{"dlq", "show", "--stream", "orders", "DEAD"},
		{"dlq", "replay", "--stream", "orders", "--id", "DEAD"},
		{"group", "delete", "--stream", "orders", "--group", "g"},
		{"topic", "create", "--topic", "orders", "--partitions", "4"},
		{"topic", "info", "--topic", "orders"},
		{"topic", "delete", "--topic", "orders", "--yes"},
	} {
		for i, a := range step {
			if a == "DEAD" {
				step[i] = dead()
			}
		}
		r := cli(t, nil, append(step, "--redis", url)...)
		if r.code != exitOK {
			t.Errorf("%s as the operator:\n%s", strings.Join(step, " "), r)
		}
	}
	if err := do(t, c, "XADD", "orders:dead", "*", "k", "v").Error(); err != nil {
		t.Fatal(err)
	}
	if r := cli(t, nil, "dlq", "purge", "--stream", "orders", "--all", "--yes", "--redis", url); r.code != exitOK {
		t.Errorf("dlq purge as the operator:\n%s", r)
	}
	rows, err := do(t, c, "ACL", "LOG").ToArray()
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		m, _ := row.AsStrMap()
		if m["username"] == user {
			t.Errorf("the server refused %s %q (%s) to the operator: the documented line lacks it", m["reason"], m["object"], m["context"])
		}
	}
}
