package hostedflow

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/protocol"
)

// attemptID is the submission id of a session's attempt on device and the
// cause its submission.completed event is named by (webhook.EventID):
// "<partner>:<session>-<attempt>" and the attempt, unless that submission
// is held by an earlier session of the same id. Retention removes a
// session (flows_days) before its submissions (decision_days), and the
// partner may then use its id again: the new person's attempt would be
// stored as the earlier person's submission (BeginSubmission's conflict is
// taken for a retry of the same attempt), whose result, fields and images
// Get Submission Details would hand out as the new person's, and its event
// would carry the earlier one's id, which the store and the partner drop
// as a duplicate. Such an attempt's id carries the session's creation
// instead ("~" and base-36 Unix nanoseconds; no partner-chosen or kiosk
// session id holds a "~"), the same at every try of the attempt.
func (f *Flow) attemptID(ctx context.Context, fs central.FlowSession, attempt int, device string) (id, cause string, err error) {
	id, cause = submissionID(fs.PartnerID, fs.ID, attempt), strconv.Itoa(attempt)
	sub, err := f.cfg.Store.Upload(ctx, device, protocol.SubmissionKey(id))
	switch {
	case errors.Is(err, central.ErrNotFound):
		return id, cause, nil
	case err != nil:
		return "", "", fmt.Errorf("reading the attempt's submission: %w", err)
	case !sub.ReceivedAt.Before(fs.CreatedAt):
		return id, cause, nil // this session's: the attempt tried again
	}
	suffix := "~" + strconv.FormatInt(fs.CreatedAt.UnixNano(), 36)
	return id + suffix, cause + suffix, nil
}
