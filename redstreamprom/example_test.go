package redstreamprom_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"os/signal"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamprom"
)

// A consumer process that serves its metrics, and the state of the
// "tickets" stream read from Redis at each scrape, on :9100/metrics.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	client, err := redstream.Dial(ctx, "redis://localhost:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	reg := prometheus.NewRegistry()
	metrics, err := redstreamprom.NewMetrics()
	if err != nil {
		log.Fatal(err)
	}
	state, err := redstreamprom.NewInspectorCollector(redstream.NewInspector(client), redstreamprom.Streams("tickets"))
	if err != nil {
		log.Fatal(err)
	}
	reg.MustRegister(metrics, state, collectors.NewGoCollector())
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	go func() { log.Println(http.ListenAndServe(":9100", mux)) }()

	pub, err := redstream.NewPublisher(client, redstream.WithPublishMetrics(metrics))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := pub.Publish(ctx, "tickets", redstream.Fields("ticketID", "42")); err != nil {
		log.Fatal(err)
	}
	handle := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		log.Println("ticket", m.Value("ticketID"))
		return nil
	})
	cons, err := redstream.NewConsumer(client, "tickets", "tickets-consumer-group", handle,
		redstream.WithMetrics(metrics))
	if err != nil {
		log.Fatal(err)
	}
	if err := cons.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
