package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/latchkey/latchkey/client"
)

// This file is `latchkey cognitiveservices account`, after az
// cognitiveservices account: AI services accounts, their keys and the
// rotation of their keys.

func newCognitiveServicesCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cognitiveservices",
		Short: "Manage AI services accounts: upstreams, keys and key rotation",
	}
	account := &cobra.Command{
		Use:   "account",
		Short: "Manage AI services accounts, which forward calls to an upstream with its credential",
		Long: `Manage AI services accounts (az cognitiveservices account), which live at
/hubs/HUB/accounts/NAME and serve https://SERVER/accounts/NAME. Callers use one of the
account's two keys, an STS token minted from one, or an Entra token; the account calls its
upstream with the upstream's own credential, which callers never see. Account names are
unique in the tenant, so commands other than create need no hub.

  latchkey cognitiveservices account create --hub H --name A --upstream URL [--upstream-key-file F]
  latchkey cognitiveservices account update --name A [--upstream URL] [--upstream-key-file F] [--disable-local-auth] ...
  latchkey cognitiveservices account show|delete --name A
  latchkey cognitiveservices account list [--hub H]
  latchkey cognitiveservices account usage --name A          requests and tokens per caller
  latchkey cognitiveservices account keys list|active|usage --name A
  latchkey cognitiveservices account keys regenerate --name A --key-name key1|key2
  latchkey cognitiveservices account keys rotate --name A [--quiet-period 15m] [--force]

The upstream's key is read from a file (never a flag's value) and kept as a secret of the
hub's vault (--upstream-key-vault when the hub has several), readable by the account's
managed identity. --disable-local-auth (Azure's disableLocalAuth) makes the data plane
refuse the account's keys and STS tokens, so that callers must use Entra tokens.`,
	}
	f := addServerFlags(account)
	account.AddCommand(accountCreate(e, f), accountUpdate(e, f), accountShow(e, f), accountList(e, f), accountDelete(e, f), accountUsage(e, f),
		accountKeys(e, f))
	cmd.AddCommand(account)
	return cmd
}

// upstreamFlags are the flags that set an account's upstream.
type upstreamFlags struct {
	url, keyFile, vault, header, audience string
	identity, noAuth, disableLocalAuth    bool
	deployments                           []string
	rpm, tpm                              int
}

func addUpstreamFlags(fs *pflag.FlagSet, u *upstreamFlags) {
	fs.StringVar(&u.url, "upstream", "", "the upstream's OpenAI-compatible base URL, such as https://api.openai.com/v1")
	fs.StringVar(&u.keyFile, "upstream-key-file", "", "a file holding the upstream's key (kept in the hub's vault)")
	fs.StringVar(&u.vault, "upstream-key-vault", "", "the hub's vault that keeps the upstream key (default: the hub's only vault)")
	fs.StringVar(&u.header, "upstream-key-header", "", "how the key is sent upstream: authorization (Authorization: Bearer KEY, the default) or api-key")
	fs.BoolVar(&u.identity, "upstream-identity", false, "authenticate upstream with a token of the account's managed identity instead of a key")
	fs.StringVar(&u.audience, "upstream-audience", "", "with --upstream-identity: the token's audience (default https://cognitiveservices.azure.com)")
	fs.BoolVar(&u.noAuth, "upstream-no-auth", false, "send the upstream no credential")
	fs.StringSliceVar(&u.deployments, "deployment", nil, "Azure OpenAI deployments as NAME=MODEL,...: a call to deployment NAME asks the upstream for MODEL")
	fs.IntVar(&u.rpm, "requests-per-minute", 0, "the most requests per minute of each caller (0: unlimited)")
	fs.IntVar(&u.tpm, "tokens-per-minute", 0, "the most tokens per minute of each caller (0: unlimited)")
	fs.BoolVar(&u.disableLocalAuth, "disable-local-auth", false, "refuse the account's keys and STS tokens: callers need Entra tokens (=false takes keys again)")
}

