package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/openkyc/kyc/sync/central"
)

// bucketRetentionHeld keeps, by subKey, the kinds of a submission's data
// retention held back at the last sweep (central.Eraser.HoldRetention).
var bucketRetentionHeld = []byte("retention-held")

// HoldRetention implements central.Store.
func (s *Store) HoldRetention(ctx context.Context, due map[central.DataKind]time.Time, at time.Time, audit func(central.HeldChange) central.AuditEvent) (map[central.DataKind]int, int, error) {
	var held map[central.DataKind]int
	changed := 0
	err := s.update(ctx, "recording what retention holds back", func(tx *bbolt.Tx) error {
		held, changed = map[central.DataKind]int{}, 0
		now := map[string][]central.DataKind{}
		for _, kind := range central.HeldKinds {
			before, ok := due[kind]
			if !ok {
				continue
			}
			held[kind] = 0
			err := scanDue(tx, dueQueues[kind], before, at, func(k []byte, h bool) bool {
				if h {
					held[kind]++
					now[string(k[8:])] = append(now[string(k[8:])], kind)
				}
				return true
			})
			if err != nil {
				return err
			}
		}
		marks := tx.Bucket(bucketRetentionHeld)
		var changes []central.HeldChange
		c := marks.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var was []central.DataKind
			if err := json.Unmarshal(v, &was); err != nil {
				return err
			}
			if kinds, ok := now[string(k)]; !ok || !slices.Equal(was, kinds) {
				changes = append(changes, heldChange(k, was, kinds))
			}
			delete(now, string(k))
		}
		for k, kinds := range now {
			changes = append(changes, heldChange([]byte(k), nil, kinds))
		}
		// The trail's order is the same whatever the map's.
		slices.SortFunc(changes, func(a, b central.HeldChange) int {
			return bytes.Compare(subKey(a.Ref.DeviceID, a.Ref.Key), subKey(b.Ref.DeviceID, b.Ref.Key))
		})
		for _, ch := range changes {
			k := subKey(ch.Ref.DeviceID, ch.Ref.Key)
			var err error
			if len(ch.After) == 0 {
				err = marks.Delete(k)
			} else {
				err = put(marks, k, ch.After)
			}
			if err != nil {
				return err
			}
			if err := appendAudit(tx, audit(ch)); err != nil {
				return err
			}
		}
		changed = len(changes)
		return nil
	})
	return held, changed, err
}

// heldChange is the change of subKey k's held kinds from was to now.
func heldChange(k []byte, was, now []central.DataKind) central.HeldChange {
	deviceID, key, _ := bytes.Cut(k, []byte{0})
	return central.HeldChange{Ref: central.SubmissionRef{DeviceID: string(deviceID), Key: string(key)}, Before: was, After: now}
}
