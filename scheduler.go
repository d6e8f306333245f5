package redstream

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// DefaultScheduleLook is the longest a consumer waits between two looks
// at its streams' scheduled entries (see scheduler).
const DefaultScheduleLook = 100 * time.Millisecond

// scheduler moves the scheduled entries of a consumer's streams into them
// once they are due (PublishAt). It runs on its own goroutine and timer,
// beside the reads, so the read path pays nothing for it. Each round is
// one ZRANGE ... 0 0 per stream, pipelined: the head of its waiting set;
// for a stream where something waits it runs the move script, which moves
// what is due (moveScript) and says when the next entry is due. It then
// sleeps until that time, but never longer than every (so an entry
// scheduled meanwhile, by anyone, is moved within about every of its
// time). Any number of consumers may move the same stream's entries: the
// script moves each exactly once.
type scheduler struct {
	client  rueidis.Client
	streams func() []string // the streams to move for, asked each round
	every   time.Duration
	ctx     context.Context // ends the current round at once (stop, Close)
	cancel  context.CancelFunc
	log     *slog.Logger
	moved   atomic.Int64

	started bool
	done    chan struct{}
}

// newScheduler returns a scheduler whose commands end with parent.
func newScheduler(parent context.Context, client rueidis.Client, streams func() []string, log *slog.Logger) *scheduler {
	ctx, cancel := context.WithCancel(parent)
	return &scheduler{
		client: client, streams: streams, every: DefaultScheduleLook, ctx: ctx, cancel: cancel, log: log,
		done: make(chan struct{}),
	}
}

func (s *scheduler) start() {
	s.started = true
	go s.loop()
}

// stop ends the loop, interrupting the round in progress (a move script
// already sent still runs whole on the server), and waits for it: a stop
// while Redis does not answer does not wait for it.
func (s *scheduler) stop() {
	s.cancel()
	if s.started {
		<-s.done
	}
}

func (s *scheduler) loop() {
	defer close(s.done)
	retry := connBackoffCounter()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return
		}
		wait, err := s.round()
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			wait = retry.Next()
			s.log.Error("redstream: moving scheduled entries failed; they wait", "err", err, "retry_in", wait)
		} else {
			retry.Reset()
		}
		t.Reset(wait)
	}
}

// round looks at every stream once, moves what is due, and returns how
// long to sleep.
func (s *scheduler) round() (time.Duration, error) {
	streams := s.streams()
	if len(streams) == 0 {
		return s.every, nil
	}
	looks := make(rueidis.Commands, len(streams))
	for i, st := range streams {
		looks[i] = s.client.B().Zrange().Key(ScheduledKey(st)).Min("0").Max("0").Build()
	}
	wait := s.every
	var firstErr error
	for i, r := range s.client.DoMulti(s.ctx, looks...) {
		head, err := r.AsStrSlice()
		if err != nil {
			firstErr = wrapErr("zrange", ScheduledKey(streams[i]), err)
			continue
		}
		if len(head) == 0 {
			continue // nothing waits: the cheap case
		}
		for {
			moved, next, more, err := moveDue(s.ctx, s.client, streams[i])
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				break
			}
			s.moved.Add(moved)
			if moved == moveBatch {
				continue // more may be due at once
			}
			if more {
				wait = min(wait, max(next, time.Millisecond))
			}
			break
		}
	}
	return wait, firstErr
}
