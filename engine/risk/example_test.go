package risk_test

import (
	"fmt"

	"github.com/openkyc/kyc/engine/risk"
)

func ExampleEvaluate() {
	res, err := risk.Evaluate(risk.DefaultConfig(), risk.Input{
		Signals: map[risk.SignalName]float64{
			risk.FaceLiveness:    0.96,
			risk.FaceMatch:       0.78,
			risk.DocAuthenticity: 0.88,
			risk.DocLiveness:     0.92,
			risk.DataChecks:      1,
			risk.Sanctions:       1,
			// No device check on this platform: device_integrity is absent.
		},
		Attempt: 1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	msg, _ := res.Message.Text(risk.Indonesian)
	fmt.Printf("%s %s score=%.2f renormalised=%v\n", res.Decision, res.NextAction, res.Score, res.Renormalised)
	for _, r := range res.Reasons {
		fmt.Println(r.Code)
	}
	fmt.Println(msg)
	// Output:
	// approve EXIT score=91.11 renormalised=true
	// SIGNAL_MISSING_DEVICE_INTEGRITY
	// Identitas Anda berhasil diverifikasi.
}
