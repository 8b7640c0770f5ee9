package vault

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// TestPin: the enrolment pin and its configuration mark survive closing,
// rotating and compacting the vault; a mark is kept only for the
// enrolment pinned, a new enrolment starts without one, and a damaged pin
// is an error, never "not enrolled".
func TestPin(t *testing.T) {
	ctx := context.Background()
	v := openTest(t, Options{})
	if _, ok, err := v.Pinned(ctx); ok || err != nil {
		t.Fatalf("new vault: pinned %v, %v; want none", ok, err)
	}
	mark := ConfigMark{IssuedAt: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), RiskVersion: 3, Watchlists: map[string]int64{"un.list.json.gz": 7}}
	if err := v.RecordConfig(ctx, []byte("keys"), mark); !errors.Is(err, ErrPinChanged) {
		t.Fatalf("a mark without a pin: %v, want ErrPinChanged", err)
	}
	if err := v.SetPin(ctx, Pin{CentralURL: "https://central", DeviceID: "dev"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a pin without keys: %v, want ErrInvalid", err)
	}
	pin := Pin{CentralURL: "https://central", DeviceID: "dev", Keys: []byte("keys")}
	if err := v.SetPin(ctx, pin); err != nil {
		t.Fatal(err)
	}
	if err := v.RecordConfig(ctx, []byte("other keys"), mark); !errors.Is(err, ErrPinChanged) {
		t.Fatalf("a mark for another enrolment: %v, want ErrPinChanged", err)
	}
	if err := v.RecordConfig(ctx, pin.Keys, mark); err != nil {
		t.Fatal(err)
	}
	if err := v.Rotate(ctx, Passphrase(testPassphrase+" rotated")); err != nil {
		t.Fatal(err)
	}
	if err := v.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	path := v.Path()
	v.Close()
	v = openAt(t, path, Passphrase(testPassphrase+" rotated"), Options{})
	want := pin
	want.Config = &mark
	if got, ok, err := v.Pinned(ctx); err != nil || !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("after rotating, compacting and reopening: %+v, %v, %v; want %+v", got, ok, err, want)
	}
	// Enrolled again: the mark of the enrolment before goes with it.
	again := Pin{CentralURL: "https://central2", DeviceID: "dev", Keys: []byte("keys2"), Config: &mark}
	if err := v.SetPin(ctx, again); err != nil {
		t.Fatal(err)
	}
	if got, _, err := v.Pinned(ctx); err != nil || got.Config != nil || got.CentralURL != again.CentralURL {
		t.Fatalf("enrolled again: %+v, %v; want the new pin without a mark", got, err)
	}
	rawUpdate(t, v, func(tx *bbolt.Tx) error {
		slot := dekSlot(bucketMeta, []byte(metaPin))
		val := clone(tx.Bucket([]byte(bucketKeys)).Get(slot))
		val[len(val)-1] ^= 1
		return tx.Bucket([]byte(bucketKeys)).Put(slot, val)
	})
	if _, ok, err := v.Pinned(ctx); !errors.Is(err, ErrAuthentication) || ok {
		t.Fatalf("damaged pin: %v, %v; want ErrAuthentication", ok, err)
	}
	if err := v.RecordConfig(ctx, again.Keys, mark); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("a mark on a damaged pin: %v, want ErrAuthentication", err)
	}
	// Enrolling again mends it.
	if err := v.SetPin(ctx, pin); err != nil {
		t.Fatalf("pinning over a damaged pin: %v", err)
	}
	if got, ok, err := v.Pinned(ctx); err != nil || !ok || got.CentralURL != pin.CentralURL {
		t.Fatalf("pinned over the damage: %+v, %v, %v", got, ok, err)
	}
}
