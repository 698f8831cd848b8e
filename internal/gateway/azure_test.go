package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/errs"
)

// TestAzureDeploymentMapping: each served operation goes to its OpenAI path,
// the deployment becomes the model (mapped, or as named), api-version is
// dropped and other query parameters kept.
func TestAzureDeploymentMapping(t *testing.T) {
	h := newHarness(t, harnessConfig{deployments: map[string]string{"gpt4": "gpt-4o", "emb": "text-embedding-3-small"}})
	cases := []struct {
		path, body      string
		wantPath, model string
		wantQuery       string
	}{
		{"/deployments/gpt4/chat/completions?api-version=2024-10-21", `{"messages":[{"role":"user","content":"Hi"}]}`, "/v1/chat/completions", "gpt-4o", ""},
		{"/deployments/gpt4/completions?api-version=2024-10-21&user=u1", `{"prompt":"Hi"}`, "/v1/completions", "gpt-4o", "user=u1"},
		{"/deployments/emb/embeddings?api-version=2024-10-21", `{"input":"Hi"}`, "/v1/embeddings", "text-embedding-3-small", ""},
		{"/deployments/other/chat/completions?api-version=2024-10-21", `{"messages":[]}`, "/v1/chat/completions", "other", ""},
		// A model the caller wrote is replaced by the deployment's.
		{"/deployments/gpt4/chat/completions", `{"model":"gpt-3.5","model":"x","messages":[]}`, "/v1/chat/completions", "gpt-4o", ""},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := h.post(h.front.URL+"/accounts/acct/openai"+tc.path, tc.body, map[string]string{"Api-Key": callerSecret1})
			mustStatus(t, resp, body, http.StatusOK)
			got := h.up.last()
			if got.Path != tc.wantPath || got.Model != tc.model || got.RawQuery != tc.wantQuery {
				t.Errorf("upstream got %s?%s model %q, want %s?%s model %q", got.Path, got.RawQuery, got.Model, tc.wantPath, tc.wantQuery, tc.model)
			}
			if n := bytes.Count(got.Body, []byte(`"model"`)); n != 1 {
				t.Errorf("upstream body %s has %d model members, want 1", got.Body, n)
			}
		})
	}
}

// TestAzureBadRequests: what the gateway refuses before calling the
// upstream, each with a message saying what was wrong.
func TestAzureBadRequests(t *testing.T) {
	h := newHarness(t, harnessConfig{maxBody: 1024})
	cases := []struct {
		name, method, path, body string
		status                   int
		message                  string
	}{
		{"bad JSON", "POST", "/deployments/d/chat/completions", `{"messages":[}`, 400, "the request body is not valid JSON: invalid character '}' looking for beginning of value, at byte 14"},
		{"truncated JSON", "POST", "/deployments/d/chat/completions", `{"messages":[`, 400, "the request body is not valid JSON: unexpected end of JSON input, at byte 13"},
		{"array", "POST", "/deployments/d/chat/completions", `[1,2]`, 400, `the request body must be a JSON object such as {"messages":[...]}; it is a JSON array`},
		{"null", "POST", "/deployments/d/embeddings", `null`, 400, "the request body must be a JSON object; it is null"},
		{"empty", "POST", "/deployments/d/embeddings", ``, 400, "the request body is empty"},
		{"too large", "POST", "/deployments/d/embeddings", `{"input":"` + strings.Repeat("x", 2000) + `"}`, 400, "the request body is larger than 1024 bytes"},
		{"unknown operation", "POST", "/deployments/d/fine_tuning/jobs", `{}`, 404, `the gateway does not serve the Azure OpenAI operation "fine_tuning/jobs" of deployment "d"`},
		{"not a deployment path", "GET", "/models", ``, 404, "the gateway serves Azure OpenAI deployment calls"},
		{"GET", "GET", "/deployments/d/chat/completions", ``, 400, "GET is not allowed on chat/completions: send a POST"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, h.front.URL+"/accounts/acct/openai"+tc.path+"?api-version=2024-10-21", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Api-Key", callerSecret1)
			resp, err := h.front.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got struct {
				Error struct{ Code, Message string }
			}
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatalf("decode answer: %v", err)
			}
			if resp.StatusCode != tc.status || !strings.HasPrefix(got.Error.Message, tc.message) {
				t.Errorf("got %d %q\nwant %d %q...", resp.StatusCode, got.Error.Message, tc.status, tc.message)
			}
			wantKind := map[int]errs.Kind{400: errs.Invalid, 404: errs.NotFound}[tc.status]
			if k := errs.KindOf(h.err()); k != wantKind {
				t.Errorf("Serve returned kind %v, want %v", k, wantKind)
			}
		})
	}
	if n := len(h.up.seen()); n != 0 {
		t.Errorf("the upstream received %d calls, want none", n)
	}
}

