package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/openkyc/kyc/engine/screening"
	"github.com/openkyc/kyc/internal/atomicfile"
	"github.com/openkyc/kyc/internal/deviceconf"
)

// WatchlistsEnv overrides the folder `kyc watchlist import` keeps the
// lists imported on this device in (default $KYC_HOME/watchlists).
// Screening also reads the lists central sent, which sync keeps in the
// device folder (deviceconf).
const WatchlistsEnv = deviceconf.EnvWatchlists

// localWatchlistDir is the folder of lists imported on this device.
func localWatchlistDir(flagValue string) (string, error) {
	if d := deviceconf.Resolve(deviceconf.Overrides{LocalWatchlists: flagValue}).LocalWatchlists; d != "" {
		return d, nil
	}
	return "", Errorf(ExitUsage, "usage", "no watchlist folder: set $%s or $KYC_HOME", WatchlistsEnv)
}

// screeningDirs are the folders screened against: the one given, else the
// device's (central's lists, then the local ones; central's win a clash).
func screeningDirs(flagValue string) []string {
	if flagValue != "" {
		return []string{flagValue}
	}
	return deviceconf.FromEnv().WatchlistDirs()
}

// loadWatchlists loads the lists of dirs and says on stderr which were
// left out and why: one bad list never keeps the others out.
func loadWatchlists(ctx context.Context, env *Env, dirs []string) (deviceconf.Watchlists, error) {
	w, err := deviceconf.LoadWatchlists(ctx, dirs...)
	if err != nil {
		return w, err
	}
	for _, p := range w.Problems {
		fmt.Fprintf(env.Stderr, "kyc: watchlist left out: %s\n", p)
	}
	return w, nil
}

// screeningError maps the screening package's errors to codes.
func screeningError(err error) error {
	switch {
	case errors.Is(err, screening.ErrEmptyName), errors.Is(err, screening.ErrBadMinScore),
		errors.Is(err, screening.ErrBadDate), errors.Is(err, screening.ErrUnknownFormat), errors.Is(err, screening.ErrBadListName):
		return Errorf(ExitUsage, "usage", "%v", err)
	case errors.Is(err, screening.ErrMalformed), errors.Is(err, screening.ErrNoEntries):
		return Errorf(ExitInput, "invalid_watchlist", "%v", err)
	case errors.Is(err, screening.ErrCorruptList):
		return Errorf(ExitRejected, "watchlist_corrupt", "%v", err)
	case errors.Is(err, os.ErrNotExist):
		return Errorf(ExitInput, "not_found", "%v", err)
	case errors.Is(err, atomicfile.ErrNotRegular), errors.Is(err, atomicfile.ErrTooLarge):
		return Errorf(ExitInput, "invalid_watchlist", "%v", err)
	}
	return err
}

type watchlistResult struct {
	Dir   string               `json:"dir"`
	Lists []screening.ListInfo `json:"lists"`
}

func runWatchlist(ctx context.Context, env *Env, args []string) (any, error) {
	if len(args) == 0 || (args[0] != "import" && args[0] != "list") {
		return nil, Errorf(ExitUsage, "usage", "kyc watchlist import --format ofac-csv|un-xml|pep-csv PATH | kyc watchlist list")
	}
	fs := newFlags(env, "watchlist "+args[0])
	dirFlag := fs.String("dir", "", "folder of the lists imported on this device (default $"+WatchlistsEnv+" or $KYC_HOME/watchlists)")
	format := fs.String("format", "", "import format: ofac-csv (a folder with sdn.csv, alt.csv, add.csv), un-xml or pep-csv")
	name := fs.String("name", "", "store the imported list under this name instead of the format's default")
	if err := parseFlags(fs, args[1:]); err != nil {
		return nil, err
	}
	dir, err := localWatchlistDir(*dirFlag)
	if err != nil {
		return nil, err
	}
	store, err := screening.OpenStore(dir)
	if err != nil {
		return nil, screeningError(err)
	}
	if args[0] == "import" {
		if fs.NArg() != 1 || *format == "" {
			return nil, Errorf(ExitUsage, "usage", "kyc watchlist import --format ofac-csv|un-xml|pep-csv PATH")
		}
		list, err := screening.Import(ctx, *format, fs.Arg(0))
		if err != nil {
			return nil, screeningError(err)
		}
		if *name != "" {
			list.Name = *name
		}
		if err := store.Put(ctx, list); err != nil {
			return nil, screeningError(err)
		}
	}
	lists, err := store.Lists(ctx)
	if err != nil {
		return nil, screeningError(err)
	}
	return watchlistResult{Dir: dir, Lists: append([]screening.ListInfo{}, lists...)}, nil
}

type screenResult struct {
	Query screenQuery     `json:"query"`
	Lists []string        `json:"lists"`
	Hits  []screening.Hit `json:"hits"`
	// Problems are the list files left out, in words.
	Problems []string `json:"problems,omitempty"`
}

type screenQuery struct {
	Name    string `json:"name"`
	DOB     string `json:"dob,omitempty"`
	Country string `json:"country,omitempty"`
}

func runScreen(ctx context.Context, env *Env, args []string) (any, error) {
	fs := newFlags(env, "screen")
	name := fs.String("name", "", `the name to screen, given names first or "FAMILY, Given"`)
	dob := fs.String("dob", "", "date of birth: YYYY-MM-DD, YYYY-MM or YYYY")
	country := fs.String("country", "", "nationality: ISO 3166 code or English name")
	entity := fs.Bool("entity", false, "the name is an organisation, vessel or aircraft")
	minScore := fs.Float64("min-score", 0, "least score a hit needs (default the engine's calibrated minimum)")
	dirFlag := fs.String("dir", "", "screen against this folder's lists only (default central's synced lists and $"+WatchlistsEnv+")")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	q := screening.Query{Name: *name, Country: *country, Entity: *entity, MinScore: *minScore}
	if *dob != "" {
		d, err := screening.ParseDate(*dob)
		if err != nil {
			return nil, Errorf(ExitUsage, "usage", "--dob: %v", err)
		}
		q.DOB = d
	}
	dirs := screeningDirs(*dirFlag)
	var w deviceconf.Watchlists
	if *dirFlag != "" {
		var err error
		if w, err = loadWatchlists(ctx, env, dirs); err != nil {
			return nil, err
		}
	} else {
		// The device's lists as a verification screens against them:
		// central's checked against its signature.
		dev := deviceconf.FromEnv()
		c, err := loadDeviceConfig(ctx, env, dev, dev.VaultPins())
		if err != nil {
			return nil, err
		}
		w = c.Watchlists
	}
	if len(w.Lists) == 0 {
		// Screening against nothing would report a clean person: refuse.
		return nil, Errorf(ExitMissing, "no_watchlists", "no watchlists in %s: import one with `kyc watchlist import` or sync the device",
			strings.Join(dirs, " or "))
	}
	hits, err := w.Index().Screen(q)
	if err != nil {
		return nil, screeningError(err)
	}
	return screenResult{Query: screenQuery{*name, *dob, *country}, Hits: append([]screening.Hit{}, hits...),
		Lists: w.Names(), Problems: w.Problems}, nil
}
