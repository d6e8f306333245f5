package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"
)

// writeJSON writes v, indented by indent ("" for one line), then a
// newline, as encoding/json would write it, except that no byte of a
// string is lost (see format.go): a string member that is not valid UTF-8
// is written as "<key>_base64", and such a string inside a list as
// {"base64":"..."}. The Inspector's types go through it (info, pending,
// topic info --json), so a group or consumer name in any bytes survives.
func writeJSON(w io.Writer, v any, indent string) error {
	b, err := appendJSONValue(nil, reflect.ValueOf(v))
	if err != nil {
		return err
	}
	if indent != "" {
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", indent); err != nil {
			return err
		}
		b = out.Bytes()
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

var marshalerType = reflect.TypeFor[json.Marshaler]()

// appendJSONValue appends v; strings reached here are list elements or
// the top level, where no key can carry the _base64 suffix.
func appendJSONValue(b []byte, v reflect.Value) ([]byte, error) {
	if !v.IsValid() {
		return append(b, "null"...), nil
	}
	if v.Type().Implements(marshalerType) || reflect.PointerTo(v.Type()).Implements(marshalerType) && v.CanAddr() {
		return appendMarshal(b, v)
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return append(b, "null"...), nil
		}
		return appendJSONValue(b, v.Elem())
	case reflect.Struct:
		return appendJSONStruct(b, v)
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i := range v.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSONValue(b, v.Index(i)); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case reflect.String:
		if s := v.String(); !utf8.ValidString(s) {
			b = append(b, `{"base64":"`...)
			b = base64.StdEncoding.AppendEncode(b, []byte(s))
			return append(b, `"}`...), nil
		}
		return appendJSONString(b, v.String()), nil
	}
	return appendMarshal(b, v)
}

// appendJSONStruct appends a struct's exported fields under their json
// names, honouring "-" and omitempty.
func appendJSONStruct(b []byte, v reflect.Value) ([]byte, error) {
	t := v.Type()
	b = append(b, '{')
	first := true
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" && opts == "" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fv := v.Field(i)
		if strings.Contains(opts, "omitempty") && fv.IsZero() {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		if fv.Kind() == reflect.String && !fv.Type().Implements(marshalerType) {
			b = appendJSONMember(b, name, fv.String())
			continue
		}
		b = appendJSONString(b, name)
		b = append(b, ':')
		var err error
		if b, err = appendJSONValue(b, fv); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func appendMarshal(b []byte, v reflect.Value) ([]byte, error) {
	j, err := json.Marshal(v.Interface())
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}
