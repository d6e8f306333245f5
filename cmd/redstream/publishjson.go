package main

// Reading publish's JSON lines from stdin: fields and headers.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/redstream-go/redstream"
)

// parseJSONFields turns one JSON object into entry fields, keeping the
// order of its keys. String values are taken as they are; other values
// (numbers, booleans, null, arrays, objects) as their compact JSON text.
func parseJSONFields(line []byte) ([]redstream.Field, error) {
	_, fields, err := parseJSONLine(line, "")
	return fields, err
}

// parseJSONLine turns one JSON object into an entry's headers and fields
// as parseJSONFields does, except that the member called headersMember
// (none when "") holds headers (parseJSONHeaders) instead of a field.
func parseJSONLine(line []byte, headersMember string) (headers, fields []redstream.Field, err error) {
	if !utf8.Valid(line) {
		// encoding/json would turn the bad bytes into U+FFFD: refuse
		// rather than publish something else than was given.
		return nil, nil, errors.New("not valid UTF-8 (JSON text must be; bytes in another encoding would be changed, so nothing of this line is published)")
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, errors.New("want a JSON object such as {\"field\":\"value\"}")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("invalid JSON: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, nil, fmt.Errorf("invalid JSON: want a key, got %v", tok)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("invalid JSON: %w", err)
		}
		if headersMember != "" && name == headersMember {
			hs, err := parseJSONHeaders(raw)
			if err != nil {
				return nil, nil, fmt.Errorf("member %q: %w (--headers-member '' takes it as a field)", name, err)
			}
			headers = append(headers, hs...)
			continue
		}
		value, err := jsonFieldValue(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid JSON: %w", err)
		}
		fields = append(fields, redstream.Field{Name: name, Value: value})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, errors.New("invalid JSON: more after the object (want one object per line)")
	}
	if len(fields) == 0 {
		return nil, nil, errors.New("the object has no fields; a stream entry needs at least one")
	}
	return headers, fields, nil
}

// errHeadersShape says what a line's headers member may hold.
var errHeadersShape = errors.New(`want the headers as an object {"name":"value",...} or a list [{"name":"...","value":"..."},...]`)

// parseJSONHeaders reads the headers member of a stdin line: an object
// of header names and values (a value that is not a string is taken as
// its JSON text, as a field's is), or a list of {"name","value"} objects
// as consume --json prints them, where "name_base64" or "value_base64"
// give bytes that are not UTF-8. Every header needs a name.
func parseJSONHeaders(raw json.RawMessage) ([]redstream.Field, error) {
	switch raw[0] {
	case '{':
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		var headers []redstream.Field
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			name, _ := tok.(string) // a key is a string: raw is valid JSON
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, err
			}
			value, err := jsonFieldValue(v)
			if err != nil {
				return nil, err
			}
			if name == "" {
				return nil, errors.New("a header needs a name that is not empty")
			}
			headers = append(headers, redstream.Field{Name: name, Value: value})
		}
		return headers, nil
	case '[':
		var list []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, errHeadersShape
		}
		headers := make([]redstream.Field, 0, len(list))
		for i, h := range list {
			name, err := jsonBytesMember(h, "name")
			if err != nil {
				return nil, fmt.Errorf("header %d: %w", i+1, err)
			}
			value, err := jsonBytesMember(h, "value")
			if err != nil {
				return nil, fmt.Errorf("header %d: %w", i+1, err)
			}
			for k := range h {
				switch k {
				case "name", "name_base64", "value", "value_base64":
				default:
					return nil, fmt.Errorf("header %d: unknown member %q (want name or name_base64, value or value_base64)", i+1, k)
				}
			}
			if name == "" {
				return nil, fmt.Errorf("header %d: a header needs a name that is not empty", i+1)
			}
			headers = append(headers, redstream.Field{Name: name, Value: value})
		}
		return headers, nil
	}
	return nil, errHeadersShape
}

// jsonBytesMember reads the string member key of obj, or else
// key+"_base64", the standard base64 of its bytes, as the CLI's JSON
// output writes a value that is not UTF-8 (see format.go): exactly one of
// them must be there.
func jsonBytesMember(obj map[string]json.RawMessage, key string) (string, error) {
	plain, hasPlain := obj[key]
	b64, hasB64 := obj[key+"_base64"]
	if hasPlain == hasB64 {
		return "", fmt.Errorf("want exactly one of %q and %q", key, key+"_base64")
	}
	var s string
	if hasPlain {
		if err := json.Unmarshal(plain, &s); err != nil {
			return "", fmt.Errorf("%q is not a string", key)
		}
		return s, nil
	}
	if err := json.Unmarshal(b64, &s); err != nil {
		return "", fmt.Errorf("%q is not a string", key+"_base64")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("%q is not standard base64: %w", key+"_base64", err)
	}
	return string(b), nil
}

func jsonFieldValue(raw json.RawMessage) (string, error) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", err
	}
	return b.String(), nil
}
