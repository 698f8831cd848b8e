package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/store"
)

// Retention bounds of soft delete, in days, as in Key Vault.
const (
	MinRetentionDays     = 7
	MaxRetentionDays     = 90
	DefaultRetentionDays = 90
)

// Settings are a vault's own settings, kept in its resource record.
type Settings struct {
	// RetentionDays is how long a deleted secret stays recoverable.
	RetentionDays int `json:"retentionDays"`
	// PurgeProtection, once on, cannot be turned off: deleted secrets then
	// disappear only at their scheduled purge date.
	PurgeProtection bool `json:"purgeProtection"`
	// NetworkAllow lists the client address ranges (CIDR) allowed to reach the
	// vault's data plane; empty allows every address.
	NetworkAllow []string `json:"networkAllow,omitempty"`
}

// RecoveryLevel is Key Vault's name for what deletion means in this vault.
func (st Settings) RecoveryLevel() string {
	level := "Recoverable"
	if st.RetentionDays < MaxRetentionDays {
		level = "CustomizedRecoverable"
	}
	if !st.PurgeProtection {
		level += "+Purgeable"
	}
	return level
}

// vaultInfo is a vault as the data plane needs it. Immutable once cached.
type vaultInfo struct {
	name     string
	scope    string
	settings Settings
	nets     []netip.Prefix
}

func parseSettings(props []byte) (Settings, error) {
	st := Settings{RetentionDays: DefaultRetentionDays}
	if len(props) > 0 {
		if err := json.Unmarshal(props, &st); err != nil {
			return st, err
		}
	}
	if st.RetentionDays == 0 {
		st.RetentionDays = DefaultRetentionDays
	}
	return st, nil
}

// vault returns the vault named name, from the cache or the store. Kinds:
// NotFound.
func (s *Service) vault(ctx context.Context, name string) (*vaultInfo, error) {
	name = foldName(name)
	// A change another replica made and announced must not be answered from
	// the cache: catch up first (at steady state this is one atomic load).
	if err := s.feed.Fresh(ctx); err != nil {
		s.cache.clear()
	}
	if v, ok := s.cache.vault(name); ok {
		return v, nil
	}
	gen := s.cache.generation()
	r, err := s.store.ResourceByName(ctx, store.Vault, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errs.E(errs.NotFound, "vault", "vault "+name+" does not exist: create it with latchkey keyvault create", err)
	case err != nil:
		return nil, errs.E(errs.Unavailable, "vault", "", err)
	}
	st, err := parseSettings(r.Properties)
	if err != nil {
		return nil, errs.E(errs.Internal, "vault", "", fmt.Errorf("settings of vault %s: %w", name, err))
	}
	v := &vaultInfo{name: r.Name, scope: r.Scope, settings: st}
	for _, cidr := range st.NetworkAllow {
		if p, err := netip.ParsePrefix(cidr); err == nil {
			v.nets = append(v.nets, p.Masked())
		}
	}
	s.cache.mu.Lock()
	if s.cache.gen == gen {
		s.cache.vaults[name] = v
	}
	s.cache.mu.Unlock()
	return v, nil
}

// foldName lower-cases the ASCII letters of a vault name, as scopes do (the
// management API passes names as typed); other bytes stay, and name no vault.
func foldName(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 'A' && c <= 'Z' {
			b := []byte(name)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return name
}

// CheckNetwork refuses (Kind Forbidden) a client address outside the vault's
// allow-list. The data plane calls it before any authentication work.
func (s *Service) CheckNetwork(ctx context.Context, vaultName, clientIP string) error {
	v, err := s.vault(ctx, vaultName)
	if err != nil || len(v.nets) == 0 {
		return err
	}
	addr, err := netip.ParseAddr(clientIP)
	if err == nil {
		addr = addr.Unmap()
		for _, p := range v.nets {
			if p.Contains(addr) {
				return nil
			}
		}
	}
	return kvError(errs.Forbidden, "vault.CheckNetwork", "Forbidden", "ForbiddenByFirewall",
		fmt.Sprintf("client address %s is not allowed to reach vault %s (its network allow-list): ask its administrator", clientIP, vaultName))
}

// Settings returns the settings of the vault named name; the caller needs
// VaultsRead at the vault.
func (s *Service) Settings(ctx context.Context, principalID, name string) (Settings, error) {
	v, err := s.vault(ctx, name)
	if err != nil {
		return Settings{}, err
	}
	if err := s.access.Authorize(ctx, principalID, access.VaultsRead, v.scope); err != nil {
		return Settings{}, err
	}
	return v.settings, nil
}

// SettingsUpdate changes some settings; nil fields stay as they are.
type SettingsUpdate struct {
	RetentionDays   *int
	PurgeProtection *bool
	NetworkAllow    *[]string
}

// UpdateSettings changes a vault's settings; the caller needs VaultsWrite at
// the vault. Purge protection cannot be turned off once on. Kinds: Invalid,
// Forbidden, NotFound.
func (s *Service) UpdateSettings(ctx context.Context, principalID, name string, u SettingsUpdate) (Settings, error) {
	const o = "vault.UpdateSettings"
	v, err := s.vault(ctx, name)
	if err != nil {
		return Settings{}, err
	}
	if err := s.access.Authorize(ctx, principalID, access.VaultsWrite, v.scope); err != nil {
		return Settings{}, err
	}
	st := v.settings
	if u.RetentionDays != nil {
		if *u.RetentionDays < MinRetentionDays || *u.RetentionDays > MaxRetentionDays {
			return st, errs.Invalidf(o, "retentionDays", "retention must be %d to %d days, not %d", MinRetentionDays, MaxRetentionDays, *u.RetentionDays)
		}
		st.RetentionDays = *u.RetentionDays
	}
	if u.PurgeProtection != nil {
		if v.settings.PurgeProtection && !*u.PurgeProtection {
			return st, errs.E(errs.Invalid, o, "purge protection cannot be turned off once it is on", nil)
		}
		st.PurgeProtection = *u.PurgeProtection
	}
	if u.NetworkAllow != nil {
		st.NetworkAllow = nil
		for i, cidr := range *u.NetworkAllow {
			p, err := netip.ParsePrefix(strings.TrimSpace(cidr))
			if err != nil {
				return st, errs.Invalidf(o, fmt.Sprintf("networkAllow[%d]", i), "%q is not an address range like 10.0.0.0/8 or 127.0.0.1/32", cidr)
			}
			st.NetworkAllow = append(st.NetworkAllow, p.Masked().String())
		}
	}
	r, err := s.store.Resource(ctx, v.scope)
	if err != nil {
		return st, errs.E(errs.Unavailable, o, "", err)
	}
	r.Properties, _ = json.Marshal(st)
	r.Updated = store.Time(s.now())
	if err := s.store.UpdateResource(ctx, r); err != nil {
		return st, errs.E(errs.Unavailable, o, "", err)
	}
	s.cache.dropVault(v.name)
	return st, nil
}