// request turns the flags that were given into a request.
func (u *upstreamFlags) request(fs *pflag.FlagSet) (client.AccountRequest, error) {
	var req client.AccountRequest
	up := &client.AccountUpstreamRequest{Vault: u.vault}
	changed := u.vault != ""
	set := func(name string, dst **string, v string) {
		if fs.Changed(name) {
			*dst, changed = &v, true
		}
	}
	set("upstream", &up.URL, u.url)
	set("upstream-key-header", &up.KeyHeader, u.header)
	set("upstream-audience", &up.Audience, u.audience)
	auths := 0
	for name, auth := range map[string]string{"upstream-identity": "identity", "upstream-no-auth": "none"} {
		if fs.Changed(name) {
			up.Auth, changed, auths = &auth, true, auths+1
		}
	}
	if u.keyFile != "" {
		auths++
		key, err := readKeyFile(u.keyFile)
		if err != nil {
			return req, err
		}
		up.Key, changed = &key, true
	}
	if auths > 1 {
		return req, errors.New("give one of --upstream-key-file, --upstream-identity and --upstream-no-auth")
	}
	if changed {
		req.Upstream = up
	}
	if fs.Changed("deployment") {
		m := map[string]string{}
		for _, d := range u.deployments {
			name, model, ok := strings.Cut(d, "=")
			if !ok || name == "" || model == "" {
				return req, fmt.Errorf("--deployment %q: give NAME=MODEL, such as gpt-4o=gpt-4o-2024-08-06", d)
			}
			m[name] = model
		}
		req.Deployments = &m
	}
	if fs.Changed("requests-per-minute") || fs.Changed("tokens-per-minute") {
		req.Limits = &client.AccountLimits{RequestsPerMinute: u.rpm, TokensPerMinute: u.tpm}
	}
	if fs.Changed("disable-local-auth") {
		v := u.disableLocalAuth
		req.DisableLocalAuth = &v
	}
	return req, nil
}

// readKeyFile reads an upstream key: the file's text without the line end an
// editor or echo leaves.
func readKeyFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the upstream key: %w: give a file that holds the key", err)
	}
	key := strings.TrimRight(string(b), "\r\n")
	if strings.TrimSpace(key) == "" {
		return "", fmt.Errorf("%s holds no key: put the upstream's key in it", path)
	}
	return key, nil
}

func accountCreate(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "create", Short: "Create an account, or change what the flags set of it if it exists", Args: cobra.NoArgs}
	hub := requiredFlag(cmd, "hub", "the hub it is in")
	name := requiredFlag(cmd, "name", "the account's name, unique in the tenant")
	var u upstreamFlags
	addUpstreamFlags(cmd.Flags(), &u)
	_ = cmd.MarkFlagRequired("upstream")
	out := addOutputFlag(cmd, "json")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		req, err := u.request(cmd.Flags())
		if err != nil {
			return err
		}
		a, _, err := c.CreateAccount(cmd.Context(), *hub, *name, req)
		if err != nil {
			return err
		}
		return render(e.stdout, *out, a, accountTable(a))
	})
	return cmd
}

func accountUpdate(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "update", Short: "Change an account's upstream, deployments, limits or key authentication", Args: cobra.NoArgs}
	name := requiredFlag(cmd, "name", "the account's name")
	var u upstreamFlags
	addUpstreamFlags(cmd.Flags(), &u)
	out := addOutputFlag(cmd, "json")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		req, err := u.request(cmd.Flags())
		if err != nil {
			return err
		}
		if req == (client.AccountRequest{}) {
			return errors.New("nothing to change: give --upstream, --upstream-key-file, --deployment, ... (see --help)")
		}
		a, err := c.UpdateAccount(cmd.Context(), *name, req)
		if err != nil {
			return err
		}
		return render(e.stdout, *out, a, accountTable(a))
	})
	return cmd
}

func accountShow(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "show", Short: "Show an account (never its keys)", Args: cobra.NoArgs}
	name := requiredFlag(cmd, "name", "the account's name")
	out := addOutputFlag(cmd, "json")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		a, err := c.AccountByName(cmd.Context(), *name)
		if err != nil {
			return err
		}
		return render(e.stdout, *out, a, accountTable(a))
	})
	return cmd
}

