// Command sealbin seals built binaries for the device check: it appends the
// SHA-256 of each file, which the running program later recomputes to
// detect modification. It prints each file's digest for the release
// manifest central checks attestations against.
//
// Usage:
//
//	sealbin [-check] FILE...
//
// With -check it only verifies, exiting non-zero unless every file carries
// a valid seal.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/openkyc/kyc/engine/device"
)

func main() {
	check := flag.Bool("check", false, "verify seals instead of sealing")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: sealbin [-check] FILE...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *check, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "sealbin:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, checkOnly bool, files []string) error {
	failed := 0
	for _, f := range files {
		if !checkOnly {
			if err := device.Seal(ctx, f); err != nil {
				return err
			}
		}
		st, err := device.VerifySeal(ctx, f)
		if err != nil {
			return err
		}
		fmt.Printf("%s  %s  %s\n", st.Digest, st.State, f)
		if st.State != device.SealValid {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d files not validly sealed", failed, len(files))
	}
	return nil
}
