package redstream

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/rueidis"
)

// TrimOptions says what Trim removes. Exactly one of MaxLen, MinID,
// OlderThan and Acked must be set.
type TrimOptions struct {
	MaxLen    int64         // keep the newest MaxLen entries
	MinID     string        // remove entries with IDs below MinID
	OlderThan time.Duration // remove entries older than this (by their ID's time)
	// Acked removes only entries that every consumer group has been
	// delivered and that no group's pending list references: nothing a
	// group still needs. A stream without groups keeps everything.
	Acked bool
}

// TrimPlan is what a trim would remove.
type TrimPlan struct {
	Stream string `json:"stream"`
	// Bound is the first ID kept: entries with smaller IDs go. "" when
	// nothing would be removed. For MaxLen it is the ID of the oldest kept
	// entry.
	Bound string `json:"bound"`
	// Remove is how many entries would go; -1 when there are more than
	// could be counted (trimCountLimit).
	Remove int64  `json:"remove"`
	Length int64  `json:"length"` // the stream's length now
	Why    string `json:"why"`    // what limited the bound, for people
}

// trimCountLimit bounds how many entries a plan counts one by one.
const trimCountLimit = 1_000_000

func (o TrimOptions) validate() error {
	n := 0
	if o.MaxLen > 0 {
		n++
	}
	if o.MinID != "" {
		n++
		if _, err := ParseID(o.MinID); err != nil {
			return fmt.Errorf("%w: MinID: %w", ErrInvalidOption, err)
		}
	}
	if o.OlderThan > 0 {
		n++
	}
	if o.Acked {
		n++
	}
	if n != 1 || o.MaxLen < 0 || o.OlderThan < 0 {
		return fmt.Errorf("%w: trim needs exactly one of MaxLen, MinID, OlderThan or Acked", ErrInvalidOption)
	}
	return nil
}

// PlanTrim works out what Trim with opts would remove from stream, without
// removing anything.
func (in *Inspector) PlanTrim(ctx context.Context, stream string, opts TrimOptions) (*TrimPlan, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	info, err := in.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	plan := &TrimPlan{Stream: stream, Length: info.Length}
	c := in.client
	switch {
	case opts.MaxLen > 0:
		plan.Why = fmt.Sprintf("keep the newest %d entries", opts.MaxLen)
		if info.Length <= opts.MaxLen {
			return plan, nil
		}
		plan.Remove = info.Length - opts.MaxLen
		// The oldest kept entry is the MaxLen-th newest.
		kept, err := asEntries(c.Do(ctx, c.B().Xrevrange().Key(stream).End("+").Start("-").Count(opts.MaxLen).Build()))
		if err != nil {
			return nil, wrapErr("xrevrange", stream, err)
		}
		if len(kept) > 0 {
			plan.Bound = kept[len(kept)-1].ID
		}
		return plan, nil
	case opts.MinID != "":
		plan.Bound, plan.Why = opts.MinID, "remove entries below "+opts.MinID
	case opts.OlderThan > 0:
		cut := time.Now().Add(-opts.OlderThan)
		plan.Bound = ID{Ms: uint64(max(cut.UnixMilli(), 0))}.String()
		plan.Why = fmt.Sprintf("remove entries older than %v (before %s)", opts.OlderThan, cut.UTC().Format(time.RFC3339))
	case opts.Acked:
		plan.Bound, plan.Why = safeBound(info)
	}
	if plan.Bound == "" {
		return plan, nil
	}
	plan.Remove, err = in.countBelow(ctx, stream, plan.Bound)
	if err != nil {
		return nil, err
	}
	if plan.Remove == 0 {
		plan.Bound = ""
	}
	return plan, nil
}

