package main

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redstream-go/redstream/redstreamtest"
)

// TestPublishesTheSeedFormat reads what the publisher wrote the way the
// seed article's consumer does (XREADGROUP COUNT 2, fields by name, one
// XACK each) and checks every ticket would be handled and acknowledged.
func TestPublishesTheSeedFormat(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, srv.URL(), 50); err != nil {
		t.Fatal(err)
	}
	srv.Do(t, "XGROUP", "CREATE", "tickets", "tickets-consumer-group", "0")
	handled := 0
	for {
		res, err := srv.Do(t, "XREADGROUP", "GROUP", "tickets-consumer-group", "seed", "COUNT", "2", "STREAMS", "tickets", ">").AsXReadSlices()
		if err != nil {
			break // nil reply: nothing left
		}
		for _, e := range res["tickets"] {
			if len(e.FieldValues) != 3 {
				t.Fatalf("entry %s has %d fields, want 3", e.ID, len(e.FieldValues))
			}
			want := []string{"whatHappened", "ticketID", "ticketData"}
			for i, fv := range e.FieldValues {
				if fv.Field != want[i] {
					t.Fatalf("field %d is %q, want %q", i, fv.Field, want[i])
				}
			}
			if e.FieldValues[0].Value != "ticket received" || e.FieldValues[2].Value != "some ticket data" {
				t.Fatalf("entry %s = %v", e.ID, e.FieldValues)
			}
			if _, err := strconv.Atoi(e.FieldValues[1].Value); err != nil {
				t.Fatalf("ticketID %q is not a number", e.FieldValues[1].Value)
			}
			if n, _ := srv.Do(t, "XACK", "tickets", "tickets-consumer-group", e.ID).AsInt64(); n != 1 {
				t.Fatalf("XACK %s acknowledged %d", e.ID, n)
			}
			handled++
		}
	}
	if handled != 50 {
		t.Fatalf("a seed-style consumer handled %d tickets, want 50", handled)
	}
}
