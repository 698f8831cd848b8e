package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// maxJWKS bounds a fetched key set.
const maxJWKS = 1 << 20

// JWKSFetcher fetches federated issuers' key sets over HTTPS for the identity
// service. It is safe for concurrent use.
type JWKSFetcher struct {
	Client *http.Client // nil: a client with a 10-second timeout
}

// FetchJWKS GETs url and returns its body when the answer is 200.
func (f JWKSFetcher) FetchJWKS(ctx context.Context, url string) ([]byte, error) {
	hc := f.Client
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxJWKS))
}
