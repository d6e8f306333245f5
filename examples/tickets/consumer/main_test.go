package main

import (
	"context"
	"testing"
	"time"

	"github.com/redstream-go/redstream/redstreamtest"
)

// TestConsumesSeedTickets publishes tickets the way the seed's go-redis
// publisher did (plain XADD) and checks the consumer handles and
// acknowledges them all, then stops cleanly on cancel.
func TestConsumesSeedTickets(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	for range 20 {
		srv.Do(t, "XADD", "tickets", "*", "whatHappened", "ticket received", "ticketID", "98498081", "ticketData", "some ticket data")
	}
	srv.Do(t, "XADD", "tickets", "*", "whatHappened", "something else")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, srv.URL(), "consumer-1", time.Millisecond, 5) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rows, err := srv.Do(t, "XINFO", "GROUPS", "tickets").ToArray()
		if err == nil && len(rows) == 1 {
			m, _ := rows[0].AsMap()
			pm, dm := m["pending"], m["last-delivered-id"]
			pending, _ := pm.AsInt64()
			delivered, _ := dm.ToString()
			last, _ := srv.Do(t, "XREVRANGE", "tickets", "+", "-", "COUNT", "1").AsXRangeSlices()
			if pending == 0 && len(last) == 1 && delivered == last[0].ID {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the consumer did not handle and acknowledge every ticket")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("consumer returned %v after cancel", err)
	}
}
