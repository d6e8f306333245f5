package redstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// DefaultLease is how long a consumer's claim on a topic partition lasts
// without renewal; partitions move within about this long when consumers
// come, go or die.
const DefaultLease = 6 * time.Second

// TopicConsumer consumes a partitioned topic as a member of a consumer
// group. The group's consumers divide the partitions among themselves
// through leases kept in Redis, each owning ⌊N/C⌋ or ⌈N/C⌉ of N partitions
// among C consumers, and move them when consumers join, leave or die.
//
// Events of one key are handled one at a time, in publish order; different
// keys and partitions run in parallel, up to Concurrency handlers. A
// failing event is retried in place (RetryBackoff) and holds the later
// events of its key until it succeeds or is dead-lettered (MaxDeliveries,
// Permanent): order is never silently broken, and other keys keep
// flowing. Each event is acknowledged before the next of its key starts,
// so after a crash only the last handled event of a key can be handled
// again. A consumer that takes a partition over first finishes the
// previous owner's pending entries, in order, before reading new ones.
//
// Options are the Consumer's, plus Lease; AlsoStreams, ClaimMinIdle and
// ClaimInterval do not apply. DeleteIdleConsumers does: the consumer
// removes, from the partitions it owns, the names that stopped consumers
// left behind once they hold nothing.
type TopicConsumer struct {
	client  rueidis.Client
	topic   *Topic
	group   string
	handler Handler
	cfg     consumerConfig
	log     *slog.Logger
	coord   string // the group's coordination hash

	life     lifecycle
	calls    handlerCall
	mu       sync.Mutex
	runs     map[int]*partitionRun // partitions being handled
	leaving  map[int]*partitionRun // halted or lost, draining their handlers
	releases sync.WaitGroup        // hand-overs in progress
	valid    time.Time             // leases count as held until then
	server   ServerInfo            // read once when Run starts
	noFlags  atomic.Bool           // the server refused coordinateScriptOOM's flags

	sem  chan struct{} // running handlers
	acks *ackGroup     // shared by its partitions

	cleanNext time.Time      // when to look for idle consumers again
	cleaning  sync.WaitGroup // the look in progress, at most one
	cleanBusy atomic.Bool

	handled      atomic.Int64
	failed       atomic.Int64
	deadLettered atomic.Int64
	moves        atomic.Int64
}

// NewTopicConsumer returns a consumer of topic in group that passes each
// event to handler. Run joins the group. The client stays the caller's.
func NewTopicConsumer(client rueidis.Client, topic *Topic, group string, handler Handler, opts ...TopicConsumerOption) (*TopicConsumer, error) {
	switch {
	case client == nil || topic == nil:
		return nil, fmt.Errorf("%w: nil client or topic", ErrInvalidOption)
	case group == "" || strings.ContainsAny(group, "{}"):
		return nil, fmt.Errorf("%w: group name %q must be non-empty and without braces", ErrInvalidOption, group)
	case handler == nil:
		return nil, fmt.Errorf("%w: nil handler", ErrInvalidOption)
	}
	cfg := consumerConfig{
		concurrency:   DefaultConcurrency,
		block:         DefaultBlock,
		startID:       "0",
		ackInterval:   DefaultAckInterval,
		ackBatch:      DefaultAckBatch,
		maxDeliveries: DefaultMaxDeliveries,
		retry:         defaultRetry,
		deadSuffix:    DefaultDeadLetterSuffix,
		deleteIdle:    DefaultDeleteIdleConsumers,
		lease:         DefaultLease,
	}
	for _, o := range opts {
		if err := o.applyToTopic(&cfg); err != nil {
			return nil, err
		}
	}
	cfg.finishCommon()
	if strings.Contains(cfg.name, "|") {
		return nil, fmt.Errorf("%w: a topic consumer's name must not contain |", ErrInvalidOption)
	}
	return &TopicConsumer{
		client:  client,
		topic:   topic,
		group:   group,
		handler: handler,
		cfg:     cfg,
		log:     cfg.logger.With("topic", topic.Name, "group", group, "consumer", cfg.name),
		coord:   "{" + topic.Name + "}:group:" + group,
		life:    newLifecycle(),
		calls:   newHandlerCall(group, cfg.metrics, cfg.maxDeliveries),
		runs:    map[int]*partitionRun{},
		leaving: map[int]*partitionRun{},
		sem:     make(chan struct{}, cfg.concurrency),
		acks:    newAckGroup(client, group),
	}, nil
}

