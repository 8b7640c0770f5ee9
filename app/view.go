package app

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/openkyc/kyc/engine/camera"
	"github.com/openkyc/kyc/engine/capture"
	"github.com/openkyc/kyc/engine/capture/source"
	"github.com/openkyc/kyc/engine/risk"
	"github.com/openkyc/kyc/models"
	"github.com/openkyc/kyc/sync/vault"
)

// Screen names what the window shows.
type Screen string

// The screens, in the order a verification meets them.
const (
	ScreenStarting        Screen = "starting"         // the start-up device check is running
	ScreenBlocked         Screen = "blocked"          // the device policy refuses this device
	ScreenSignIn          Screen = "sign_in"          // operator sign-in
	ScreenHome            Screen = "home"             // new verification, queue, sync state
	ScreenSettings        Screen = "settings"         // cameras, language, kiosk mode
	ScreenDocumentSelect  Screen = "document_select"  // document type and country
	ScreenCaptureDocument Screen = "capture_document" // live document capture
	ScreenCaptureSelfie   Screen = "capture_selfie"   // live selfie capture
	ScreenProcessing      Screen = "processing"       // the engine runs
	ScreenResult          Screen = "result"           // decision and next action
	ScreenHandoff         Screen = "handoff"          // Smart QR: the customer continues on their phone
	ScreenIdle            Screen = "idle"             // a kiosk's welcome after a session was cleared: nothing of it left
)

// known reports whether s is one of the screens above.
func (s Screen) known() bool {
	switch s {
	case ScreenStarting, ScreenBlocked, ScreenSignIn, ScreenHome, ScreenSettings, ScreenDocumentSelect,
		ScreenCaptureDocument, ScreenCaptureSelfie, ScreenProcessing, ScreenResult, ScreenHandoff, ScreenIdle:
		return true
	}
	return false
}

// View is the whole state of the screens: the page renders it and nothing
// else. It holds nothing personal: no image, name or document number.
type View struct {
	Rev       int           `json:"rev"` // increases on every change
	Screen    Screen        `json:"screen"`
	Lang      string        `json:"lang"`
	Kiosk     bool          `json:"kiosk"`
	Operator  string        `json:"operator,omitempty"`
	Role      Role          `json:"role,omitempty"`
	FirstRun  bool          `json:"first_run"` // no operator account yet: sign-in creates one
	Error     string        `json:"error,omitempty"`
	Device    *DeviceStatus `json:"device,omitempty"`
	VaultErr  string        `json:"vault_error,omitempty"`
	Config    SessionConfig `json:"config"`
	Session   *SessionView  `json:"session,omitempty"`
	Progress  []Stage       `json:"progress,omitempty"`
	Result    *ResultView   `json:"result,omitempty"`
	Handoff   *HandoffView  `json:"handoff,omitempty"`
	IdleLimit int           `json:"idle_seconds"`
}

// SessionView is the non-personal state of the running session.
type SessionView struct {
	ID         string   `json:"id"`
	DocType    string   `json:"doc_type"`
	Country    string   `json:"country"`
	Attempt    int      `json:"attempt"`
	Sides      int      `json:"sides"`
	Captured   []string `json:"captured"` // front, back, selfie as they are taken
	Challenges []string `json:"challenges,omitempty"`
	// Challenge is the active liveness challenge under way, while the
	// selfie camera runs for it.
	Challenge *ChallengeView `json:"challenge,omitempty"`
}

// ChallengeView is an active liveness challenge as the selfie screen shows
// it: to the customer the instruction and the prompts, nothing of why.
type ChallengeView struct {
	// Message is the customer's instruction when the risk engine asked
	// for the challenge (its generic "one more step"), in the session's
	// language; empty for an active session's own challenge.
	Message string `json:"message,omitempty"`
	// Prompts are the challenge's prompts in order.
	Prompts []ChallengePrompt `json:"prompts"`
	// Seconds is the time to follow them once the first shows.
	Seconds int `json:"seconds"`
	// RequestedBy is the submission whose CHALLENGE asked for it, and
	// LivenessPath that submission's path (challenge_requested): the
	// operator's view.
	RequestedBy  string            `json:"requested_by,omitempty"`
	LivenessPath risk.LivenessPath `json:"liveness_path,omitempty"`
}

