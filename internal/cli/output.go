package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/openkyc/kyc/engine/capture/source"
	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/models"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/protocol"
	"github.com/openkyc/kyc/sync/vault"
)

// Exit codes of the kyc command (the README documents them).
const (
	ExitOK          = 0 // the command did its job (a decision was made, a check ran)
	ExitInternal    = 1 // a bug or an unexpected failure
	ExitUsage       = 2 // bad flags or arguments
	ExitInput       = 3 // the input is unusable: not an image, malformed file, no face
	ExitRejected    = 4 // a check failed: a corrupt model, a blocked device
	ExitMissing     = 5 // something is not installed: the runtime or a model
	ExitUnavailable = 6 // a source or server could not be reached
)

// Error is what a failed command prints: {"error": {"code", "message"}}.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Exit    int    `json:"-"`
	// cause is the error coded, when classify or codedErr coded one: what
	// is said on stderr beside the message (a damaged vault's detail).
	cause error
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap is the error coded, if any.
func (e *Error) Unwrap() error { return e.cause }

// Errorf builds an Error with a code and exit status.
func Errorf(exit int, code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Exit: exit}
}

// classify maps an error to the code and exit status people and scripts see.
func classify(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if e := known(err); e != nil {
		return e
	}
	return &Error{Code: "internal", Message: err.Error(), Exit: ExitInternal, cause: err}
}

// codedErr is err, from what code names, as classify codes it when it
// knows its cause (a damaged vault), else with code and exit.
func codedErr(exit int, code string, err error) *Error {
	if e := known(err); e != nil {
		return e
	}
	return &Error{Code: code, Message: err.Error(), Exit: exit, cause: err}
}

// known is err coded by its cause, nil for a cause without a code of its
// own.
func known(err error) *Error {
	for _, c := range []struct {
		target error
		exit   int
		code   string
	}{
		{models.ErrNotInstalled, ExitMissing, "model_missing"},
		{models.ErrCorrupt, ExitRejected, "model_corrupt"},
		{models.ErrUnknownModel, ExitUsage, "unknown_model"},
		{models.ErrSourceUnavailable, ExitUnavailable, "source_unavailable"},
		{ort.ErrLibraryMissing, ExitMissing, "runtime_missing"},
		{ort.ErrLibraryTooOld, ExitMissing, "runtime_too_old"},
		{ort.ErrLibraryInvalid, ExitMissing, "runtime_invalid"},
		{vault.ErrCorrupt, ExitRejected, "vault_corrupt"},
		{vault.ErrMissing, ExitRejected, "vault_missing"},
	} {
		if errors.Is(err, c.target) {
			return &Error{Code: c.code, Message: err.Error(), Exit: c.exit, cause: err}
		}
	}
	return nil
}

// noCamera is the Error for a camera source whose /dev/videoN is missing
// or no device node (source.ErrNoCamera), nil for any other error: its
// own code, so a script tells an unplugged camera (or a wrong index) from
// a stream that did not answer (source_unavailable), and a message saying
// what to check.
func noCamera(err error) *Error {
	if !errors.Is(err, source.ErrNoCamera) {
		return nil
	}
	return &Error{Code: "no_camera", Exit: ExitUnavailable, cause: err,
		Message: err.Error() + " (is the camera plugged in? ls /dev/video* lists the cameras there are)"}
}

// enrollmentInvalid is the Error for an enrolment file that is not one
// (identity.ErrMalformed), nil for any other error.
func enrollmentInvalid(err error) *Error {
	if !errors.Is(err, identity.ErrMalformed) {
		return nil
	}
	return &Error{Code: "enrollment_invalid", Message: err.Error(), Exit: ExitInput, cause: err}
}

// Format is how results are printed.
type Format string

// Output formats.
const (
	FormatJSON  Format = "json"
	FormatTable Format = "table"
)

func parseFormat(s string) (Format, error) {
	switch Format(s) {
	case FormatJSON, FormatTable:
		return Format(s), nil
	}
	return "", Errorf(ExitUsage, "usage", "unknown --format %q (json or table)", s)
}

