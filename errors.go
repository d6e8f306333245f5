package redstream

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/redis/rueidis"
)

// Sentinel errors. Every error returned by this package that stems from one
// of these conditions matches it with errors.Is; the underlying Redis or
// network error stays reachable through errors.Unwrap and errors.As.
var (
	// ErrInvalidURL reports a Redis URL that cannot be parsed or uses an
	// unsupported scheme. Dial returns it before any network I/O.
	ErrInvalidURL = errors.New("redstream: invalid redis URL")

	// ErrUnreachable reports that the Redis server could not be reached or
	// did not answer in time: connection refused, DNS failure, a dial or
	// handshake timeout, a connection lost while a command was in flight,
	// or a server not serving yet (LOADING after a restart, CLUSTERDOWN).
	ErrUnreachable = errors.New("redstream: redis unreachable")

	// ErrAuth reports that the server refused the credentials (NOAUTH,
	// WRONGPASS). A user that logged in but may not run a command or touch
	// a key gets ErrNoPermission instead.
	ErrAuth = errors.New("redstream: redis refused authentication")

	// ErrNoPermission reports that the Redis user may not run a command or
	// access a key (an ACL refusal: NOPERM, or its wording inside a Lua
	// script). The *Error carrying it names the operation and the key; the
	// server's reply names the command. The README's ACL section lists
	// what each role needs.
	ErrNoPermission = errors.New("redstream: redis user lacks permission")

	// ErrConfig reports a connection setting that the server refuses or
	// cannot serve: a database number beyond its databases ("DB index is
	// out of range"), or a rediss:// URL for a server that does not speak
	// TLS. Retrying does not help; the URL or the server must change.
	ErrConfig = errors.New("redstream: redis connection settings refused")

	// ErrNotStream reports that a key exists but holds another type than a
	// stream (Redis' WRONGTYPE).
	ErrNotStream = errors.New("redstream: key is not a stream")

	// ErrNoStream reports that a stream does not exist. Consumers create
	// their stream when they join a group; inspecting a missing stream
	// returns this error.
	ErrNoStream = errors.New("redstream: stream does not exist")

	// ErrNoGroup reports that a consumer group does not exist (Redis'
	// NOGROUP). A running Consumer re-creates its group instead of failing.
	ErrNoGroup = errors.New("redstream: consumer group does not exist")

	// ErrNoFields reports an entry without any field/value pair; Redis
	// streams cannot store such an entry.
	ErrNoFields = errors.New("redstream: entry has no fields")

	// ErrInvalidOption reports an option given an out-of-range or malformed
	// value. Constructors return it before touching Redis.
	ErrInvalidOption = errors.New("redstream: invalid option")

	// ErrInvalidID reports a stream entry ID that is not of the form
	// "<milliseconds>-<sequence>" (or one of the special IDs where allowed).
	ErrInvalidID = errors.New("redstream: invalid stream ID")

	// ErrDecode reports an entry that a typed handler could not decode. A
	// handler returning it sends the entry to the dead-letter stream at
	// once, as ErrPermanent does.
	ErrDecode = errors.New("redstream: cannot decode entry")

	// ErrClosed reports use of a Consumer after Close or Shutdown.
	ErrClosed = errors.New("redstream: consumer closed")

	// ErrRunning reports a second call to Run on a Consumer that is already
	// running.
	ErrRunning = errors.New("redstream: consumer already running")
)

// Error is the error type returned for failed Redis operations. It names
// the operation and the key it was done on, carries the matching sentinel
// (Kind, possibly nil) and the underlying error (Err).
type Error struct {
	Op   string // the Redis command or library step, e.g. "xreadgroup"
	Key  string // the stream (and group) the operation was about, if any
	Kind error  // one of the package's sentinel errors, or nil
	Err  error  // the underlying error, or nil
}

// Error formats the error on one line, without repeating the package
// prefix of the sentinel.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("redstream: ")
	b.WriteString(e.Op)
	if e.Key != "" {
		b.WriteString(" ")
		b.WriteString(e.Key)
	}
	if e.Kind != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Kind.Error(), "redstream: "))
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the sentinel and the underlying error, so errors.Is and
// errors.As see both.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// wrapErr builds an *Error for a failed operation, classifying the Redis
// error into a sentinel. It returns nil for a nil err.
func wrapErr(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	return &Error{Op: op, Key: key, Kind: classify(err), Err: err}
}

// redisCode returns the error code of a Redis error reply (its first word,
// such as WRONGTYPE or NOGROUP), or "" when err is not a Redis reply.
// Redis defines these codes as the machine-readable part of an error reply.
func redisCode(err error) string {
	re, ok := rueidis.IsRedisErr(err)
	if !ok || re.IsNil() {
		return ""
	}
	code, _, _ := strings.Cut(re.Error(), " ")
	return code
}

// classify maps an error from the Redis client to one of the sentinels, or
// nil when none applies.
func classify(err error) error {
	if rueidis.IsRedisBusyGroup(err) {
		return ErrGroupExists
	}
	switch redisCode(err) {
	case "WRONGTYPE":
		return ErrNotStream
	case "NOGROUP":
		return ErrNoGroup
	case "NOAUTH", "WRONGPASS":
		return ErrAuth
	case "NOPERM":
		return ErrNoPermission
	case "LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN":
		return ErrUnreachable // up, but not serving yet
	case "":
	default:
		if scriptACLRefusal(err) {
			return ErrNoPermission
		}
		return nil
	}
	if rueidis.IsRedisNil(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	if isConnErr(err) {
		return ErrUnreachable
	}
	return nil
}

// scriptACLRefusal reports whether err is an ACL refusal of a command a
// Lua script ran. Redis 7.0 replies to those without the NOPERM code:
// "The user executing the script can't run this command" or "... can't
// access at least one of the keys" (after ERR or no code at all); later
// versions say "has no permissions". rueidis has no helper for it.
func scriptACLRefusal(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	if !ok {
		return false
	}
	msg := re.Error()
	return strings.Contains(msg, "The user executing the script can't") ||
		strings.Contains(msg, "has no permissions to")
}

// isConnErr reports whether err is a transport failure rather than a reply
// from the server or a local problem: the network, a closed or closing
// client, a connection cut mid-reply.
func isConnErr(err error) bool {
	if err == nil {
		return false
	}
	if _, ok := rueidis.IsRedisErr(err); ok {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, rueidis.ErrClosing) ||
		errors.Is(err, rueidis.ErrNoAddr)
}
