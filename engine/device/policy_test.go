package device

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestVerdict(t *testing.T) {
	kiosk := mustPolicy(t, ProfileKiosk)
	field := mustPolicy(t, ProfileField)
	res := func(name string, st Status) Result { return Result{Name: name, Status: st} }
	tests := []struct {
		name    string
		policy  Policy
		results []Result
		want    Verdict
	}{
		{"all pass", kiosk, []Result{res(CheckDebugger, StatusPass), res(CheckHooking, StatusPass)}, VerdictOK},
		{"root only warns", kiosk, []Result{res(CheckRootUser, StatusWarn)}, VerdictWarn},
		{"virtual camera blocks", field, []Result{res(CheckRootUser, StatusWarn), res(CheckVirtualCamera, StatusFail)}, VerdictBlock},
		{"kiosk blocks unsealed binary", kiosk, []Result{res(CheckBinaryIntegrity, StatusWarn)}, VerdictBlock},
		{"field warns on unsealed binary", field, []Result{res(CheckBinaryIntegrity, StatusWarn)}, VerdictWarn},
		{"kiosk blocks remote desktop", kiosk, []Result{res(CheckRemoteAccess, StatusFail)}, VerdictBlock},
		{"field warns on remote desktop", field, []Result{res(CheckRemoteAccess, StatusFail)}, VerdictWarn},
		{"unknown check fails closed", field, []Result{res("future_check", StatusFail)}, VerdictBlock},
		{"ignored rule", Policy{Profile: "custom", Rules: map[string]Rule{CheckVirtualMachine: {OnFail: ActionIgnore}}},
			[]Result{res(CheckVirtualMachine, StatusFail)}, VerdictOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.Verdict(tt.results); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestDefaultPolicy(t *testing.T) {
	for _, p := range []Profile{ProfileKiosk, ProfileField} {
		pol := mustPolicy(t, p)
		if err := pol.Validate(); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		if pol.Profile != p || pol.MaxOffline <= 0 || pol.MinCamera.FPS <= 0 {
			t.Errorf("%s: %+v", p, pol)
		}
	}
	if _, err := DefaultPolicy("atm"); !errors.Is(err, ErrUnknownProfile) {
		t.Errorf("unknown profile: %v", err)
	}
}

func TestPolicyJSON(t *testing.T) {
	pol := mustPolicy(t, ProfileField)
	b, err := json.Marshal(pol)
	if err != nil {
		t.Fatal(err)
	}
	var back Policy
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pol, back) {
		t.Errorf("round trip:\n%+v\n%+v", pol, back)
	}

	const edited = `{"profile":"kiosk","rules":{"root_user":{"on_warn":"block"}},
		"min_camera":{"width":1920,"height":1080,"fps":30},"clock_tolerance":"90s","max_offline":"12h"}`
	var custom Policy
	if err := json.Unmarshal([]byte(edited), &custom); err != nil {
		t.Fatal(err)
	}
	if custom.ClockTolerance != Duration(90*time.Second) || custom.MaxOffline != Duration(12*time.Hour) {
		t.Errorf("durations %v %v", custom.ClockTolerance, custom.MaxOffline)
	}
	if v := custom.Verdict([]Result{{Name: CheckRootUser, Status: StatusWarn}}); v != VerdictBlock {
		t.Errorf("custom rule: %s", v)
	}
	for _, bad := range []string{`{"max_offline":"soon"}`, `{"max_offline":3600}`} {
		if err := json.Unmarshal([]byte(bad), &custom); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
	}{
		{"no profile", Policy{}},
		{"unknown action", Policy{Profile: "kiosk", Rules: map[string]Rule{CheckClock: {OnFail: "panic"}}}},
		{"negative camera", Policy{Profile: "kiosk", MinCamera: CameraMode{Width: -1}}},
		{"negative tolerance", Policy{Profile: "kiosk", ClockTolerance: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.p.Validate(); !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("got %v", err)
			}
		})
	}
}
