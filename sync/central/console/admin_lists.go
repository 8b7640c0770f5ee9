package console

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/openkyc/kyc/engine/screening"
	"github.com/openkyc/kyc/sync/central"
	"github.com/openkyc/kyc/sync/central/httpx"
	"github.com/openkyc/kyc/sync/protocol"
)

// Watchlists: an admin uploads a list as its publisher makes it (OFAC's
// CSV files, the UN Security Council XML, a PEP CSV); central parses it
// with the device's own importer (engine/screening, pure Go), so a list
// that would not load on a device is refused here, and publishes it in the
// screening store's file format (NAME.list.json.gz), which devices install
// as is. A new version of a published list is a proposal (four eyes,
// central.PublishWatchlist) which another admin confirms on this page.

func (c *Console) routeAdminLists() {
	c.route("GET /console/lists", central.RoleAdmin, c.listsPage)
	c.route("POST /console/lists", central.RoleAdmin, c.listUpload)
	c.route("POST /console/lists/proposal/confirm", central.RoleAdmin, c.listConfirm)
	c.route("POST /console/lists/proposal/decline", central.RoleAdmin, c.listDecline)
}

// maxListUpload bounds one upload (all files of it): the published lists
// are a few MB, and a device takes at most protocol.MaxWatchlistSize.
const maxListUpload = 64 << 20

// listSuffix is the screening store's file suffix, which devices need.
const listSuffix = ".list.json.gz"

