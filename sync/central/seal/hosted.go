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
// Wrap per value; a session writes a few. Values live no longer than
// their session, so a key rotation that retires a KEK at most ends the
// captures of sessions under way (their values no longer open: the
// person captures again).

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
	if len(keyID) > 0xffff || len(wrapped) > 0xffff {
		return nil, errors.New("seal: wrapped key too long")
	}
	out := binary.BigEndian.AppendUint16(nil, uint16(len(keyID)))
	out = append(out, keyID...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(wrapped)))
	out = append(out, wrapped...)
	return appendEncrypted(out, a, value, hostedAAD("value", key)), nil
}

func (s *Store) openHosted(ctx context.Context, key string, sealed []byte) ([]byte, error) {
	field := func() ([]byte, bool) {
		if len(sealed) < 2 {
			return nil, false
		}
		n := int(binary.BigEndian.Uint16(sealed))
		if len(sealed) < 2+n {
			return nil, false
		}
		f := sealed[2 : 2+n]
		sealed = sealed[2+n:]
		return f, true
	}
	keyID, ok1 := field()
	wrapped, ok2 := field()
	if !ok1 || !ok2 {
		return nil, ErrTampered
	}
	dek, err := s.kek.Unwrap(ctx, string(keyID), wrapped, hostedAAD(purposeDEK, key))
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
