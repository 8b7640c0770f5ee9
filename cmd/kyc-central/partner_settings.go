package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/partnerapi"
)

// partnerSettings runs `kyc-central partner push|push-key|reference-image`:
// a partner's enterprise push and reference-image endpoint, the secrets
// read from standard input (never a flag, which other users of the machine
// see in the process list).
func partnerSettings(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := args[0]
	fs := flag.NewFlagSet("partner "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	where := addPartnerStoreFlags(fs)
	id := fs.String("id", "", "the partner's id (ptn_...)")
	var (
		remove                 *bool
		u, tokenURL, clientID  *string
		auth, header, username *string
		timeout                *time.Duration
		maxBytes               *int64
		scopes                 scopes
	)
	switch cmd {
	case "push":
		remove = fs.Bool("remove", false, "end the partner's enterprise push")
		u = fs.String("url", "", "the partner's push endpoint (https://)")
		tokenURL = fs.String("token-url", "", "the partner's OAuth2 token endpoint (https://)")
		clientID = fs.String("client-id", "", "central's OAuth2 client id at the partner")
		fs.Var(&scopes, "scope", "an OAuth2 scope to ask for (repeat for more)")
	case "reference-image":
		remove = fs.Bool("remove", false, "remove the partner's reference-image endpoint")
		u = fs.String("url", "", "the partner's reference-image endpoint (https://)")
		auth = fs.String("auth", partnerapi.ReferenceAuthBearer, "bearer, basic or header")
		header = fs.String("header", "", "the header's name, with --auth header")
		username = fs.String("username", "", "the username, with --auth basic")
		timeout = fs.Duration("timeout", partnerapi.DefaultReferenceTimeout, "how long a call may take")
		maxBytes = fs.Int64("max-bytes", partnerapi.DefaultReferenceBytes, "the largest image taken")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *id == "" {
		return fmt.Errorf("partner %s: --id is required", cmd)
	}
	var secret string
	var err error
	if remove != nil && !*remove {
		what := "the OAuth2 client secret central authenticates with at the partner's token endpoint (empty: keep the stored one)"
		if cmd == "reference-image" {
			what = "the token, password or header value of the reference-image endpoint (empty: keep the stored one)"
		}
		if secret, err = readSecretLine(stderr, what, 1024); err != nil {
			return fmt.Errorf("partner %s: reading the secret: %w", cmd, err)
		}
	}
	api, closeStore, err := where.open(ctx, cmd)
	if err != nil {
		return err
	}
	defer closeStore()
	actor := "kyc-central partner " + cmd
	var out any
	switch {
	case cmd == "push-key":
		out, err = api.RotatePushKey(ctx, actor, *id)
	case cmd == "push" && *remove:
		out, err = api.RemovePush(ctx, actor, *id)
	case cmd == "push":
		out, err = api.SetPush(ctx, actor, *id, partnerapi.PushRequest{URL: *u, TokenURL: *tokenURL, ClientID: *clientID,
			ClientSecret: secret, Scopes: scopes})
	case *remove:
		out, err = api.RemoveReferenceImage(ctx, actor, *id)
	default:
		out, err = api.SetReferenceImage(ctx, actor, *id, partnerapi.ReferenceImageConfig{URL: *u, Auth: *auth, Header: *header,
			Username: *username, Secret: secret, TimeoutMS: int(*timeout / time.Millisecond), MaxBytes: *maxBytes})
	}
	if ve, ok := errors.AsType[*partnerapi.ValidationError](err); ok {
		return fmt.Errorf("partner %s: %s", cmd, ve.Fields[0].Message)
	}
	switch {
	case errors.Is(err, central.ErrNotFound):
		return fmt.Errorf("partner %s: no partner with id %q", cmd, *id)
	case errors.Is(err, partnerapi.ErrNoPush):
		return fmt.Errorf("partner %s: partner %s has no enterprise push: configure it with partner push first", cmd, *id)
	case err != nil:
		return fmt.Errorf("partner %s: %w", cmd, err)
	}
	if r, ok := out.(partnerapi.PushConfiguredResult); ok && r.EncryptionKey != "" {
		fmt.Fprintln(stderr, "encryption_key below is shown once: give it to the partner over a secure channel; central keeps it sealed")
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
