package redstream

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// heldSet holds the entries a consumer is handling, has read but not yet
// started, or is waiting to retry: the keep-alive refreshes their idle
// time so that no other consumer claims them, and reads skip them.
type heldSet struct {
	mu sync.Mutex
	m  map[string]map[string]struct{} // stream -> IDs
}

func newHeldSet() *heldSet { return &heldSet{m: make(map[string]map[string]struct{})} }

func (h *heldSet) add(m *Message) {
	h.mu.Lock()
	h.ids(m.Stream)[m.ID] = struct{}{}
	h.mu.Unlock()
}

// addAll holds msgs, which are all of one stream, under one lock.
func (h *heldSet) addAll(msgs []*Message) {
	if len(msgs) == 0 {
		return
	}
	h.mu.Lock()
	ids := h.ids(msgs[0].Stream)
	for _, m := range msgs {
		ids[m.ID] = struct{}{}
	}
	h.mu.Unlock()
}

func (h *heldSet) ids(stream string) map[string]struct{} {
	ids := h.m[stream]
	if ids == nil {
		ids = make(map[string]struct{})
		h.m[stream] = ids
	}
	return ids
}

func (h *heldSet) remove(m *Message) { h.removeID(m.Stream, m.ID) }

func (h *heldSet) removeID(stream, id string) {
	h.mu.Lock()
	delete(h.m[stream], id)
	h.mu.Unlock()
}

// removeIDs lets go of ids of stream under one lock.
func (h *heldSet) removeIDs(stream string, ids []string) {
	h.mu.Lock()
	m := h.m[stream]
	for _, id := range ids {
		delete(m, id)
	}
	h.mu.Unlock()
}

func (h *heldSet) has(stream, id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.m[stream][id]
	return ok
}

func (h *heldSet) byStream() map[string][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string][]string, len(h.m))
	for s, ids := range h.m {
		for id := range ids {
			out[s] = append(out[s], id)
		}
	}
	return out
}

// keepAliveScript refreshes the idle time of the entries this consumer
// still owns, without counting a delivery (XCLAIM JUSTID), and returns
// {lost, gone}: those another consumer owns now, and those no longer
// pending at all (acknowledged meanwhile). Checking the owner first keeps
// it from taking back an entry another consumer has claimed.
var keepAliveScript = rueidis.NewLuaScript(`
local lost, gone = {}, {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #p == 0 then
    gone[#gone + 1] = ARGV[i]
  elseif p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return {lost, gone}
`)

// keepAlive refreshes the held entries every third of ClaimMinIdle, so a
// slow handler is never raced by another consumer's claim; an entry found
// taken over anyway is let go (onLost).
type keepAlive struct {
	client rueidis.Client
	group  string
	name   string
	every  time.Duration
	held   *heldSet
	life   *lifecycle
	log    *slog.Logger
	onLost func(stream, id string)

	stopCh chan struct{}
	done   chan struct{}
}

func (k *keepAlive) start() {
	k.stopCh, k.done = make(chan struct{}), make(chan struct{})
	go k.loop()
}

// stop ends the loop and waits for it.
func (k *keepAlive) stop() {
	close(k.stopCh)
	<-k.done
}

func (k *keepAlive) loop() {
	defer close(k.done)
	t := time.NewTicker(max(k.every, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-k.stopCh:
			return
		case <-k.life.hard.Done():
			return
		}
		k.refresh()
	}
}

// refresh runs one round over every held entry.
func (k *keepAlive) refresh() {
	for stream, ids := range k.held.byStream() {
		for len(ids) > 0 {
			n := min(len(ids), 256)
			args := append([]string{k.group, k.name}, ids[:n]...)
			ids = ids[n:]
			res, err := keepAliveScript.Exec(k.life.hard, k.client, []string{stream}, args).ToArray()
			if err == nil && len(res) != 2 {
				err = errors.New("unexpected reply")
			}
			if err != nil {
				if k.life.hard.Err() == nil {
					k.log.Error("redstream: keeping held entries alive failed", "stream", stream, "err", err)
				}
				continue
			}
			lost, _ := res[0].AsStrSlice()
			gone, _ := res[1].AsStrSlice()
			// Acknowledged meanwhile (its ack confirmed just now, or by
			// someone else): nothing to keep alive or to warn about.
			k.held.removeIDs(stream, gone)
			for _, id := range lost {
				k.log.Warn("redstream: an entry this consumer was handling was taken over by another consumer", "stream", stream, "id", id)
				k.held.removeID(stream, id)
				k.onLost(stream, id)
			}
		}
	}
}
