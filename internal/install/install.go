// Package install owns the state an installation is born with: its tenant id,
// created once on first start and the same on every replica afterwards, and the
// check that the master key a server starts with is the one its data was sealed
// under.
//
// install imports internal/errs, internal/seal and internal/store, never an
// adapter or a backend.
package install

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/seal"
	"github.com/latchkey/latchkey/internal/store"
)

// Setting keys owned by this package.
const (
	tenantKey = "tenant_id"
	canaryKey = "seal_canary"
)

// Installation is what every part of Latchkey needs to know about where it runs.
type Installation struct {
	TenantID string // a GUID, Entra-style
}

// Init returns the installation recorded in st, creating it on first start. It
// then proves that keys can open data sealed at first start, so a server started
// with the wrong master key stops at once with a clear error (Kind Invalid)
// instead of failing on each secret later.
func Init(ctx context.Context, st store.Settings, keys *seal.Keyring) (Installation, error) {
	const op = "install.Init"
	tenant, err := st.InitSetting(ctx, tenantKey, []byte(uuid.NewString()))
	if err != nil {
		return Installation{}, errs.E(errs.Unavailable, op, "cannot read or create the tenant id", err)
	}
	inst := Installation{TenantID: string(tenant)}

	binding := seal.Bind("canary", inst.TenantID)
	probe := make([]byte, 32)
	if _, err := rand.Read(probe); err != nil {
		return Installation{}, errs.E(errs.Internal, op, "", err)
	}
	sealed, err := keys.Seal(probe, binding)
	if err != nil {
		return Installation{}, errs.E(errs.Internal, op, "", err)
	}
	stored, err := st.InitSetting(ctx, canaryKey, sealed)
	if err != nil {
		return Installation{}, errs.E(errs.Unavailable, op, "cannot read or create the master key check", err)
	}
	if _, err := keys.Open(stored, binding); err != nil {
		return Installation{}, masterKeyMismatch(op, stored, keys, err)
	}
	return inst, nil
}

func masterKeyMismatch(op string, stored []byte, keys *seal.Keyring, cause error) error {
	if errors.Is(cause, seal.ErrUnknownKey) {
		id, _ := seal.KeyID(stored)
		return errs.E(errs.Invalid, op, fmt.Sprintf(
			"the master key (id %s) is not the one this database was sealed with (id %s): start with that master key (--master-key-file or LATCHKEY_MASTER_KEY)",
			keys.ActiveID(), id), cause)
	}
	return errs.E(errs.Invalid, op,
		"the master key check stored in this database does not open: the database was altered or belongs to another installation", cause)
}
