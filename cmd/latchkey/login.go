package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/client"
)

// authCache is what `latchkey login` remembers, in the user's config folder
// (auth.json, mode 0600): the server, and a service principal's secret (so its
// tokens can be renewed) or a user's access token (users sign in again when it
// expires).
type authCache struct {
	Server           string     `json:"server"`
	CACert           string     `json:"caCert,omitempty"`
	TenantID         string     `json:"tenantId"`
	AuthorityHost    string     `json:"authorityHost"`
	ServicePrincipal *spLogin   `json:"servicePrincipal,omitempty"`
	User             *userLogin `json:"user,omitempty"`
}

type spLogin struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
}

func (l spLogin) String() string { return "service principal " + l.ClientID + " (secret redacted)" }

type userLogin struct {
	Name        string    `json:"name"`
	AccessToken string    `json:"accessToken"`
	ExpiresOn   time.Time `json:"expiresOn"`
}

func (l userLogin) String() string { return "user " + l.Name + " (token redacted)" }

// tokens returns the token source the cache describes.
func (c *authCache) tokens(hc *http.Client) (client.TokenSource, error) {
	switch {
	case c.ServicePrincipal != nil:
		return &client.ClientCredentials{
			TokenURL: client.TokenURL(c.AuthorityHost, c.TenantID), ClientID: c.ServicePrincipal.ClientID,
			Secret: c.ServicePrincipal.ClientSecret, HTTPClient: hc,
		}, nil
	case c.User != nil:
		return userToken{server: c.Server, login: *c.User}, nil
	}
	return nil, errors.New("the login cache holds no credentials: run latchkey login again")
}

// userToken is a signed-in user's access token; a user signs in again when it
// expires, since the CLI keeps no password.
type userToken struct {
	server string
	login  userLogin
}

func (u userToken) Token(context.Context) (string, error) {
	if time.Until(u.login.ExpiresOn) < time.Minute {
		return "", fmt.Errorf("the sign-in of %s to %s expired at %s: run latchkey login again", u.login.Name, u.server, u.login.ExpiresOn.Local().Format(time.Kitchen))
	}
	return u.login.AccessToken, nil
}

// authPath is where the login cache lives.
func authPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the folder for the login cache: %w: set HOME or XDG_CONFIG_HOME", err)
	}
	return filepath.Join(dir, "latchkey", "auth.json"), nil
}

// loadAuth reads the login cache; nil when nobody logged in.
func loadAuth() (*authCache, error) {
	path, err := authPath()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if isNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the login cache: %w", err)
	}
	var c authCache
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("the login cache %s is damaged (%v): run latchkey logout, then latchkey login", path, err)
	}
	return &c, nil
}

// saveAuth writes the login cache atomically, readable by its owner only.
func saveAuth(c *authCache) error {
	path, err := authPath()
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("restrict %s to its owner: %w", dir, err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".auth.json.tmp*")
	if err != nil {
		return fmt.Errorf("write the login cache: %w", err)
	}
	defer os.Remove(f.Name()) // a no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write the login cache: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write the login cache: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write the login cache: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write the login cache: %w", err)
	}
	return nil
}

// loginSummary is what `latchkey login` prints, after az login's user field.
type loginSummary struct {
	Server   string       `json:"server"`
	TenantID string       `json:"tenantId"`
	User     loginAccount `json:"user"`
}

type loginAccount struct {
	Name string `json:"name"`
	Type string `json:"type"` // user or servicePrincipal
	ID   string `json:"id"`
}

func newLoginCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in to a Latchkey server as a user or a service principal",
		Long: `Sign in to a Latchkey server and remember it for later commands, in auth.json in your
config folder (mode 0600).

  latchkey login -u ann --password ...                       a user (or set LATCHKEY_PASSWORD)
  latchkey login --service-principal -u APPID -p SECRET      a service principal

The server comes from --server (with --ca-cert), else the dev server of --data or ./.latchkey.
A dev server needs no login: without one, commands act as its admin.`,
		Args: cobra.NoArgs,
	}
	f := addServerFlags(cmd)
	var (
		username, password, tenant string
		servicePrincipal           bool
	)
	cmd.Flags().StringVarP(&username, "username", "u", "", "user name, or a service principal's appId")
	cmd.Flags().StringVarP(&password, "password", "p", "", "password or client secret (env LATCHKEY_PASSWORD)")
	cmd.Flags().StringVar(&tenant, "tenant", "", "the server's tenant id (default: from dev.json or the last login)")
	cmd.Flags().BoolVar(&servicePrincipal, "service-principal", false, "sign in as a service principal with its client secret")
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		password = firstOf(password, e.getenv("LATCHKEY_PASSWORD"))
		if username == "" || password == "" {
			return errors.New("give --username and --password (or LATCHKEY_PASSWORD)")
		}
		old, err := loadAuth()
		if err != nil {
			old = nil // a damaged cache is about to be replaced
		}
		t, err := f.resolve(e, old)
		if err != nil {
			return err
		}
		t.tenantID = firstOf(tenant, t.tenantID)
		if t.tenantID == "" {
			return fmt.Errorf("give --tenant: the tenant id of %s (latchkey dev prints it)", t.url)
		}
		return login(cmd.Context(), e, t, username, password, servicePrincipal)
	})
	return cmd
}

// login signs in, checks the token against the server, saves the cache and
// prints who is signed in.
func login(ctx context.Context, e *env, t target, username, password string, servicePrincipal bool) error {
	hc, err := httpClient(t.caCert)
	if err != nil {
		return err
	}
	c := &authCache{Server: t.url, CACert: absPath(t.caCert), TenantID: t.tenantID, AuthorityHost: t.authorityHost}
	kind := "servicePrincipal"
	if servicePrincipal {
		c.ServicePrincipal = &spLogin{ClientID: username, ClientSecret: password}
	} else {
		kind = "user"
		tok, err := client.PasswordLogin(ctx, hc, client.TokenURL(t.authorityHost, t.tenantID), username, password)
		if err != nil {
			return fmt.Errorf("sign in to %s: %w", t.url, err)
		}
		c.User = &userLogin{Name: username, AccessToken: tok.AccessToken, ExpiresOn: tok.ExpiresOn}
	}
	tokens, err := c.tokens(hc)
	if err != nil {
		return err
	}
	me, err := client.New(t.url, hc, tokens).Me(ctx)
	if err != nil {
		return fmt.Errorf("sign in to %s: %w", t.url, err)
	}
	if err := saveAuth(c); err != nil {
		return err
	}
	name := me.Name
	if servicePrincipal {
		name = me.AppID // as az login names a service principal
	}
	return render(e.stdout, "json", loginSummary{Server: t.url, TenantID: t.tenantID, User: loginAccount{Name: name, Type: kind, ID: me.ID}}, table{})
}

func newLogoutCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Forget the sign-in of latchkey login",
		Args:  cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			path, err := authPath()
			if err != nil {
				return err
			}
			if err := os.Remove(path); err != nil && !isNotExist(err) {
				return fmt.Errorf("remove the login cache: %w", err)
			}
			return nil
		}),
	}
}
