package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/client"
)

// This file is `latchkey keyvault secret`, after az keyvault secret: the Key
// Vault data plane of one vault.

func newKeyVaultSecretCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Manage the secrets of a key vault (its Key Vault data plane)",
		Long: `Manage a vault's secrets (az keyvault secret), through the vault's own Key Vault endpoint,
https://V.vault.DOMAIN. Values are read and written with a token for the vault, so these
commands need the dev admin or a service principal login (latchkey login --service-principal).

  latchkey keyvault secret set --vault-name V --name N (--value X | --file F) [--content-type T] [--tags k=v,...]
  latchkey keyvault secret show|list-versions|delete|show-deleted|recover|purge --vault-name V --name N
  latchkey keyvault secret list|list-deleted --vault-name V
  latchkey keyvault secret set-attributes --vault-name V --name N [--version X] [--enabled true|false]
                                          [--expires T] [--not-before T] [--content-type T] [--tags k=v,...]
  latchkey keyvault secret backup --vault-name V --name N --file F
  latchkey keyvault secret restore --vault-name V --file F

Times are RFC 3339 (2026-01-02T15:04:05Z) or dates (2026-01-02, UTC).`,
	}
	k := &secretCommands{e: e, f: addServerFlags(cmd)}
	cmd.AddCommand(k.set(), k.show(), k.setAttributes(), k.backup(), k.restore(),
		k.leaf("list", "List a vault's secrets, without values", "table", false, func(ctx context.Context, vc *client.VaultClient, _ string) (any, table, error) {
			bs, err := vc.ListSecrets(ctx)
			return secretsOf(bs), secretTable(bs...), err
		}),
		k.leaf("list-versions", "List a secret's versions, without values", "table", true, func(ctx context.Context, vc *client.VaultClient, name string) (any, table, error) {
			bs, err := vc.ListVersions(ctx, name)
			return secretsOf(bs), secretTable(bs...), err
		}),
		k.leaf("delete", "Delete a secret; it stays recoverable for the vault's retention", "json", true, func(ctx context.Context, vc *client.VaultClient, name string) (any, table, error) {
			d, err := vc.DeleteSecret(ctx, name)
			return deletedOf(d), deletedTable(d), err
		}),
		k.leaf("show-deleted", "Show a deleted secret", "json", true, func(ctx context.Context, vc *client.VaultClient, name string) (any, table, error) {
			d, err := vc.GetDeletedSecret(ctx, name)
			return deletedOf(d), deletedTable(d), err
		}),
		k.leaf("list-deleted", "List a vault's deleted secrets", "table", false, func(ctx context.Context, vc *client.VaultClient, _ string) (any, table, error) {
			ds, err := vc.ListDeletedSecrets(ctx)
			return deletedsOf(ds), deletedTable(ds...), err
		}),
		k.leaf("recover", "Recover a deleted secret with all its versions", "json", true, func(ctx context.Context, vc *client.VaultClient, name string) (any, table, error) {
			b, err := vc.RecoverSecret(ctx, name)
			return secretOf(b), secretTable(b), err
		}),
		k.leaf("purge", "Delete a deleted secret for good", "json", true, func(ctx context.Context, vc *client.VaultClient, name string) (any, table, error) {
			return nil, table{}, vc.PurgeSecret(ctx, name)
		}))
	return cmd
}

// secretCommands builds the leaves of `keyvault secret`.
type secretCommands struct {
	e *env
	f *serverFlags
}

// secretWork is a leaf's work: it returns what to print as JSON and as a
// table (nil: print nothing).
type secretWork func(ctx context.Context, vc *client.VaultClient, name string) (any, table, error)

// leaf builds a command with --vault-name, --name (unless withName is false)
// and --output (default out).
func (k *secretCommands) leaf(use, short, out string, withName bool, work secretWork) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs}
	vaultName := requiredFlag(cmd, "vault-name", "the vault's name")
	name := new(string)
	if withName {
		name = requiredFlag(cmd, "name", "the secret's name")
	}
	format := addOutputFlag(cmd, out)
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		vc, err := k.f.connectVault(cmd.Context(), k.e, *vaultName)
		if err != nil {
			return err
		}
		v, tab, err := work(cmd.Context(), vc, *name)
		if err != nil || v == nil {
			return err
		}
		return render(k.e.stdout, *format, v, tab)
	})
	return cmd
}

// attributeFlags are the flags set and set-attributes share.
type attributeFlags struct {
	cmd                             *cobra.Command
	contentType, expires, notBefore string
	tags                            []string
}

func addAttributeFlags(cmd *cobra.Command, tagsUsage string) *attributeFlags {
	a := &attributeFlags{cmd: cmd}
	fs := cmd.Flags()
	fs.StringVar(&a.contentType, "content-type", "", "the value's type, such as text/plain")
	fs.StringVar(&a.expires, "expires", "", "when the version expires")
	fs.StringVar(&a.notBefore, "not-before", "", "when the version becomes valid")
	fs.StringSliceVar(&a.tags, "tags", nil, tagsUsage)
	return a
}

