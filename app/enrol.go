package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/openkyc/kyc/engine/capture"
	"github.com/openkyc/kyc/engine/capture/source"
	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/sync/agent"
	"github.com/openkyc/kyc/sync/identity"
	"github.com/openkyc/kyc/sync/protocol"
)

// EnrolRequest is the settings screen's enrolment form: central's address,
// the one-time token from `kyc-central token create` (typed or read from
// its QR code), central's CA (a PEM, or the path of ca.crt) and the
// supervisor who allows it.
type EnrolRequest struct {
	CentralURL string `json:"central_url"`
	Token      string `json:"token"`
	CA         string `json:"ca"`
	Supervisor string `json:"supervisor"`
	Passphrase string `json:"passphrase"`
	// Again enrols an enrolled device again (central restored or moved):
	// the device key and the vault stay.
	Again bool `json:"again"`
}

// maxCAFile bounds the CA file the enrolment form names: a PEM
// certificate chain is a few kilobytes.
const maxCAFile = 1 << 20

// EnrolmentView is the settings screen's enrolment state. Nobody signed
// in sees only whether the device is enrolled (Enrolment).
type EnrolmentView struct {
	Enrolled   bool      `json:"enrolled"`
	DeviceID   string    `json:"device_id,omitempty"`
	CentralURL string    `json:"central_url,omitempty"`
	EnrolledAt time.Time `json:"enrolled_at,omitzero"`
}

// Enrolment says whether and where the device is enrolled. Where is a
// signed-in operator's (or the first run's) to see: the settings screen
// opens from sign-in, where at a kiosk anyone stands, and a page's script
// there may call this; the device's id and central's address tell a
// walk-up where to aim. The enrolment form needs neither: a supervisor
// enrolling from sign-in types the address.
func (a *App) Enrolment() EnrolmentView {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.enrolmentLocked(a.mayConfigureLocked() == nil)
}

// enrolmentLocked is the enrolment as Enrolment shows it: whether the
// device is enrolled, and with full where.
func (a *App) enrolmentLocked(full bool) EnrolmentView {
	enr, err := identity.LoadEnrollment(a.dev.EnrollmentPath())
	if errors.Is(err, identity.ErrMalformed) {
		// Enrolled, but the file is refused (the home screen says why):
		// nothing of it is shown.
		return EnrolmentView{Enrolled: true}
	}
	if err != nil {
		return EnrolmentView{}
	}
	if !full {
		return EnrolmentView{Enrolled: true}
	}
	return EnrolmentView{Enrolled: true, DeviceID: enr.DeviceID, CentralURL: identity.RedactURL(enr.CentralURL), EnrolledAt: enr.EnrolledAt}
}

// Enrol enrols the device with central as `kyc enroll` does, behind a
// supervisor's passphrase, and starts syncing at once. Nothing is saved
// unless central accepts the enrolment with the keys the token names.
func (a *App) Enrol(req EnrolRequest) (EnrolmentView, error) {
	a.mu.Lock()
	a.touchLocked()
	role, err := a.checkPassLocked(req.Supervisor, req.Passphrase)
	a.mu.Unlock()
	if err != nil || role != RoleSupervisor {
		err = errors.Join(errors.New("a supervisor's name and passphrase are needed to enrol the device"), tooMany(err))
	} else {
		err = a.enrol(a.ctx, req)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.ui.lastError = "Enrolment failed: " + err.Error()
		a.cfg.Logger.Warn("enrolment from the app", "err", err)
		a.ui.rev++
		return a.enrolmentLocked(a.mayConfigureLocked() == nil), err
	}
	a.audit("device.enrol", req.Supervisor)
	select {
	case a.enrolled <- struct{}{}: // the sync loop looks for the enrolment now
	default:
	}
	a.setScreenLocked(a.ui.screen)
	return a.enrolmentLocked(true), nil // the supervisor's passphrase was given
}

func (a *App) enrol(ctx context.Context, req EnrolRequest) error {
	central, token := strings.TrimSpace(req.CentralURL), strings.TrimSpace(req.Token)
	if c, t, ok := parseEnrolQR(token); ok {
		token = t
		if c != "" { // a QR code of the token alone keeps the address typed
			central = c
		}
	}
	if _, err := identity.ParseCentralURL(central); err != nil {
		return err
	}
	if _, err := protocol.ParseEnrollToken(token); err != nil {
		return fmt.Errorf("%w: a token from `kyc-central token create` reads <secret>.<fingerprint>", err)
	}
	var caPEM []byte
	if ca := strings.TrimSpace(req.CA); strings.HasPrefix(ca, "-----BEGIN") {
		caPEM = []byte(ca)
	} else if ca != "" {
		// A regular file of a CA's size: a FIFO would keep this call
		// waiting for a writer, /dev/zero would fill the memory.
		b, err := atomicfile.Read(ca, maxCAFile)
		if err != nil {
			return fmt.Errorf("reading central's CA: %w", err)
		}
		caPEM = b
	}
	if _, err := os.Stat(a.dev.EnrollmentPath()); err == nil && !req.Again {
		return errors.New("this device is already enrolled (to enrol it again, tick \"enrol again\")")
	}
	if err := os.MkdirAll(a.dev.Dir, 0o700); err != nil {
		return fmt.Errorf("creating the device folder: %w", err)
	}
	id, err := identity.LoadOrCreate(a.dev.DeviceKeyPath())
	if err != nil {
		return err
	}
	enr, err := identity.EnrollWithCA(ctx, caPEM, central, token, id, a.cfg.Version)
	if err != nil {
		return err
	}
	// Pinned in the vault before the file is written (agent.PinOf); a
	// vault not open pins it at its first sync.
	a.mu.Lock()
	v := a.vault
	a.mu.Unlock()
	if v != nil {
		if err := v.SetPin(ctx, agent.PinOf(enr)); err != nil {
			return err
		}
	}
	return identity.SaveEnrollment(a.dev.EnrollmentPath(), enr)
}

