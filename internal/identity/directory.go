package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// directory is an immutable snapshot of every principal and its credentials,
// swapped atomically, so that token issue and verification read memory, not the
// database. It is rebuilt when the change feed reports a principal or
// credential change, from this replica or another; a write through this
// Service applies its change before it returns.
type directory struct {
	byID    map[string]*store.Principal
	byAppID map[string]*store.Principal
	byName  map[nameKey]*store.Principal
	creds   map[string][]credential // by principal id
}

type nameKey struct {
	kind store.PrincipalKind
	name string
}

// credential is a stored credential with its Data decoded.
type credential struct {
	store.Credential
	secret      *secretData
	certificate *certificateData
	federated   *federatedData
}

// reloadDirectory reads every principal and credential and installs a new
// snapshot.
func (s *Service) reloadDirectory(ctx context.Context) error {
	d := &directory{
		byID:    map[string]*store.Principal{},
		byAppID: map[string]*store.Principal{},
		byName:  map[nameKey]*store.Principal{},
		creds:   map[string][]credential{},
	}
	err := eachPage(func(p store.Page) (string, error) {
		ps, next, err := s.store.Principals(ctx, "", p)
		for i := range ps {
			p := &ps[i]
			d.byID[p.ID] = p
			if p.AppID != "" {
				d.byAppID[strings.ToLower(p.AppID)] = p
			}
			if p.Kind != store.ServicePrincipal {
				d.byName[nameKey{p.Kind, p.Name}] = p
			}
		}
		return next, err
	})
	if err != nil {
		return errs.E(errs.Unavailable, op("reloadDirectory"), "cannot read principals", err)
	}
	var bad error
	err = eachPage(func(p store.Page) (string, error) {
		cs, next, err := s.store.AllCredentials(ctx, p)
		for _, c := range cs {
			dc, derr := decodeCredential(c)
			if derr != nil {
				bad = derr
				continue
			}
			d.creds[c.PrincipalID] = append(d.creds[c.PrincipalID], dc)
		}
		return next, err
	})
	if err != nil {
		return errs.E(errs.Unavailable, op("reloadDirectory"), "cannot read credentials", err)
	}
	if bad != nil {
		return errs.E(errs.Internal, op("reloadDirectory"), "", bad)
	}
	s.dir.Store(d)
	return nil
}

// eachPage calls list with successive pages until it returns no next cursor.
func eachPage(list func(p store.Page) (next string, err error)) error {
	p := store.Page{Limit: store.MaxPageLimit}
	for {
		next, err := list(p)
		if err != nil || next == "" {
			return err
		}
		p.After = next
	}
}

func decodeCredential(c store.Credential) (credential, error) {
	dc := credential{Credential: c}
	var target any
	switch c.Kind {
	case store.SecretCredential:
		dc.secret = &secretData{}
		target = dc.secret
	case store.CertificateCredential:
		dc.certificate = &certificateData{}
		target = dc.certificate
	case store.FederatedCredential:
		dc.federated = &federatedData{}
		target = dc.federated
	default:
		return dc, fmt.Errorf("credential %s of principal %s: unknown kind %q", c.ID, c.PrincipalID, c.Kind)
	}
	if err := json.Unmarshal(c.Data, target); err != nil {
		return dc, fmt.Errorf("credential %s of principal %s: %w", c.ID, c.PrincipalID, err)
	}
	if dc.certificate != nil {
		if err := dc.certificate.parse(); err != nil {
			return dc, fmt.Errorf("credential %s of principal %s: %w", c.ID, c.PrincipalID, err)
		}
	}
	if dc.federated != nil && len(dc.federated.JWKS) > 0 {
		// Parsed once here: the directory is shared and never written after.
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(dc.federated.JWKS, &set); err != nil {
			return dc, fmt.Errorf("credential %s of principal %s: jwks: %w", c.ID, c.PrincipalID, err)
		}
		dc.federated.keys = &set
	}
	return dc, nil
}
