package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/latchkey/latchkey/client"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProbes(t *testing.T) {
	down := errors.New("dial tcp 127.0.0.1:5432: connection refused")
	tests := []struct {
		name       string
		ready      error
		path       string
		wantStatus int
		wantBody   string
	}{
		{"healthz", nil, "/healthz", http.StatusOK, `{"status":"ok"}`},
		{"healthz while the store is down", down, "/healthz", http.StatusOK, `{"status":"ok"}`},
		{"readyz", nil, "/readyz", http.StatusOK, `{"status":"ready"}`},
		{"readyz while the store is down", down, "/readyz", http.StatusServiceUnavailable, `"code":"ServiceUnavailable"`},
		{"unknown path", nil, "/nope", http.StatusNotFound, `"code":"NotFound"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, Options{Ready: func(context.Context) error { return tc.ready }})
			ts := httptest.NewTLSServer(s)
			defer ts.Close()
			resp, err := ts.Client().Get(ts.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || !strings.Contains(string(body), tc.wantBody) {
				t.Errorf("GET %s = %d %s, want %d containing %s", tc.path, resp.StatusCode, body, tc.wantStatus, tc.wantBody)
			}
			if strings.Contains(string(body), "5432") {
				t.Errorf("GET %s leaked the cause of the failure: %s", tc.path, body)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Errorf("GET %s: no X-Request-Id header", tc.path)
			}
		})
	}
}

func TestMetricsCountRequests(t *testing.T) {
	s := newTestServer(t, Options{})
	ts := httptest.NewTLSServer(s)
	defer ts.Close()
	for _, path := range []string{"/healthz", "/healthz", "/nope"} {
		resp, err := ts.Client().Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := ts.Client().Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`latchkey_http_requests_total{code="200",method="GET",operation="latchkey/public",route="GET /healthz",surface="operations"} 2`,
		`latchkey_http_requests_total{code="404",method="GET",operation="latchkey/public",route="/",surface="management"} 1`,
		`latchkey_http_request_duration_seconds_bucket{operation="latchkey/public",route="GET /healthz",surface="operations",le=`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestMethodLabelIsBounded(t *testing.T) {
	s := newTestServer(t, Options{})
	ts := httptest.NewTLSServer(s)
	defer ts.Close()
	req, _ := http.NewRequest("SOMETHINGODD", ts.URL+"/x", nil)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = ts.Client().Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	_, _ = io.Copy(&sb, resp.Body)
	if strings.Contains(sb.String(), "SOMETHINGODD") || !strings.Contains(sb.String(), `method="OTHER"`) {
		t.Errorf("an unknown method should be counted as OTHER, not as itself")
	}
}

func decodeError(t *testing.T, body []byte) client.ErrorDetail {
	t.Helper()
	var eb client.ErrorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	return eb.Error
}
