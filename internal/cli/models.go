package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/openkyc/kyc/models"
)

type modelsResult struct {
	Dir    string          `json:"dir"`
	Models []models.Status `json:"models"`
}

// modelRow is the table view: the manifest's long fields stay in JSON.
type modelRow struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Kind      string `json:"kind"`
	Size      int64  `json:"size"`
	License   string `json:"license"`
	Installed bool   `json:"installed"`
	Verified  bool   `json:"verified"`
	Problem   string `json:"problem,omitempty"`
}

func runModels(ctx context.Context, env *Env, args []string) (any, error) {
	if len(args) == 0 {
		return nil, Errorf(ExitUsage, "usage", "kyc models install|verify|list [--dir D] [--mirror M]")
	}
	fs := newFlags(env, "models "+args[0])
	dir := fs.String("dir", "", "model directory (default $"+models.DirEnv+" or $"+models.HomeEnv+"/models)")
	mirror := fs.String("mirror", os.Getenv(models.MirrorEnv), "folder or URL mirroring upstream model files")
	if err := parseFlags(fs, args[1:]); err != nil {
		return nil, err
	}
	store, err := models.DefaultStore()
	if err != nil {
		return nil, err
	}
	if *dir != "" {
		store.Dir = *dir
	}
	var st []models.Status
	switch args[0] {
	case "install":
		st, err = store.Install(ctx, models.InstallOptions{Mirror: *mirror, Progress: env.Stderr})
	case "verify":
		st, err = store.Verify()
	case "list":
		st = store.List()
	default:
		return nil, Errorf(ExitUsage, "usage", "unknown models subcommand %q (install, verify, list)", args[0])
	}
	if err != nil {
		// The per-model statuses go to stderr so the failing files are
		// visible next to the JSON error on stdout.
		for _, s := range st {
			if s.Problem != "" {
				fmt.Fprintf(env.Stderr, "%s: %s\n", s.Name, s.Problem)
			}
		}
		return nil, err
	}
	if env.Format == FormatTable {
		rows := make([]modelRow, len(st))
		for i, s := range st {
			rows[i] = modelRow{s.Name, s.Version, string(s.Kind), s.Size, s.License, s.Installed, s.Verified, s.Problem}
		}
		return rows, nil
	}
	return modelsResult{Dir: store.Dir, Models: st}, nil
}
