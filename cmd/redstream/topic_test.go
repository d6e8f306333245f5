package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

func TestTopicCreateInfoDelete(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	url := srv.URL()
	r := cli(t, nil, "topic", "create", "--redis", url, "--topic", "orders", "--partitions", "4")
	if r.code != exitOK || !strings.Contains(r.stdout, "topic orders: 4 partitions") || strings.Count(r.stdout, "{orders:") != 4 {
		t.Fatalf("topic create:\n%s", r)
	}
	if r := cli(t, nil, "topic", "create", "--redis", url, "--topic", "orders", "--partitions", "6"); r.code != exitFailure || !strings.Contains(r.stderr, "another partition count") {
		t.Fatalf("topic create with another count:\n%s", r)
	}

	// A consumer of group "billing" takes the partitions.
	c := client(t, url)
	top, err := redstream.OpenTopic(ctxT(t, 5*time.Second), c, "orders")
	if err != nil {
		t.Fatal(err)
	}
	tc, _ := redstream.NewTopicConsumer(c, top, "billing", redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil }),
		redstream.Name("biller"), redstream.Lease(5*time.Second))
	go tc.Run(context.Background())
	defer tc.Close()
	waitFor(t, 10*time.Second, "biller owns 4", func() bool { return len(tc.Owned()) == 4 })

	r = cli(t, nil, "topic", "info", "--redis", url, "--topic", "orders")
	if r.code != exitOK || strings.Count(r.stdout, "biller") != 4 || !strings.Contains(r.stdout, "groups: [billing]") {
		t.Fatalf("topic info:\n%s", r)
	}
	r = cli(t, nil, "topic", "info", "--redis", url, "--topic", "orders", "--json")
	var ti redstream.TopicInfo
	if err := json.Unmarshal([]byte(r.stdout), &ti); err != nil || len(ti.Partitions) != 4 || ti.Partitions[0].Groups[0].Owner != "biller" {
		t.Fatalf("topic info --json: %v\n%s", err, r)
	}
	if r := cli(t, nil, "topic", "delete", "--redis", url, "--topic", "orders"); r.code != exitUsage {
		t.Fatalf("topic delete without --yes:\n%s", r)
	}
	if r := cli(t, nil, "topic", "delete", "--redis", url, "--topic", "orders", "--yes"); r.code != exitOK {
		t.Fatalf("topic delete:\n%s", r)
	}
	if r := cli(t, nil, "topic", "info", "--redis", url, "--topic", "orders"); r.code != exitFailure || !strings.Contains(r.stderr, "topic orders does not exist") {
		t.Fatalf("topic info after delete:\n%s", r)
	}
	if r := cli(t, nil, "topic", "create", "--redis", url, "--topic", "bad", "--partitions", "0"); r.code != exitUsage {
		t.Fatalf("topic create --partitions 0:\n%s", r)
	}
}

func TestTopicDemoKeepsOrderEmbeddedAndReal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"embedded", nil},
		{"real", []string{"--redis", startRedis(t).URL()}},
	} {
		args := append([]string{"demo", "--partitions", "6", "--keys", "20", "--tickets", "600", "--work", "1ms"}, tc.args...)
		r := cli(t, nil, args...)
		if r.code != exitOK || !strings.Contains(r.stdout, "every customer's tickets in publish order") || !strings.Contains(r.stdout, "leaves") {
			t.Fatalf("%s: topic demo:\n%s", tc.name, r)
		}
	}
}
