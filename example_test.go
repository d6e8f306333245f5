package redstream_test

import (
	"context"
	"fmt"

	"github.com/redstream-go/redstream"
)

func ExampleFields() {
	fields := redstream.Fields("whatHappened", "ticket received", "ticketID", "42")
	for _, f := range fields {
		fmt.Printf("%s=%s\n", f.Name, f.Value)
	}
	// Output:
	// whatHappened=ticket received
	// ticketID=42
}

func ExampleParseID() {
	id, err := redstream.ParseID("1615061318123-4")
	if err != nil {
		panic(err)
	}
	fmt.Println(id.Ms, id.Seq, id.Time().UTC().Format("2006-01-02 15:04:05.000"))
	// Output: 1615061318123 4 2021-03-06 20:08:38.123
}

func ExampleChain() {
	logging := func(next redstream.Handler) redstream.Handler {
		return redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
			fmt.Println("handling", m.ID)
			return next.Handle(ctx, m)
		})
	}
	h := redstream.Chain(redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		fmt.Println("ticket", m.Value("ticketID"))
		return nil
	}), logging)
	_ = h.Handle(context.Background(), &redstream.Message{ID: "1-0", Fields: redstream.Fields("ticketID", "42")})
	// Output:
	// handling 1-0
	// ticket 42
}

func ExampleDecodeJSON() {
	type Ticket struct {
		ID   int    `json:"id"`
		Data string `json:"data"`
	}
	fields, _ := redstream.EncodeJSON(Ticket{ID: 7, Data: "some ticket data"})
	m := &redstream.Message{ID: "1-0", Fields: fields}
	t, err := redstream.DecodeJSON[Ticket](m)
	fmt.Println(t.ID, t.Data, err)
	// Output: 7 some ticket data <nil>
}
