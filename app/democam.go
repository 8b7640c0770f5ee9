package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/openkyc/kyc/app/demo"
	"github.com/openkyc/kyc/engine/face"
	"github.com/openkyc/kyc/engine/imageio"
	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/internal/runtimeinfo"
	"github.com/openkyc/kyc/models"
)

// demoDir is where the demo camera's videos live: $KYC_HOME/demo.
func (a *App) demoDir() string {
	return filepath.Join(filepath.Dir(a.cfg.Dir), "demo")
}

// DemoPortrait is the demo person the tests and the README use: a colour
// portrait of the shared liveness set (liveness/interfaces_cc0) facing the
// camera, as an ID photo does, which the selfie guidance captures from the
// demo's selfie video and the passive liveness accepts with margin (0.87
// against 0.5).
const DemoPortrait = "083.jpg"

// demoPhotos are the demo person's photos: the one printed on the card and
// the one the selfie video is rendered from (Config). One photo serves for
// both: demo.Card prints it, the document video photographs the card in
// perspective and the engine rectifies it, so the demo's face match is of
// a photo with its printed copy. The camera must see colour: a greyscale
// face is never passed by the passive liveness alone.
func (a *App) demoPhotos() (card, selfie string) {
	card, selfie = a.cfg.DemoCardPhoto, a.cfg.DemoSelfiePhoto
	if card == "" {
		card = selfie
	}
	if selfie == "" {
		selfie = card
	}
	return card, selfie
}

// demoVideo is the demo camera for a capture (document or selfie).
func demoVideo(dir, kind string) string {
	return filepath.Join(dir, kind+".avi")
}

// ensureDemo renders the demo videos into dir unless both are there.
func (a *App) ensureDemo(ctx context.Context) error {
	dir := a.demoDir()
	doc, selfie := demoVideo(dir, "document"), demoVideo(dir, "selfie")
	if exists(doc) && exists(selfie) {
		return nil
	}
	cardPath, selfiePath := a.demoPhotos()
	if cardPath == "" {
		return errors.New("no demo photo configured ($KYC_DEMO_PHOTO): choose a camera in the settings")
	}
	photo, err := imageio.ReadFile(cardPath, 0)
	if err != nil {
		return fmt.Errorf("reading the demo card photo: %w", err)
	}
	defer photo.Close()
	selfiePhoto, err := imageio.ReadFile(selfiePath, 0)
	if err != nil {
		return fmt.Errorf("reading the demo selfie photo: %w", err)
	}
	defer selfiePhoto.Close()
	det, err := openDetector(a.cfg.Store)
	if err != nil {
		return err
	}
	defer det.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	portrait, err := demo.Portrait(ctx, det, photo)
	if err != nil {
		return err
	}
	defer portrait.Close()
	card := demo.Card(portrait, demo.CardLines("SEUMUR HIDUP"))
	defer card.Close()
	// Written under temporary names and renamed, so a half-written video
	// is never taken for a camera.
	for _, v := range []struct {
		path  string
		write func(string) error
	}{
		{doc, func(p string) error { return demo.WriteDocumentVideo(p, card) }},
		{selfie, func(p string) error { return demo.WriteSelfieVideo(ctx, p, det, selfiePhoto) }},
	} {
		tmp := v.path + ".tmp.avi"
		if err := v.write(tmp); err != nil {
			os.Remove(tmp)
			return err
		}
		if err := os.Rename(tmp, v.path); err != nil {
			return fmt.Errorf("writing the demo video: %w", err)
		}
	}
	return nil
}

// openDetector loads the face detector from the store.
func openDetector(store *models.Store) (*face.YuNet, error) {
	if err := runtimeinfo.LoadRuntime(store); err != nil {
		return nil, fmt.Errorf("loading ONNX Runtime: %w", err)
	}
	p, err := store.Path("yunet")
	if err != nil {
		return nil, err
	}
	return face.NewYuNet(p, face.YuNetConfig{}, ort.Options{IntraOpThreads: 1, InterOpThreads: 1})
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}