func accountList(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List accounts", Args: cobra.NoArgs}
	hub := cmd.Flags().String("hub", "", "only those of this hub")
	out := addOutputFlag(cmd, "table")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		as, err := c.ListAccounts(cmd.Context(), *hub)
		if err != nil {
			return err
		}
		return render(e.stdout, *out, as, accountTable(as...))
	})
	return cmd
}

func accountDelete(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "delete", Short: "Delete an account: its keys stop working at once; its upstream key is soft-deleted from its vault", Args: cobra.NoArgs}
	name := requiredFlag(cmd, "name", "the account's name")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		return c.DeleteAccountByName(cmd.Context(), *name)
	})
	return cmd
}

func accountUsage(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "usage", Short: "Show the requests and tokens of each caller, as the answering server metered them", Args: cobra.NoArgs}
	name := requiredFlag(cmd, "name", "the account's name")
	out := addOutputFlag(cmd, "json")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		u, err := c.Usage(cmd.Context(), *name)
		if err != nil {
			return err
		}
		return render(e.stdout, *out, u, callerUsageTable(u.Callers))
	})
	return cmd
}

// callerUsageTable shows what each caller of an account or a connection
// proxy used.
func callerUsageTable(callers []client.CallerUsage) table {
	t := table{header: []string{"Caller", "Requests", "PromptTokens", "CompletionTokens", "LastUsed"}}
	for _, cu := range callers {
		last := ""
		if cu.LastUsed != nil {
			last = cu.LastUsed.Local().Format(time.RFC3339)
		}
		t.rows = append(t.rows, []string{cu.Key, fmt.Sprint(cu.Requests), fmt.Sprint(cu.PromptTokens), fmt.Sprint(cu.CompletionTokens), last})
	}
	return t
}

func accountTable(as ...client.Account) table {
	t := table{header: []string{"Name", "Hub", "Endpoint", "Upstream", "Auth", "ActiveKey", "LocalAuth"}}
	for _, a := range as {
		local := "enabled"
		if a.DisableLocalAuth {
			local = "disabled"
		}
		t.rows = append(t.rows, []string{a.Name, a.Hub, a.Endpoint, a.Upstream.URL, a.Upstream.Auth, a.ActiveKey, local})
	}
	return t
}

func accountKeys(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "List, regenerate and rotate an account's keys",
		Long: `An account has two keys, key1 and key2; either works. Regenerating one stops it, and every
STS token minted from it, at once, while the other keeps working.

  latchkey cognitiveservices account keys list --name A                 {"key1": ..., "key2": ...}
  latchkey cognitiveservices account keys active --name A               the key consumers should use now
  latchkey cognitiveservices account keys usage --name A                the last use of each key by each caller
  latchkey cognitiveservices account keys regenerate --name A --key-name key1|key2
  latchkey cognitiveservices account keys rotate --name A [--quiet-period 15m] [--force] [--max-wait 1h]`,
	}
	cmd.AddCommand(keysList(e, f), keysActive(e, f), keysUsage(e, f), keysRegenerate(e, f), keysRotate(e, f))
	return cmd
}

func keysList(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "Print the account's two keys, as az cognitiveservices account keys list", Args: cobra.NoArgs}
	name := requiredFlag(cmd, "name", "the account's name")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		ks, err := c.ListKeys(cmd.Context(), *name)
		if err != nil {
			return err
		}
		return render(e.stdout, "json", ks, table{})
	})
	return cmd
}

func keysActive(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "active", Short: "Print the key consumers should use now: {\"keyName\": ..., \"key\": ...}", Args: cobra.NoArgs}
	name := requiredFlag(cmd, "name", "the account's name")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		k, err := c.ActiveKey(cmd.Context(), *name)
		if err != nil {
			return err
		}
		return render(e.stdout, "json", k, table{})
	})
	return cmd
}

