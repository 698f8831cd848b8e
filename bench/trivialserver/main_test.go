package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHandler: the answer has the asked size, is JSON with an access_token
// field, and the request body is read whole.
func TestHandler(t *testing.T) {
	body, err := answer(850)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(handler(body))
	t.Cleanup(ts.Close)
	resp, err := ts.Client().Post(ts.URL, "application/x-www-form-urlencoded", strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || len(got) != 850 || json.Unmarshal(got, &tok) != nil || tok.AccessToken == "" {
		t.Errorf("answer = %d, %d bytes %.60q; want 200, 850 bytes of JSON with an access_token", resp.StatusCode, len(got), got)
	}
}

func TestAnswerTooSmall(t *testing.T) {
	if _, err := answer(10); err == nil || !strings.Contains(err.Error(), "--size 10 is too small") {
		t.Errorf("answer(10) error = %v, want --size 10 is too small", err)
	}
}
