package redstreamwm

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"github.com/redstream-go/redstream/internal/keyslot"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/rueidis"
)

// Idempotent publishing.
//
// When Redis goes away while an XADD is in flight (killed, failed over,
// the connection dropped), the XADD may have been applied and persisted
// while its reply was lost: Publish returns an error, and the caller's
// retry of the same message would append a second copy. To prevent that,
// each message with a UUID is written by publishScript, which in one
// atomic step looks up the message's dedupe key and, if it is absent,
// appends the entry and stores its ID under the key for the dedupe window.
// A retry within the window finds the key and gets the first attempt's
// entry ID back, without appending anything.
//
// The XADD itself is still built by the redstream.Publisher behind the
// adapter (so its MaxLen, MaxAge and metrics options keep working): the
// Publisher is given a dedupClient, which, for a Publish call whose ctx
// carries a dedupPlan, turns each XADD command it is asked to send into a
// call of publishScript with the same arguments.

// publishScriptSource appends one entry unless its dedupe key exists.
//
//	KEYS[1]  the stream
//	KEYS[2]  the dedupe key (same hash slot as the stream)
//	ARGV[1]  the dedupe window in milliseconds
//	ARGV[2:] XADD's arguments after the key (trimming, "*", fields)
//
// It returns the entry ID: the new one, or the one stored in the key.
// (unpack is bounded by Lua's stack: a few thousand fields per entry.)
const publishScriptSource = `
local id = redis.call('GET', KEYS[2])
if id then
	return id
end
id = redis.call('XADD', KEYS[1], unpack(ARGV, 2))
redis.call('SET', KEYS[2], id, 'PX', ARGV[1])
return id
`

var (
	publishScript    = rueidis.NewLuaScript(publishScriptSource)
	publishScriptSHA = func() string {
		sum := sha1.Sum([]byte(publishScriptSource))
		return hex.EncodeToString(sum[:])
	}()
)

// dedupInfix separates the topic's part of a dedupe key from the UUID.
const dedupInfix = ":wm-dedup:"

// dedupKey returns the key that remembers the message uuid published to
// topic. A Lua script's keys must share one hash slot in Redis Cluster,
// so the key is built to hash like the topic:
//
//   - a topic with a hash tag ("{orders}.eu"): "<topic>:wm-dedup:<uuid>",
//     which has the same tag;
//   - a topic without "}" (the usual case), not empty: "{<topic>}:wm-dedup:<uuid>",
//     whose tag is the whole topic, which is what the topic hashes as;
//   - any other topic (a "}" but no valid tag, such as "a}b" or "a{}b"):
//     "{<t>}:wm-dedup:<topic>:<uuid>", where <t> is a short string of
//     the topic's slot (see slotTags).
func dedupKey(topic, uuid string) string {
	switch {
	case hasHashTag(topic):
		return topic + dedupInfix + uuid
	case topic != "" && !strings.Contains(topic, "}"):
		return "{" + topic + "}" + dedupInfix + uuid
	default:
		return "{" + slotTags()[keySlot(topic)] + "}" + dedupInfix + topic + ":" + uuid
	}
}

// hasHashTag reports whether Redis Cluster hashes key by a hash tag: a
// "{" followed, later, by a "}" with at least one byte between them.
func hasHashTag(key string) bool {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return false
	}
	end := strings.IndexByte(key[open+1:], '}')
	return end > 0
}

// keySlot is Redis Cluster's hash slot of key.
func keySlot(key string) uint16 { return keyslot.Of(key) }

// slotTags maps each of the 16384 slots to a short string (base 36, no
// braces) that hashes to it. It is computed on first use, only for
// topics that contain a "}" without forming a hash tag.
var slotTags = sync.OnceValue(func() []string {
	tags := make([]string, 16384)
	for n, left := int64(0), len(tags); left > 0; n++ {
		t := strconv.FormatInt(n, 36)
		if s := keySlot(t); tags[s] == "" {
			tags[s] = t
			left--
		}
	}
	return tags
})

// dedupPlan tells a dedupClient how to write the XADDs of one Publish
// call, in the order they are sent: keys[i] is the dedupe key of the
// i-th, or "" to send it as it is (a message without UUID).
type dedupPlan struct {
	topic  string
	window string // milliseconds
	keys   []string
	next   int
}

