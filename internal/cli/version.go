package cli

import (
	"context"

	"github.com/openkyc/kyc/internal/runtimeinfo"
	"github.com/openkyc/kyc/models"
)

func runVersion(ctx context.Context, env *Env, args []string) (any, error) {
	fs := newFlags(env, "version")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	store, err := models.DefaultStore()
	if err != nil {
		return nil, err
	}
	return runtimeinfo.Read(env.Version, store)
}
