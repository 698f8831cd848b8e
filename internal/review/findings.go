package review

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// This file turns what a review read into findings, with the severity rules
// of Severity and a fix for each.

// findings builds every finding of the run, before the scope filter.
func (r *run) findings(ctx context.Context) ([]Finding, error) {
	var fs []Finding
	fs = r.identityFindings(fs)
	fs = r.assignmentFindings(fs)
	fs = r.secretFindings(fs)
	fs, err := r.keyFindings(ctx, fs)
	if err != nil {
		return nil, err
	}
	fs = r.burstFindings(fs)
	fs = r.addressFindings(fs)
	if r.bursts.dropped {
		r.cut(fmt.Sprintf("more than %d principals and addresses with denials: denial bursts", r.s.maxTracked))
	}
	for _, o := range r.overflow {
		fs = append(fs, Finding{Kind: Incomplete, Severity: Low, Subject: "review", Scope: "/",
			Detail:     "the review reached a memory bound, " + o + " may be missing",
			Suggestion: "review a shorter period (--days) to see them"})
	}
	return fs, nil
}

// identityFindings: enabled principals created before the period that did
// not sign in during it.
func (r *run) identityFindings(fs []Finding) []Finding {
	for _, pr := range r.principals {
		if !pr.p.Enabled || !pr.p.Created.Before(r.since) || !pr.signedIn.IsZero() {
			continue
		}
		sev, holds := Low, "it holds no role assignment"
		switch {
		case pr.elevated:
			sev, holds = High, fmt.Sprintf("it holds %d role assignment(s), one of them able to change access or at /", pr.assignments)
		case pr.assignments > 0:
			sev, holds = Medium, fmt.Sprintf("it holds %d role assignment(s)", pr.assignments)
		}
		fs = append(fs, Finding{
			Kind: UnusedIdentity, Severity: sev, Subject: pr.p.ID, Scope: scopeOf(pr.p),
			Detail: fmt.Sprintf("%s has not signed in for %s (created %s); %s",
				describe(pr.p), r.period, day(pr.p.Created), holds),
			Suggestion: "if nothing uses it any more, remove it: " + removePrincipal(pr.p),
		})
	}
	return fs
}

// assignmentFindings: direct assignments made before the period none of
// whose permissions was used at or below their scope. Activations of
// eligible assignments are left out: they expire by themselves.
func (r *run) assignmentFindings(fs []Finding) []Finding {
	for _, a := range r.assignments {
		if a.used || !a.a.Expires.IsZero() || !a.a.Created.Before(r.since) {
			continue
		}
		who := "a principal that no longer exists (" + a.a.PrincipalID + ")"
		if pr := r.principals[a.a.PrincipalID]; pr != nil {
			who = describe(pr.p)
		}
		sev := Medium
		if a.elevated() {
			sev = High
		}
		fs = append(fs, Finding{
			Kind: UnusedAssignment, Severity: sev, Subject: a.a.ID, Scope: a.a.Scope,
			Detail: fmt.Sprintf("role %s at %s, assigned to %s on %s, was not used in %s: no allowed operation it grants was performed at or below its scope",
				quote(a.a.RoleName), a.a.Scope, who, day(a.a.Created), r.period),
			Suggestion: "remove it, or make it eligible instead (latchkey role eligible create): latchkey role assignment delete --ids " + a.a.ID,
		})
	}
	return fs
}

