package redstream

import (
	"context"
	"encoding/json"
	"fmt"
)

// JSONField is the field that the JSON layer stores a value in.
const JSONField = "json"

// EncodeJSON returns the entry fields holding v encoded as JSON in the
// field JSONField.
func EncodeJSON(v any) ([]Field, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("redstream: encode json: %w", err)
	}
	return []Field{{Name: JSONField, Value: string(b)}}, nil
}

// PublishJSON publishes v encoded as JSON in the field JSONField and
// returns the new entry's ID.
func PublishJSON(ctx context.Context, p *Publisher, stream string, v any) (string, error) {
	fields, err := EncodeJSON(v)
	if err != nil {
		return "", err
	}
	return p.Publish(ctx, stream, fields)
}

// DecodeJSON decodes the JSONField of m into a T. A missing field or
// invalid JSON returns an error matching ErrDecode.
func DecodeJSON[T any](m *Message) (T, error) {
	var v T
	raw, ok := m.Get(JSONField)
	if !ok {
		return v, fmt.Errorf("%w %s: no %q field", ErrDecode, m.ID, JSONField)
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return v, fmt.Errorf("%w %s: %w", ErrDecode, m.ID, err)
	}
	return v, nil
}

// HandleJSON returns a Handler that decodes each entry's JSONField into a
// T and calls fn with it. An entry that cannot be decoded is not passed
// to fn: the handler returns an error matching ErrDecode, and the entry
// goes to the dead-letter stream at once, without retries (another
// attempt would not decode it either).
func HandleJSON[T any](fn func(ctx context.Context, m *Message, v T) error) Handler {
	return HandlerFunc(func(ctx context.Context, m *Message) error {
		v, err := DecodeJSON[T](m)
		if err != nil {
			return err
		}
		return fn(ctx, m, v)
	})
}
