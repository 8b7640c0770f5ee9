package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/internal/handoff"
	"github.com/openkyc/kyc/sync/agent"
)

// handoffResult is `kyc handoff`'s result: the hand-off opened and where
// it ended.
type handoffResult struct {
	Handoff handoff.Handoff `json:"handoff"`
	Result  handoff.Status  `json:"result"`
	// QRPNG is where the QR code was written, when asked.
	QRPNG string `json:"qr_png,omitempty"`
}

// ExitCode: 0 for a result central decided, ExitRejected for an ERROR
// (expired, canceled, failed), so a script can tell them apart.
func (r handoffResult) ExitCode() int {
	if r.Result.Status == "ERROR" || r.Result.Stage == handoff.StageExpired || r.Result.Stage == handoff.StageCanceled {
		return ExitRejected
	}
	return ExitOK
}

// runHandoff opens a Smart QR hand-off at central for this enrolled
// device, shows the QR code on stderr (and as a PNG with --png), and
// follows the customer's phone until central has the result; interrupted,
// it cancels the hand-off.
func runHandoff(ctx context.Context, env *Env, args []string) (any, error) {
	fs := newFlags(env, "handoff")
	dir := fs.String("dir", deviceDir(), "device state directory ($"+envDeviceDir+")")
	lang := fs.String("lang", "", "the phone page's language: en or id (default: the phone's)")
	liveness := fs.String("liveness", "", "liveness type: passive (default) or active")
	userID := fs.String("partner-user-id", "", "the owning partner's reference for the person, if known")
	userIDType := fs.String("partner-user-id-type", "", "the kind of --partner-user-id (default user_id)")
	png := fs.String("png", "", "also write the QR code as a PNG to this file")
	poll := fs.Duration("poll", handoff.DefaultPoll, "how often to ask central")
	noWait := fs.Bool("no-wait", false, "print the hand-off and exit without following it")
	wait := fs.Duration("wait", defaultHandoffWait, "follow the hand-off at most this long, then cancel it (exit 6, handoff_timeout)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if *wait <= 0 {
		return nil, Errorf(ExitUsage, "usage", "--wait must be more than 0 (--no-wait does not follow the hand-off)")
	}
	up, _, err := deviceUploader(*dir)
	if err != nil {
		return nil, err
	}
	c := handoff.New(up)
	h, err := c.Start(ctx, handoff.Request{Lang: *lang, LivenessType: *liveness, PartnerUserID: *userID, PartnerUserIDType: *userIDType})
	if err != nil {
		return nil, handoffError(err)
	}
	res := handoffResult{Handoff: h}
	if *png != "" {
		b, err := handoff.QRPNG(h.URL, 512)
		if err == nil {
			err = atomicfile.Write(*png, b)
		}
		if err != nil {
			return nil, Errorf(ExitInput, "qr_png", "writing the QR code: %v", err)
		}
		res.QRPNG = *png
	}
	if *noWait {
		return res, nil
	}
	qr, err := handoff.QRText(h.URL)
	if err != nil {
		return nil, Errorf(ExitInternal, "qr", "%v", err)
	}
	fmt.Fprintf(env.Stderr, "%s\nScan with the customer's phone, or open %s and type %s (valid until %s).\n",
		qr, h.CodeURL, h.ShortCode, h.LinkExpiresAt.Local().Format(time.TimeOnly))
	wctx, stop := context.WithTimeoutCause(ctx, *wait, errHandoffWait)
	defer stop()
	st, err := c.Wait(wctx, h.ID, *poll, func(s handoff.Status) {
		fmt.Fprintf(env.Stderr, "%s %s\n", time.Now().Format(time.TimeOnly), describeHandoff(s))
	})
	if err != nil && wctx.Err() != nil {
		// Interrupted, or central still not done when --wait passed: the
		// customer is not to go on with a session nobody follows. A fresh
		// context, as wctx is done.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		cerr := c.Cancel(cctx, h.ID)
		if ctx.Err() == nil && errors.Is(context.Cause(wctx), errHandoffWait) {
			canceled := "it is canceled"
			if cerr != nil {
				canceled = fmt.Sprintf("canceling it failed: %v", cerr)
			}
			last := "no status"
			if st.Stage != "" {
				last = describeHandoff(st)
			}
			return nil, Errorf(ExitUnavailable, "handoff_timeout", "hand-off %s: central had no result after --wait %s (last: %s); %s",
				h.ID, *wait, last, canceled)
		}
		if cerr == nil {
			st.Stage, st.Status, st.ErrorCode, st.Final = handoff.StageCanceled, "ERROR", "canceled", true
		}
		res.Result = st
		return res, nil
	}
	if err != nil {
		return nil, handoffError(err)
	}
	res.Result = st
	return res, nil
}

// defaultHandoffWait is how long `kyc handoff` follows a hand-off by
// default: central ends a kiosk session 30 minutes after it opened, so
// one still going on after that is central's fault, not the customer's.
const defaultHandoffWait = 35 * time.Minute

// errHandoffWait is the cause of the wait's end when --wait passed.
var errHandoffWait = errors.New("--wait passed")

func describeHandoff(s handoff.Status) string {
	switch s.Stage {
	case handoff.StageWaiting:
		return "waiting for the phone"
	case handoff.StagePhone:
		return fmt.Sprintf("the customer is capturing on their phone (attempt %d of %d)", s.Attempt, s.MaxRetries)
	case handoff.StageProcessing:
		return "central is verifying"
	case handoff.StageResult:
		if !s.Final {
			return fmt.Sprintf("attempt %d: %s, the phone takes it again (%s)", s.Attempt, s.Decision, s.Message)
		}
		return fmt.Sprintf("result: %s %s (%s) %s", s.Status, s.Decision, s.NextAction, s.Message)
	}
	return fmt.Sprintf("%s %s %s", s.Stage, s.Status, s.ErrorCode)
}

// handoffError maps the client's errors to the CLI's.
func handoffError(err error) error {
	switch {
	case errors.Is(err, handoff.ErrUnavailable):
		return Errorf(ExitUnavailable, "handoff_unavailable", "%v", err)
	case errors.Is(err, handoff.ErrNotFound):
		return Errorf(ExitInput, "handoff_unknown", "%v", err)
	case errors.Is(err, agent.ErrUnreachable):
		return Errorf(ExitUnavailable, "central_unavailable", "%v", err)
	case isCertError(err):
		return Errorf(ExitRejected, "tls", "%v", err)
	}
	if ce, ok := errors.AsType[*agent.CentralError](err); ok && ce.Status == 401 || ok && ce.Status == 403 {
		return Errorf(ExitRejected, "refused", "%v", err)
	}
	return Errorf(ExitUnavailable, "handoff", "%v", err)
}