// safeBound returns the first ID some group still needs: the lowest of
// each group's oldest pending entry and the entry after its last delivered
// one. Entries below it are read by every group and pending in none.
func safeBound(info *StreamInfo) (string, string) {
	if len(info.Groups) == 0 {
		return "", "the stream has no consumer groups: no entry is known to be consumed"
	}
	bound, why := "", ""
	lower := func(id, reason string) {
		if bound == "" || less(id, bound) {
			bound, why = id, reason
		}
	}
	for _, g := range info.Groups {
		if g.OldestPendingID != "" {
			lower(g.OldestPendingID, fmt.Sprintf("group %s still has %s pending", g.Name, g.OldestPendingID))
		}
		lower(nextID(g.LastDeliveredID), fmt.Sprintf("group %s has been delivered up to %s", g.Name, g.LastDeliveredID))
	}
	return bound, why
}

func less(a, b string) bool {
	x, errA := ParseID(a)
	y, errB := ParseID(b)
	return errA == nil && errB == nil && x.Compare(y) < 0
}

// countBelow counts entries with IDs below bound, up to trimCountLimit.
func (in *Inspector) countBelow(ctx context.Context, stream, bound string) (int64, error) {
	c := in.client
	id, err := ParseID(bound)
	if err != nil {
		return 0, err
	}
	if id.Ms == 0 && id.Seq == 0 {
		return 0, nil
	}
	end := ID{Ms: id.Ms, Seq: id.Seq - 1}
	if id.Seq == 0 {
		end = ID{Ms: id.Ms - 1, Seq: 1<<64 - 1}
	}
	var n int64
	start := "-"
	for n < trimCountLimit {
		page, err := c.Do(ctx, c.B().Xrange().Key(stream).Start(start).End(end.String()).Count(10000).Build()).ToArray()
		if err != nil {
			return 0, wrapErr("xrange", stream, err)
		}
		n += int64(len(page))
		if len(page) < 10000 {
			return n, nil
		}
		last, _ := page[len(page)-1].ToArray()
		start = nextID(str(last[0]))
	}
	return -1, nil
}

// trimAckedScript trims below the planned bound, but never past what every
// group still needs right now: the safe bound is worked out again inside
// the script, so a group that read less or re-wound since the plan keeps
// its entries.
var trimAckedScript = rueidis.NewLuaScript(`
local function idlt(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  if am ~= bm then return am < bm end
  return as < bs
end
local function nextid(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return ms .. '-' .. string.format('%.0f', tonumber(seq) + 1)
end
local bound = ARGV[1]
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
if #groups == 0 then return 0 end
for _, g in ipairs(groups) do
  local name, delivered
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] end
    if g[i] == 'last-delivered-id' then delivered = g[i + 1] end
  end
  local n = nextid(delivered)
  if idlt(n, bound) then bound = n end
  local p = redis.call('XPENDING', KEYS[1], name)
  if p[2] and p[2] ~= false and idlt(p[2], bound) then bound = p[2] end
end
return redis.call('XTRIM', KEYS[1], 'MINID', bound)
`)

// Trim removes what plan says from its stream and returns how many
// entries went. A plan for Acked is checked again at the moment of
// trimming, inside the server: entries a group came to need since the
// plan are kept. Trims by MaxLen, MinID or OlderThan remove entries
// whether or not groups have read them.
func (in *Inspector) Trim(ctx context.Context, plan *TrimPlan, acked bool) (int64, error) {
	if plan == nil || plan.Bound == "" {
		return 0, nil
	}
	if _, err := ParseID(plan.Bound); err != nil {
		return 0, err
	}
	c := in.client
	var n int64
	var err error
	if acked {
		n, err = trimAckedScript.Exec(ctx, c, []string{plan.Stream}, []string{plan.Bound}).AsInt64()
	} else {
		n, err = c.Do(ctx, c.B().Arbitrary("XTRIM").Keys(plan.Stream).Args("MINID", plan.Bound).Build()).AsInt64()
	}
	if err != nil {
		return 0, wrapErr("xtrim", plan.Stream, err)
	}
	return n, nil
}
