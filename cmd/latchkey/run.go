package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/msi"
)

// exitCode is returned by a command whose process exit code is decided by a
// child process; run passes it through without printing anything.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// credentialEnv are variables that hold credentials or point the Azure SDKs at
// other identities; a child of latchkey run never sees them.
var credentialEnv = []string{
	"AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
	"AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER",
	"IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT", "LATCHKEY_PASSWORD",
}

func newRunCommand(e *env) *cobra.Command {
	var (
		name, watchSignal string
		watch             bool
		watchInterval     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run --identity NAME -- COMMAND [ARGS...]",
		Short: "Run a command as a managed identity, without giving it any credential",
		Long: `Run COMMAND with a managed identity endpoint on loopback, in the App Service protocol
that the Azure SDKs' ManagedIdentityCredential and DefaultAzureCredential use unchanged.
The endpoint gets tokens for the identity from the server with your own credential,
which must be allowed to assign the identity (Managed Identity Operator). COMMAND gets
IDENTITY_ENDPOINT, IDENTITY_HEADER and AZURE_CLIENT_ID, never a secret; its exit code
is passed through.

Key Vault references. An environment variable whose value is a reference, as App Service
accepts them (keys in any case),

  DB_PASSWORD=@Microsoft.KeyVault(SecretUri=https://V.vault.DOMAIN/secrets/NAME[/VERSION])
  DB_PASSWORD=@Microsoft.KeyVault(VaultName=V;SecretName=NAME[;SecretVersion=VERSION])

reaches COMMAND as the secret's value, read as the identity (which needs a role such as
Key Vault Secrets User on the vault). A reference that cannot be resolved stops the start
with a line naming the variable; COMMAND never sees a reference.

--watch checks the referenced secrets without a version every --watch-interval (30s).
When one gets a new current version, COMMAND is stopped (SIGTERM, then SIGKILL after
10s) and started again with the new values; with --watch-signal SIGHUP (or another
signal) COMMAND is sent that signal instead, keeps its environment, and should read its
secrets again itself (for example through the identity endpoint).`,
		Args: cobra.MinimumNArgs(1),
	}
	f := addServerFlags(cmd)
	cmd.Flags().StringVar(&name, "identity", "", "name of the managed identity to run as (required)")
	cmd.Flags().BoolVar(&watch, "watch", false, "restart COMMAND when a referenced secret gets a new version")
	cmd.Flags().DurationVar(&watchInterval, "watch-interval", 30*time.Second, "how often --watch checks the referenced secrets")
	cmd.Flags().StringVar(&watchSignal, "watch-signal", "", "with --watch, send COMMAND this signal (SIGHUP, SIGUSR1, ...) instead of restarting it")
	cmd.RunE = runE(func(cmd *cobra.Command, args []string) error {
		if name == "" {
			return errors.New("name the identity to run as: latchkey run --identity NAME -- COMMAND")
		}
		reload, err := parseSignal(watchSignal)
		if err != nil {
			return err
		}
		if reload != nil && !watch {
			return errors.New("--watch-signal takes effect with --watch: add --watch")
		}
		if watch && watchInterval < 100*time.Millisecond {
			return fmt.Errorf("--watch-interval %s: give at least 100ms, such as 30s", watchInterval)
		}
		ctx := cmd.Context()
		endpoint, caCert, err := startIdentityEndpoint(ctx, e, f, name, "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer endpoint.Close()
		refs, err := resolveReferences(ctx, e, f, name, childEnv(endpoint, caCert, e.getenv))
		if err != nil {
			return err
		}
		if watch && !refs.watched() {
			fmt.Fprintln(e.stderr, "latchkey run: --watch: no Key Vault reference follows a secret's current version; nothing to watch")
		}
		if !watch || !refs.watched() {
			return runChild(e, args, refs.env, nil, nil)
		}
		first := refs.env // read before watch owns refs
		watchCtx, stop := context.WithCancel(ctx)
		updates, watching := make(chan envUpdate), make(chan struct{})
		go func() {
			defer close(watching)
			refs.watch(watchCtx, watchInterval, updates, e.stderr)
		}()
		defer func() { stop(); <-watching }()
		return runChild(e, args, first, updates, reload)
	})
	return cmd
}

// parseSignal reads --watch-signal: a name such as SIGHUP or HUP, or a
// number. "" is no signal.
func parseSignal(s string) (os.Signal, error) {
	if s == "" {
		return nil, nil
	}
	names := map[string]syscall.Signal{"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT,
		"TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "WINCH": syscall.SIGWINCH}
	if sig, ok := names[strings.TrimPrefix(strings.ToUpper(s), "SIG")]; ok {
		return sig, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	return nil, fmt.Errorf("--watch-signal %q: give a signal such as SIGHUP, SIGUSR1 or SIGUSR2", s)
}

// startIdentityEndpoint serves the managed identity protocol for identity name
// on addr, with tokens from the server.
func startIdentityEndpoint(ctx context.Context, e *env, f *serverFlags, name, addr string) (*msi.Server, string, error) {
	cl, t, err := f.connectTarget(e)
	if err != nil {
		return nil, "", err
	}
	mi, err := cl.Identity(ctx, name)
	if err != nil {
		return nil, "", fmt.Errorf("identity %s: %w", name, err)
	}
	tokens := func(ctx context.Context, resource string) (msi.Token, error) {
		tok, err := cl.IdentityToken(ctx, name, resource)
		if err != nil {
			return msi.Token{}, err
		}
		return msi.Token{AccessToken: tok.AccessToken, ExpiresOn: time.Unix(tok.ExpiresOn, 0), ClientID: tok.ClientID}, nil
	}
	// Fail now, not in the child, when the caller may not act as the identity.
	if _, err := cl.IdentityToken(ctx, name, client.ManagementAudience); err != nil {
		return nil, "", fmt.Errorf("cannot get tokens for identity %s: %w", name, err)
	}
	srv, err := msi.Listen(addr, msi.Options{ClientID: mi.ClientID, Tokens: tokens})
	if err != nil {
		return nil, "", fmt.Errorf("start the managed identity endpoint on %s: %w", addr, err)
	}
	return srv, t.caCert, nil
}

// childEnv is the parent's environment without credentials, plus the
// endpoint's variables and, for a server with its own CA, SSL_CERT_FILE.
func childEnv(srv *msi.Server, caCert string, getenv func(string) string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !isCredentialEnv(name) {
			out = append(out, kv)
		}
	}
	out = append(out, srv.Env()...)
	out = append(out, "AZURE_CLIENT_ID="+srv.ClientID())
	if caCert != "" && getenv("SSL_CERT_FILE") == "" {
		out = append(out, "SSL_CERT_FILE="+caCert)
	}
	return out
}

func isCredentialEnv(name string) bool { return slices.Contains(credentialEnv, name) }

// runChild runs args with env, forwarding SIGINT and SIGTERM, and returns its
// exit code as an exitCode error (nil for 0). Each update restarts it with the
// update's environment or, when reload is not nil, sends it reload.
func runChild(e *env, args []string, env []string, updates <-chan envUpdate, reload os.Signal) error {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	child, done, err := startChild(e, args, env)
	if err != nil {
		return err
	}
	for {
		select {
		case sig := <-sigs:
			_ = child.Process.Signal(sig)
		case u := <-updates:
			changed := strings.Join(u.changed, ", ")
			if reload != nil {
				fmt.Fprintf(e.stderr, "latchkey run: the secret of %s changed: sending %v to %s\n", changed, reload, args[0])
				_ = child.Process.Signal(reload)
				continue
			}
			fmt.Fprintf(e.stderr, "latchkey run: the secret of %s changed: restarting %s\n", changed, args[0])
			stopChild(child, done)
			if child, done, err = startChild(e, args, u.env); err != nil {
				return err
			}
		case err := <-done:
			return exitOf(err)
		}
	}
}

// startChild starts args with env; done receives what Wait returns.
func startChild(e *env, args []string, env []string) (*exec.Cmd, <-chan error, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, e.stdout, e.stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", args[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return cmd, done, nil
}

// stopChild sends SIGTERM and waits for the child to exit, killing it after
// ten seconds.
func stopChild(cmd *exec.Cmd, done <-chan error) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// exitOf turns what Wait returned into run's result: nil for 0, an exitCode
// otherwise.
func exitOf(err error) error {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		if code := ee.ExitCode(); code >= 0 {
			return exitCode(code)
		}
		return exitCode(128 + 15) // killed by a signal
	}
	return err
}
