// Package cli implements the kyc command: each subcommand parses its flags,
// calls the engine or the stores, and prints one JSON result (or a table for
// people) on stdout, or a JSON error with a non-zero exit status.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/openkyc/kyc/sync/vault"
)

// Env is what a command runs with: its output streams and build facts.
type Env struct {
	Stdout  io.Writer
	Stderr  io.Writer // progress and diagnostics for people; never results
	Version string
	Format  Format
}

type command struct {
	summary string
	run     func(ctx context.Context, env *Env, args []string) (any, error)
}

func commands() map[string]command {
	return map[string]command{
		"version":      {"print the versions of the product and of the native libraries it loaded", runVersion},
		"models":       {"install | verify | list the models and the ONNX Runtime library", runModels},
		"device-check": {"check the device and its environment before a capture (exit 4 when blocked)", runDeviceCheck},
		"enroll":       {"enroll this device with central using a one-time token", runEnroll},
		"handoff":      {"Smart QR: open a hosted session for the customer's phone (QR code and short code), follow it and print central's result", runHandoff},
		"vault":        {"vault rotate: re-wrap the device's vault under a new key file or passphrase; vault reset --i-understand: a new vault in place of a lost one", runVault},
		"sync":         {"send the vault's outbox to central, refresh configuration and bring back central's review decisions (--once: one pass; --list: the queue with its reviews); sync requeue --all|ID: put rejected submissions back", runSync},
		"capture":      {"guide a live capture from a camera, stream, video or folder and save the best frame(s)", runCapture},
		"watchlist":    {"import | list the sanctions and PEP watchlists kept on this device", runWatchlist},
		"screen":       {"screen a name against the watchlists: hits, strongest first", runScreen},
		"face-match":   {"compare a selfie with a reference portrait: similarity, decision, liveness, quality", runFaceMatch},
		"document":     {"read a document photo: type, fields, MRZ with check digits, forensics, liveness, portrait", runDocument},
		"verify":       {"run the whole on-device verification: device, document, face, screening, risk decision", runVerify},
		"eval":         {"eval faces | liveness | documents: face verification accuracy with a DET plot; liveness BPCER/APCER per model and fused; document forgery detection and false positives per check", runEvalAll},
	}
}

// Main runs the kyc command line and returns the process exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, version string) int {
	env := &Env{Stdout: stdout, Stderr: stderr, Version: version, Format: FormatJSON}
	args, format, err := extractFormat(args)
	if err != nil {
		return fail(env, err)
	}
	env.Format = format
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	c, ok := cmds[args[0]]
	if !ok {
		usage(stderr, cmds)
		return fail(env, Errorf(ExitUsage, "usage", "unknown command %q", args[0]))
	}
	res, err := c.run(ctx, env, args[1:])
	if err != nil {
		return fail(env, err)
	}
	if err := writeResult(stdout, env.Format, res); err != nil {
		return fail(env, err)
	}
	// A result may carry its own exit status: a device-check report whose
	// verdict is block is printed in full and still fails the command.
	if ec, ok := res.(interface{ ExitCode() int }); ok {
		return ec.ExitCode()
	}
	return ExitOK
}

func fail(env *Env, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	e := classify(err)
	writeError(env.Stdout, e)
	// Go's text of what a damaged page did to the read is for the log,
	// not for the message.
	if d := (*vault.DamagedError)(nil); errors.As(err, &d) {
		fmt.Fprintf(env.Stderr, "kyc: the damage met: %s\n", d.Cause)
	}
	return e.Exit
}

// extractFormat pulls the global output format (--format json|table) from
// anywhere in args, so both `kyc --format table models list` and `kyc models
// list --format table` work. Any other --format value is left to the
// subcommand: `kyc watchlist import --format ofac-csv` names a list format.
func extractFormat(args []string) ([]string, Format, error) {
	format := FormatJSON
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(a, "=")
		if name != "--format" && name != "-format" {
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, "", Errorf(ExitUsage, "usage", "--format needs a value (json or table)")
			}
			value = args[i+1]
		}
		f, err := parseFormat(value)
		if err != nil {
			rest = append(rest, a) // not an output format: the subcommand's flag
			continue
		}
		format = f
		if !hasValue {
			i++
		}
	}
	return rest, format, nil
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: kyc [--format json|table] <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, cmds[n].summary)
	}
}

// newFlags returns a flag set whose parse errors become usage errors rather
// than an exit from inside the flag package.
func newFlags(env *Env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return Errorf(ExitUsage, "usage", "%s: %v", fs.Name(), err)
	}
	return nil
}
