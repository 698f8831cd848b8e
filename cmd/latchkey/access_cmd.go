package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/client"
)

// This file is `latchkey access`: the access review.

func newAccessCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "access",
		Short: "Review access: what goes unused, what expires, what looks unusual",
		Long: `Review access over the last N days, from the records and the audit trail.

  latchkey access review [--days 30] [--scope SCOPE] [--output table|json]`,
	}
	f := addServerFlags(cmd)
	cmd.AddCommand(newAccessReviewCommand(e, f))
	return cmd
}

func newAccessReviewCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "review",
		Short: "List findings, each with a severity and a suggested fix",
		Long: `List what needs attention, most severe first, each finding with its severity (high,
medium, low) and a suggested fix:

  unusedIdentity     an identity with no sign-in in N days
  unusedAssignment   a role assignment none of whose permissions was used in N days
  unreadSecret       a secret whose value nobody read in N days
  expiringSecret     a secret that expires within 30 days
  expiredSecret      a secret past its expiry
  staleKey           a client secret (or other long-lived key) not rotated in N days
  denialBurst        20 or more denials of one principal or address within 5 minutes
  newClientAddress   an identity seen in the last 24 hours from an address it never used before
  incompleteReview   a memory bound was reached: some findings may be missing

With --scope, only findings at or below that scope: identities, keys and addresses belong to
the tenant (/). The review needs Latchkey.Authorization/accessReviews/read at the scope.`,
		Args: cobra.NoArgs,
	}
	days := cmd.Flags().Int("days", 30, "the period reviewed, in days (1 to 365)")
	scope := cmd.Flags().String("scope", "/", "review this scope and below it")
	out := addOutputFlag(cmd, "table")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		if *days < 1 || *days > 365 {
			return fmt.Errorf("--days %d: give a whole number of days from 1 to 365", *days)
		}
		fs, err := c.AccessReview(cmd.Context(), *days, *scope)
		if err != nil {
			return err
		}
		switch *out {
		case "json":
			if fs == nil {
				fs = []client.AccessFinding{}
			}
			return render(e.stdout, "json", fs, table{})
		case "table":
			return printFindings(e.stdout, fs, *days, *scope)
		}
		return fmt.Errorf("--output %q is not a format: use json or table", *out)
	})
	return cmd
}

// printFindings prints findings as aligned columns (severity, kind, scope,
// subject), each followed by its detail and fix on lines of their own, and
// a count by severity.
func printFindings(w io.Writer, fs []client.AccessFinding, days int, scope string) error {
	if len(fs) == 0 {
		_, err := fmt.Fprintf(w, "no findings in the last %s at %s\n", daysText(days), scope)
		return err
	}
	header := []string{"SEVERITY", "KIND", "SCOPE", "SUBJECT"}
	widths := make([]int, len(header)-1)
	for i, h := range header[:len(widths)] {
		widths[i] = len(h)
	}
	for _, f := range fs {
		for i, v := range []string{f.Severity, f.Kind, f.Scope} {
			widths[i] = max(widths[i], len(v))
		}
	}
	row := func(cells ...string) string {
		var b strings.Builder
		for i, c := range cells[:len(widths)] {
			fmt.Fprintf(&b, "%-*s  ", widths[i], c)
		}
		b.WriteString(cells[len(widths)])
		return b.String()
	}
	var b strings.Builder
	b.WriteString(row(header...) + "\n")
	count := map[string]int{}
	for _, f := range fs {
		count[f.Severity]++
		b.WriteString(row(strings.ToUpper(f.Severity), f.Kind, f.Scope, f.Subject) + "\n")
		fmt.Fprintf(&b, "    %s\n    fix: %s\n", f.Detail, f.Suggestion)
	}
	fmt.Fprintf(&b, "%d findings in the last %s at %s: %d high, %d medium, %d low\n",
		len(fs), daysText(days), scope, count["high"], count["medium"], count["low"])
	_, err := io.WriteString(w, b.String())
	return err
}

// daysText says a number of days: "1 day", "30 days".
func daysText(n int) string {
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}
