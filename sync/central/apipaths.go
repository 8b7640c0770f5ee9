package central

import (
	"net/http"
	"path"
	"strings"

	"github.com/openkyc/kyc/sync/central/httpx"
)

// apiRoots are the paths of central's APIs: the devices' (/v1), the admin
// API, the partner API and its document, and /healthz. What is asked
// under them is answered in the APIs' error shape (protocol.Error), never
// with the router's plain-text 404 or 405 or its redirect page.
var apiRoots = []string{"/v1", "/admin", "/api", "/openapi.json", "/healthz"}

// isAPIPath reports whether p is an API root or under one.
func isAPIPath(p string) bool {
	for _, root := range apiRoots {
		if p == root || strings.HasPrefix(p, root+"/") {
			return true
		}
	}
	return false
}

// cleanPath is p as http.ServeMux routes it: rooted, without empty, "."
// or ".." segments, its trailing slash kept.
func cleanPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// apiPaths keeps mux's own answers out of the APIs. A path with an empty,
// "." or ".." segment (/api//v1/flows, /v1/../admin/v1/devices), which the
// mux would redirect to its clean form (307, an HTML page), is 404
// not_found: an API client names its endpoint, it does not follow a page
// to one, and a redirect would carry a device's signed request or a
// partner's token to a path other than the one it named. A path no route
// serves is 404 not_found, or 405 method_not_allowed with Allow when
// routes serve it for other methods. The mux's remaining redirect, of a
// root to itself with a slash (/api to /api/), is 404 too.
func (s *Server) apiPaths(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		clean := cleanPath(p)
		if !isAPIPath(p) && !isAPIPath(clean) {
			mux.ServeHTTP(w, r)
			return
		}
		if p != clean {
			s.resp.Error(w, r, errNoEndpoint)
			return
		}
		if _, pattern := mux.Handler(r); pattern == "" {
			s.resp.Error(w, r, noRoute(w, mux, r))
			return
		}
		mux.ServeHTTP(&noRedirect{ResponseWriter: w, r: r, resp: s.resp}, r)
	})
}

// errNoEndpoint is the answer to a path no API route serves.
var errNoEndpoint = httpx.Errorf(http.StatusNotFound, "not_found", "no such endpoint")

// routeMethods are the methods central's routes use, in the order Allow
// lists them.
var routeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// noRoute is the answer to r, which no route of mux serves: 405 with
// Allow when its path is served for other methods, else 404.
func noRoute(w http.ResponseWriter, mux *http.ServeMux, r *http.Request) error {
	var allow []string
	for _, m := range routeMethods {
		probe := &http.Request{Method: m, Host: r.Host, URL: r.URL}
		if _, pattern := mux.Handler(probe); pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		return errNoEndpoint
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	return httpx.Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed here; use %s", r.Method, strings.Join(allow, " or "))
}

// noRedirect turns a redirect written through it (the mux's, of /api to
// /api/) into 404 not_found; anything else passes.
type noRedirect struct {
	http.ResponseWriter
	r       *http.Request
	resp    *httpx.Responder
	dropped bool
}

func (w *noRedirect) WriteHeader(code int) {
	switch {
	case w.dropped:
	case code >= 300 && code < 400 && w.Header().Get("Location") != "":
		w.dropped = true
		w.Header().Del("Location")
		w.resp.Error(w.ResponseWriter, w.r, errNoEndpoint)
	default:
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *noRedirect) Write(b []byte) (int, error) {
	if w.dropped {
		return len(b), nil // the redirect page's body
	}
	return w.ResponseWriter.Write(b)
}

func (w *noRedirect) Unwrap() http.ResponseWriter { return w.ResponseWriter }
