package central

import (
	"context"
	"encoding/base64"
	"time"
)

// HostedSessionKey is the HostedStates key of a hosted session's value
// name (the hosted flow keeps each step's capture under one). Every such
// key of a session starts with HostedSessionPrefix, by which EraseFlows
// deletes them in its transaction: the captures of a session still in
// progress are a face and an ID document, which an erasure must not leave
// behind until they expire.
func HostedSessionKey(partnerID, sessionID, name string) string {
	return HostedSessionPrefix(partnerID, sessionID) + name
}

// HostedSessionPrefix starts every HostedSessionKey of the session, and
// no other session's (the ids are encoded, so neither holds a "/").
func HostedSessionPrefix(partnerID, sessionID string) string {
	e := base64.RawURLEncoding.EncodeToString
	return "cap/" + e([]byte(partnerID)) + "/" + e([]byte(sessionID)) + "/"
}

// HostedStates keeps the hosted capture flow's live state where every
// central instance sharing the store sees it (issue 22): a session's
// captures between the camera and the verification, and the Smart QR
// short codes. Values live under a key until their expiry; readers never
// see an expired value, and ExpireHostedState removes them. Both stores
// implement it, and seal.Store seals every value (a capture is a face and
// an ID document). It is apart from Store so a store may leave it out (a
// hosted flow refuses to start without it).
type HostedStates interface {
	// PutHostedState stores value under key until expires, replacing any.
	PutHostedState(ctx context.Context, key string, value []byte, expires time.Time) error
	// CreateHostedState stores value under key until expires only if the
	// key holds no value live at now; else ErrConflict.
	CreateHostedState(ctx context.Context, key string, value []byte, now, expires time.Time) error
	// HostedState returns key's value; ErrNotFound when it has none or
	// its value expired at now.
	HostedState(ctx context.Context, key string, now time.Time) ([]byte, error)
	// DeleteHostedState deletes the keys' values (a key without one is
	// no error).
	DeleteHostedState(ctx context.Context, keys ...string) error
	// ExpireHostedState deletes up to limit values expired at now, or
	// expiring later than HostedStateMaxTTL after it, and says how many
	// it deleted.
	ExpireHostedState(ctx context.Context, now time.Time, limit int) (int, error)
}

// HostedStateMaxTTL bounds how long after now a hosted value may expire:
// a capture lives until its session's end and ten minutes, and a session
// at most FlowMaxTTL. One expiring later was stored by a clock since put
// back (an NTP step back, or a clock set years ahead and corrected): a
// face and an ID document kept for as long as the clock was off, of a
// session already ended (FlowSession.StatusAt); ExpireHostedState removes
// it.
const HostedStateMaxTTL = FlowMaxTTL + time.Hour

// HostedHead is the first bytes of a hosted state value as stored (where
// seal.Store keeps the value's wrapped data key).
type HostedHead struct {
	Key  string
	Head []byte
}

// HostedHeadSwap replaces the first bytes of Key's value: Old, as
// HostedStateHeads listed them, by New.
type HostedHeadSwap struct {
	Key      string
	Old, New []byte
}

// HostedKeyStore is what key rotation needs of HostedStates: seal.Store
// keeps each value's data key, wrapped by the key-encryption key, at the
// value's head, and a rotation rewraps it there, leaving the sealed
// capture behind it in place (a retired key-encryption key would
// otherwise end every hosted flow under way). Both stores implement it.
type HostedKeyStore interface {
	// HostedStateHeads returns up to limit values (expired or not) whose
	// keys sort after after, in key order, each cut to its first n bytes.
	HostedStateHeads(ctx context.Context, after string, n, limit int) ([]HostedHead, error)
	// SwapHostedStateHeads applies, in one transaction, each swap whose
	// key's value still starts with Old: those len(Old) bytes become New,
	// the rest of the value and its expiry stay. It returns how many it
	// applied; the others were replaced or deleted meanwhile (Old must be
	// unique to the value it was read from: seal's holds a wrapped key of
	// its own), and are not brought back.
	SwapHostedStateHeads(ctx context.Context, swaps []HostedHeadSwap) (int, error)
}
