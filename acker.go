package redstream

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream/internal/backoff"
)

// acker batches a consumer's acknowledgements. An ID waits at most
// AckInterval and one XACK carries up to AckBatch IDs; a reader about to
// read takes its stream's waiting IDs (take) and sends them in the same
// round trip as the read, so under load acks cost no round trip of their
// own. Acking an entry twice is harmless, so a failed XACK is sent again.
type acker struct {
	client   rueidis.Client
	group    string
	interval time.Duration
	batch    int
	log      *slog.Logger
	life     *lifecycle
	acked    *atomic.Int64 // entries Redis confirmed
	held     *heldSet      // an acked entry is let go once Redis confirms

	// failing is set while XACKs fail: readers then leave the acks to the
	// acker's backoff instead of sending them with every read.
	failing atomic.Bool

	mu      sync.Mutex
	pending map[string][]string // stream -> IDs
	count   int

	kick    chan struct{} // the first ID after none: start the interval
	full    chan struct{} // AckBatch IDs wait: send now
	closing chan struct{}
	done    chan struct{}
}

func newAcker(client rueidis.Client, group string, cfg *consumerConfig, life *lifecycle, log *slog.Logger, acked *atomic.Int64, held *heldSet) *acker {
	return &acker{
		client: client, group: group, interval: cfg.ackInterval, batch: cfg.ackBatch,
		log: log, life: life, acked: acked, held: held,
		pending: make(map[string][]string),
		kick:    make(chan struct{}, 1),
		full:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// start runs the sending loop until stop.
func (a *acker) start() { go a.loop() }

// stop sends what waits (trying a few times while Redis fails, unless the
// consumer is closed) and returns when the loop has ended.
func (a *acker) stop() {
	close(a.closing)
	<-a.done
}

// add queues the acknowledgement of id in stream.
func (a *acker) add(stream, id string) {
	a.mu.Lock()
	a.pending[stream] = append(a.pending[stream], id)
	a.count++
	n := a.count
	a.mu.Unlock()
	if n == 1 {
		signal(a.kick)
	}
	if n == a.batch {
		signal(a.full)
	}
}

// addAll queues the acknowledgements of ids in stream under one lock.
func (a *acker) addAll(stream string, ids []string) {
	if len(ids) == 0 {
		return
	}
	a.mu.Lock()
	before := a.count
	a.pending[stream] = append(a.pending[stream], ids...)
	a.count += len(ids)
	n := a.count
	a.mu.Unlock()
	if before == 0 {
		signal(a.kick)
	}
	if before < a.batch && n >= a.batch {
		signal(a.full)
	}
}

// take removes and returns up to AckBatch IDs waiting for stream, for the
// caller to send. It gives back (putBack) those whose XACK failed.
func (a *acker) take(stream string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := a.pending[stream]
	if len(ids) == 0 {
		return nil
	}
	k := min(len(ids), a.batch)
	out := ids[:k:k]
	if k == len(ids) {
		delete(a.pending, stream)
	} else {
		a.pending[stream] = ids[k:]
	}
	a.count -= k
	return out
}

// putBack queues ids again after their XACK failed.
func (a *acker) putBack(stream string, ids []string) {
	if len(ids) == 0 {
		return
	}
	a.mu.Lock()
	a.pending[stream] = append(a.pending[stream], ids...)
	a.count += len(ids)
	a.mu.Unlock()
	signal(a.kick)
}

func (a *acker) waiting() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.count
}

func (a *acker) loop() {
	defer close(a.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	retry := backoff.Counter{Policy: connBackoff}
	for {
		if a.waiting() == 0 {
			select {
			case <-a.kick:
			case <-a.closing:
				a.final(&retry)
				return
			}
		}
		timer.Reset(a.interval)
		select {
		case <-timer.C:
		case <-a.full:
			timer.Stop()
		case <-a.closing:
			timer.Stop()
			a.final(&retry)
			return
		}
		if a.flush() {
			retry.Reset()
			a.failing.Store(false)
			continue
		}
		a.failing.Store(true)
		if !a.life.wait(retry.Next()) {
			// Closed: a last try in final.
			<-a.closing
			a.final(&retry)
			return
		}
	}
}

// final sends what waits when the consumer stops.
func (a *acker) final(retry *backoff.Counter) {
	for attempt := 0; !a.flush() && attempt < 3; attempt++ {
		if !a.life.wait(retry.Next()) {
			break // closed: do not hold Close up
		}
	}
	if n := a.waiting(); n > 0 {
		a.log.Error("redstream: acknowledgements lost at shutdown; those entries will be delivered again", "count", n)
	}
}

// flush sends every waiting ID, and reports whether all XACKs succeeded.
func (a *acker) flush() bool {
	var cmds rueidis.Commands
	var sent [][]string
	var streams []string
	a.mu.Lock()
	for s := range a.pending {
		for {
			ids := a.pending[s]
			if len(ids) == 0 {
				break
			}
			k := min(len(ids), a.batch)
			cmds = append(cmds, a.client.B().Xack().Key(s).Group(a.group).Id(ids[:k]...).Build())
			sent = append(sent, ids[:k:k])
			streams = append(streams, s)
			if k == len(ids) {
				delete(a.pending, s)
			} else {
				a.pending[s] = ids[k:]
			}
			a.count -= k
		}
	}
	a.mu.Unlock()
	if len(cmds) == 0 {
		return true
	}
	ok := true
	for i, r := range a.client.DoMulti(a.life.hard, cmds...) {
		n, err := r.AsInt64()
		if err != nil {
			ok = false
			if a.life.hard.Err() == nil {
				a.log.Error("redstream: acknowledging entries failed; will retry", "stream", streams[i], "err", err)
			}
			a.putBack(streams[i], sent[i])
			continue
		}
		a.acked.Add(n)
		a.held.removeIDs(streams[i], sent[i])
	}
	return ok
}

// signal wakes whoever waits on ch, without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
