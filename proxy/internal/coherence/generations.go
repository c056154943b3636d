package coherence

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/s3cache/s3cache/cache"
)

// WriteFenceTTL bounds how long a write's "in flight" mark makes other
// replicas refuse to store fills of what it touches, should its replica
// die before the write ends.
const WriteFenceTTL = 10 * time.Minute

// trackTTL is how long rueidis keeps a generation hash it read; Redis's
// invalidations remove it sooner when it changes.
const trackTTL = time.Hour

// maxPendingBumps bounds the invalidations kept for replay while Redis is
// unreachable; beyond it, one invalidation of everything is replayed.
const maxPendingBumps = 10000

// writeBeginScript bumps a generation hash and, with a write id, marks the
// write in flight until ARGV[2] ms from now (Redis's clock). Marks of
// writes whose deadline passed (their replica died) are dropped.
var writeBeginScript = rueidis.NewLuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HGETALL', KEYS[1])
for i = 1, #h, 2 do
  if string.sub(h[i], 1, 2) == 'w:' and tonumber(h[i + 1]) < now then
    redis.call('HDEL', KEYS[1], h[i])
  end
end
redis.call('HINCRBY', KEYS[1], 'g', 1)
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[1], 'w:' .. ARGV[1], now + tonumber(ARGV[2]))
end
return now
`)

// writeEndScript bumps a generation hash and removes the marks of the
// write ids in ARGV (empty ones are skipped).
var writeEndScript = rueidis.NewLuaScript(`
redis.call('HINCRBY', KEYS[1], 'g', 1)
for i = 1, #ARGV do
  if ARGV[i] ~= '' then
    redis.call('HDEL', KEYS[1], 'w:' .. ARGV[i])
  end
