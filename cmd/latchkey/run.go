package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
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
	var name string
	cmd := &cobra.Command{
		Use:   "run --identity NAME -- COMMAND [ARGS...]",
		Short: "Run a command as a managed identity, without giving it any credential",
		Long: `Run COMMAND with a managed identity endpoint on loopback, in the App Service protocol
that the Azure SDKs' ManagedIdentityCredential and DefaultAzureCredential use unchanged.
The endpoint gets tokens for the identity from the server with your own credential,
which must be allowed to assign the identity (Managed Identity Operator). COMMAND gets
IDENTITY_ENDPOINT, IDENTITY_HEADER and AZURE_CLIENT_ID, never a secret; its exit code
is passed through.`,
		Args: cobra.MinimumNArgs(1),
	}
	f := addServerFlags(cmd)
	cmd.Flags().StringVar(&name, "identity", "", "name of the managed identity to run as (required)")
	cmd.RunE = runE(func(cmd *cobra.Command, args []string) error {
		if name == "" {
			return errors.New("name the identity to run as: latchkey run --identity NAME -- COMMAND")
		}
		ctx := cmd.Context()
		endpoint, caCert, err := startIdentityEndpoint(ctx, e, f, name, "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer endpoint.Close()
		return runChild(e, args, childEnv(endpoint, caCert, e.getenv))
	})
	return cmd
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
// exit code as an exitCode error (nil for 0).
func runChild(e *env, args []string, env []string) error {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, e.stdout, e.stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", args[0], err)
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case sig := <-sigs:
			_ = cmd.Process.Signal(sig)
		case err := <-done:
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
	}
}
