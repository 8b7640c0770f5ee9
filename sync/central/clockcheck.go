package central

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/openkyc/kyc/engine/document/fields"
	"github.com/openkyc/kyc/engine/risk"
)

// Reason codes for an approval a device's clock explains: the engine
// judges a document's expiry and its holder's age by the device's clock,
// so a kiosk set back (a fault, a dishonest operator) approves a passport
// expired years ago, offline. Central holds the dates the payload carries
// to its own clock, and routes such an approval to review as it does the
// other doubts of decisioncheck.go.
const (
	// ReasonClockDocExpired: an approval of a document whose expiry date
	// is before the earliest time, by central's clock, the capture is known
	// to be made (the challenge its attestation signs).
	ReasonClockDocExpired = "DEVICE_CLOCK_DOC_EXPIRED"
	// ReasonClockHolderUnderage: an approval of a holder younger than the
	// risk configuration's min_age at central's receipt of the
	// submission, which is after the capture: the holder was younger still
	// when captured.
	ReasonClockHolderUnderage = "DEVICE_CLOCK_HOLDER_UNDERAGE"
)

// Time zones run from UTC-12 to UTC+14: a device on the right time dates
// a moment up to this much before or after central's UTC date.
const (
	zoneBehind = 12 * time.Hour
	zoneAhead  = 14 * time.Hour
)

// clockDoubt is what central compared for ReasonClockDocExpired and
// ReasonClockHolderUnderage (decisionDoubt.Clock). It holds no birth date:
// the audit chain outlives the case's erasure.
type clockDoubt struct {
	// ExpiryDate is the document's expiry date as the device read it.
	ExpiryDate string `json:"expiry_date,omitempty"`
	// MadeAfter is when central issued the challenge the attestation
	// signs: the capture was made after it, by central's clock.
	MadeAfter time.Time `json:"made_after,omitzero"`
	// MinAge is the risk configuration's minimum age, AgeAtReceipt the
	// holder's age (the youngest the birth date read allows) at
	// ReceivedAt, central's receipt of the submission.
	MinAge       int       `json:"min_age,omitempty"`
	AgeAtReceipt *int      `json:"age_at_receipt,omitempty"`
	ReceivedAt   time.Time `json:"received_at,omitzero"`
}

// documentDates are the expiry and birth dates a payload's result records
// (report.document.fields, as the engine judged them); "" when absent.
func documentDates(payload []byte) (expiry, birth string) {
	var p struct {
		Report *struct {
			Document *struct {
				Fields map[string]fields.Field `json:"fields"`
			} `json:"document"`
		} `json:"report"`
	}
	if json.Unmarshal(payload, &p) != nil || p.Report == nil || p.Report.Document == nil {
		return "", ""
	}
	return p.Report.Document.Fields[fields.FieldExpiryDate].Value, p.Report.Document.Fields[fields.FieldBirthDate].Value
}

// doubtClock checks the dates an approval's document carries against
// central's clock. The engine rejects an expired document and holds a
// holder under the risk configuration's min_age (judged.minAge) at least
// for review, both by the device's clock, so an approval is doubted when:
//   - the document expired before the challenge its attestation signs was
//     issued (att.issued; the attestation is made at the capture, with the
//     challenge of the device's last configuration sync): the capture was
//     later still. With no challenge of this central's, nothing is known,
//     and the receipt is no bound (an offline kiosk syncs days later, and
//     a document that expired in between was valid when captured);
//   - the holder is under min_age at receivedAt, central's receipt: the
//     capture was earlier, the holder younger. (A clock set back makes a
//     holder younger, so the age tells only of a clock set forward.)
//
// Both allow for the device's time zone, which dates the capture by its
// own calendar. judged is how doubtDecision judged the approval.
func doubtClock(att checkedAttestation, receivedAt time.Time, sum Summary, payload []byte, judged *decisionDoubt) *decisionDoubt {
	if sum.Decision != string(risk.Approve) || judged == nil {
		return nil
	}
	expiry, birth := documentDates(payload)
	if e, err := time.Parse(time.DateOnly, expiry); err == nil && !att.issued.IsZero() {
		// The expiry day ends everywhere by 12:00 UTC the day after.
		if att.issued.After(e.AddDate(0, 0, 1).Add(zoneBehind)) {
			dd := *judged
			dd.Reason = ReasonClockDocExpired
			dd.Clock = &clockDoubt{ExpiryDate: expiry, MadeAfter: att.issued.UTC()}
			dd.Detail = fmt.Sprintf("the device approved a document that expired on %s, yet the capture was made after %s by central's clock (the challenge its attestation signs): the device's clock is wrong",
				expiry, att.issued.UTC().Format(time.RFC3339))
			return &dd
		}
	}
	if judged.minAge > 0 {
		if first, last, ok := fields.BirthSpan(birth); ok && !first.After(receivedAt) {
			// The holder reaches min_age on this day, which starts
			// everywhere by 10:00 UTC the day before.
			of := last.AddDate(judged.minAge, 0, 0)
			if receivedAt.Before(of.Add(-zoneAhead)) {
				age := receivedAt.Year() - last.Year()
				if receivedAt.Month() < last.Month() || receivedAt.Month() == last.Month() && receivedAt.Day() < last.Day() {
					age--
				}
				age = max(age, 0)
				dd := *judged
				dd.Reason = ReasonClockHolderUnderage
				dd.Clock = &clockDoubt{MinAge: judged.minAge, AgeAtReceipt: &age, ReceivedAt: receivedAt.UTC()}
				dd.Detail = fmt.Sprintf("the device approved a holder aged %d when central received the submission (%s), after the capture, under the minimum age %d: the device's clock is wrong",
					age, receivedAt.UTC().Format(time.RFC3339), judged.minAge)
				return &dd
			}
		}
	}
	return nil
}
