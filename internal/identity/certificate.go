package identity

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// certificateData is what the store keeps of a certificate credential: the
// certificate (public) and its thumbprints, by which client assertions name it.
type certificateData struct {
	Certificate []byte `json:"certificate"` // DER
	SHA1        string `json:"x5t"`         // base64url SHA-1 thumbprint
	SHA256      string `json:"x5tS256"`     // base64url SHA-256 thumbprint

	cert *x509.Certificate
}

func (d *certificateData) parse() error {
	cert, err := x509.ParseCertificate(d.Certificate)
	if err != nil {
		return fmt.Errorf("parse certificate: %w", err)
	}
	d.cert = cert
	return nil
}

// assertionAlgorithms are the signature algorithms accepted in client assertions
// (MSAL signs with RS256 or PS256; workload identity issuers often use RS256/ES256).
var assertionAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512,
}

// maxAssertionLifetime bounds how far in the future a client assertion may
// expire, so a stolen one is of little use.
const maxAssertionLifetime = 24 * time.Hour

// newCertificateCredential parses a PEM or DER certificate for principalID.
func newCertificateCredential(principalID, name string, certPEM []byte, now time.Time) (store.Credential, error) {
	der := certPEM
	if block, _ := pem.Decode(certPEM); block != nil {
		if block.Type != "CERTIFICATE" {
			return store.Credential{}, errs.Invalidf(op("AddCertificate"), "certificate", "the PEM block is %q, want CERTIFICATE: give the public certificate, never the private key", block.Type)
		}
		der = block.Bytes
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return store.Credential{}, errs.Invalidf(op("AddCertificate"), "certificate", "not an X.509 certificate in PEM or DER: %v", err)
	}
	if now.After(cert.NotAfter) {
		return store.Credential{}, errs.Invalidf(op("AddCertificate"), "certificate", "the certificate expired on %s", cert.NotAfter.Format(time.RFC3339))
	}
	s1 := sha1.Sum(der)
	s256 := sha256.Sum256(der)
	data, err := json.Marshal(certificateData{
		Certificate: der,
		SHA1:        base64.RawURLEncoding.EncodeToString(s1[:]),
		SHA256:      base64.RawURLEncoding.EncodeToString(s256[:]),
	})
	if err != nil {
		return store.Credential{}, errs.E(errs.Internal, op("AddCertificate"), "", err)
	}
	if name == "" {
		name = "cert-" + hex.EncodeToString(s1[:4])
	}
	return store.Credential{
		ID: uuid.NewString(), PrincipalID: principalID, Kind: store.CertificateCredential, Name: name,
		Data: data, Created: store.Time(now), Expires: store.Time(cert.NotAfter),
	}, nil
}

// assertionClaims are the claims Latchkey reads from a client assertion.
type assertionClaims struct {
	jwt.Claims
}

// verifyCertificateAssertion checks a client assertion signed with one of the
// principal's certificates: signature, audience (this tenant's token
// endpoint), time window, and that its jti was not used before.
func (s *Service) verifyCertificateAssertion(parsed *jwt.JSONWebToken, unverified assertionClaims, creds []credential, clientID string) error {
	const o = "identity.clientAssertion"
	now := s.now()
	h := parsed.Headers[0]
	x5t, _ := h.ExtraHeaders["x5t"].(string)
	x5tS256, _ := h.ExtraHeaders["x5t#S256"].(string)
	for _, c := range creds {
		cd := c.certificate
		if cd == nil || now.After(c.Expires) {
			continue
		}
		if (x5t != "" && !sameThumbprint(x5t, cd.SHA1)) || (x5tS256 != "" && !sameThumbprint(x5tS256, cd.SHA256)) {
			continue
		}
		var claims assertionClaims
		if err := parsed.Claims(cd.cert.PublicKey, &claims); err != nil {
			continue // try the next certificate
		}
		if err := s.checkAssertionWindow(claims.Claims, now); err != nil {
			return err
		}
		if claims.Subject != clientID {
			return errs.E(errs.Unauthenticated, o, "the client assertion's sub must be the client id", nil)
		}
		if !s.isTokenEndpoint(claims.Audience) {
			return errs.E(errs.Unauthenticated, o, "the client assertion's audience must be this tenant's token endpoint", nil)
		}
		if claims.ID == "" || !s.assertion.firstUse(clientID+"|"+claims.ID, claims.Expiry.Time(), now) {
			return errs.E(errs.Unauthenticated, o, "the client assertion has no jti or was used before: sign a new one for each request", nil)
		}
		return nil
	}
	return errNoMatchingCredential
}

func (s *Service) checkAssertionWindow(c jwt.Claims, now time.Time) error {
	const o = "identity.clientAssertion"
	if c.Expiry == nil || now.After(c.Expiry.Time()) {
		return errs.E(errs.Unauthenticated, o, "the client assertion has expired or has no exp", nil)
	}
	if c.NotBefore != nil && now.Add(clockSkew).Before(c.NotBefore.Time()) {
		return errs.E(errs.Unauthenticated, o, "the client assertion is not valid yet", nil)
	}
	if c.Expiry.Time().Sub(now) > maxAssertionLifetime {
		return errs.E(errs.Unauthenticated, o, "the client assertion lives longer than 24 hours", nil)
	}
	return nil
}

// isTokenEndpoint reports whether aud names this tenant's token endpoint, on
// whatever host the client reached us by.
func (s *Service) isTokenEndpoint(aud jwt.Audience) bool {
	for _, a := range aud {
		if rest, ok := cutScheme(a); ok {
			if _, path, found := cutHost(rest); found && (path == s.tenant+"/oauth2/v2.0/token" || path == s.tenant+"/oauth2/token") {
				return true
			}
		}
	}
	return false
}

// sameThumbprint reports whether a thumbprint header names the stored
// (base64url) thumbprint. RFC 7515 says base64url, but MSAL sends standard
// base64 with padding, so any of the four encodings is accepted.
func sameThumbprint(header, stored string) bool {
	want, err := base64.RawURLEncoding.DecodeString(stored)
	if err != nil {
		return false
	}
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if got, err := enc.DecodeString(header); err == nil {
			return bytes.Equal(got, want)
		}
	}
	return false
}