// ChallengePrompt is one prompt: its key (turn_left, turn_right, blink,
// smile; the preview overlay's step while it is the current one) and its
// text in the session's language.
type ChallengePrompt struct {
	Key  string `json:"key"`
	Text string `json:"text"`
}

// Stage is one step of processing.
type Stage struct {
	Name  string  `json:"name"`
	State string  `json:"state"` // pending, running, done
	MS    float64 `json:"ms,omitempty"`
}

// ResultView is a verification's outcome in two views: the customer's,
// which is only the generic message, and the operator's.
type ResultView struct {
	SubmissionID string          `json:"submission_id"`
	NextAction   risk.NextAction `json:"next_action"`
	RetryStep    risk.RetryStep  `json:"retry_step,omitempty"`
	Message      string          `json:"message"` // the customer view
	// RetryAdvice, for a RETRY, tells the customer what to do
	// differently at the capture taken again; it follows from the step
	// alone, never from what failed.
	RetryAdvice string         `json:"retry_advice,omitempty"`
	Operator    OperatorResult `json:"operator"`
	// sealed travels with the result from processing to the session.
	sealed *sealedAttempt
}

// OperatorResult is what the operator sees: decision, score and reason
// codes (their details can quote the document, so they stay in the vault).
type OperatorResult struct {
	Decision  risk.Decision     `json:"decision"`
	Score     float64           `json:"score"`
	Reasons   []risk.ReasonCode `json:"reasons"`
	FaceMatch *float64          `json:"face_match,omitempty"`
	Liveness  *float64          `json:"liveness,omitempty"`
	DocType   string            `json:"detected_doc_type,omitempty"`
	// LivenessPath is how the face liveness was decided: passive, or an
	// active challenge requested, passed or failed; Challenges are the
	// prompts of the attempt's challenge, when it had one.
	LivenessPath risk.LivenessPath  `json:"liveness_path,omitempty"`
	Challenges   []string           `json:"challenges,omitempty"`
	TimingsMS    map[string]float64 `json:"timings_ms"`
	CaptureToMS  float64            `json:"capture_to_result_ms"` // last capture to the result ready
}

// State returns the current view.
func (a *App) State() View {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.viewLocked()
}

func (a *App) viewLocked() View {
	v := View{Rev: a.ui.rev, Screen: a.ui.screen, Lang: a.settings.Lang, Kiosk: a.settings.Kiosk, Operator: a.staff.operator, Role: a.staff.role,
		FirstRun: len(a.staff.accounts.Accounts) == 0, Error: a.ui.lastError, Device: a.device, VaultErr: a.vaultErr,
		Config: a.sessionCfg, IdleLimit: a.settings.IdleSeconds}
	if s := a.sess; s != nil {
		sv := &SessionView{ID: s.id, DocType: s.docType, Country: s.country, Attempt: s.attempt,
			Sides: a.sessionCfg.sides(s.docType), Captured: append([]string{}, s.steps...)}
		if a.sessionCfg.LivenessType == "active" {
			sv.Challenges = a.sessionCfg.Challenges
		}
		if ch := s.challenge; ch != nil && ch.outcome == risk.ChallengeNone {
			sv.Challenge = a.challengeViewLocked(ch)
		}
		v.Session = sv
		v.Progress = slices.Clone(s.progress)
		v.Result = s.result
	}
	if h := a.handoff; h != nil {
		hv := h.view
		v.Handoff = &hv
	}
	return v
}

