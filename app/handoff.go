package app

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/openkyc/kyc/internal/handoff"
)

// HandoffView is the Smart QR screen: the customer continues on their own
// phone (a kiosk without a camera, or by choice), and the screen follows
// until central has the result. The link is single-use and names nobody.
type HandoffView struct {
	ID        string `json:"id"`
	URL       string `json:"url"`
	CodeURL   string `json:"code_url"`
	ShortCode string `json:"short_code"`
	// QR is the link's QR code as a PNG data URL.
	QR            string    `json:"qr"`
	LinkExpiresAt time.Time `json:"link_expires_at"`
	// Stage is waiting, phone, processing, result, expired or canceled;
	// Final once it will not change.
	Stage string `json:"stage"`
	Final bool   `json:"final"`
	// Message is the customer's generic message once decided; Decision,
	// ErrorCode and SubmissionID are the operator's.
	Message      string `json:"message,omitempty"`
	Status       string `json:"status,omitempty"`
	NextAction   string `json:"next_action,omitempty"`
	Decision     string `json:"decision,omitempty"`
	ErrorCode    string `json:"error_code,omitempty"`
	SubmissionID string `json:"submission_id,omitempty"`
	Error        string `json:"error,omitempty"`
}

// handoffRun is the hand-off under way: its view, and how to stop
// following it.
type handoffRun struct {
	view HandoffView
	stop context.CancelFunc
}

// StartHandoff opens a hosted session on central for the customer's phone
// and shows its QR code; the app follows it in the background. It needs
// the device enrolled and central reachable.
func (a *App) StartHandoff() (View, error) {
	a.mu.Lock()
	a.touchLocked()
	up, lang, screen, op := a.link.uploader, a.settings.Lang, a.ui.screen, a.staff.operator
	a.mu.Unlock()
	if op == "" || (screen != ScreenHome && screen != ScreenHandoff) {
		return a.State(), fmt.Errorf("starting a hand-off: not on the home screen (%s)", screen)
	}
	if up == nil {
		return a.State(), ErrNotEnrolled
	}
	c := handoff.New(up)
	ctx, cancel := context.WithTimeout(a.ctx, 30*time.Second)
	h, err := c.Start(ctx, handoff.Request{Lang: lang})
	cancel()
	if err == nil {
		var png []byte
		if png, err = handoff.QRPNG(h.URL, 360); err == nil {
			a.followHandoff(c, HandoffView{ID: h.ID, URL: h.URL, CodeURL: h.CodeURL, ShortCode: h.ShortCode,
				QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), LinkExpiresAt: h.LinkExpiresAt,
				Stage: string(handoff.StageWaiting)})
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// Central was asked with the lock let go: an operator who signed out
	// meanwhile leaves no hand-off on the screen they left (the one just
	// opened is cancelled on central).
	if a.staff.operator != op || a.ui.screen != screen {
		if err == nil {
			a.endHandoffLocked()
		}
		return a.viewLocked(), fmt.Errorf("starting a hand-off: the screen changed meanwhile (%s)", a.ui.screen)
	}
	if err != nil {
		switch {
		case errors.Is(err, handoff.ErrUnavailable):
			err = errors.New("central does not offer the phone hand-off: use the camera")
		case errors.Is(err, handoff.ErrPartnerDisabled):
			err = errors.New("the partner of this branch is disabled on central: ask the administrator")
		}
		a.ui.lastError = "The phone hand-off could not start: " + err.Error()
		a.ui.rev++
		return a.viewLocked(), err
	}
	a.audit("handoff.start", a.handoff.view.ID)
	a.setScreenLocked(ScreenHandoff)
	return a.viewLocked(), nil
}

// followHandoff shows hand-off v and follows it until it is final.
func (a *App) followHandoff(c *handoff.Client, v HandoffView) {
	ctx, cancel := context.WithCancel(a.ctx)
	a.mu.Lock()
	if a.handoff != nil {
		a.handoff.stop()
	}
	run := &handoffRun{view: v, stop: cancel}
	a.handoff = run
	a.mu.Unlock()
	a.goBackground(func(context.Context) {
		defer cancel()
		_, err := c.Wait(ctx, v.ID, 0, func(st handoff.Status) {
			a.mu.Lock()
			defer a.mu.Unlock()
			if a.handoff != run {
				return
			}
			hv := &run.view
			hv.Stage, hv.Final, hv.Status, hv.NextAction = string(st.Stage), st.Final, st.Status, st.NextAction
			hv.Decision, hv.ErrorCode, hv.Message, hv.SubmissionID = st.Decision, st.ErrorCode, st.Message, st.SubmissionID
			a.ui.lastActivity = a.now() // the customer is busy on their phone
			if a.ui.screen == ScreenHandoff {
				a.setScreenLocked(ScreenHandoff)
			}
		})
		if err != nil && ctx.Err() == nil {
			a.mu.Lock()
			if a.handoff == run {
				run.view.Error = err.Error()
				if a.ui.screen == ScreenHandoff {
					a.setScreenLocked(ScreenHandoff)
				}
			}
			a.mu.Unlock()
			a.cfg.Logger.Warn("following the hand-off", "id", v.ID, "err", err)
		}
	})
}

// EndHandoff leaves the Smart QR screen for home.
func (a *App) EndHandoff() View {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.touchLocked()
	a.endHandoffLocked()
	if a.ui.screen == ScreenHandoff {
		a.setScreenLocked(ScreenHome)
	}
	return a.viewLocked()
}

// endHandoffLocked stops following the hand-off; one still under way is
// cancelled on central in the background (the customer left).
func (a *App) endHandoffLocked() {
	run, up := a.handoff, a.link.uploader
	if run == nil {
		return
	}
	a.handoff = nil
	run.stop()
	if run.view.Final || up == nil {
		return
	}
	a.goBackground(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := handoff.New(up).Cancel(ctx, run.view.ID); err != nil && !errors.Is(err, handoff.ErrFinished) {
			a.cfg.Logger.Warn("cancelling the hand-off", "id", run.view.ID, "err", err)
		}
	})
}
