package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// request is what the recording server saw of one request.
type request struct {
	Method, Path, Query, Body string
}

// recorder is a management API stand-in that records every request and
// answers each with the status and body its answer function gives.
type recorder struct {
	mu   sync.Mutex // guards seen
	seen []request
}

func (rec *recorder) requests() []request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]request(nil), rec.seen...)
}

// newRecorder serves answer behind TLS and returns a client of it.
func newRecorder(t *testing.T, answer func(r *http.Request) (int, string)) (*Client, *recorder) {
	t.Helper()
	rec := &recorder{}
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.seen = append(rec.seen, request{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Body: string(b)})
		rec.mu.Unlock()
		status, body := answer(r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(ts.Close)
	return New(ts.URL, ts.Client(), nil), rec
}

// success answers as the real server does on success: its status for the
// method, and a body that decodes both as an item and as a one-item list.
func success(r *http.Request) (int, string) {
	const body = `{"id":"x","value":[{"id":"x"}]}`
	switch {
	case r.Method == http.MethodDelete, strings.HasSuffix(r.URL.Path, "/deactivate"):
		return http.StatusNoContent, ""
	case r.Method == http.MethodPost, r.Method == http.MethodPut && !strings.HasPrefix(r.URL.Path, "/api/v1/roleDefinitions/"):
		return http.StatusCreated, body
	}
	return http.StatusOK, body
}

func TestAccessClientRequests(t *testing.T) {
	justify := true
	tests := []struct {
		name string
		call func(ctx context.Context, c *Client) error
		want request
	}{
		{"PutHub", func(ctx context.Context, c *Client) error { _, err := c.PutHub(ctx, "h 1"); return err },
			request{"PUT", "/api/v1/hubs/h%201", "", `{"name":"h 1"}`}},
		{"Hubs", func(ctx context.Context, c *Client) error { _, err := c.Hubs(ctx); return err },
			request{"GET", "/api/v1/hubs", "", ""}},
		{"Hub", func(ctx context.Context, c *Client) error { _, err := c.Hub(ctx, "h"); return err },
			request{"GET", "/api/v1/hubs/h", "", ""}},
		{"DeleteHub", func(ctx context.Context, c *Client) error { return c.DeleteHub(ctx, "h") },
			request{"DELETE", "/api/v1/hubs/h", "", ""}},
		{"PutProject", func(ctx context.Context, c *Client) error { _, err := c.PutProject(ctx, "h", "p"); return err },
			request{"PUT", "/api/v1/hubs/h/projects/p", "", `{"name":"p"}`}},
		{"Projects", func(ctx context.Context, c *Client) error { _, err := c.Projects(ctx, "h/1"); return err },
			request{"GET", "/api/v1/hubs/h%2F1/projects", "", ""}},
		{"Project", func(ctx context.Context, c *Client) error { _, err := c.Project(ctx, "h", "p"); return err },
			request{"GET", "/api/v1/hubs/h/projects/p", "", ""}},
		{"DeleteProject", func(ctx context.Context, c *Client) error { return c.DeleteProject(ctx, "h", "p") },
			request{"DELETE", "/api/v1/hubs/h/projects/p", "", ""}},
		{"PutVault", func(ctx context.Context, c *Client) error { _, err := c.PutVault(ctx, "h", "v"); return err },
			request{"PUT", "/api/v1/hubs/h/vaults/v", "", `{"name":"v"}`}},
		{"Vaults of a hub", func(ctx context.Context, c *Client) error { _, err := c.Vaults(ctx, "h"); return err },
			request{"GET", "/api/v1/hubs/h/vaults", "", ""}},
		{"Vaults everywhere", func(ctx context.Context, c *Client) error { _, err := c.Vaults(ctx, ""); return err },
			request{"GET", "/api/v1/vaults", "", ""}},
		{"Vault", func(ctx context.Context, c *Client) error { _, err := c.Vault(ctx, "v"); return err },
			request{"GET", "/api/v1/vaults/v", "", ""}},
		{"DeleteVault", func(ctx context.Context, c *Client) error { return c.DeleteVault(ctx, "v") },
			request{"DELETE", "/api/v1/vaults/v", "", ""}},
		{"RoleDefinitions", func(ctx context.Context, c *Client) error { _, err := c.RoleDefinitions(ctx); return err },
			request{"GET", "/api/v1/roleDefinitions", "", ""}},
		{"RoleDefinition by name", func(ctx context.Context, c *Client) error {
			_, err := c.RoleDefinition(ctx, "Key Vault Secrets User")
			return err
		}, request{"GET", "/api/v1/roleDefinitions/Key%20Vault%20Secrets%20User", "", ""}},
		{"CreateRoleDefinition", func(ctx context.Context, c *Client) error {
			_, err := c.CreateRoleDefinition(ctx, RoleDefinition{RoleName: "r", Permissions: []Permission{{DataActions: []string{"a"}}}})
			return err
		}, request{"POST", "/api/v1/roleDefinitions", "",
			`{"id":"","roleName":"r","roleType":"","description":"","permissions":[{"actions":null,"notActions":null,"dataActions":["a"],"notDataActions":null}],"assignableScopes":null}`}},
		{"UpdateRoleDefinition", func(ctx context.Context, c *Client) error {
			_, err := c.UpdateRoleDefinition(ctx, "r1", RoleDefinition{RoleName: "r"})
			return err
		}, request{"PUT", "/api/v1/roleDefinitions/r1", "",
			`{"id":"","roleName":"r","roleType":"","description":"","permissions":null,"assignableScopes":null}`}},
		{"DeleteRoleDefinition", func(ctx context.Context, c *Client) error { return c.DeleteRoleDefinition(ctx, "my role") },
			request{"DELETE", "/api/v1/roleDefinitions/my%20role", "", ""}},
		{"RoleAssignments unfiltered", func(ctx context.Context, c *Client) error {
			_, err := c.RoleAssignments(ctx, "", "", "")
			return err
		}, request{"GET", "/api/v1/roleAssignments", "", ""}},
		{"RoleAssignments filtered", func(ctx context.Context, c *Client) error {
			_, err := c.RoleAssignments(ctx, "app-1", "Key Vault Secrets User", "/hubs/h/vaults/v")
			return err
		}, request{"GET", "/api/v1/roleAssignments", "assignee=app-1&role=Key+Vault+Secrets+User&scope=%2Fhubs%2Fh%2Fvaults%2Fv", ""}},
		{"CreateRoleAssignment", func(ctx context.Context, c *Client) error {
			_, err := c.CreateRoleAssignment(ctx, CreateRoleAssignmentRequest{Assignee: "a", Role: "Reader", Scope: "/"})
			return err
		}, request{"POST", "/api/v1/roleAssignments", "", `{"assignee":"a","role":"Reader","scope":"/"}`}},
		{"DeleteRoleAssignment", func(ctx context.Context, c *Client) error { return c.DeleteRoleAssignment(ctx, "a1") },
			request{"DELETE", "/api/v1/roleAssignments/a1", "", ""}},
		{"Eligibles", func(ctx context.Context, c *Client) error { _, err := c.Eligibles(ctx, "me-id", "/hubs/h"); return err },
			request{"GET", "/api/v1/roleEligibilities", "assignee=me-id&scope=%2Fhubs%2Fh", ""}},
		{"CreateEligible", func(ctx context.Context, c *Client) error {
			_, err := c.CreateEligible(ctx, CreateEligibleRequest{Assignee: "a", Role: "Owner", Scope: "/hubs/h", MaxDurationMinutes: 60, RequireJustification: &justify})
			return err
		}, request{"POST", "/api/v1/roleEligibilities", "",
			`{"assignee":"a","role":"Owner","scope":"/hubs/h","maxDurationMinutes":60,"requireJustification":true}`}},
		{"DeleteEligible", func(ctx context.Context, c *Client) error { return c.DeleteEligible(ctx, "e1") },
			request{"DELETE", "/api/v1/roleEligibilities/e1", "", ""}},
		{"Activate", func(ctx context.Context, c *Client) error {
			_, err := c.Activate(ctx, "e1", ActivateRequest{Justification: "incident 42", DurationMinutes: 30})
			return err
		}, request{"POST", "/api/v1/roleEligibilities/e1/activate", "", `{"justification":"incident 42","durationMinutes":30}`}},
		{"Deactivate", func(ctx context.Context, c *Client) error { return c.Deactivate(ctx, "e1") },
			request{"POST", "/api/v1/roleEligibilities/e1/deactivate", "", ""}},
		{"CheckAccess", func(ctx context.Context, c *Client) error {
			_, err := c.CheckAccess(ctx, "app-1", "Latchkey.KeyVault/vaults/secrets/getSecret/action", "/hubs/h/vaults/v")
			return err
		}, request{"GET", "/api/v1/checkAccess",
			"action=Latchkey.KeyVault%2Fvaults%2Fsecrets%2FgetSecret%2Faction&assignee=app-1&scope=%2Fhubs%2Fh%2Fvaults%2Fv", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, rec := newRecorder(t, success)
			if err := tc.call(t.Context(), c); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if got := rec.requests(); len(got) != 1 || got[0] != tc.want {
				t.Errorf("%s sent %+v\nwant [%+v]", tc.name, got, tc.want)
			}
		})
	}
}

// TestPutExistingResource: the server answers PUT of an existing resource with
// 200 and the resource; that is success, not an error.
func TestPutExistingResource(t *testing.T) {
	c, rec := newRecorder(t, func(r *http.Request) (int, string) {
		return http.StatusOK, `{"id":"/hubs/h","kind":"Hub","name":"h"}`
	})
	got, err := c.PutHub(t.Context(), "h")
	if err != nil || got.ID != "/hubs/h" || got.Kind != "Hub" {
		t.Fatalf("PutHub of an existing hub = %+v, %v; want the hub", got, err)
	}
	if reqs := rec.requests(); len(reqs) != 2 || reqs[1].Method != http.MethodGet || reqs[1].Path != "/api/v1/hubs/h" {
		t.Errorf("requests = %+v, want the PUT and a GET of the hub", reqs)
	}
}

// TestListsFollowNextLinks: a filtered listing follows the server's nextLinks
// and returns every page's items.
func TestListsFollowNextLinks(t *testing.T) {
	var c *Client
	c, rec := newRecorder(t, func(r *http.Request) (int, string) {
		if r.URL.Query().Get("$skiptoken") == "" {
			next, _ := json.Marshal(c.base + "/api/v1/roleAssignments?assignee=a&$skiptoken=2")
			return http.StatusOK, `{"value":[{"id":"a1"}],"nextLink":` + string(next) + `}`
		}
		return http.StatusOK, `{"value":[{"id":"a2"}]}`
	})
	got, err := c.RoleAssignments(t.Context(), "a", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "a1" || got[1].ID != "a2" {
		t.Errorf("RoleAssignments = %+v, want a1 and a2", got)
	}
	if reqs := rec.requests(); len(reqs) != 2 || reqs[0].Query != "assignee=a" {
		t.Errorf("requests = %+v, want two, the first filtered by assignee", reqs)
	}
}

func TestAccessClientErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		call   func(ctx context.Context, c *Client) error
		want   Error
	}{
		{"hub still holds a vault", http.StatusConflict,
			`{"error":{"code":"Conflict","message":"/hubs/h still holds /hubs/h/vaults/v: delete them first","requestId":"r1"}}`,
			func(ctx context.Context, c *Client) error { return c.DeleteHub(ctx, "h") },
			Error{StatusCode: 409, Code: "Conflict", Message: "/hubs/h still holds /hubs/h/vaults/v: delete them first", RequestID: "r1"}},
		{"activation needs a justification", http.StatusBadRequest,
			`{"error":{"code":"BadRequest","message":"this eligible assignment needs a justification","target":"justification","requestId":"r2"}}`,
			func(ctx context.Context, c *Client) error {
				_, err := c.Activate(ctx, "e1", ActivateRequest{})
				return err
			},
			Error{StatusCode: 400, Code: "BadRequest", Message: "this eligible assignment needs a justification", Target: "justification", RequestID: "r2"}},
		{"unknown role", http.StatusNotFound,
			`{"error":{"code":"NotFound","message":"no role has the id or name \"nope\"","requestId":"r3"}}`,
			func(ctx context.Context, c *Client) error { _, err := c.RoleDefinition(ctx, "nope"); return err },
			Error{StatusCode: 404, Code: "NotFound", Message: `no role has the id or name "nope"`, RequestID: "r3"}},
		{"a proxy's page", http.StatusBadGateway, `upstream down`,
			func(ctx context.Context, c *Client) error { _, err := c.CheckAccess(ctx, "a", "b", "/"); return err },
			Error{StatusCode: 502, Code: "BadGateway", Message: "upstream down"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newRecorder(t, func(*http.Request) (int, string) { return tc.status, tc.body })
			err := tc.call(t.Context(), c)
			var e *Error
			if !errors.As(err, &e) || !reflect.DeepEqual(*e, tc.want) {
				t.Errorf("error = %#v, want %#v", err, tc.want)
			}
		})
	}
}

// TestCheckAccessDenied: a denial is an answer with its reason, not an error.
func TestCheckAccessDenied(t *testing.T) {
	c, _ := newRecorder(t, func(*http.Request) (int, string) {
		return http.StatusOK, `{"principalId":"p","action":"x","scope":"/hubs/h","allowed":false,"reason":"no role assignment grants x"}`
	})
	d, err := c.CheckAccess(t.Context(), "p", "x", "/hubs/h")
	if err != nil || d.Allowed || d.Reason != "no role assignment grants x" {
		t.Errorf("CheckAccess = %+v, %v; want a denial with its reason", d, err)
	}
}
