package console

import (
	"fmt"
	"strings"
)

// recheck is the part of a device_decision_distrusted event that central's
// recheck of an approval writes (sync/central/recheck Finding): its face
// engine's numbers against the device's claims.
type recheck struct {
	Problem           string   `json:"problem"`
	Similarity        float64  `json:"similarity"`
	MatchScore        float64  `json:"match_score"`
	MatchThreshold    float64  `json:"match_threshold"`
	Liveness          float64  `json:"liveness"`
	LivenessThreshold float64  `json:"liveness_threshold"`
	DeviceSimilarity  *float64 `json:"device_similarity"`
	DeviceLiveness    *float64 `json:"device_liveness"`
}

// line says, through T, what central's engine found that contradicts the
// device's decision at score.
func (r recheck) line(T func(string, ...any) string, decision, score string) string {
	claim := func(v *float64) string {
		if v == nil {
			return T("case.distrust.unclaimed")
		}
		return fmt.Sprintf("%.3f", *v)
	}
	var why []string
	switch {
	case r.Problem != "":
		why = append(why, T("case.distrust.recheck_problem", r.Problem))
	default:
		if r.MatchScore < r.MatchThreshold {
			why = append(why, T("case.distrust.recheck_match", fmt.Sprintf("%.3f", r.Similarity), claim(r.DeviceSimilarity),
				fmt.Sprintf("%.1f", r.MatchScore), fmt.Sprintf("%.1f", r.MatchThreshold)))
		}
		if r.Liveness < r.LivenessThreshold {
			why = append(why, T("case.distrust.recheck_live", fmt.Sprintf("%.3f", r.Liveness), fmt.Sprintf("%.3f", r.LivenessThreshold), claim(r.DeviceLiveness)))
		}
	}
	return T("case.distrust.recheck", decision, score, strings.Join(why, "; "))
}