// challengeViewLocked describes a challenge under way.
func (a *App) challengeViewLocked(ch *challenge) *ChallengeView {
	lang := capture.Lang(a.settings.Lang)
	cv := &ChallengeView{Prompts: []ChallengePrompt{}, Seconds: a.sessionCfg.ChallengeSeconds}
	for _, p := range ch.prompts {
		cv.Prompts = append(cv.Prompts, ChallengePrompt{Key: string(p), Text: p.Text(lang)})
	}
	if r := ch.requested; r != nil {
		cv.Message, cv.RequestedBy, cv.LivenessPath = r.Message, r.SubmissionID, r.Operator.LivenessPath
	}
	return cv
}

// setScreenLocked shows screen and tells every window.
func (a *App) setScreenLocked(s Screen) {
	a.ui.screen = s
	a.ui.rev++
	if a.emit != nil {
		a.emit("view", a.ui.rev)
	}
}

// touchLocked records operator activity and clears the last message.
func (a *App) touchLocked() {
	a.ui.lastActivity = a.now()
	a.ui.lastError = ""
}

// Wake leaves a kiosk's idle screen for home (or sign-in, once the
// operator was signed out).
func (a *App) Wake() View {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.touchLocked()
	if a.ui.screen == ScreenIdle {
		if a.staff.operator != "" {
			a.setScreenLocked(ScreenHome)
		} else {
			a.setScreenLocked(ScreenSignIn)
		}
	}
	return a.viewLocked()
}

// Activity is called by the page on the operator's or customer's input: it
// holds off the idle timeout.
func (a *App) Activity() {
	a.mu.Lock()
	a.ui.lastActivity = a.now()
	a.mu.Unlock()
}

// SignIn checks an operator's passphrase against the local accounts (so a
// field agent signs in offline). On first run, with no account yet, it
// creates the account it is given.
func (a *App) SignIn(name, passphrase string) (View, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.touchLocked()
	if a.ui.screen != ScreenSignIn {
		return a.viewLocked(), fmt.Errorf("signing in: not on the sign-in screen (%s)", a.ui.screen)
	}
	if len(a.staff.accounts.Accounts) == 0 {
		if err := validateAccount(name, passphrase); err != nil {
			a.ui.lastError = err.Error()
			return a.viewLocked(), err
		}
		h, err := hashPassphrase(name, passphrase)
		if err != nil {
			return a.viewLocked(), err
		}
		h.Role = RoleSupervisor // whoever sets the device up
		ops := operators{Accounts: []operatorHash{h}}
		if err := writeJSON(filepath.Join(a.cfg.Dir, "operators.json"), ops); err != nil {
			a.ui.lastError = err.Error()
			return a.viewLocked(), err
		}
		a.staff.accounts = ops
		a.staff.role = RoleSupervisor
	} else if role, err := a.checkPassLocked(name, passphrase); err != nil {
		a.ui.lastError = err.Error()
		a.cfg.Logger.Warn("sign-in refused")
		a.ui.rev++
		return a.viewLocked(), err
	} else {
		a.staff.role = role
	}
	a.staff.operator = name
	a.audit("operator.sign_in", name)
	a.setScreenLocked(ScreenHome)
	return a.viewLocked(), nil
}

// SignOut ends any session and shows sign-in.
func (a *App) SignOut() View {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.touchLocked()
	a.endSessionLocked()
	a.endHandoffLocked()
	a.stopCameraLocked() // the settings' preview or QR scan
	if a.staff.operator != "" {
		a.audit("operator.sign_out", a.staff.operator)
	}
	a.staff.operator, a.staff.role = "", ""
	if a.ui.screen != ScreenBlocked && a.ui.screen != ScreenStarting {
		a.setScreenLocked(ScreenSignIn)
	}
	return a.viewLocked()
}

// audit records an operator event in the vault's audit trail; a vault that
// is not open has nothing to record into (the home screen says so).
func (a *App) audit(action, subject string) {
	if a.vault == nil {
		return
	}
	if err := a.vault.Audit(a.ctx, vault.AuditEvent{Actor: "desktop", Action: action, Subject: subject}); err != nil {
		a.cfg.Logger.Error("audit", "action", action, "err", err)
	}
}

