package jobs

import (
	"context"
	"fmt"
	"regexp"
	"unicode/utf8"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/openkyc/kyc/sync/central/httpx"
)

// River keeps the text of each failed run of a job in river_job.errors
// (with a panic's value and its stack trace), in clear, for as long as it
// keeps the job (Config's retention), and a dump of the database copies
// it. A job's args name records only (ids); its errors are whatever a
// worker returned, which is written for people and may quote more: a URL
// whose query carries a partner's token or user id, a receiver's answer,
// a value a driver refused. scrubErrors is the client's outermost worker
// middleware: what River stores of an error or a panic is that text with
// each URL cut to its origin, each e-mail address and long run of digits
// (an NIK, a phone or card number) replaced, and at most ErrorBytes of
// it. A snooze or a cancel keeps its kind (the error is wrapped).

// ErrorBytes bounds the text River stores of one failed run.
const ErrorBytes = 512

var (
	emailText = regexp.MustCompile(`[^\s"'<>@()\[\],;:]+@[^\s"'<>@()\[\],;:]+\.[A-Za-z]{2,}`)
	digitRun  = regexp.MustCompile(`\d{9,}`)
)

// Scrub returns s as River may keep it: URLs cut to their origins, e-mail
// addresses and runs of nine digits or more replaced, at most ErrorBytes
// (cut at a character).
func Scrub(s string) string {
	s = httpx.CutURLs(s)
	s = emailText.ReplaceAllString(s, "<email>")
	s = digitRun.ReplaceAllString(s, "<digits>")
	if len(s) <= ErrorBytes {
		return s
	}
	const more = "…(cut)"
	cut := ErrorBytes - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}

// scrubbed is an error whose text is scrubbed; it still wraps the error
// for errors.Is and errors.As.
type scrubbed struct {
	text string
	err  error
}

func (e *scrubbed) Error() string { return e.text }
func (e *scrubbed) Unwrap() error { return e.err }

// scrubErrors is the worker middleware that scrubs what River stores.
func scrubErrors() rivertype.WorkerMiddleware {
	return river.WorkerMiddlewareFunc(func(ctx context.Context, _ *rivertype.JobRow, doInner func(context.Context) error) (err error) {
		defer func() {
			if r := recover(); r != nil {
				// Panicked again, scrubbed: River records it as the panic
				// it is, with the stack trace (function names and lines,
				// no values) of the first.
				panic(Scrub(fmt.Sprint(r)))
			}
		}()
		if err = doInner(ctx); err == nil {
			return nil
		}
		// Wrapped, a snooze or a cancel is still found (errors.As) and
		// only the text River stores changes.
		return &scrubbed{text: Scrub(err.Error()), err: err}
	})
}