// secretFindings: enabled secrets past or near their current version's
// expiry, and enabled secrets created before the period whose value nobody
// read in it (a disabled one cannot be read: it was turned off on purpose).
func (r *run) secretFindings(fs []Finding) []Finding {
	for _, sec := range r.secretList {
		name, vault := sec.s.Name, sec.s.Vault
		rotate := fmt.Sprintf("latchkey keyvault secret set --vault-name %s --name %s --file NEW_VALUE_FILE --expires YYYY-MM-DD", vault, name)
		switch {
		case !sec.enabled || sec.expires.IsZero():
		case !sec.expires.After(r.now):
			fs = append(fs, Finding{
				Kind: ExpiredSecret, Severity: High, Subject: sec.scope, Scope: sec.scope,
				Detail:     fmt.Sprintf("secret %s in vault %s expired on %s: its readers are refused", quote(name), quote(vault), day(sec.expires)),
				Suggestion: "set a new value with a later expiry: " + rotate,
			})
		case sec.expires.Before(r.now.Add(r.s.expiryNotice)):
			fs = append(fs, Finding{
				Kind: ExpiringSecret, Severity: Medium, Subject: sec.scope, Scope: sec.scope,
				Detail: fmt.Sprintf("secret %s in vault %s expires on %s, in %s", quote(name), quote(vault),
					day(sec.expires), daysText(sec.expires.Sub(r.now))),
				Suggestion: "rotate it before then: " + rotate,
			})
		}
		if sec.enabled && !sec.read && sec.s.Created.Before(r.since) {
			fs = append(fs, Finding{
				Kind: UnreadSecret, Severity: Low, Subject: sec.scope, Scope: sec.scope,
				Detail: fmt.Sprintf("nobody read the value of secret %s in vault %s in %s (created %s)",
					quote(name), quote(vault), r.period, day(sec.s.Created)),
				Suggestion: fmt.Sprintf("if nothing needs it, delete it (it stays recoverable for the vault's retention): latchkey keyvault secret delete --vault-name %s --name %s", vault, name),
			})
		}
	}
	return fs
}

// keyFindings: client secrets, and the keys of every KeySource, created
// before the period and not expired.
func (r *run) keyFindings(ctx context.Context, fs []Finding) ([]Finding, error) {
	visit := func(k Key) {
		if !k.Created.Before(r.since) || !k.Expires.IsZero() && !k.Expires.After(r.now) {
			return
		}
		sev := Medium
		if pr := r.principals[k.PrincipalID]; pr != nil && !pr.p.Enabled {
			return // a disabled principal gets no token with it
		} else if pr != nil && pr.elevated {
			sev = High
		}
		scope := k.Scope
		if scope == "" {
			scope = "/"
		}
		fs = append(fs, Finding{
			Kind: StaleKey, Severity: sev, Subject: k.ID, Scope: scope,
			Detail: fmt.Sprintf("the %s of %s was created on %s and not rotated in %s",
				k.Kind, k.Owner, day(k.Created), r.period),
			Suggestion: "rotate it: " + k.Rotate,
		})
	}
	for _, src := range append([]KeySource{r.clientSecrets}, r.s.sources...) {
		if err := src(ctx, visit); err != nil {
			return nil, err
		}
	}
	return fs, nil
}

// burstFindings: one per principal or address with a burst of denials.
func (r *run) burstFindings(fs []Finding) []Finding {
	window := durationText(r.s.burstWindow)
	for k, d := range r.bursts.m {
		if d.burst.IsZero() {
			continue
		}
		since := d.burst.Add(-time.Minute).Format(time.RFC3339)
		f := Finding{Kind: DenialBurst, Severity: High, Scope: "/"}
		what := fmt.Sprintf("%d or more denied requests within %s, from %s; %d denied in the period, the last at %s",
			r.s.burstDenials, window, d.burst.Format(time.RFC3339), d.count, d.last.Format(time.RFC3339))
		if k.principal != "" {
			f.Subject = k.principal
			who := "principal " + k.principal
			if pr := r.principals[k.principal]; pr != nil {
				who, f.Scope = describe(pr.p), scopeOf(pr.p)
				f.Suggestion = fmt.Sprintf("see what it was refused: latchkey audit list --principal %s --result denied --since %s; a workload missing a role needs one (latchkey role assignment create); a caller you do not know needs its access revoked: %s",
					k.principal, since, revokePrincipal(pr.p))
			} else if d.name != "" {
				who += " (" + quote(d.name) + ")"
			}
			if f.Suggestion == "" {
				f.Suggestion = fmt.Sprintf("see what it was refused: latchkey audit list --principal %s --result denied --since %s", k.principal, since)
			}
			f.Detail = who + ": " + what
		} else {
			f.Subject = k.addr.String()
			f.Detail = "client address " + k.addr.String() + ": " + what
			f.Suggestion = fmt.Sprintf("see what it tried: latchkey audit list --result denied --since %s --output json; if you do not know the address, block it at your firewall, or keep it out of vaults with latchkey keyvault update --name VAULT --network-allow CIDR,...", since)
		}
		fs = append(fs, f)
	}
	return fs
}