// QueueItem is one submission in the home screen's queue. It names nobody:
// the person's name is masked, and opening the item (Details) is the
// operator's explicit act.
type QueueItem struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	Name      string    `json:"name"` // masked: "S*** R*****"
	DocType   string    `json:"doc_type"`
	Decision  string    `json:"decision"`
	Operator  string    `json:"operator"`
	// Mine says the signed-in operator ran it (or is a supervisor): they
	// may open it and, refused, send it again (Details, Requeue).
	Mine     bool        `json:"mine"`
	State    vault.State `json:"state"`
	Attempts int         `json:"attempts"`
	Reason   string      `json:"reason,omitempty"`
	// Review is central's review of the delivered submission as the last
	// sync brought it (state; once decided the outcome and reason).
	Review *vault.Review `json:"review,omitempty"`
}

// QueueView is the home screen's queue and what it knows of central.
type QueueView struct {
	Items  []QueueItem `json:"items"`
	Sync   SyncView    `json:"sync"`
	Config ConfigInUse `json:"config"`
	Error  string      `json:"error,omitempty"`
}

// ConfigInUse is the configuration verifications run on, as the home
// screen shows it.
type ConfigInUse struct {
	// Watchlists are the lists screened against, as NAME@VERSION.
	Watchlists []string `json:"watchlists"`
	// Risk is the risk configuration document applied, empty for the
	// built-in defaults.
	Risk string `json:"risk,omitempty"`
	// Problems are the lists and documents left out, in words, and stale
	// screening data (ScreeningAge).
	Problems []string `json:"problems,omitempty"`
	// ScreeningAge is the lists' age under the risk configuration in use:
	// stale, a verification that would approve goes to review.
	ScreeningAge *risk.ScreeningAge `json:"screening_age,omitempty"`
	// Refused, when set, says why no verification can start and what to
	// do: the configuration on disk is not what central signed, or an
	// enrolled device holds none yet (sync again). Nothing is in use then.
	Refused string `json:"refused,omitempty"`
}

// configInUse describes the configuration verifications would use now,
// loaded again if it changed on disk (deviceConfig): one refused shows
// as soon as the home screen asks, not at the next verification.
func (a *App) configInUse() ConfigInUse {
	ci := ConfigInUse{Watchlists: []string{}}
	c, err := a.deviceConfig(a.lifetime())
	if err != nil {
		ci.Refused = refusedWords(err)
		return ci
	}
	ci.Watchlists, ci.Risk = c.Watchlists.Names(), c.Risk.Path
	ci.Problems = slices.Clone(c.Watchlists.Problems)
	for _, p := range []string{c.Risk.Problem, c.Warning} {
		if p != "" {
			ci.Problems = append(ci.Problems, p)
		}
	}
	age := c.Risk.Config.ScreeningAge(*a.dev.ScreeningData(c.Watchlists, a.now()))
	ci.ScreeningAge = &age
	if age.Stale {
		ci.Problems = append(ci.Problems, "the watchlists are stale, so verifications go to review (sync with central): "+age.Problem)
	}
	return ci
}

// maxQueueItems bounds the queue shown: the newest submissions.
const maxQueueItems = 50

