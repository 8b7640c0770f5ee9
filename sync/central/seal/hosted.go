package seal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/openkyc/kyc/sync/central"
)

var _ central.HostedStates = (*Store)(nil)

// ErrNoHostedState means the inner store does not implement
// central.HostedStates.
var ErrNoHostedState = errors.New("seal: the store keeps no hosted flow state")

// The hosted flow's live state (captures, short codes) is sealed value by
// value: a data key of its own, wrapped by the KEK, with the key the value
// is stored under in both associated data (a value moved to another key
// does not open). Stored: key id length (2 bytes), key id, wrapped key
// length (2 bytes), wrapped key, then the value as encrypt seals it. One
// Wrap per value; a session writes a few. A key rotation rewraps the head
// (the key id and wrapped key) in place, as it rewraps submissions' data
// keys, before it retires a KEK (RewrapHosted): a person capturing on
// their phone meanwhile keeps their captures and short code.

func hostedAAD(purpose, key string) []byte {
	return []byte("openkyc central seal v1\x00hosted-" + purpose + "\x00" + key)
}

func (s *Store) hostedInner() (central.HostedStates, error) {
	h, ok := s.Store.(central.HostedStates)
	if !ok {
		return nil, ErrNoHostedState
	}
	return h, nil
}

func (s *Store) sealHosted(ctx context.Context, key string, value []byte) ([]byte, error) {
	dek := random(32)
	defer clear(dek)
	a, err := newAEAD(dek)
	if err != nil {
		return nil, err
	}
	keyID, wrapped, err := s.kek.Wrap(ctx, dek, hostedAAD(purposeDEK, key))
	if err != nil {
		return nil, err
	}
	if err := s.noteKEK(ctx, keyID); err != nil {
		return nil, err
	}
	out, err := hostedHead(keyID, wrapped)
	if err != nil {
		return nil, err
	}
	return appendEncrypted(out, a, value, hostedAAD("value", key)), nil
}

// hostedHead is a sealed hosted value's head: its data key wrapped by
// KEK keyID.
func hostedHead(keyID string, wrapped []byte) ([]byte, error) {
	if len(keyID) > 0xffff || len(wrapped) > 0xffff {
		return nil, errors.New("seal: wrapped key too long")
	}
	out := binary.BigEndian.AppendUint16(nil, uint16(len(keyID)))
	out = append(out, keyID...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(wrapped)))
	return append(out, wrapped...), nil
}

// parseHostedHead reads the head of a sealed hosted value (or of its
// first bytes): the KEK id, the wrapped data key, and the head's length.
func parseHostedHead(sealed []byte) (keyID string, wrapped []byte, n int, ok bool) {
	field := func() ([]byte, bool) {
		if len(sealed) < n+2 {
			return nil, false
		}
		l := int(binary.BigEndian.Uint16(sealed[n:]))
		if len(sealed) < n+2+l {
			return nil, false
		}
		f := sealed[n+2 : n+2+l]
		n += 2 + l
		return f, true
	}
	id, ok1 := field()
	wrapped, ok2 := field()
	if !ok1 || !ok2 {
		return "", nil, 0, false
	}
	return string(id), wrapped, n, true
}

func (s *Store) openHosted(ctx context.Context, key string, sealed []byte) ([]byte, error) {
	keyID, wrapped, n, ok := parseHostedHead(sealed)
	if !ok {
		return nil, ErrTampered
	}
	sealed = sealed[n:]
	dek, err := s.kek.Unwrap(ctx, keyID, wrapped, hostedAAD(purposeDEK, key))
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	a, err := newAEAD(dek)
	if err != nil {
		return nil, err
	}
	return decrypt(a, sealed, hostedAAD("value", key))
}

// PutHostedState implements central.HostedStates, sealed.
func (s *Store) PutHostedState(ctx context.Context, key string, value []byte, expires time.Time) error {
	h, err := s.hostedInner()
	if err != nil {
		return err
	}
	sealed, err := s.sealHosted(ctx, key, value)
	if err != nil {
		return fmt.Errorf("sealing hosted state: %w", err)
	}
	return h.PutHostedState(ctx, key, sealed, expires)
}

// CreateHostedState implements central.HostedStates, sealed.
func (s *Store) CreateHostedState(ctx context.Context, key string, value []byte, now, expires time.Time) error {
	h, err := s.hostedInner()
	if err != nil {
		return err
	}
	sealed, err := s.sealHosted(ctx, key, value)
	if err != nil {
		return fmt.Errorf("sealing hosted state: %w", err)
	}
	return h.CreateHostedState(ctx, key, sealed, now, expires)
}

// HostedState implements central.HostedStates: the value opened.
func (s *Store) HostedState(ctx context.Context, key string, now time.Time) ([]byte, error) {
	h, err := s.hostedInner()
	if err != nil {
		return nil, err
	}
	sealed, err := h.HostedState(ctx, key, now)
	if err != nil {
		return nil, err
	}
	v, err := s.openHosted(ctx, key, sealed)
	if err != nil {
		return nil, fmt.Errorf("opening hosted state: %w", err)
	}
	return v, nil
}

// DeleteHostedState implements central.HostedStates.
func (s *Store) DeleteHostedState(ctx context.Context, keys ...string) error {
	h, err := s.hostedInner()
	if err != nil {
		return err
	}
	return h.DeleteHostedState(ctx, keys...)
}

// ExpireHostedState implements central.HostedStates.
func (s *Store) ExpireHostedState(ctx context.Context, now time.Time, limit int) (int, error) {
	h, err := s.hostedInner()
	if err != nil {
		return 0, err
	}
	return h.ExpireHostedState(ctx, now, limit)
}