// TestAzurePath: a rest path with an empty deployment (ServeMux cleans "//"
// away before it gets here, but another router might not) is refused.
func TestAzurePath(t *testing.T) {
	cases := []struct {
		rest, deployment, path string
		fails                  bool
		kind                   errs.Kind
	}{
		{"/deployments/d/chat/completions", "d", "/chat/completions", false, 0},
		{"deployments/d.v2_x-y/embeddings", "d.v2_x-y", "/embeddings", false, 0},
		{"/deployments//chat/completions", "", "", true, errs.Invalid},
		{"/deployments/d", "", "", true, errs.NotFound},
		{"/deployments/d/chat/completions/extra", "", "", true, errs.NotFound},
		{"/v1/chat/completions", "", "", true, errs.NotFound},
	}
	for _, tc := range cases {
		d, p, err := azurePath("test", http.MethodPost, tc.rest)
		if tc.fails {
			if errs.KindOf(err) != tc.kind || err == nil {
				t.Errorf("azurePath(%q) = %v, want kind %v", tc.rest, err, tc.kind)
			}
			continue
		}
		if err != nil || d != tc.deployment || p != tc.path {
			t.Errorf("azurePath(%q) = %q, %q, %v; want %q, %q", tc.rest, d, p, err, tc.deployment, tc.path)
		}
	}
}

// TestSetModel: the body keeps every member as sent (text not re-escaped),
// with model set once.
func TestSetModel(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{}`, `{"model":"m"}`},
		{`{"messages":[{"role":"user","content":"<b>&</b> é \u00e9"}],"stream":true}`,
			`{"messages":[{"role":"user","content":"<b>&</b> é \u00e9"}],"model":"m","stream":true}`},
		{` {"model":null, "n": 1.50e3 } `, `{"model":"m","n":1.50e3}`},
	}
	for _, tc := range cases {
		got, err := setModel("test", []byte(tc.in), "m")
		if err != nil {
			t.Errorf("setModel(%s): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, string(got)); diff != "" {
			t.Errorf("setModel(%s) (-want +got):\n%s", tc.in, diff)
		}
	}
}

// FuzzSetModel: any body is either refused as Invalid, or comes out a JSON
// object with the same members and model set.
func FuzzSetModel(f *testing.F) {
	for _, s := range []string{`{}`, `{"model":"a","messages":[]}`, `[]`, `null`, `{"a":`, `{"a":1}{"b":2}`, `{"\u006dodel":1}`, "\xff", `{"x":"\ud800"}`} {
		f.Add([]byte(s), "gpt-4o")
	}
	f.Fuzz(func(t *testing.T, body []byte, model string) {
		out, err := setModel("fuzz", body, model)
		if err != nil {
			if errs.KindOf(err) != errs.Invalid || errs.Message(err) == "" {
				t.Fatalf("setModel error %v: want Invalid with a message", err)
			}
			return
		}
		var in, got map[string]json.RawMessage
		if err := json.Unmarshal(body, &in); err != nil {
			t.Fatalf("setModel accepted %q, which encoding/json refuses: %v", body, err)
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("setModel made invalid JSON %q: %v", out, err)
		}
		var m, want string
		name, _ := json.Marshal(model) // invalid UTF-8 becomes U+FFFD, byte by byte
		_ = json.Unmarshal(name, &want)
		if err := json.Unmarshal(got["model"], &m); err != nil || m != want {
			t.Fatalf("model = %s, want %q", got["model"], want)
		}
		if len(got) != len(in)+btoi(in["model"] == nil) {
			t.Fatalf("%d members out, %d in", len(got), len(in))
		}
		for k, v := range in {
			if k == "model" {
				continue
			}
			if !jsonEqual(v, got[k]) {
				t.Fatalf("member %q changed: %s -> %s", k, v, got[k])
			}
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// jsonEqual reports whether a and b hold the same JSON value.
func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return cmp.Equal(x, y)
}