// Name returns the consumer's name in the group.
func (tc *TopicConsumer) Name() string { return tc.cfg.name }

// Owned returns the partitions this consumer owns now, in order.
func (tc *TopicConsumer) Owned() []int {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	out := make([]int, 0, len(tc.runs))
	for p := range tc.topic.Partitions() {
		if _, ok := tc.runs[p]; ok {
			out = append(out, p)
		}
	}
	return out
}

// ownedStreams returns the streams of the partitions this consumer owns.
func (tc *TopicConsumer) ownedStreams() []string {
	owned := tc.Owned()
	out := make([]string, len(owned))
	for i, p := range owned {
		out[i] = tc.topic.Stream(p)
	}
	return out
}

// TopicStats counts what a TopicConsumer has done since Run started.
type TopicStats struct {
	Handled      int64 // events handled and acknowledged
	Failed       int64 // handler calls that failed (each retry counts)
	DeadLettered int64 // events moved to a dead-letter stream
	Moves        int64 // partitions taken on or given up
}

// Stats returns the consumer's counters.
func (tc *TopicConsumer) Stats() TopicStats {
	return TopicStats{Handled: tc.handled.Load(), Failed: tc.failed.Load(), DeadLettered: tc.deadLettered.Load(), Moves: tc.moves.Load()}
}