// times returns --expires and --not-before.
func (a *attributeFlags) times() (expires, notBefore *client.UnixTime, err error) {
	if expires, err = parseWhen("expires", a.expires); err != nil {
		return nil, nil, err
	}
	notBefore, err = parseWhen("not-before", a.notBefore)
	return expires, notBefore, err
}

func (k *secretCommands) set() *cobra.Command {
	var value, file string
	var disabled bool
	var a *attributeFlags
	cmd := k.leaf("set", "Store a new version of a secret", "json", true, func(ctx context.Context, vc *client.VaultClient, name string) (any, table, error) {
		p := client.SecretSetParameters{ContentType: a.contentType, Attributes: &client.SecretAttributes{}}
		var err error
		if p.Value, err = secretValue(value, file); err != nil {
			return nil, table{}, err
		}
		if p.Tags, err = parseTags(a.tags); err != nil {
			return nil, table{}, err
		}
		if p.Attributes.Expires, p.Attributes.NotBefore, err = a.times(); err != nil {
			return nil, table{}, err
		}
		if disabled {
			p.Attributes.Enabled = new(false)
		}
		b, err := vc.SetSecret(ctx, name, p)
		return secretOf(b), secretTable(b), err
	})
	cmd.Flags().StringVar(&value, "value", "", "the value (or give --file)")
	cmd.Flags().StringVar(&file, "file", "", "read the value from this file (UTF-8 text)")
	cmd.Flags().BoolVar(&disabled, "disabled", false, "store the version disabled")
	a = addAttributeFlags(cmd, "tags as key=value (comma-separated or repeated)")
	return cmd
}

// secretValue returns the value of exactly one of --value and --file. Neither
// the value nor the file's contents ever reach an error.
func secretValue(value, file string) (string, error) {
	switch {
	case value != "" && file != "":
		return "", fmt.Errorf("give --value or --file, not both")
	case value != "":
		return value, nil
	case file == "":
		return "", fmt.Errorf("give the value with --value or --file")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read --file: %w", err)
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("--file %s is not UTF-8 text: a secret's value is text; base64 binary data first", file)
	}
	return string(b), nil
}

func (k *secretCommands) show() *cobra.Command {
	var version string
	cmd := k.leaf("show", "Show a secret's value and attributes", "json", true, func(ctx context.Context, vc *client.VaultClient, name string) (any, table, error) {
		b, err := vc.GetSecret(ctx, name, version)
		return secretOf(b), secretTable(b), err
	})
	cmd.Flags().StringVar(&version, "version", "", "the version (default: the current one)")
	return cmd
}

func (k *secretCommands) setAttributes() *cobra.Command {
	var version, enabled string
	var a *attributeFlags
	cmd := k.leaf("set-attributes", "Change a version's attributes", "json", true, func(ctx context.Context, vc *client.VaultClient, name string) (any, table, error) {
		var p client.SecretUpdateParameters
		var at client.SecretAttributes
		var err error
		if enabled != "" {
			on, err := strconv.ParseBool(enabled)
			if err != nil {
				return nil, table{}, fmt.Errorf("--enabled %q: give true or false", enabled)
			}
			at.Enabled = &on
		}
		if at.Expires, at.NotBefore, err = a.times(); err != nil {
			return nil, table{}, err
		}
		if at != (client.SecretAttributes{}) {
			p.Attributes = &at
		}
		if a.cmd.Flags().Changed("content-type") {
			p.ContentType = &a.contentType
		}
		if a.cmd.Flags().Changed("tags") {
			m, err := parseTags(a.tags)
			if err != nil {
				return nil, table{}, err
			}
			p.Tags = &m
		}
		b, err := vc.UpdateSecret(ctx, name, version, p)
		return secretOf(b), secretTable(b), err
	})
	cmd.Flags().StringVar(&version, "version", "", "the version (default: the current one)")
	cmd.Flags().StringVar(&enabled, "enabled", "", "true or false")
	a = addAttributeFlags(cmd, `tags as key=value, replacing all (comma-separated or repeated; "" removes them)`)
	return cmd
}