// writeResult prints v as indented JSON or as a table for people.
func writeResult(w io.Writer, f Format, v any) error {
	// MRZ lines are full of '<': print them as they are, not as \u003c.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encoding result: %w", err)
	}
	b := buf.Bytes()
	if f == FormatJSON {
		_, err := w.Write(b)
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // integers print as integers, not 4.5e+07
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return fmt.Errorf("encoding result: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	writeTable(tw, b, generic)
	return tw.Flush()
}

func writeError(w io.Writer, e *Error) {
	b, _ := json.Marshal(map[string]*Error{"error": e})
	fmt.Fprintf(w, "%s\n", b)
}

// writeTable lays out a list of objects as columns and anything else as
// flattened key/value rows.
func writeTable(w io.Writer, raw []byte, v any) {
	switch x := v.(type) {
	case []any:
		if len(x) == 0 {
			fmt.Fprintln(w, "(none)")
			return
		}
		cols := columnOrder(raw, x)
		header := make([]string, len(cols))
		for i, c := range cols {
			header[i] = strings.ToUpper(c)
		}
		writeRow(w, header...)
		for _, row := range x {
			flat := rowCells(row)
			cells := make([]string, len(cols))
			for i, c := range cols {
				cells[i] = flat[c]
			}
			writeRow(w, cells...)
		}
	case map[string]any:
		// Scalar fields as key/value rows, then each list of objects (a
		// report's checks, a list's models) as its own table of columns.
		var fields map[string]json.RawMessage
		_ = json.Unmarshal(raw, &fields)
		var lists []string
		rest := map[string]any{}
		for k, inner := range x {
			if list, ok := inner.([]any); ok && len(list) > 0 {
				if _, isObj := list[0].(map[string]any); isObj {
					lists = append(lists, k)
					continue
				}
			}
			rest[k] = inner
		}
		flat := flatten("", rest)
		for _, k := range sortedKeys(flat) {
			writeRow(w, k, flat[k])
		}
		sort.Strings(lists)
		for _, k := range lists {
			if len(flat) > 0 || len(lists) > 1 {
				fmt.Fprintln(w)
				writeRow(w, strings.ToUpper(k)+":")
			}
			writeTable(w, fields[k], x[k])
		}
	default:
		writeRow(w, scalar(v))
	}
}

// maxCell bounds a table cell: a table is for people, the JSON output
// keeps a value whole.
const maxCell = protocol.MaxText

// writeRow writes one line of a table, every cell through
// protocol.Printable: a table shows stored strings (a review's reason, a
// name read from a document, an operator's text) that may hold an ANSI
// escape sequence or a bidirectional override, which a terminal would act
// on rather than show, or a tab or a line break, which would shift the
// columns or forge a row.
func writeRow(w io.Writer, cells ...string) {
	for i, c := range cells {
		cells[i] = protocol.Printable(c, maxCell)
	}
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

func flatten(prefix string, v any) map[string]string {
	out := map[string]string{}
	switch x := v.(type) {
	case map[string]any:
		for k, inner := range x {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			for fk, fv := range flatten(key, inner) {
				out[fk] = fv
			}
		}
	case []any:
		parts := make([]string, len(x))
		for i, inner := range x {
			parts[i] = scalar(inner)
		}
		out[prefix] = strings.Join(parts, ", ")
	default:
		out[prefix] = scalar(v)
	}
	return out
}

func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		return x
	case json.Number:
		if f, err := x.Float64(); err == nil && strings.ContainsAny(x.String(), ".eE") {
			return fmt.Sprintf("%.4g", f)
		}
		return x.String()
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// columnOrder lists the flattened keys of a list of objects in the order
// their fields appear in the JSON (the struct's order), not alphabetically.
func columnOrder(raw []byte, rows []any) []string {
	var cols []string
	seen := map[string]bool{}
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			cols = append(cols, k)
		}
	}
	var objs []json.RawMessage
	if json.Unmarshal(raw, &objs) == nil && len(objs) > 0 {
		dec := json.NewDecoder(bytes.NewReader(objs[0]))
		depth := 0
		for {
			tok, err := dec.Token()
			if err != nil {
				break
			}
			switch t := tok.(type) {
			case json.Delim:
				if t == '{' || t == '[' {
					depth++
				} else {
					depth--
				}
			case string:
				if depth == 1 {
					add(t)
					// Skip the value so its strings are not taken for keys.
					var skip json.RawMessage
					if dec.Decode(&skip) != nil {
						return cols
					}
				}
			}
		}
	}
	for _, row := range rows {
		for _, k := range sortedKeys(rowCells(row)) {
			add(k)
		}
	}
	return cols
}

// rowCells turns one row object into cells: nested objects become a
// compact "key=value, ..." cell rather than a column each.
func rowCells(row any) map[string]string {
	out := map[string]string{}
	obj, ok := row.(map[string]any)
	if !ok {
		out["value"] = scalar(row)
		return out
	}
	for k, v := range obj {
		if inner, ok := v.(map[string]any); ok {
			flat := flatten("", inner)
			parts := make([]string, 0, len(flat))
			for _, fk := range sortedKeys(flat) {
				parts = append(parts, fk+"="+flat[fk])
			}
			out[k] = strings.Join(parts, ", ")
			continue
		}
		out[k] = scalar(v)
	}
	return out
}