// Queue lists the vault's submissions, newest first, with their sync state.
func (a *App) Queue() QueueView {
	a.mu.Lock()
	v, st, op, role := a.vault, a.link.status, a.staff.operator, a.staff.role
	a.mu.Unlock()
	if op == "" {
		// Whose customers were verified when, and how: the signed-in
		// operator's to see, not the sign-in screen's; nor where the
		// device syncs and how that goes (central's address, the last
		// pass's error), nor the configuration in use, which only the
		// home screen shows.
		return QueueView{Items: []QueueItem{}, Sync: SyncView{SyncStatus: SyncStatus{Enrolled: st.Enrolled}, Now: a.now()},
			Error: "sign in to see the queue"}
	}
	q := QueueView{Items: []QueueItem{}, Sync: a.syncView(st), Config: a.configInUse()}
	if v == nil {
		q.Error = "the vault is not open"
		return q
	}
	ctx := a.ctx
	subs, err := v.ListSubmissions(ctx)
	if err != nil {
		q.Error = err.Error()
		return q
	}
	slices.Reverse(subs)
	for _, s := range subs[:min(len(subs), maxQueueItems)] {
		sum, err := a.summary(ctx, v, s.ID)
		if err != nil {
			q.Error = err.Error()
			return q
		}
		it := QueueItem{ID: s.ID, CreatedAt: s.CreatedAt, Name: sum.Name, DocType: sum.DocType, Decision: string(sum.Decision),
			Operator: sum.Operator, Mine: sum.Operator == op || role == RoleSupervisor}
		e, err := v.OutboxStatus(ctx, s.ID)
		if errors.Is(err, vault.ErrNotFound) {
			it.State = "not queued"
		} else if err != nil {
			q.Error = err.Error()
			return q
		} else {
			it.State, it.Attempts, it.Reason, it.Review = e.State, e.Attempts, e.Reason, e.Review
		}
		q.Items = append(q.Items, it)
	}
	return q
}

// CameraChoice is one capture source the settings screen offers.
type CameraChoice struct {
	Source string `json:"source"`
	Label  string `json:"label"`
}

// SettingsView is the settings screen's data.
type SettingsView struct {
	Settings Settings       `json:"settings"`
	Cameras  []CameraChoice `json:"cameras"`
	// SignInToSee: nobody is signed in, and the settings are shown only
	// as the screens render themselves (the language, the kiosk mode and
	// the idle timeout), without the cameras.
	SignInToSee bool `json:"sign_in_to_see,omitempty"`
}

// Settings returns the settings and the cameras to choose from: the
// attached cameras and the demo videos. Nobody signed in (but at the
// first run) gets only what the screens render themselves by, as the View
// carries it: the settings screen opens from sign-in, where at a kiosk
// anyone stands, and may do nothing there but enrol and add an operator,
// each behind a supervisor's passphrase (mayConfigureLocked). The capture
// sources (a stream's address and user, the paths on the disk that
// captures come from) and the cameras attached are a signed-in
// operator's to see.
func (a *App) Settings() SettingsView {
	a.mu.Lock()
	s, full, sup := a.settings, a.mayConfigureLocked() == nil, a.supervisesLocked()
	a.mu.Unlock()
	if !full {
		return SettingsView{Settings: Settings{Lang: s.Lang, Kiosk: s.Kiosk, IdleSeconds: s.IdleSeconds},
			Cameras: []CameraChoice{}, SignInToSee: true}
	}
	sv := SettingsView{Settings: s}
	// An IP camera's password is not shown (SaveSettings takes the
	// address as shown for the one kept); to a plain operator, who may
	// not change the cameras, neither its user nor a token in its query.
	shown := source.Redact
	if !sup {
		shown = source.ForLog
	}
	sv.Settings.DocumentCamera = shown(sv.Settings.DocumentCamera)
	sv.Settings.SelfieCamera = shown(sv.Settings.SelfieCamera)
	sv.Cameras = []CameraChoice{{Source: "", Label: "Demo video (no camera)"}}
	cams, _ := camera.List(a.cfg.SysRoot)
	for _, c := range cams {
		sv.Cameras = append(sv.Cameras, CameraChoice{Source: c.Path, Label: c.Name + " (" + c.Path + ")"})
	}
	return sv
}

// OpenSettings shows the settings screen; CloseSettings returns.
func (a *App) OpenSettings() View {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.touchLocked()
	if a.sess == nil && (a.ui.screen == ScreenHome || a.ui.screen == ScreenSignIn) {
		a.ui.back = a.ui.screen
		a.setScreenLocked(ScreenSettings)
	}
	return a.viewLocked()
}

// CloseSettings returns from the settings screen.
func (a *App) CloseSettings() View {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.touchLocked()
	a.stopCameraLocked()
	if a.ui.screen == ScreenSettings {
		a.setScreenLocked(a.ui.back)
	}
	return a.viewLocked()
}

