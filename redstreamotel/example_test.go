package redstreamotel_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamotel"
)

// A publisher and a consumer traced with OpenTelemetry: the handler's
// span continues the trace of the request that published the ticket.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// A real program registers an exporter (OTLP, say) with the provider.
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())

	hooks, err := redstreamotel.New(redstreamotel.WithTracerProvider(tp))
	if err != nil {
		log.Fatal(err)
	}
	client, err := redstream.Dial(ctx, "redis://localhost:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	pub, err := redstream.NewPublisher(client, redstream.WithPublishMetrics(hooks))
	if err != nil {
		log.Fatal(err)
	}
	// ctx would carry the span of the request being served.
	if _, err := pub.Publish(ctx, "tickets", redstream.Fields("ticketID", "42")); err != nil {
		log.Fatal(err)
	}
	handle := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		// ctx carries the span "process tickets", a child of "send tickets".
		log.Println("ticket", m.Value("ticketID"))
		return nil
	})
	cons, err := redstream.NewConsumer(client, "tickets", "tickets-consumer-group", handle,
		redstream.WithMetrics(hooks))
	if err != nil {
		log.Fatal(err)
	}
	if err := cons.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

// The headers a publish adds to an entry, named as they are stored in
// Redis: the W3C traceparent of the publish span (and tracestate and
// baggage when there are any).
func ExampleHooks_TracePublish() {
	hooks, err := redstreamotel.New(redstreamotel.WithTracerProvider(sdktrace.NewTracerProvider()))
	if err != nil {
		log.Fatal(err)
	}
	// What a Publisher does around each publish call.
	call := &redstream.PublishCall{Entries: []redstream.Entry{{Stream: "tickets", Fields: redstream.Fields("ticketID", "42")}}}
	done := hooks.TracePublish(context.Background(), call)
	done([]string{"1700000000000-0"}, nil)

	for _, h := range call.Entries[0].Headers {
		fmt.Println(redstream.HeaderPrefix+h.Name, len(h.Value))
	}
	// Output: redstream:h:traceparent 55
}