type dedupPlanKey struct{}

var errPlan = errors.New("redstreamwm: internal error: publish plan does not match the commands sent")

// dedupClient is the client of the adapter's redstream.Publisher: without
// a dedupPlan in the ctx it passes every call through; with one, it sends
// each XADD of the plan's topic through publishScript.
type dedupClient struct {
	rueidis.Client
}

// xadd consumes the plan's next entry for the XADD cmd: it returns the
// dedupe key and XADD's arguments after the stream key, or key "" when
// cmd is to be sent as it is. ok is false when cmd is not the XADD the
// plan expects.
func (p *dedupPlan) xadd(cmd rueidis.Completed) (key string, xaddArgs []string, ok bool) {
	args := cmd.Commands()
	if p.next >= len(p.keys) || len(args) < 3 || args[0] != "XADD" || args[1] != p.topic {
		return "", nil, false
	}
	key = p.keys[p.next]
	p.next++
	return key, args[2:], true
}

// argv is publishScript's ARGV for XADD arguments xaddArgs.
func (p *dedupPlan) argv(xaddArgs []string) []string {
	argv := make([]string, 0, 1+len(xaddArgs))
	argv = append(argv, p.window)
	return append(argv, xaddArgs...)
}

// Do sends one command; an XADD of the ctx's plan runs through
// publishScript (EVALSHA, then EVAL if the server does not have it).
func (c dedupClient) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	plan, _ := ctx.Value(dedupPlanKey{}).(*dedupPlan)
	if plan == nil {
		return c.Client.Do(ctx, cmd)
	}
	key, xaddArgs, ok := plan.xadd(cmd)
	switch {
	case !ok:
		return rueidis.NewErrorResult(errPlan)
	case key == "":
		return c.Client.Do(ctx, cmd)
	}
	return publishScript.Exec(ctx, c.Client, []string{plan.topic, key}, plan.argv(xaddArgs))
}

// DoMulti pipelines commands; the XADDs of the ctx's plan run through
// publishScript. The first of them is sent as EVAL, which loads the
// script into the server's cache, and the rest as EVALSHA behind it on
// the same connection (one topic, one node), so they find it there and
// keep their order. An EVALSHA that still meets NOSCRIPT (the cache
// flushed in between) did not run; it is sent again as EVAL.
func (c dedupClient) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	plan, _ := ctx.Value(dedupPlanKey{}).(*dedupPlan)
	if plan == nil {
		return c.Client.DoMulti(ctx, cmds...)
	}
	type scripted struct {
		key  string
		argv []string
	}
	sent := make([]rueidis.Completed, len(cmds))
	calls := make([]*scripted, len(cmds))
	eval := true
	for i, cmd := range cmds {
		key, xaddArgs, ok := plan.xadd(cmd)
		switch {
		case !ok:
			res := make([]rueidis.RedisResult, len(cmds))
			for j := range res {
				res[j] = rueidis.NewErrorResult(errPlan)
			}
			return res
		case key == "":
			sent[i] = cmd
			continue
		}
		calls[i] = &scripted{key: key, argv: plan.argv(xaddArgs)}
		sent[i] = c.scriptCmd(plan.topic, calls[i].key, calls[i].argv, eval)
		eval = false
	}
	res := c.Client.DoMulti(ctx, sent...)
	var again []int
	for i, r := range res {
		if re, ok := rueidis.IsRedisErr(r.Error()); ok && re.IsNoScript() && calls[i] != nil {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		resend := make([]rueidis.Completed, len(again))
		for j, i := range again {
			resend[j] = c.scriptCmd(plan.topic, calls[i].key, calls[i].argv, true)
		}
		for j, r := range c.Client.DoMulti(ctx, resend...) {
			res[again[j]] = r
		}
	}
	return res
}

// scriptCmd is the EVAL (eval) or EVALSHA command of publishScript.
func (c dedupClient) scriptCmd(topic, key string, argv []string, eval bool) rueidis.Completed {
	if eval {
		return c.B().Eval().Script(publishScriptSource).Numkeys(2).Key(topic, key).Arg(argv...).Build()
	}
	return c.B().Evalsha().Sha1(publishScriptSHA).Numkeys(2).Key(topic, key).Arg(argv...).Build()
}