end
return 1
`)

// Generation keys.
func (co *Redis) objectKey(bucket, key string) string {
	return co.prefix + "o:" + bucket + "/" + key
}
func (co *Redis) bucketKey(bucket string) string { return co.prefix + "b:" + bucket }
func (co *Redis) allKey() string                 { return co.prefix + "all" }

// Stamp is the generations of an object, its bucket and the whole cache
// as a fill read them in Redis. Values of the shared tier carry the stamp
// of their fill, and are used only by fills that read the same one. The
// zero Stamp was not read (no Redis, Redis distrusted, or a write in
// flight): the shared tier neither answers nor stores with it.
type Stamp struct {
	gens [3]uint64 // object, bucket, all
	ok   bool      // read from Redis with no write in flight
}

// Confirm checks a fill of (bucket, key), whose local ticket t was taken
// just before, against Redis, and registers this replica for
// invalidations of it. It returns t when no write to the object is in
// flight anywhere; the zero ticket (never stored, never joined) when one
// is; t unconfirmed when Redis cannot tell.
//
// The stamp is the generations read, valid only when t is returned
// confirmed: the shared tier's values carry it.
func (co *Redis) Confirm(ctx context.Context, t cache.Ticket, bucket, key string) (cache.Ticket, Stamp) {
	c := co.client.Load()
	if !co.up.Load() || c == nil {
		return t.Unconfirmed(), Stamp{}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), co.timeout)
	defer cancel()
	cl := *c
	res := cl.DoMultiCache(ctx,
		rueidis.CT(cl.B().Hgetall().Key(co.objectKey(bucket, key)).Cache(), trackTTL),
		rueidis.CT(cl.B().Hgetall().Key(co.bucketKey(bucket)).Cache(), trackTTL),
		rueidis.CT(cl.B().Hgetall().Key(co.allKey()).Cache(), trackTTL),
	)
	nowMS := co.now().UnixMilli()
	var stamp Stamp
	for i, r := range res {
		m, err := r.AsStrMap()
		if err != nil {
			co.errs.Add(1)
			return t.Unconfirmed(), Stamp{}
		}
		for f, v := range m {
			if f == "g" {
				stamp.gens[i], _ = strconv.ParseUint(v, 10, 64)
				continue
			}
			if !strings.HasPrefix(f, "w:") {
				continue
			}
			if deadline, err := strconv.ParseInt(v, 10, 64); err != nil || deadline >= nowMS {
				return cache.Ticket{}, Stamp{}
			}
		}
	}
	stamp.ok = true
	return t, stamp
}

// Write is a write in flight as the other replicas see it, from
// BeginWrite or BeginBucketWrite until End. The zero Write touches
// nothing. A Write is not safe for concurrent use.
type Write struct {
	co    *Redis // nil: nothing to end
	id    string
	keys  []string // generation keys
	ended bool
}

// BeginWrite marks a write to keys of bucket in flight for every replica,
// before it is forwarded. When Redis cannot be reached the write goes on;
// it is re-marked and its bumps replayed when Redis answers. End the
// Write once the backend answered.
func (co *Redis) BeginWrite(ctx context.Context, bucket string, keys []string) Write {
	gkeys := make([]string, len(keys))
	for i, k := range keys {
		gkeys[i] = co.objectKey(bucket, k)
	}
	return co.beginWrite(ctx, gkeys)
}

// BeginBucketWrite is BeginWrite for a write to the whole bucket (a bucket
// deleted or its policy changed).
func (co *Redis) BeginBucketWrite(ctx context.Context, bucket string) Write {
	return co.beginWrite(ctx, []string{co.bucketKey(bucket)})
}

// beginWrite marks a write to generation keys in flight.
func (co *Redis) beginWrite(ctx context.Context, keys []string) Write {
	w := Write{co: co, id: co.idPre + strconv.FormatUint(co.writeSeq.Add(1), 16), keys: keys}
	co.mu.Lock()
	for _, k := range w.keys {
		co.inWrite[k]++
	}
	co.mu.Unlock()
	if !co.up.Load() {
		// Not tried while Redis is distrusted, so a Redis that hangs does
		// not slow every write by its timeout; the write is marked again
		// when Redis is back (inWrite) and its end replayed.
		return w
	}
	fence := strconv.FormatInt(WriteFenceTTL.Milliseconds(), 10)
	if err := co.exec(ctx, writeBeginScript, w.keys, w.id, fence); err != nil {
		co.log.LogAttrs(ctx, slog.LevelWarn, "redis unreachable; write forwarded, other replicas revalidate until it answers", slog.Any("cause", err))
	}
	return w
}

// remarkID is the write id under which a replica marks again its writes in
// flight after Redis came back.
func (co *Redis) remarkID() string { return co.idPre + "remark" }

// End bumps the generations again once the backend answered, so fills
// that began during the write are refused everywhere. Later calls do
// nothing.
func (w *Write) End(ctx context.Context) {
	if w.co == nil || w.ended {
		return
	}
	w.ended = true
	co := w.co
	// The last of this replica's writes of a key also removes the mark
	// made again after a Redis restart, if any.
	last := true
	co.mu.Lock()
	for _, k := range w.keys {
		if co.inWrite[k]--; co.inWrite[k] <= 0 {
			delete(co.inWrite, k)
		} else {
			last = false
		}
	}
	co.mu.Unlock()
	remark := ""
	if last {
		remark = co.remarkID()
	}
	co.bumpMarked(ctx, w.keys, w.id, remark)
}

// Purge names what an admin purge removed from one replica's cache, for
// every other replica to drop too. The zero Purge names nothing.
type Purge struct {
	All      bool     // the whole cache
	Buckets  []string // whole buckets
	Prefixes []Object // keys under Key in Bucket
	Objects  []Object
}

// Object names an object, or in Purge.Prefixes the keys under a prefix.
type Object struct {
	Bucket, Key string
}

// Purge invalidates what pr names in every replica, and returns once the
// invalidations were sent. When Redis cannot be reached, they are replayed
// when it answers.
func (co *Redis) Purge(ctx context.Context, pr Purge) {
	if keys := co.purgeKeys(pr); len(keys) > 0 {
		co.bumpMarked(ctx, keys)
	}
}

// purgeKeys returns the generation keys a purge bumps for the other
// replicas: a prefix purge invalidates the whole bucket there, as
// generations are kept per object and per bucket only.
func (co *Redis) purgeKeys(pr Purge) []string {
	if pr.All {
		return []string{co.allKey()}
	}
	var keys []string
	for _, b := range pr.Buckets {
		keys = append(keys, co.bucketKey(b))
	}
	for _, k := range pr.Prefixes {
		keys = append(keys, co.bucketKey(k.Bucket))
	}
	for _, k := range pr.Objects {
		keys = append(keys, co.objectKey(k.Bucket, k.Key))
	}
	return keys
}

// bumpMarked bumps keys, removes the marks of the write ids given, and
// returns once every replica was sent the invalidations (delivered). When
// Redis is distrusted or fails, the keys are kept to be bumped when it
// answers again.
func (co *Redis) bumpMarked(ctx context.Context, keys []string, ids ...string) {
	if !co.up.Load() {
		co.addPending(keys...)
		return
	}
	if err := co.exec(ctx, writeEndScript, keys, ids...); err != nil {
		co.addPending(keys...)
		return
	}
	co.delivered(ctx, keys)
}

// exec runs script once per key, bounded by the Redis timeout.
func (co *Redis) exec(ctx context.Context, script *rueidis.Lua, keys []string, args ...string) error {
	c := co.client.Load()
	if c == nil {
		co.errs.Add(1)
		return errors.New("redis: not connected")
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), co.timeout)
	defer cancel()
	multi := make([]rueidis.LuaExec, len(keys))
	for i, k := range keys {
		multi[i] = rueidis.LuaExec{Keys: []string{k}, Args: args}
	}
	for _, r := range script.ExecMulti(ctx, *c, multi...) {
		if err := r.Error(); err != nil {
			co.errs.Add(1)
			return err
		}
	}
	return nil
}

// delivered returns once Redis has written the invalidations of keys,
// caused by a command this replica already got the answer to, to every
// replica's socket. Redis queues pushes and replies while it runs a
// command and writes them all before it reads the next commands, so the
// answer to a later command on the same node (PTTL, by key so a cluster
// routes it there) comes after every push of the earlier one was written.
// With Settle on the readers, a write acknowledged after delivered is seen
// by every read that reaches any replica afterwards.
func (co *Redis) delivered(ctx context.Context, keys []string) error {
	c := co.client.Load()
	if c == nil {
		return errors.New("redis: not connected")
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), co.timeout)
	defer cancel()
	cl := *c
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = cl.B().Pttl().Key(k).Build()
	}
	for _, r := range cl.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			co.errs.Add(1)
			return err
		}
	}
	return nil
}

// addPending records generation keys to bump when Redis answers.
func (co *Redis) addPending(keys ...string) {
	co.mu.Lock()
	defer co.mu.Unlock()
	for _, k := range keys {
		if len(co.pending) >= maxPendingBumps {
			clear(co.pending)
			co.pending[co.allKey()] = struct{}{}
			return
		}
		co.pending[k] = struct{}{}
	}
}

// replay sends the bumps of writes that could not reach Redis and, with
// remark, marks this replica's writes in flight again.
func (co *Redis) replay(ctx context.Context, remark bool) error {
	co.mu.Lock()
	// Pending keys with no write of this replica in flight any more also
	// drop the mark made again for them, if any (done, below); the others
	// keep it until their last write ends.
	var done, busy []string
	for k := range co.pending {
		if co.inWrite[k] > 0 {
			busy = append(busy, k)
		} else {
			done = append(done, k)
		}
	}
	inWrite := make([]string, 0, len(co.inWrite))
	for k := range co.inWrite {
		inWrite = append(inWrite, k)
	}
	co.mu.Unlock()
	if remark && len(inWrite) > 0 {
		// One mark per key for all of this replica's writes of it; the
		// last of them to end removes it.
		fence := strconv.FormatInt(WriteFenceTTL.Milliseconds(), 10)
		if err := co.exec(ctx, writeBeginScript, inWrite, co.remarkID(), fence); err != nil {
			return err
		}
	}
	for _, batch := range []struct {
		keys []string
		id   string
	}{{done, co.remarkID()}, {busy, ""}} {
		if len(batch.keys) == 0 {
			continue
		}
		if err := co.exec(ctx, writeEndScript, batch.keys, "", batch.id); err != nil {
			return err
		}
		co.mu.Lock()
		for _, k := range batch.keys {
			delete(co.pending, k)
		}
		co.mu.Unlock()
	}
	return nil
}