func keysUsage(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "usage", Short: "List the last use of each key by each caller", Args: cobra.NoArgs}
	name := requiredFlag(cmd, "name", "the account's name")
	out := addOutputFlag(cmd, "table")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		us, err := c.KeyUses(cmd.Context(), *name)
		if err != nil {
			return err
		}
		t := table{header: []string{"Key", "Caller", "Via", "LastUsed"}}
		for _, u := range us {
			t.rows = append(t.rows, []string{u.KeyName, u.Caller, u.Via, u.LastUsed.Local().Format(time.RFC3339)})
		}
		return render(e.stdout, *out, us, t)
	})
	return cmd
}

func keysRegenerate(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "regenerate", Short: "Give one key a new value; the old one stops working at once", Args: cobra.NoArgs}
	name := requiredFlag(cmd, "name", "the account's name")
	keyName := requiredFlag(cmd, "key-name", "key1 or key2")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		ks, err := c.RegenerateKey(cmd.Context(), *name, *keyName)
		if err != nil {
			return err
		}
		return render(e.stdout, "json", ks, table{})
	})
	return cmd
}

func keysRotate(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Give both keys new values without a failed call, in four steps",
		Long: `Rotate both keys in the four steps of a zero-downtime rotation, reporting each as a line of
JSON: 1 move consumers to key2, 2 regenerate key1, 3 move consumers back to key1,
4 regenerate key2. Moving consumers sets the account's active key (keys active), which
consumers read before they call.

A step that regenerates a key waits until that key has gone unused for --quiet-period,
reporting the callers still using it; after --max-wait it stops, naming them, and running
rotate again goes on from that step. --force regenerates without waiting.`,
		Args: cobra.NoArgs,
	}
	name := requiredFlag(cmd, "name", "the account's name")
	quiet := cmd.Flags().Duration("quiet-period", 15*time.Minute, "how long a key must have gone unused before it is regenerated")
	force := cmd.Flags().Bool("force", false, "regenerate without waiting for the quiet period")
	maxWait := cmd.Flags().Duration("max-wait", time.Hour, "how long to wait for a key to go quiet before stopping")
	poll := cmd.Flags().Duration("poll", 10*time.Second, "how often to look again while a step waits")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		if *quiet <= 0 || *poll <= 0 {
			return errors.New("--quiet-period and --poll must be positive durations, such as 15m or 5s")
		}
		req := client.RotateKeysRequest{QuietPeriod: quiet.String(), Force: *force}
		return rotateKeys(cmd.Context(), e.stdout, c, *name, req, *maxWait, *poll)
	})
	return cmd
}

// rotateKeys takes rotation steps until the rotation finishes, printing each
// answer as a line of JSON; a held step is retried every poll (or at its
// retry time, if sooner) for at most maxWait.
func rotateKeys(ctx context.Context, w io.Writer, c *client.Client, name string, req client.RotateKeysRequest, maxWait, poll time.Duration) error {
	enc := json.NewEncoder(w)
	var heldSince time.Time
	for {
		st, err := c.RotateKeys(ctx, name, req)
		if err != nil {
			return err
		}
		if err := enc.Encode(st); err != nil {
			return err
		}
		if st.Finished {
			return nil
		}
		if st.Done {
			heldSince = time.Time{}
			continue
		}
		if heldSince.IsZero() {
			heldSince = time.Now()
		}
		if time.Since(heldSince) >= maxWait {
			return fmt.Errorf("step %d (%s) is held: %s: move them to the other key and run rotate again, or pass --force", st.Step, st.Action, heldCallers(st))
		}
		wait := poll
		if st.RetryAt != nil {
			if d := time.Until(*st.RetryAt); d > 0 && d < wait {
				wait = d + 10*time.Millisecond
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// heldCallers says who holds a step back.
func heldCallers(st client.RotationStep) string {
	var parts []string
	for _, u := range st.Held {
		parts = append(parts, fmt.Sprintf("%s used %s (%s) at %s", u.Caller, u.KeyName, u.Via, u.LastUsed.Format(time.RFC3339)))
	}
	if len(parts) == 0 {
		return "the key is in use"
	}
	return strings.Join(parts, "; ")
}