// parseEnrolQR reads an enrolment QR code that carries central's address
// with the token, openkyc-enrol:?central=URL&token=TOKEN (central may be
// left out); a QR code of the token alone is the token.
func parseEnrolQR(s string) (central, token string, ok bool) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "openkyc-enrol" {
		return "", "", false
	}
	q := u.Query()
	return q.Get("central"), q.Get("token"), q.Get("token") != ""
}

// ScanQR reads a QR code with camera cam (the settings' document camera
// when empty) for up to 20 seconds, showing the camera in the preview
// meanwhile, and returns its text: the enrolment token.
func (a *App) ScanQR(cam string) (string, error) {
	ctx, cancel, cam, err := a.cameraWork(cam, 20*time.Second)
	if err != nil {
		return "", err
	}
	defer cancel()
	g := newQRGuide()
	_, _, err = a.runGuide(ctx, cam, g, capture.Lang(a.settingsLang()))
	a.preview.stop()
	if g.text != "" {
		return g.text, nil
	}
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		err = errors.New("no QR code seen in 20 seconds")
	}
	return "", fmt.Errorf("scanning: %w", err)
}

// PreviewCamera shows camera cam in the preview for up to 30 seconds, or
// until StopPreview: the settings screen's check that the right camera is
// chosen.
func (a *App) PreviewCamera(cam string) error {
	ctx, cancel, cam, err := a.cameraWork(cam, 30*time.Second)
	if err != nil {
		return err
	}
	a.goBackground(func(context.Context) {
		defer cancel()
		_, _, err := a.runGuide(ctx, cam, watchGuide{}, capture.Lang(a.settingsLang()))
		a.preview.stop()
		if err != nil && ctx.Err() == nil {
			a.cfg.Logger.Warn("camera preview", "camera", source.ForLog(cam), "err", err)
		}
	})
	return nil
}

// StopPreview ends a settings camera preview or QR scan.
func (a *App) StopPreview() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopCameraLocked()
}

// stopCameraLocked ends the settings screen's use of the camera, if any.
func (a *App) stopCameraLocked() {
	if a.cameraStop != nil {
		a.cameraStop()
		a.cameraStop = nil
	}
}

// cameraWork readies a camera use outside a session: none may run, the
// previous preview ends, and the returned context bounds this one.
func (a *App) cameraWork(cam string, limit time.Duration) (context.Context, context.CancelFunc, string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.touchLocked()
	if err := a.mayConfigureLocked(); err != nil {
		return nil, nil, "", err
	}
	if a.sess != nil {
		return nil, nil, "", errors.New("the camera is in use by a verification")
	}
	sup := a.supervisesLocked()
	cam = keptCamera(keptCamera(cam, a.settings.DocumentCamera, sup), a.settings.SelfieCamera, sup)
	if cam != "" && cam != a.settings.DocumentCamera && cam != a.settings.SelfieCamera && !sup {
		// A camera attached, not a file or folder on the disk.
		if spec, err := source.Parse(cam); err != nil || spec.Kind != source.KindDevice {
			return nil, nil, "", errSupervisorCameras
		}
	}
	if cam == "" {
		cam = a.settings.DocumentCamera
	}
	if cam == "" {
		cam = demoVideo(a.demoDir(), "document")
	}
	a.stopCameraLocked()
	ctx, cancel := context.WithTimeout(a.ctx, limit)
	a.cameraStop = cancel
	return ctx, cancel, cam, nil
}

func (a *App) settingsLang() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.settings.Lang
}

// qrGuide is a capture guide that looks for a QR code in every frame it
// is given. The decoder is ZXing's (gozxing): Debian's OpenCV is built
// without the QR decoder (QUIRC), so gocv's finds codes but reads none.
type qrGuide struct {
	reader gozxing.Reader
	text   string
}

func newQRGuide() *qrGuide { return &qrGuide{reader: qrcode.NewQRCodeReader()} }

func (g *qrGuide) Analyse(_ context.Context, f capture.Frame) (capture.Overlay, error) {
	img, err := f.Image.ToImage()
	if err != nil {
		return capture.Overlay{}, fmt.Errorf("reading a frame: %w", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return capture.Overlay{}, nil // a frame the binarizer refuses holds no code
	}
	if res, err := g.reader.Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}); err == nil {
		g.text = res.GetText()
	}
	return capture.Overlay{}, nil
}
func (g *qrGuide) Done() bool                  { return g.text != "" }
func (g *qrGuide) Captures() []capture.Capture { return nil }
func (g *qrGuide) Close() error                { return nil }

// watchGuide only watches: the camera preview of the settings screen.
type watchGuide struct{}

func (watchGuide) Analyse(context.Context, capture.Frame) (capture.Overlay, error) {
	return capture.Overlay{}, nil
}
func (watchGuide) Done() bool                  { return false }
func (watchGuide) Captures() []capture.Capture { return nil }
func (watchGuide) Close() error                { return nil }
