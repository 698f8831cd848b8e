package httpapi

import (
	"time"

	"github.com/latchkey/latchkey/internal/vault"
)

// This file holds the Key Vault data plane's JSON shapes, named as the Key
// Vault REST specification names them. Times are integer unix seconds.

type kvAttributes struct {
	Enabled         *bool  `json:"enabled,omitempty"`
	NotBefore       *int64 `json:"nbf,omitempty"`
	Expires         *int64 `json:"exp,omitempty"`
	Created         *int64 `json:"created,omitempty"`
	Updated         *int64 `json:"updated,omitempty"`
	RecoverableDays *int   `json:"recoverableDays,omitempty"`
	RecoveryLevel   string `json:"recoveryLevel,omitempty"`
}

type kvSecretBundle struct {
	Value       *string           `json:"value,omitempty"`
	ID          string            `json:"id"`
	ContentType string            `json:"contentType,omitempty"`
	Attributes  kvAttributes      `json:"attributes"`
	Tags        map[string]string `json:"tags,omitempty"`
	// Deleted secrets only.
	RecoveryID         string `json:"recoveryId,omitempty"`
	DeletedDate        *int64 `json:"deletedDate,omitempty"`
	ScheduledPurgeDate *int64 `json:"scheduledPurgeDate,omitempty"`
}

type kvList struct {
	Value    []kvSecretBundle `json:"value"`
	NextLink *string          `json:"nextLink"`
}

// kvSetParameters is SecretSetParameters.
type kvSetParameters struct {
	Value       *string           `json:"value"`
	ContentType string            `json:"contentType"`
	Tags        map[string]string `json:"tags"`
	Attributes  *kvAttributes     `json:"attributes"`
}

// kvUpdateParameters is SecretUpdateParameters.
type kvUpdateParameters struct {
	ContentType *string            `json:"contentType"`
	Tags        *map[string]string `json:"tags"`
	Attributes  *kvAttributes      `json:"attributes"`
}

type kvBackup struct {
	Value string `json:"value"`
}

type kvErrorBody struct {
	Error kvErrorDetail `json:"error"`
}

type kvErrorDetail struct {
	Code       string       `json:"code"`
	Message    string       `json:"message"`
	InnerError *kvInnerCode `json:"innererror,omitempty"`
}

type kvInnerCode struct {
	Code string `json:"code"`
}

func unix(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	u := t.Unix()
	return &u
}

// fromUnix reads an optional time; absent or 0 means no time at all.
func fromUnix(u *int64) time.Time {
	if u == nil || *u == 0 {
		return time.Time{}
	}
	return time.Unix(*u, 0).UTC()
}

// kvBundle renders a bundle; origin is the vault's URL as the client reached it.
func kvBundle(origin string, b vault.Bundle, withVersion bool) kvSecretBundle {
	id := origin + "/secrets/" + b.Name
	if withVersion {
		id += "/" + b.Version
	}
	enabled, days := b.Enabled, b.RecoverableDays
	out := kvSecretBundle{
		ID: id, ContentType: b.ContentType, Tags: b.Tags,
		Attributes: kvAttributes{
			Enabled: &enabled, NotBefore: unix(b.NotBefore), Expires: unix(b.Expires),
			Created: unix(b.Created), Updated: unix(b.Updated), RecoverableDays: &days, RecoveryLevel: b.RecoveryLevel,
		},
	}
	if b.Value != nil {
		v := string(b.Value.Reveal())
		out.Value = &v
	}
	return out
}

func kvDeleted(origin string, d vault.DeletedBundle, withVersion bool) kvSecretBundle {
	out := kvBundle(origin, d.Bundle, withVersion)
	out.RecoveryID = origin + "/deletedsecrets/" + d.Name
	out.DeletedDate, out.ScheduledPurgeDate = unix(d.Deleted), unix(d.ScheduledPurge)
	return out
}
