package device_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/openkyc/kyc/engine/device"
)

// Example shows the body of a `kyc device-check --profile kiosk` command:
// print the report, exit non-zero on block.
func Example() {
	pol, err := device.DefaultPolicy(device.ProfileKiosk)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	rep, err := device.Run(context.Background(), device.Options{Policy: pol})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if rep.Verdict == device.VerdictBlock {
		os.Exit(1)
	}
}