// addressFindings: principals seen in the recent window from addresses not
// in their baseline. A principal with no baseline (nothing before the
// recent window, or more addresses than AddressesPerPrincipal) is left out.
func (r *run) addressFindings(fs []Finding) []Finding {
	for _, pr := range r.principals {
		if len(pr.seen) == 0 || pr.seenFull {
			continue
		}
		var fresh []netip.Addr
		for ip := range pr.fresh {
			if _, ok := pr.seen[ip]; !ok {
				fresh = append(fresh, ip)
			}
		}
		if len(fresh) == 0 {
			continue
		}
		slices.SortFunc(fresh, func(a, b netip.Addr) int { return pr.fresh[a].Compare(pr.fresh[b]) })
		sev := Medium
		if pr.elevated {
			sev = High
		}
		list := make([]string, 0, len(fresh))
		for _, ip := range fresh[:min(len(fresh), 5)] {
			list = append(list, ip.String()+" (first at "+pr.fresh[ip].Format(time.RFC3339)+")")
		}
		if len(fresh) > 5 {
			list = append(list, fmt.Sprintf("and %d more", len(fresh)-5))
		}
		fs = append(fs, Finding{
			Kind: NewClientAddress, Severity: sev, Subject: pr.p.ID, Scope: scopeOf(pr.p),
			Detail: fmt.Sprintf("%s was seen in the last %s from %s, never used before in %s (it used %d other address(es))",
				describe(pr.p), durationText(r.s.recentWindow), strings.Join(list, ", "), r.period, len(pr.seen)),
			Suggestion: fmt.Sprintf("confirm with its owner; latchkey audit list --principal %s --since %s shows what it did; if it was not them: %s",
				pr.p.ID, r.recent.Format(time.RFC3339), revokePrincipal(pr.p)),
		})
	}
	return fs
}

// describe names a principal for people.
func describe(p store.Principal) string {
	switch p.Kind {
	case store.User:
		return "user " + quote(p.Name)
	case store.ManagedIdentity:
		return "managed identity " + quote(p.Name)
	}
	return "service principal " + quote(p.Name) + " (appId " + p.AppID + ")"
}

// scopeOf is where a principal's findings lie: a managed identity's scope,
// the tenant for the others.
func scopeOf(p store.Principal) string {
	if p.Scope != "" {
		return p.Scope
	}
	return "/"
}

// removePrincipal is the command that deletes a principal.
func removePrincipal(p store.Principal) string {
	switch {
	case p.Kind == store.User:
		return "latchkey user delete " + p.Name
	case p.Kind == store.ManagedIdentity && strings.HasPrefix(p.Scope, "/identities/"):
		return "latchkey identity delete " + p.Name
	case p.Kind == store.ManagedIdentity: // system-assigned: it goes with its resource; its roles can go now
		return "latchkey role assignment delete --assignee " + p.ID
	}
	return "latchkey sp delete --id " + p.AppID
}

// revokePrincipal is the command that takes a principal's access away:
// a new client secret for a service principal, deletion otherwise.
func revokePrincipal(p store.Principal) string {
	if p.Kind == store.ServicePrincipal {
		return "latchkey sp credential reset --id " + p.AppID
	}
	return removePrincipal(p)
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func quote(s string) string { return strconv.Quote(s) }

// daysText says a positive duration in whole days, rounded up.
func daysText(d time.Duration) string {
	return plural(int((d+24*time.Hour-1)/(24*time.Hour)), "day")
}

// durationText says a duration for people: "5 minutes", "24 hours".
func durationText(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	}
	return d.String()
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
