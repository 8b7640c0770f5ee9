// Package apitest is the contract check of central's partner and admin
// APIs for tests: a RoundTripper that validates every request and response
// of a test against the OpenAPI 3.1 document (partnerapi.OpenAPI) with
// github.com/pb33f/libopenapi-validator, and fails the test on any
// mismatch. Every test of the partner API (and of the webhook admin routes
// and the Face Match API) talks to central through it, as the admin
// requests of package central's tests, of package backup's and of
// synctest.Central.Admin (the agent's and seal's tests) do:
//
//	c := apitest.Client(t, tlsTransport) // an *http.Client
//	resp, err := c.Do(req)              // validated both ways
//
// A request a test sends wrong on purpose (no token, a bad field) is
// marked so that only its answer is checked:
//
//	req = apitest.Invalid(req)
//
// What central sends to partners outside a request-response of the API
// (the enterprise push's envelope and its decrypted plaintext) is checked
// against its component schema:
//
//	apitest.Schema(t, "PushEnvelope", body)
//
// So is an answer to an operation the document cannot name (a method a
// path does not serve), against its component response:
//
//	apitest.Response(t, "MethodNotAllowed", resp.Header, body)
package apitest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/openkyc/kyc/sync/central/partnerapi"
)

var (
	once    sync.Once
	shared  validator.Validator
	initErr error
	mu      sync.Mutex // the validator's caches are not documented as safe for concurrent use

	modelOnce sync.Once
	model     *v3.Document
	modelErr  error
)

// Validator returns the validator of partnerapi.OpenAPI, built once; the
// document itself is checked against the OpenAPI 3.1 schema on the way.
func Validator() (validator.Validator, error) {
	once.Do(func() {
		doc, err := libopenapi.NewDocument(partnerapi.OpenAPI)
		if err != nil {
			initErr = fmt.Errorf("apitest: parsing openapi.json: %w", err)
			return
		}
		v, errs := validator.NewValidator(doc)
		if len(errs) > 0 {
			initErr = fmt.Errorf("apitest: building the validator: %v", errs)
			return
		}
		if ok, verrs := v.ValidateDocument(); !ok {
			initErr = fmt.Errorf("apitest: openapi.json is not a valid OpenAPI document: %s", describe(verrs))
			return
		}
		shared = v
	})
	return shared, initErr
}

type invalidKey struct{}

// Invalid marks req as deliberately not matching the document (a test of
// a refusal): its answer is still validated.
func Invalid(req *http.Request) *http.Request {
	return req.WithContext(context.WithValue(req.Context(), invalidKey{}, true))
}

// Transport validates each request and response against the document.
type Transport struct {
	T    testing.TB
	Base http.RoundTripper
}

// Client returns an *http.Client whose every exchange is validated, over
// base (nil: http.DefaultTransport), not following redirects.
func Client(t testing.TB, base http.RoundTripper) *http.Client {
	t.Helper()
	if _, err := Validator(); err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: &Transport{T: t, Base: base}, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// RoundTrip sends req and validates both ways; a mismatch fails the test
// (t.Errorf, so the test goes on and reports everything).
func (tr *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	v, err := Validator()
	if err != nil {
		return nil, err
	}
	base := tr.Base
	if base == nil {
		base = http.DefaultTransport
	}
	var reqBody []byte
	if req.Body != nil {
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	clone := func() *http.Request {
		c := req.Clone(req.Context())
		c.Body, c.ContentLength = http.NoBody, 0
		if len(reqBody) > 0 {
			c.Body = io.NopCloser(bytes.NewReader(reqBody))
			c.ContentLength = int64(len(reqBody))
		}
		return c
	}
	what := req.Method + " " + req.URL.Path
	if deliberate, _ := req.Context().Value(invalidKey{}).(bool); !deliberate {
		mu.Lock()
		ok, errs := v.ValidateHttpRequestSync(clone())
		mu.Unlock()
		if !ok {
			tr.T.Errorf("apitest: request %s does not match openapi.json: %s", what, describe(errs))
		}
	}
	resp, err := base.RoundTrip(clone())
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	check := *resp
	check.Body = io.NopCloser(bytes.NewReader(body))
	mu.Lock()
	ok, errs := v.ValidateHttpResponse(clone(), &check)
	mu.Unlock()
	if !ok {
		tr.T.Errorf("apitest: response %d to %s does not match openapi.json: %s\nbody: %.600s", resp.StatusCode, what, describe(errs), body)
	}
	return resp, nil
}

func describe(errs []*verrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  - %s: %s", e.Message, e.Reason)
		for _, se := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n      %s at %s", se.Reason, se.FieldPath+" "+se.KeywordLocation)
		}
	}
	return b.String()
}

// Schema checks payload (JSON) against the component schema name of
// openapi.json; a mismatch, or no such schema, fails the test.
func Schema(t testing.TB, name string, payload []byte) {
	t.Helper()
	proxy := docModel(t).Components.Schemas.GetOrZero(name)
	if proxy == nil {
		t.Fatalf("apitest: openapi.json has no schema %s", name)
	}
	validateSchema(t, name, proxy.Schema(), payload)
}

// Response checks an answer's headers and JSON body against the component
// response name of openapi.json: each header it requires is there, the
// body matches its application/json schema.
func Response(t testing.TB, name string, header http.Header, body []byte) {
	t.Helper()
	r := docModel(t).Components.Responses.GetOrZero(name)
	if r == nil {
		t.Fatalf("apitest: openapi.json has no response %s", name)
	}
	for h, def := range r.Headers.FromOldest() {
		if def.Required && header.Get(h) == "" {
			t.Errorf("apitest: response %s without its header %s", name, h)
		}
	}
	mt := r.Content.GetOrZero("application/json")
	if mt == nil || mt.Schema == nil {
		t.Fatalf("apitest: response %s of openapi.json has no application/json schema", name)
	}
	validateSchema(t, name, mt.Schema.Schema(), body)
}

// docModel is openapi.json's model, built once.
func docModel(t testing.TB) *v3.Document {
	t.Helper()
	modelOnce.Do(func() {
		doc, err := libopenapi.NewDocument(partnerapi.OpenAPI)
		if err != nil {
			modelErr = fmt.Errorf("apitest: parsing openapi.json: %w", err)
			return
		}
		m, err := doc.BuildV3Model()
		if err != nil {
			modelErr = fmt.Errorf("apitest: building the model: %w", err)
			return
		}
		model = &m.Model
	})
	if modelErr != nil {
		t.Fatal(modelErr)
	}
	return model
}

func validateSchema(t testing.TB, name string, schema *base.Schema, payload []byte) {
	t.Helper()
	mu.Lock()
	ok, errs := schema_validation.NewSchemaValidator().ValidateSchemaBytes(schema, payload)
	mu.Unlock()
	if !ok {
		t.Errorf("apitest: %s does not match openapi.json: %s\nbody: %.600s", name, describe(errs), payload)
	}
}
