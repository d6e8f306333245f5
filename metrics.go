package redstream

import "time"

// Outcome is what became of a handled entry.
type Outcome int

// The outcomes of handling an entry.
const (
	OutcomeAck        Outcome = iota // the handler succeeded; the entry is acknowledged
	OutcomeRetry                     // the handler failed; the entry will be retried
	OutcomeDeadLetter                // the entry went to the dead-letter stream
)

// String returns "ack", "retry" or "dead_letter", the label values the
// Prometheus adapter uses.
func (o Outcome) String() string {
	switch o {
	case OutcomeAck:
		return "ack"
	case OutcomeRetry:
		return "retry"
	case OutcomeDeadLetter:
		return "dead_letter"
	}
	return "unknown"
}

// Metrics receives what Publishers and Consumers do, as it happens. Its
// methods are called from many goroutines at once and on hot paths: they
// must be safe for concurrent use and return quickly. Embed NopMetrics to
// implement only some of them. Gauges that describe Redis (lag, pending,
// stream length) are not pushed here: read them from the Inspector when
// they are scraped.
type Metrics interface {
	// Published reports n entries appended to stream, or that appending
	// them failed (err != nil).
	Published(stream string, n int, err error)
	// Handled reports one handler call, how long it took and its outcome.
	Handled(stream, group string, outcome Outcome, took time.Duration)
	// InFlight reports a change in the number of running handlers.
	InFlight(stream, group string, delta int)
	// Reclaimed reports n entries taken over from other consumers.
	Reclaimed(stream, group string, n int)
	// ReadError reports a failed read of the stream (the consumer retries).
	ReadError(stream, group string, err error)
}

// NopMetrics implements Metrics by doing nothing. Embed it in a partial
// implementation.
type NopMetrics struct{}

// Published does nothing.
func (NopMetrics) Published(string, int, error) {}

// Handled does nothing.
func (NopMetrics) Handled(string, string, Outcome, time.Duration) {}

// InFlight does nothing.
func (NopMetrics) InFlight(string, string, int) {}

// Reclaimed does nothing.
func (NopMetrics) Reclaimed(string, string, int) {}

// ReadError does nothing.
func (NopMetrics) ReadError(string, string, error) {}
