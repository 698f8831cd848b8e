package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/client"
)

// This file is `latchkey audit`: listing the audit trail and verifying its
// hash chain.

func newAuditCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List the audit trail and verify its hash chain",
		Long: `Read the audit trail: one event for every request, allowed or denied, chained with SHA-256.

  latchkey audit list [--principal ID] [--operation PREFIX] [--scope SCOPE] [--since T] [--until T]
                      [--result allowed|denied|failed] [--top N | --all] [--output table|json]
  latchkey audit verify [--copy SINK-FILE.jsonl]

Times are RFC 3339 (2026-01-02T15:04:05Z), dates (2026-01-02, UTC), or durations before now
(30m, 24h, 7d). Listing needs Latchkey.Insights/auditEvents/read at the scope (Reader holds
it); verifying needs it at /.`,
	}
	f := addServerFlags(cmd)
	cmd.AddCommand(newAuditListCommand(e, f), newAuditVerifyCommand(e, f))
	return cmd
}

func newAuditListCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List audit events, the latest --top (100) oldest first, or --all",
		Long: `List audit events that match every filter given. Without --all, the latest --top events
are shown, oldest first; --all lists every match, oldest first. --output json prints a JSON
array of events (seq, time, principalId, operation, scope, result, status, ...).`,
		Args: cobra.NoArgs,
	}
	var filter client.AuditFilter
	var since, until string
	fs := cmd.Flags()
	fs.StringVar(&filter.Principal, "principal", "", "a principal's object id, appId, user name or managed identity name")
	fs.StringVar(&filter.Operation, "operation", "", "operations that begin with this, such as Latchkey.KeyVault/vaults/secrets/getSecret")
	fs.StringVar(&filter.Scope, "scope", "", "events at this scope and below it (default /, which also shows token requests)")
	fs.StringVar(&since, "since", "", "events at or after this time: RFC 3339, a date, or a duration before now such as 24h or 7d")
	fs.StringVar(&until, "until", "", "events before this time, in the same forms as --since")
	fs.StringVar(&filter.Result, "result", "", "allowed, denied or failed")
	top := fs.Int("top", 100, "how many of the latest events to show (1 or more)")
	all := fs.Bool("all", false, "list every matching event instead of the latest --top")
	out := addOutputFlag(cmd, "table")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		now := time.Now()
		var err error
		if filter.Since, err = parseAuditTime("since", since, now); err != nil {
			return err
		}
		if filter.Until, err = parseAuditTime("until", until, now); err != nil {
			return err
		}
		if *out != "table" && *out != "json" {
			return fmt.Errorf("--output %q is not a format: use json or table", *out)
		}
		if !*all && *top < 1 {
			return fmt.Errorf("--top %d: give 1 or more, or --all", *top)
		}
		events, more, err := listAuditEvents(cmd, c, filter, *top, *all)
		if err != nil {
			return err
		}
		if err := render(e.stdout, *out, events, auditTable(events)); err != nil {
			return err
		}
		if more && *out == "table" {
			fmt.Fprintf(e.stderr, "(the latest %d events; --top N or --all for more)\n", len(events))
		}
		return nil
	})
	return cmd
}

// listAuditEvents reads every match with all, oldest first; otherwise the
// latest top, newest first from the server, turned oldest first. more says
// whether older matches were left out.
func listAuditEvents(cmd *cobra.Command, c *client.Client, f client.AuditFilter, top int, all bool) ([]client.AuditEvent, bool, error) {
	events := []client.AuditEvent{}
	f.Newest = !all
	p := client.AuditPage{Top: 1000}
	if !all {
		p.Top = min(top, 1000)
	}
	for {
		page, next, err := c.AuditEvents(cmd.Context(), f, p)
		if err != nil {
			return nil, false, err
		}
		events = append(events, page...)
		if !all && len(events) >= top {
			more := len(events) > top || next.SkipToken != ""
			events = events[:top]
			slices.Reverse(events)
			return events, more, nil
		}
		if next.SkipToken == "" {
			break
		}
		p.SkipToken = next.SkipToken
		if !all {
			p.Top = min(top-len(events), 1000)
		}
	}
	if !all {
		slices.Reverse(events)
	}
	return events, false, nil
}

func auditTable(events []client.AuditEvent) table {
	t := table{header: []string{"Seq", "Time", "Principal", "ClientIp", "Operation", "Scope", "Result", "Status", "Reason"}}
	for _, ev := range events {
		who := firstOf(ev.PrincipalName, ev.PrincipalID, "-")
		t.rows = append(t.rows, []string{strconv.FormatInt(ev.Seq, 10), ev.Time.UTC().Format(time.RFC3339), who,
			firstOf(ev.ClientIP, "-"), ev.Operation, firstOf(ev.Scope, "-"), ev.Result, strconv.Itoa(ev.Status), ev.Reason})
	}
	return t
}

// parseAuditTime reads a --since or --until value: RFC 3339, a date (UTC), or a
// duration before now (Go's 90m, 24h, or whole days: 7d).
func parseAuditTime(flag, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(v, "d"); ok {
		var n int
		if n, err = strconv.Atoi(days); err == nil && n > 100*366 {
			err = errors.New("more than a century") // and past it, Duration overflows
		} else if err == nil {
			d = time.Duration(n) * 24 * time.Hour
		}
	} else {
		d, err = time.ParseDuration(v)
	}
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("--%s %q: give an RFC 3339 time (2026-01-02T15:04:05Z), a date (2026-01-02) or a duration before now (24h, 7d)", flag, v)
	}
	return now.Add(-d), nil
}

func newAuditVerifyCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify the audit trail's hash chain; exit 1 naming the first bad event",
		Long: `Walk the audit trail's SHA-256 chain on the server, from the oldest event kept to the head,
recomputing every event's hash. Prints one line and exits 0 when the chain holds; exits 1 with
the first event that breaks it (changed, missing or out of place) otherwise. Keep the head it
prints somewhere the database's writers cannot reach, to compare later.

A chain that holds may still have been rewritten whole, by someone who recomputed every
hash after the change. Sinks copy each event with the chain head after it ("hash"): with
--copy FILE (a sink's JSON Lines file), verify also compares the trail with that copy and
exits 1 naming the first event whose hash differs or that the trail lost. Events the trail
no longer keeps (pruned) and events the copy lacks (a sink that dropped them, or a scoped
one) are not compared.`,
		Args: cobra.NoArgs,
	}
	copyFile := cmd.Flags().String("copy", "", "a sink's JSON Lines copy of the trail to compare the trail with")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		var copied []client.AuditEvent
		if *copyFile != "" {
			var err error
			if copied, err = readAuditCopy(*copyFile); err != nil {
				return err
			}
		}
		v, err := c.VerifyAuditTrail(cmd.Context())
		if err != nil {
			return err
		}
		if b := v.Broken; b != nil || !v.Intact {
			if b == nil {
				return errors.New("the server says the audit trail is broken but names no event")
			}
			return fmt.Errorf("the audit trail is broken at event %d (batch %d): %s; %d events verified before it",
				b.Seq, b.Batch, b.Reason, v.Events)
		}
		from := ""
		if v.FirstSeq > 1 {
			from = fmt.Sprintf(" from event %d (older ones were pruned)", v.FirstSeq)
		}
		head := v.Head
		if head == "" {
			head = "none: the trail is empty"
		}
		if _, err := fmt.Fprintf(e.stdout, "audit trail intact: %d events in %d batches verified%s, head %s\n", v.Events, v.Batches, from, head); err != nil {
			return err
		}
		if *copyFile == "" {
			return nil
		}
		compared, err := compareAuditCopy(cmd.Context(), c, copied, v.FirstSeq)
		if err != nil {
			return fmt.Errorf("%s: %w", *copyFile, err)
		}
		_, err = fmt.Fprintf(e.stdout, "the trail agrees with %s: %d events compared\n", *copyFile, compared)
		return err
	})
	return cmd
}

// readAuditCopy reads a sink's JSON Lines copy of the audit trail: the
// events that carry a chain hash, in the file's order.
func readAuditCopy(path string) ([]client.AuditEvent, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--copy: %w", err)
	}
	var out []client.AuditEvent
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var ev client.AuditEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Seq <= 0 {
			return nil, fmt.Errorf("--copy %s line %d is not an audit event as a sink writes it (one JSON object with a seq per line)", path, i+1)
		}
		if ev.Hash != "" {
			out = append(out, ev)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--copy %s holds no event with a chain hash: give a file a sink of this version of Latchkey wrote", path)
	}
	return out, nil
}

// compareAuditCopy compares copied events (each with its hash) with the
// trail's, from firstSeq (the oldest event the trail keeps) on, and returns
// how many it compared, or an error naming the first event that differs or
// that the trail lacks. It lists the trail over the copy's span of time,
// with an hour's margin either side: the listing filters by the batches'
// times, and an event's own time can be its request's start, up to a
// model call's 30 minutes before the batch that stored it.
func compareAuditCopy(ctx context.Context, c *client.Client, copied []client.AuditEvent, firstSeq int64) (int, error) {
	var kept []client.AuditEvent
	for _, ev := range copied {
		if ev.Seq >= firstSeq {
			kept = append(kept, ev)
		}
	}
	if len(kept) == 0 {
		return 0, nil
	}
	since, until := kept[0].Time, kept[0].Time
	for _, ev := range kept {
		since, until = minTime(since, ev.Time), maxTime(until, ev.Time)
	}
	stored := map[int64]string{}
	f := client.AuditFilter{Scope: "/", Since: since.Add(-time.Hour), Until: until.Add(time.Hour)}
	for p := (client.AuditPage{Top: 1000}); ; {
		evs, next, err := c.AuditEvents(ctx, f, p)
		if err != nil {
			return 0, err
		}
		for _, ev := range evs {
			stored[ev.Seq] = ev.Hash
		}
		if next.SkipToken == "" {
			break
		}
		p = next
	}
	slices.SortFunc(kept, func(a, b client.AuditEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, ev := range kept {
		switch h, ok := stored[ev.Seq]; {
		case !ok:
			return 0, fmt.Errorf("event %d (%s, %s) is in the copy but not in the trail: the trail was rewritten or cut at or before it", ev.Seq, ev.Operation, ev.Time.UTC().Format(time.RFC3339))
		case h != ev.Hash:
			return 0, fmt.Errorf("event %d's chain hash in the trail differs from the copy's: the trail was rewritten at or before event %d", ev.Seq, ev.Seq)
		}
	}
	return len(kept), nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