// Run joins the group (creating it at StartID, default "0", on every
// partition where it is missing; joining where it exists writes nothing),
// takes its share of the partitions and handles their events until ctx
// ends or Shutdown or Close is called. A partition whose group disappears
// meanwhile has it re-created after the last entry this consumer was
// handed there, and the fact logged. Ending ctx or Shutdown is graceful: running
// handlers finish and are acknowledged, and the partitions are released
// at once for the other consumers.
func (tc *TopicConsumer) Run(ctx context.Context) error {
	end, err := tc.life.begin(ctx)
	if err != nil {
		return err
	}
	defer end()

	// Joined on every partition here; the name is registered on each
	// partition when it is taken (see partitionRun.run).
	setup, cancel := context.WithCancel(ctx)
	stopSetup := context.AfterFunc(tc.life.hard, cancel)
	tc.server = serverInfo(setup, tc.client)
	joins, err := joinGroups(setup, tc.client, tc.group, tc.cfg.startID, tc.topic.Streams())
	stopSetup()
	cancel()
	if err != nil {
		if ctx.Err() != nil || tc.life.hard.Err() != nil {
			return nil
		}
		return err
	}
	noteCreatedAtEnd(tc.log, tc.group, tc.cfg.startID, joins)

	// The group is recorded with the topic so DeleteTopic finds its keys.
	_ = tc.client.Do(ctx, tc.client.B().Sadd().Key(topicGroupsKey(tc.topic.Name)).Member(tc.group).Build()).Error()

	// Scheduled events of the partitions it owns are moved in by it.
	moves := newScheduler(tc.life.hard, tc.client, tc.ownedStreams, tc.log)
	moves.start()
	defer moves.stop()

	tick := max(tc.cfg.lease/3, 10*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	retry := connBackoffCounter()
	for {
		if err := tc.coordinate(); err != nil {
			if tc.life.hard.Err() != nil {
				break
			}
			tc.log.Error("redstream: renewing partition leases failed", "err", err)
			// Wait no later than the end of the leases' validity, so that
			// handling stops then even while Redis does not answer.
			tc.mu.Lock()
			untilInvalid := time.Until(tc.valid)
			tc.mu.Unlock()
			wait := retry.Next()
			if untilInvalid > 0 {
				wait = min(wait, untilInvalid+time.Millisecond)
			}
			ok := tc.waitOrStop(wait)
			tc.expire()
			if !ok {
				break
			}
			continue
		}
		retry.Reset()
		tc.deleteIdleConsumers()
		select {
		case <-t.C:
			continue
		case <-tc.life.stopping:
		case <-tc.life.hard.Done():
		}
		break
	}
	tc.stopAll(true)
	tc.cleaning.Wait()
	ctx2, cancel2 := context.WithTimeout(tc.life.hard, 2*time.Second)
	defer cancel2()
	_ = tc.client.Do(ctx2, tc.client.B().Hdel().Key(tc.coord).Field("m:"+tc.cfg.name).Build()).Error()
	if tc.life.hard.Err() != nil {
		return ErrClosed
	}
	return nil
}

func (tc *TopicConsumer) waitOrStop(d time.Duration) bool { return tc.life.sleep(d) }

// Shutdown stops handling, waits for running handlers and releases the
// partitions; if ctx ends first it closes the consumer as Close does. It
// is safe to call more than once, and before or without Run.
func (tc *TopicConsumer) Shutdown(ctx context.Context) error { return tc.life.shutdown(ctx) }

// Close stops the consumer at once; its leases expire after Lease. It is
// safe to call more than once.
func (tc *TopicConsumer) Close() error {
	tc.life.close()
	return nil
}

// coordinateScript is one heartbeat of a topic consumer: it records the
// consumer as alive, drops members whose heartbeat expired, works out the
// consumer's fair share of the partitions (⌈N/C⌉ for the first N mod C
// members by name, ⌊N/C⌋ for the rest), renews the leases it holds, and
// takes free or expired partitions up to its share. It returns the
// partitions to keep and those to give up (over the share), each with
// its lease generation. Times are the server's, so clocks of the
// consumers' hosts do not matter.
var coordinateScript = rueidis.NewLuaScript(coordinateLua)

// coordinateScriptOOM is coordinateScript allowed to run while Redis
// refuses writes for lack of memory (maxmemory with noeviction; script
// flags need Redis 7.0). A heartbeat rewrites a few small fields of one
// hash; refused, it would leave every partition without an owner, and
// nothing would be handled or acknowledged, although reads and acks work.
var coordinateScriptOOM = rueidis.NewLuaScript("#!lua flags=allow-oom\n" + coordinateLua)

const coordinateLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local me, lease, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'm:' .. me, now + lease)
local all = redis.call('HGETALL', KEYS[1])
local members, leases = {}, {}
for i = 1, #all, 2 do
  local f, v = all[i], all[i + 1]
  local kind = string.sub(f, 1, 2)
  if kind == 'm:' then
    if tonumber(v) < now then redis.call('HDEL', KEYS[1], f) else members[#members + 1] = string.sub(f, 3) end
  elseif kind == 'p:' then
    local owner, gen, exp = string.match(v, '^(.*)|(%d+)|(%d+)$')
    if owner then leases[tonumber(string.sub(f, 3))] = {owner, gen, tonumber(exp)} end
  end
end
table.sort(members)
local idx = 1
for i, m in ipairs(members) do if m == me then idx = i end end
local c = #members
local share = math.floor(n / c)
if idx <= n % c then share = share + 1 end
local keep, give = {}, {}
local have = 0
for p = 0, n - 1 do
  local l = leases[p]
  if l and l[1] == me and l[3] >= now then
    redis.call('HSET', KEYS[1], 'p:' .. p, me .. '|' .. l[2] .. '|' .. (now + lease))
    have = have + 1
    if have <= share then
      keep[#keep + 1] = tostring(p); keep[#keep + 1] = l[2]
    else
      give[#give + 1] = tostring(p); give[#give + 1] = l[2]
    end
  end
end
for p = 0, n - 1 do
  if have >= share then break end
  local l = leases[p]
  if not l or l[3] < now then
    local gen = redis.call('HINCRBY', KEYS[1], 'g:' .. p, 1)
    redis.call('HSET', KEYS[1], 'p:' .. p, me .. '|' .. gen .. '|' .. (now + lease))
    keep[#keep + 1] = tostring(p); keep[#keep + 1] = tostring(gen)
    have = have + 1
  end
end
return {keep, give}
`

// releaseScript gives a partition up if this consumer still holds it
// under the same generation.
var releaseScript = rueidis.NewLuaScript(`
local v = redis.call('HGET', KEYS[1], 'p:' .. ARGV[2])
if not v then return 0 end
local owner, gen = string.match(v, '^(.*)|(%d+)|%d+$')
if owner == ARGV[1] and gen == ARGV[3] then
  redis.call('HDEL', KEYS[1], 'p:' .. ARGV[2])
  return 1
end
return 0
`)

// coordinate runs one heartbeat and starts or stops partition workers to
// match it. A partition whose earlier run is still draining is not started
// again until that run has finished: two runs of one partition never
// overlap.
func (tc *TopicConsumer) coordinate() error {
	began := time.Now()
	tc.mu.Lock()
	lapsed := !tc.valid.IsZero() && began.After(tc.valid)
	tc.mu.Unlock()
	ctx, cancel := context.WithTimeout(tc.life.hard, tc.cfg.lease/3)
	defer cancel()
	args := []string{tc.cfg.name, strconv.FormatInt(tc.cfg.lease.Milliseconds(), 10), strconv.Itoa(tc.topic.Partitions())}
	script := coordinateScript
	flagged := tc.server.Known() && tc.server.AtLeast(7, 0) && !tc.noFlags.Load()
	if flagged {
		script = coordinateScriptOOM
	}
	arr, err := script.Exec(ctx, tc.client, []string{tc.coord}, args).ToArray()
	if _, reply := rueidis.IsRedisErr(err); flagged && reply && classify(err) == nil && redisCode(err) != "OOM" {
		// A server that claims 7.0 but does not know script flags (an
		// embedded one, say): the plain script from now on.
		tc.noFlags.Store(true)
		arr, err = coordinateScript.Exec(ctx, tc.client, []string{tc.coord}, args).ToArray()
	}
	if err != nil {
		return wrapErr("coordinate", tc.coord, err)
	}
	if len(arr) != 2 {
		return wrapErr("coordinate", tc.coord, errors.New("unexpected reply"))
	}
	keep, err := arr[0].AsStrSlice()
	if err != nil {
		return wrapErr("coordinate", tc.coord, err)
	}
	give, err := arr[1].AsStrSlice()
	if err != nil {
		return wrapErr("coordinate", tc.coord, err)
	}
	want := map[int]int64{}
	for i := 0; i+1 < len(keep); i += 2 {
		p, _ := strconv.Atoi(keep[i])
		g, _ := strconv.ParseInt(keep[i+1], 10, 64)
		want[p] = g
	}
	giving := map[int]int64{}
	for i := 0; i+1 < len(give); i += 2 {
		p, _ := strconv.Atoi(give[i])
		g, _ := strconv.ParseInt(give[i+1], 10, 64)
		giving[p] = g
	}

	var lost, gives, starts []*partitionRun
	tc.mu.Lock()
	// Held from when the heartbeat was sent: the server's expiry is later.
	tc.valid = began.Add(tc.cfg.lease * 2 / 3)
	for p, r := range tc.leaving {
		if r.finished() && !r.releasing {
			delete(tc.leaving, p)
		}
	}
	for p, r := range tc.runs {
		g, kept := want[p]
		_, handing := giving[p]
		switch {
		case lapsed || (!kept && !handing) || (kept && g != r.gen):
			// Not held without a gap: whatever it did after the lapse may
			// overlap another owner. Stop it; a fresh run takes over.
			delete(tc.runs, p)
			tc.leaving[p] = r
			lost = append(lost, r)
		case handing:
			delete(tc.runs, p)
			r.releasing = true
			tc.leaving[p] = r
			gives = append(gives, r)
		}
	}
	for p, g := range want {
		if _, running := tc.runs[p]; running {
			continue
		}
		if _, draining := tc.leaving[p]; draining {
			continue // the next heartbeat starts it, once drained
		}
		r := newPartitionRun(tc, p, g)
		tc.runs[p] = r
		starts = append(starts, r)
	}
	for p, g := range giving {
		if _, ok := tc.leaving[p]; ok {
			continue
		}
		if _, ok := tc.runs[p]; !ok { // held without a run: just give it up
			r := newPartitionRun(tc, p, g)
			close(r.done)
			r.releasing = true
			tc.leaving[p] = r
			gives = append(gives, r)
		}
	}
	tc.mu.Unlock()

	for _, r := range lost {
		r.lose()
		tc.moves.Add(1)
		tc.log.Warn("redstream: stopped partition: lease lapsed or lost", "partition", r.p)
	}
	for _, r := range starts {
		tc.moves.Add(1)
		tc.log.Info("redstream: took partition", "partition", r.p, "generation", r.gen)
		go r.run()
	}
	for _, r := range gives {
		tc.releases.Add(1)
		go tc.handOver(r)
	}
	return nil
}

// handOver stops taking events of a partition over the share, lets its
// running handlers finish (cancelling them after one lease), then gives
// the lease up. The heartbeat keeps renewing it meanwhile, so nobody else
// can handle the partition before that.
func (tc *TopicConsumer) handOver(r *partitionRun) {
	defer tc.releases.Done()
	r.halt()
	select {
	case <-r.done:
	case <-time.After(tc.cfg.lease):
		r.lose()
		<-r.done
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(tc.life.hard), 5*time.Second)
	_ = releaseScript.Exec(ctx, tc.client, []string{tc.coord}, []string{tc.cfg.name, strconv.Itoa(r.p), strconv.FormatInt(r.gen, 10)}).Error()
	cancel()
	tc.mu.Lock()
	if tc.leaving[r.p] == r {
		delete(tc.leaving, r.p)
	}
	tc.mu.Unlock()
	tc.moves.Add(1)
	tc.log.Info("redstream: gave partition up to rebalance", "partition", r.p)
}

// deleteIdleConsumers removes, when it is due, the idle consumers that
// hold nothing from the groups of the partitions this consumer owns, off
// the heartbeat's goroutine: the heartbeat must not wait for it.
func (tc *TopicConsumer) deleteIdleConsumers() {
	if tc.cfg.deleteIdle <= 0 || time.Now().Before(tc.cleanNext) || !tc.cleanBusy.CompareAndSwap(false, true) {
		return
	}
	tc.cleanNext = time.Now().Add(cleanupEvery(tc.cfg.deleteIdle))
	ic := idleCleanup{client: tc.client, group: tc.group, self: tc.cfg.name, after: tc.cfg.deleteIdle, log: tc.log}
	tc.cleaning.Add(1)
	go func() {
		defer tc.cleaning.Done()
		defer tc.cleanBusy.Store(false)
		for _, p := range tc.Owned() {
			if err := ic.run(tc.life.readCtx, tc.topic.Stream(p)); err != nil {
				if tc.life.readCtx.Err() == nil {
					tc.log.Error("redstream: removing idle consumers failed", "partition", p, "err", err)
				}
				return
			}
		}
	}()
}

// expire stops handling every partition once the leases can no longer be
// counted as held, cancelling running handlers.
func (tc *TopicConsumer) expire() {
	tc.mu.Lock()
	if time.Now().Before(tc.valid) {
		tc.mu.Unlock()
		return
	}
	var all []*partitionRun
	for p, r := range tc.runs {
		delete(tc.runs, p)
		tc.leaving[p] = r
		all = append(all, r)
	}
	for _, r := range tc.leaving {
		all = append(all, r)
	}
	tc.mu.Unlock()
	for _, r := range all {
		r.lose()
	}
	if len(all) > 0 {
		tc.log.Warn("redstream: leases could not be renewed in time; stopped handling", "partitions", len(all))
	}
}

// holds reports whether this consumer may still handle partition p of
// generation gen.
func (tc *TopicConsumer) holds(p int, gen int64) bool {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	r, ok := tc.runs[p]
	return ok && r.gen == gen && time.Now().Before(tc.valid)
}

// stopAll stops every partition worker, waits for them and for hand-overs
// in progress, and with release gives the partitions up at once.
func (tc *TopicConsumer) stopAll(release bool) {
	tc.mu.Lock()
	runs := tc.runs
	tc.runs = map[int]*partitionRun{}
	var draining []*partitionRun
	for _, r := range tc.leaving {
		draining = append(draining, r)
	}
	tc.mu.Unlock()
	for _, r := range runs {
		r.halt()
	}
	for _, r := range runs {
		<-r.done
	}
	for _, r := range draining {
		<-r.done
	}
	tc.releases.Wait()
	if !release || tc.life.hard.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(tc.life.hard, 2*time.Second)
	defer cancel()
	for _, r := range runs {
		_ = releaseScript.Exec(ctx, tc.client, []string{tc.coord}, []string{tc.cfg.name, strconv.Itoa(r.p), strconv.FormatInt(r.gen, 10)}).Error()
	}
}
