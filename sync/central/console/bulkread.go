package console

import (
	"net/http"
	"time"

	"github.com/openkyc/kyc/sync/central/httpx"
)

// bulkReadSlots is how many dashboards and CSV exports one instance runs
// at once: each reads up to maxDashCases cases (tens of megabytes and
// seconds of the store), so a few reloads of every tab would otherwise
// hold the store's connections and the instance's memory.
const bulkReadSlots = 2

// errBulkBusy answers a dashboard or export that found every slot taken:
// retried in a few seconds, it finds one (the reads take seconds).
var errBulkBusy = &httpx.Error{Status: http.StatusServiceUnavailable, Code: "bulk_busy", Message: "bulk_busy", RetryAfter: 5 * time.Second}

// bulkRead takes one of the bulkReadSlots, or answers errBulkBusy without
// waiting: a request queued behind two long reads would time out anyway.
func (c *Console) bulkRead() (release func(), err error) {
	if !c.bulkReads.Acquire() {
		return nil, errBulkBusy
	}
	return c.bulkReads.Release, nil
}
