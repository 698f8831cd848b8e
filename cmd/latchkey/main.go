// Command latchkey is Latchkey's one binary: the server (`serve`), the one-command
// development server (`dev`), schema migrations (`migrate`), and the CLI.
//
// It holds no rules: it reads configuration, wires the packages under internal/
// together and runs them. It is the only package that imports everything.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed: bad configuration, unreachable database, ...
	exitUsage = 2 // the command line itself is wrong: unknown flag or command
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// env is what a command reads from its surroundings: streams and environment.
// Tests run commands in-process with their own.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// failure marks an error returned by a command's own work, as opposed to
// cobra's parsing of the command line, so run can tell exitError from exitUsage.
type failure struct{ err error }

func (f failure) Error() string { return f.err.Error() }
func (f failure) Unwrap() error { return f.err }

// runE adapts a command's work to cobra, marking its errors as failures.
func runE(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := fn(cmd, args); err != nil {
			return failure{err}
		}
		return nil
	}
}

// run executes one command line and returns the process exit code. Every failure
// ends in one line on stderr: "latchkey: what is wrong: how to fix it".
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{stdout: stdout, stderr: stderr, getenv: getenv}
	root := newRootCommand(e)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var code exitCode
	if errors.As(err, &code) {
		return int(code) // a child's exit code, passed through
	}
	var f failure
	if errors.As(err, &f) {
		fmt.Fprintf(stderr, "latchkey: %v\n", oneLine(f.err))
		return exitError
	}
	// Anything else comes from parsing the command line.
	// cobra's messages may span lines ("Did you mean this?"): fold them.
	fmt.Fprintf(stderr, "latchkey: %s (see '%s --help')\n", strings.Join(strings.Fields(err.Error()), " "), cmd.CommandPath())
	return exitUsage
}

func newRootCommand(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "latchkey",
		Short: "Latchkey holds the credentials AI workloads depend on",
		Long: `Latchkey is a self-hosted vault, identity provider and access-control point for the
keys, passwords and tokens AI workloads use. It speaks the Azure Key Vault and Entra ID
protocols, so the official Azure SDKs work against it.

Start a development server with:  latchkey dev`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.AddCommand(newAdminCommand(e), newRunCommand(e), newAgentCommand(e), newServeCommand(e), newDevCommand(e), newMigrateCommand(e),
		newLoginCommand(e), newLogoutCommand(e), newSPCommand(e), newIdentityCommand(e), newUserCommand(e),
		newRoleCommand(e), newHubCommand(e), newProjectCommand(e), withKeyVaultData(e, newKeyVaultCommand(e)),
		newAuditCommand(e), newAccessCommand(e),
		newConnectionCommand(e))
	root.AddCommand(newCognitiveServicesCommand(e))
	return root
}

// oneLine prints an error on one line, or, for a list of problems, one line per
// problem under a first line that reads on its own.
func oneLine(err error) string {
	// Only a top-level join lists problems; a cause deeper down that happens to
	// be a join (a driver's several dial attempts) stays in its sentence.
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs := joined.Unwrap()
		if len(errs) > 1 {
			s := fmt.Sprintf("%d problems:", len(errs))
			for _, e := range errs {
				s += "\n  - " + fold(e.Error())
			}
			return s
		}
	}
	return fold(err.Error())
}

// fold puts a message on one line.
func fold(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ")
}
