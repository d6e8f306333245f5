package redstream

import (
	"context"
	"errors"

	"github.com/redis/rueidis"
)

// ErrNoConsumer reports a consumer that is not in its group.
var ErrNoConsumer = errors.New("redstream: no such consumer in the group")

// ErrHasPending reports a refusal to delete a group or consumer that still
// holds pending entries: they would become unclaimable and never be
// processed.
var ErrHasPending = errors.New("redstream: entries are still pending")

// deleteGroupScript deletes group ARGV[1] of stream KEYS[1] unless entries
// are pending in it and ARGV[2] is not "1". It returns {1, pending} when it
// deleted the group, {0, pending} when it refused and {-1, 0} when there is
// no such group. Checking and deleting in one step means nothing can
// become pending in between.
var deleteGroupScript = rueidis.NewLuaScript(`
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
for _, g in ipairs(groups) do
  local name, pending
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] end
    if g[i] == 'pending' then pending = g[i + 1] end
  end
  if name == ARGV[1] then
    if pending > 0 and ARGV[2] ~= '1' then return {0, pending} end
    redis.call('XGROUP', 'DESTROY', KEYS[1], ARGV[1])
    return {1, pending}
  end
end
return {-1, 0}
`)

// deleteConsumerScript deletes consumer ARGV[2] of group ARGV[1] unless it
// owns pending entries and ARGV[3] is not "1"; results as for
// deleteGroupScript.
var deleteConsumerScript = rueidis.NewLuaScript(`
local cs = redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
for _, c in ipairs(cs) do
  local name, pending
  for i = 1, #c, 2 do
    if c[i] == 'name' then name = c[i + 1] end
    if c[i] == 'pending' then pending = c[i + 1] end
  end
  if name == ARGV[2] then
    if pending > 0 and ARGV[3] ~= '1' then return {0, pending} end
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
    return {1, pending}
  end
end
return {-1, 0}
`)

func forceArg(force bool) string {
	if force {
		return "1"
	}
	return "0"
}

// guardedDelete runs one of the delete scripts and turns its reply into
// the number of pending entries and an error: ErrHasPending when it
// refused, missing when there was nothing to delete.
func guardedDelete(ctx context.Context, client rueidis.Client, script *rueidis.Lua, op, key string, missing error, args ...string) (int64, error) {
	res, err := script.Exec(ctx, client, []string{key}, args).AsIntSlice()
	if err != nil {
		return 0, wrapErr(op, key, err)
	}
	if len(res) != 2 {
		return 0, wrapErr(op, key, errors.New("unexpected reply"))
	}
	switch res[0] {
	case -1:
		return 0, &Error{Op: op, Key: key, Kind: missing}
	case 0:
		return res[1], &Error{Op: op, Key: key, Kind: ErrHasPending}
	}
	return res[1], nil
}

// DeleteGroup deletes group of stream unless entries are pending in it;
// with force it deletes it anyway. It returns how many entries were
// pending, and an error matching ErrHasPending when it refused, ErrNoGroup
// when there is no such group, ErrNoStream or ErrNotStream for the key.
func (in *Inspector) DeleteGroup(ctx context.Context, stream, group string, force bool) (pending int64, err error) {
	return guardedDelete(ctx, in.client, deleteGroupScript, "delete group "+group, stream, ErrNoGroup, group, forceArg(force))
}

// DeleteConsumer removes consumer from group unless it owns pending
// entries; with force it removes it anyway, and those entries can no
// longer be claimed. It returns how many entries the consumer owned, and
// an error matching ErrHasPending when it refused, ErrNoConsumer when
// the group has no such consumer, ErrNoGroup when there is no such group.
func (in *Inspector) DeleteConsumer(ctx context.Context, stream, group, consumer string, force bool) (pending int64, err error) {
	return guardedDelete(ctx, in.client, deleteConsumerScript, "delete consumer "+consumer, stream, ErrNoConsumer, group, consumer, forceArg(force))
}