// SaveSettings validates and keeps s; kiosk mode applies from the next
// start.
func (a *App) SaveSettings(s Settings) (View, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.touchLocked()
	if err := a.mayConfigureLocked(); err != nil {
		a.ui.lastError = err.Error()
		a.ui.rev++
		return a.viewLocked(), err
	}
	sup := a.supervisesLocked()
	s.DocumentCamera = keptCamera(s.DocumentCamera, a.settings.DocumentCamera, sup)
	s.SelfieCamera = keptCamera(s.SelfieCamera, a.settings.SelfieCamera, sup)
	changed := s.DocumentCamera != a.settings.DocumentCamera || s.SelfieCamera != a.settings.SelfieCamera || s.Kiosk != a.settings.Kiosk
	if changed && !sup {
		a.ui.lastError = errSupervisorCameras.Error()
		a.ui.rev++
		return a.viewLocked(), errSupervisorCameras
	}
	err := checkNewCameras(s, a.settings)
	if err == nil {
		err = s.Validate()
	}
	if err != nil {
		a.ui.lastError = err.Error()
		a.ui.rev++
		return a.viewLocked(), err
	}
	if err := writeJSON(filepath.Join(a.cfg.Dir, "settings.json"), s); err != nil {
		a.ui.lastError = err.Error()
		return a.viewLocked(), err
	}
	a.settings = s
	a.setScreenLocked(a.ui.screen)
	return a.viewLocked(), nil
}

// errSignInToConfigure refuses the settings' cameras and choices to
// nobody signed in.
var errSignInToConfigure = errors.New("sign in to change the settings or use a camera from them")

// mayConfigureLocked lets an operator signed in, or anyone on the first
// run (no account yet: the installer's setup), save the settings or open
// a camera from them. The settings screen opens from sign-in, where at a
// kiosk anyone walking up stands: a camera typed there may be a stream
// URL, a video or a folder of pictures on the disk (captures exported
// with `kyc capture`), which the preview would show and the next
// customer's selfie would come from.
func (a *App) mayConfigureLocked() error {
	if a.staff.operator == "" && len(a.staff.accounts.Accounts) > 0 {
		return errSignInToConfigure
	}
	return nil
}

// errSupervisorCameras refuses a plain operator the capture sources and
// the kiosk mode.
var errSupervisorCameras = errors.New("only a supervisor may change the cameras or the kiosk mode, or show a camera other than those set or attached")

// supervisesLocked reports whether the signed-in operator is a supervisor,
// or the device has no account yet (the first run's setup). The capture
// sources are every verification's evidence: a video file or a folder of
// pictures as the selfie camera is sealed as a customer's selfie, and the
// feed check that spots a still fed through a virtual camera does not
// judge a file (the operator's own, as the demo camera is). So choosing
// them, and taking a kiosk out of its kiosk mode, is a supervisor's.
func (a *App) supervisesLocked() bool {
	return a.staff.role == RoleSupervisor || len(a.staff.accounts.Accounts) == 0
}

// keptCamera is the camera kept when the settings screen sends back the
// redacted address it was shown (Settings: source.Redact to a supervisor,
// source.ForLog to a plain operator), else sent.
func keptCamera(sent, kept string, supervisor bool) string {
	shown := source.Redact(kept)
	if !supervisor {
		shown = source.ForLog(kept)
	}
	if sent != kept && sent == shown {
		return kept
	}
	return sent
}

// LoadKioskSetting reads whether the kiosk mode is set, for main to build
// the window before the app starts.
func LoadKioskSetting(dir string) (bool, error) {
	s := DefaultSettings()
	if err := readJSON(filepath.Join(dir, "settings.json"), &s); err != nil {
		return false, err
	}
	return s.Kiosk, nil
}

// DefaultDir is the app's folder when Config.Dir is empty:
// $KYC_HOME/desktop.
func DefaultDir() (string, error) {
	home, err := models.Home()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, "desktop"), nil
}