func (k *secretCommands) backup() *cobra.Command {
	var file string
	cmd := k.leaf("backup", "Write a secret's backup, every version, to a file", "json", true, func(ctx context.Context, vc *client.VaultClient, name string) (any, table, error) {
		blob, err := vc.BackupSecret(ctx, name)
		if err != nil {
			return nil, table{}, err
		}
		if err := os.WriteFile(file, blob, 0o600); err != nil {
			return nil, table{}, fmt.Errorf("write the backup: %w", err)
		}
		return nil, table{}, nil
	})
	cmd.Flags().StringVar(&file, "file", "", "where to write the backup blob (mode 0600)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func (k *secretCommands) restore() *cobra.Command {
	var file string
	cmd := k.leaf("restore", "Restore a secret from a backup file", "json", false, func(ctx context.Context, vc *client.VaultClient, _ string) (any, table, error) {
		blob, err := os.ReadFile(file)
		if err != nil {
			return nil, table{}, fmt.Errorf("read the backup: %w", err)
		}
		b, err := vc.RestoreSecret(ctx, blob)
		return secretOf(b), secretTable(b), err
	})
	cmd.Flags().StringVar(&file, "file", "", "the backup blob written by backup")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// parseTags turns key=value items into tags.
func parseTags(items []string) (map[string]string, error) {
	tags := map[string]string{}
	for _, it := range items {
		if it = strings.TrimSpace(it); it == "" {
			continue
		}
		k, v, ok := strings.Cut(it, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--tags %q: give key=value", it)
		}
		tags[k] = v
	}
	return tags, nil
}

// parseWhen reads a time flag: RFC 3339 or a date (UTC). "" is no time.
func parseWhen(flag, s string) (*client.UnixTime, error) {
	if s == "" {
		return nil, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return client.Unix(t), nil
		}
	}
	return nil, fmt.Errorf("--%s %q: give a time as 2026-01-02T15:04:05Z or a date as 2026-01-02", flag, s)
}

// secretView is a secret as az keyvault secret show prints it: times as RFC
// 3339, absent fields as null.
type secretView struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Value       *string           `json:"value,omitempty"`
	ContentType *string           `json:"contentType"`
	Tags        map[string]string `json:"tags"`
	Attributes  attributesView    `json:"attributes"`
	// Deleted secrets only.
	RecoveryID         string     `json:"recoveryId,omitempty"`
	DeletedDate        *time.Time `json:"deletedDate,omitempty"`
	ScheduledPurgeDate *time.Time `json:"scheduledPurgeDate,omitempty"`
}

type attributesView struct {
	Enabled         bool       `json:"enabled"`
	NotBefore       *time.Time `json:"notBefore"`
	Expires         *time.Time `json:"expires"`
	Created         *time.Time `json:"created"`
	Updated         *time.Time `json:"updated"`
	RecoverableDays int        `json:"recoverableDays"`
	RecoveryLevel   string     `json:"recoveryLevel"`
}

func secretOf(b client.SecretBundle) secretView {
	v := secretView{ID: b.ID, Name: b.Name(), Value: b.Value, Tags: b.Tags}
	if b.ContentType != "" {
		v.ContentType = &b.ContentType
	}
	if v.Tags == nil {
		v.Tags = map[string]string{}
	}
	a := b.Attributes
	v.Attributes = attributesView{Enabled: a.Enabled == nil || *a.Enabled, NotBefore: timeOf(a.NotBefore), Expires: timeOf(a.Expires),
		Created: timeOf(a.Created), Updated: timeOf(a.Updated), RecoveryLevel: a.RecoveryLevel}
	if a.RecoverableDays != nil {
		v.Attributes.RecoverableDays = *a.RecoverableDays
	}
	return v
}

func deletedOf(d client.DeletedSecret) secretView {
	v := secretOf(d.SecretBundle)
	v.RecoveryID, v.DeletedDate, v.ScheduledPurgeDate = d.RecoveryID, timeOf(d.DeletedDate), timeOf(d.ScheduledPurgeDate)
	return v
}

func timeOf(u *client.UnixTime) *time.Time {
	if u == nil {
		return nil
	}
	return &u.Time
}

func secretsOf(bs []client.SecretBundle) []secretView   { return mapAll(bs, secretOf) }
func deletedsOf(ds []client.DeletedSecret) []secretView { return mapAll(ds, deletedOf) }

func mapAll[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// secretTable shows secrets, with their values when they carry them.
func secretTable(bs ...client.SecretBundle) table {
	t := table{header: []string{"Name", "Version", "Enabled", "ContentType", "Expires", "Updated"}}
	withValue := len(bs) > 0 && bs[0].Value != nil
	if withValue {
		t.header = append(t.header, "Value")
	}
	for _, b := range bs {
		v := secretOf(b)
		row := []string{v.Name, b.Version(), strconv.FormatBool(v.Attributes.Enabled), b.ContentType, whenPtr(v.Attributes.Expires), whenPtr(v.Attributes.Updated)}
		if withValue && b.Value != nil {
			row = append(row, *b.Value)
		}
		t.rows = append(t.rows, row)
	}
	return t
}

func deletedTable(ds ...client.DeletedSecret) table {
	t := table{header: []string{"Name", "Deleted", "ScheduledPurge", "RecoveryId"}}
	for _, d := range ds {
		t.rows = append(t.rows, []string{d.Name(), whenPtr(timeOf(d.DeletedDate)), whenPtr(timeOf(d.ScheduledPurgeDate)), d.RecoveryID})
	}
	return t
}

func whenPtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return when(*t)
}