// listNameRE is the screening store's list name (without suffix), short
// enough that name+listSuffix is a protocol name.
var listNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,50}$`)

// listRow is one published watchlist.
type listRow struct {
	protocol.Watchlist
	// From the file's header (Parsed false: not a screening list file).
	Parsed     bool
	ListName   string
	ListVer    string
	ListDate   time.Time
	Entries    int
	SHA256Text string
	Pending    *listPending // a new version waiting for a second admin
}

// listPending is a list's pending proposal as the page shows it.
type listPending struct {
	central.WatchlistProposal
	SHA256Text string
	// Via is the admin credential its proposer sent it with (the admin
	// token, kyc-central serve --admin-token-owner); "" from the console.
	Via   string
	Mine  bool // the viewer proposed it: they cannot confirm it
	Stale bool // another publish moved the version since: it cannot be confirmed
}

type listsPage struct {
	Lists   []listRow
	Formats []string
	MaxMB   int
}

func (c *Console) listsPage(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	rows, err := c.listRows(r.Context(), v)
	if err != nil {
		return err
	}
	return c.render(w, r, v, http.StatusOK, "admin_lists.html", listsPage{
		Lists: rows, Formats: []string{screening.FormatOFAC, screening.FormatUN, screening.FormatPEP}, MaxMB: maxListUpload >> 20,
	})
}

func (c *Console) listRows(ctx context.Context, v *Viewer) ([]listRow, error) {
	srv, err := c.server()
	if err != nil {
		return nil, err
	}
	wls, err := c.cfg.Store.Watchlists(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing watchlists: %w", err)
	}
	pending, err := srv.PendingWatchlists(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(wls, func(i, j int) bool { return wls[i].Name < wls[j].Name })
	var rows []listRow
	for _, wl := range wls {
		row := listRow{Watchlist: wl, SHA256Text: shortSHA(wl.SHA256)}
		if p, ok := pending[wl.Name]; ok {
			via, err := srv.WatchlistProposalVia(ctx, p)
			if err != nil {
				return nil, err
			}
			row.Pending = &listPending{WatchlistProposal: p, SHA256Text: shortSHA(p.SHA256), Via: via, Mine: p.Proposer == v.Actor(), Stale: p.Base != wl.Version}
		}
		_, rc, err := c.cfg.Store.OpenWatchlist(ctx, wl.Name)
		if err != nil && !errors.Is(err, central.ErrNotFound) {
			return nil, fmt.Errorf("opening watchlist %q: %w", wl.Name, err)
		}
		if err == nil {
			h, ok := readListHeader(rc)
			rc.Close()
			if ok {
				row.Parsed, row.ListName, row.ListVer, row.ListDate, row.Entries = true, h.Name, h.Version, h.Date, h.Count
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// shortSHA is the start of a digest in hex, enough to tell lists apart.
func shortSHA(sum []byte) string {
	s := fmt.Sprintf("%x", sum)
	return s[:min(len(s), 16)]
}

// listHeader is the head of a screening list file, which comes before
// its entries.
type listHeader struct {
	Name    string
	Version string
	Date    time.Time
	Count   int
}

// readListHeader reads the header of a screening store file (gzip JSON:
// format, name, version, date, count, sha256, then entries) without
// decoding the entries; false when r is not such a file.
func readListHeader(r io.Reader) (listHeader, bool) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return listHeader{}, false
	}
	defer zr.Close()
	dec := json.NewDecoder(zr)
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return listHeader{}, false
	}
	var h listHeader
	seen := 0
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return listHeader{}, false
		}
		key, _ := t.(string)
		var dst any
		switch key {
		case "name":
			dst = &h.Name
		case "version":
			dst = &h.Version
		case "date":
			dst = &h.Date
		case "count":
			dst = &h.Count
		case "entries":
			return h, seen == 4
		}
		if dst == nil {
			var skip json.RawMessage
			dst = &skip
		} else {
			seen++
		}
		if err := dec.Decode(dst); err != nil {
			return listHeader{}, false
		}
	}
	return h, seen == 4
}

// listUpload takes a multipart form (format, name, and the files: "file"
// for UN XML and PEP CSV; "sdn", "alt", "add", "comments" for OFAC),
// streamed to a temporary directory, parses it and publishes it (a new
// list) or proposes it (a new version of a published one).
func (c *Console) listUpload(w http.ResponseWriter, r *http.Request, v *Viewer) error {
	if err := globalSetting(v); err != nil {
		return err
	}
	srv, err := c.server()
	if err != nil {
		return err
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "multipart/form-data" {
		return fail(http.StatusBadRequest, "adm.list_form")
	}
	if r.ContentLength > maxListUpload {
		httpx.CutOff(w)
		return fail(http.StatusRequestEntityTooLarge, "adm.list_too_large")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxListUpload)
	dir, err := os.MkdirTemp("", "kyc-list-*")
	if err != nil {
		return fmt.Errorf("making a temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	in, err := readListForm(r, dir)
	if err != nil {
		return err
	}
	l, err := parseList(r.Context(), in, dir)
	if err != nil {
		c.log.LogAttrs(r.Context(), slog.LevelInfo, "watchlist upload refused", slog.String("request_id", httpx.RequestID(r.Context())),
			slog.String("format", in.format), slog.String("cause", err.Error()))
		switch {
		case errors.Is(err, screening.ErrNoEntries):
			return fail(http.StatusUnprocessableEntity, "adm.list_empty")
		case errors.Is(err, context.Canceled):
			return err
		}
		return fail(http.StatusUnprocessableEntity, "adm.list_malformed")
	}
	if in.name != "" {
		l.Name = in.name
	}
	out := filepath.Join(dir, "out")
	ls, err := screening.OpenStore(out)
	if err == nil {
		err = ls.Put(r.Context(), l)
	}
	if err != nil {
		return fmt.Errorf("writing the list file: %w", err)
	}
	f, err := os.Open(filepath.Join(out, l.Name+listSuffix))
	if err != nil {
		return fmt.Errorf("reading the list file: %w", err)
	}
	defer f.Close()
	_, p, err := srv.PublishWatchlist(r.Context(), v.Actor(), l.Name+listSuffix, "", f)
	if err != nil {
		return opError(err)
	}
	if p != nil {
		return c.seeOther(w, r, "/console/lists", "msg.adm.list_proposed")
	}
	return c.seeOther(w, r, "/console/lists", "msg.adm.list_published")
}

// listForm is an upload's fields; its files are in the directory.
type listForm struct {
	format, name string
	files        map[string]bool // which of the file fields came
}

// listFiles maps the form's file fields to the names the importers read.
var listFiles = map[string]string{"file": "list", "sdn": "sdn.csv", "alt": "alt.csv", "add": "add.csv", "comments": "sdn_comments.csv"}

func readListForm(r *http.Request, dir string) (listForm, error) {
	in := listForm{files: map[string]bool{}}
	mr, err := r.MultipartReader()
	if err != nil {
		return in, fail(http.StatusBadRequest, "adm.list_form")
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return in, fail(http.StatusRequestEntityTooLarge, "adm.list_too_large")
		}
		if err != nil {
			return in, fail(http.StatusBadRequest, "adm.list_form")
		}
		field := part.FormName()
		switch field {
		case "format", "name":
			b, err := io.ReadAll(io.LimitReader(part, 256))
			if err != nil {
				return in, fail(http.StatusBadRequest, "adm.list_form")
			}
			if field == "format" {
				in.format = strings.TrimSpace(string(b))
			} else {
				in.name = strings.TrimSpace(string(b))
			}
		default:
			name, ok := listFiles[field]
			if !ok || part.FileName() == "" {
				_, _ = io.Copy(io.Discard, part)
				continue
			}
			n, err := saveListFile(filepath.Join(dir, name), part)
			if errors.As(err, &mbe) {
				return in, fail(http.StatusRequestEntityTooLarge, "adm.list_too_large")
			}
			if err != nil {
				return in, fmt.Errorf("saving an uploaded list file: %w", err)
			}
			if n > 0 {
				in.files[field] = true
			}
		}
		part.Close()
	}
	if in.name != "" && !listNameRE.MatchString(in.name) {
		return in, fail(http.StatusBadRequest, "adm.list_name")
	}
	switch in.format {
	case screening.FormatOFAC:
		if !in.files["sdn"] || !in.files["alt"] || !in.files["add"] {
			return in, fail(http.StatusBadRequest, "adm.list_files")
		}
	case screening.FormatUN, screening.FormatPEP:
		if !in.files["file"] {
			return in, fail(http.StatusBadRequest, "adm.list_files")
		}
	default:
		return in, fail(http.StatusBadRequest, "adm.list_format")
	}
	return in, nil
}

func saveListFile(path string, r io.Reader) (int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// parseList reads the uploaded list with the device's importer.
func parseList(ctx context.Context, in listForm, dir string) (*screening.List, error) {
	if in.format == screening.FormatOFAC {
		return screening.ImportOFAC(ctx, dir)
	}
	f, err := os.Open(filepath.Join(dir, listFiles["file"]))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if in.format == screening.FormatUN {
		return screening.ImportUNXML(ctx, f)
	}
	return screening.ImportPEPCSV(ctx, f)
}
