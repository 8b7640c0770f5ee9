package device

import (
	"context"
	"testing"
	"time"
)

func TestCheckClock(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		profile Profile
		last    time.Time
		want    Status
		key     string
	}{
		{"recent contact", ProfileKiosk, now.Add(-time.Hour), StatusPass, ""},
		{"server slightly ahead", ProfileKiosk, now.Add(2 * time.Minute), StatusPass, ""},
		{"clock turned back", ProfileKiosk, now.Add(3 * time.Hour), StatusFail, "clock_behind_by"},
		{"offline two days in a kiosk", ProfileKiosk, now.Add(-48 * time.Hour), StatusWarn, "offline_for"},
		{"offline two days in the field", ProfileField, now.Add(-48 * time.Hour), StatusPass, ""},
		{"offline two weeks in the field", ProfileField, now.Add(-14 * 24 * time.Hour), StatusWarn, "offline_for"},
		{"never contacted", ProfileKiosk, time.Time{}, StatusWarn, "last_central_contact"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := newEnv(Options{
				Root:               t.TempDir(),
				Policy:             mustPolicy(t, tt.profile),
				LastCentralContact: tt.last,
				Now:                func() time.Time { return now },
			})
			if err != nil {
				t.Fatal(err)
			}
			r := checkClock(context.Background(), e)
			if r.Status != tt.want {
				t.Errorf("status %s, want %s: %v", r.Status, tt.want, r.Evidence)
			}
			if _, ok := r.Evidence[tt.key]; tt.key != "" && !ok {
				t.Errorf("evidence lacks %s: %v", tt.key, r.Evidence)
			}
		})
	}
}

func TestCheckCameraCapability(t *testing.T) {
	tests := []struct {
		name string
		cam  *CameraMode
		want Status
	}{
		{"full hd", &CameraMode{Width: 1920, Height: 1080, FPS: 30}, StatusPass},
		{"exactly the minimum", &CameraMode{Width: 1280, Height: 720, FPS: 15}, StatusPass},
		{"portrait mounted", &CameraMode{Width: 720, Height: 1280, FPS: 30}, StatusPass},
		{"vga", &CameraMode{Width: 640, Height: 480, FPS: 30}, StatusFail},
		{"wide but short", &CameraMode{Width: 1920, Height: 600, FPS: 30}, StatusFail},
		{"slow", &CameraMode{Width: 1920, Height: 1080, FPS: 10}, StatusFail},
		{"garbage", &CameraMode{Width: -5, Height: 0, FPS: -1}, StatusFail},
		{"not described", nil, StatusWarn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := newEnv(Options{Root: t.TempDir(), Camera: tt.cam})
			if err != nil {
				t.Fatal(err)
			}
			if r := checkCameraCapability(context.Background(), e); r.Status != tt.want {
				t.Errorf("status %s, want %s: %v", r.Status, tt.want, r.Evidence)
			}
		})
	}
}
