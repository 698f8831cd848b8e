package access

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	"github.com/latchkey/latchkey/internal/store"
)

// grant is one role assignment as the decision index holds it, in 48 bytes:
// a decision scans a principal's grants, and reads less memory the smaller
// they are. Scopes and role ids are interned: a million grants share a few
// thousand of each.
type grant struct {
	scopeHash    uint64 // scopeHashOf(scope): most grants are ruled out on it alone
	scope        unique.Handle[string]
	roleID       unique.Handle[string]
	expires      int64 // unix nanoseconds; 0: never
	assignmentID string
}

// principalGrants are one principal's grants and the ticket of their read.
type principalGrants struct {
	ticket int64
	grants []grant // never modified in place
}

// add appends the grant of stored assignment a.
func (pg *principalGrants) add(a store.RoleAssignment) {
	var expires int64
	if !a.Expires.IsZero() {
		expires = a.Expires.UnixNano()
	}
	pg.grants = append(pg.grants, grant{scopeHash: scopeHashOf(a.Scope), scope: unique.Make(a.Scope),
		roleID: unique.Make(a.RoleID), expires: expires, assignmentID: a.ID})
}

// grantsOf returns the grants of stored assignments.
func grantsOf(as ...store.RoleAssignment) principalGrants {
	pg := principalGrants{grants: make([]grant, 0, len(as))}
	for _, a := range as {
		pg.add(a)
	}
	return pg
}

// builtinByHandle finds a built-in role from a grant's interned role id.
var builtinByHandle = func() map[unique.Handle[string]]*compiledRole {
	m := make(map[unique.Handle[string]]*compiledRole, len(builtinByID))
	for id, r := range builtinByID {
		m[unique.Make(id)] = r
	}
	return m
}()

// FNV-1a, 64 bits: a scope's hash is computed a byte at a time, so the hashes
// of all its ancestors come out of one pass over it (see ancestorHashes).
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func scopeHashOf(scope string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(scope); i++ {
		h = (h ^ uint64(scope[i])) * fnvPrime
	}
	return h
}

// rootHash is the hash of "/", an ancestor of every scope.
var rootHash = scopeHashOf("/")

// maxAncestors bounds the ancestors ancestorHashes returns: "/" and up to
// three collection/name pairs give at most 7.
const maxAncestors = 8

// ancestorHashes returns the hashes of every scope Within(scope, ·) accepts:
// "/", every prefix that ends before a '/', and scope itself. ok is false
// when scope is deeper than maxAncestors allows.
func ancestorHashes(scope string) (hs [maxAncestors]uint64, n int, ok bool) {
	hs[0], n = rootHash, 1
	h := uint64(fnvOffset)
	for i := 0; i < len(scope); i++ {
		if scope[i] == '/' && i > 0 {
			if n == maxAncestors {
				return hs, n, false
			}
			hs[n], n = h, n+1
		}
		h = (h ^ uint64(scope[i])) * fnvPrime
	}
	if n == maxAncestors {
		return hs, n, false
	}
	hs[n], n = h, n+1
	return hs, n, true
}

// index is the in-memory decision index: each principal's grants, and the
// roles they name. Reads take no lock. Principals are spread over shards, each
// an immutable map behind an atomic pointer: a change to one principal copies
// its shard's map (a few hundred entries) and swaps it in, and a change to
// custom roles swaps the role table. A plain map of grants held inline keeps a
// decision to a few cache misses, which a sync.Map's trie does not.
//
// Two reloads of the same data may race: a writer's, right after its write,
// and the Run loop's, after a change in the feed. Each takes a ticket before it
// reads the store, and an entry read under an older ticket never replaces one
// read under a newer ticket, so that a read made before a write cannot undo
// it once the writer has applied it.
type index struct {
	shards  [indexShards]shard
	roles   atomic.Pointer[roleTable] // custom roles
	tickets atomic.Int64              // the last ticket handed out
}

// indexShards is how many shards the principals are spread over.
const indexShards = 256

// shard holds the grants of the principals whose id hashes to it.
type shard struct {
	mu sync.Mutex // serialises writers, which copy m; readers never take it
	m  atomic.Pointer[map[principalKey]principalGrants]
}

// principalKey is a principal id as a map key: the 16 bytes of its GUID,
// held inside the map's slot, so that a lookup does not chase the id's text
// through memory (that miss was most of a decision's cost). An id that is not
// a GUID in canonical lower-case text falls back to its text, so two distinct
// ids never share a key.
type principalKey struct {
	guid   [16]byte
	text   string
	isText bool
}

// keyOf returns principalID's key. It does not allocate.
func keyOf(principalID string) principalKey {
	var k principalKey
	if len(principalID) != 36 {
		return principalKey{text: principalID, isText: true}
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if principalID[i] != '-' {
				return principalKey{text: principalID, isText: true}
			}
			i++
			continue
		}
		hi, ok1 := hexDigit(principalID[i])
		lo, ok2 := hexDigit(principalID[i+1])
		if !ok1 || !ok2 {
			return principalKey{text: principalID, isText: true}
		}
		k.guid[j] = hi<<4 | lo
		i, j = i+2, j+1
	}
	return k
}

// hexDigit decodes a lower-case hexadecimal digit.
func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// roleTable is the custom roles by id and the ticket of their read.
type roleTable struct {
	ticket int64
	roles  map[string]*compiledRole
}

// shardOf returns the shard of principalID.
func (x *index) shardOf(principalID string) *shard {
	return &x.shards[shardIndex(principalID)]
}

// shardIndex hashes a principal id to a shard (FNV-1a: ids are ours, not an
// attacker's choice, and need no seed).
func shardIndex(principalID string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(principalID); i++ {
		h = (h ^ uint32(principalID[i])) * 16777619
	}
	return h % indexShards
}

// ticket numbers a read of the store that is about to start.
func (x *index) ticket() int64 { return x.tickets.Add(1) }

// entry returns principalID's grants.
func (x *index) entry(principalID string) principalGrants {
	if m := x.shardOf(principalID).m.Load(); m != nil {
		return (*m)[keyOf(principalID)]
	}
	return principalGrants{}
}

// setGrants records principalID's grants pg, read under ticket t, unless
// grants read under a later ticket are already there. A principal without
// grants keeps an empty entry, which holds the ticket.
func (x *index) setGrants(principalID string, pg principalGrants, t int64) {
	sh := x.shardOf(principalID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	k := keyOf(principalID)
	var m map[principalKey]principalGrants
	if old := sh.m.Load(); old != nil {
		if cur, ok := (*old)[k]; ok && cur.ticket >= t {
			return
		}
		m = maps.Clone(*old)
	} else {
		m = map[principalKey]principalGrants{}
	}
	pg.ticket = t
	m[k] = pg
	sh.m.Store(&m)
}

// load fills an index nobody reads yet with every principal's grants, read
// under ticket t, building each shard once.
func (x *index) load(byPrincipal map[string]*principalGrants, t int64) {
	var ms [indexShards]map[principalKey]principalGrants
	for id, pg := range byPrincipal {
		j := shardIndex(id)
		if ms[j] == nil {
			ms[j] = make(map[principalKey]principalGrants, 2*len(byPrincipal)/indexShards)
		}
		// A copy of exactly the right size: the appends that gathered the
		// grants left up to half of its capacity unused.
		ms[j][keyOf(id)] = principalGrants{ticket: t, grants: slices.Clone(pg.grants)}
	}
	for j := range ms {
		if ms[j] != nil {
			x.shards[j].m.Store(&ms[j])
		}
	}
}

// setRoles records the custom roles, read under ticket t, unless a table read
// under a later ticket is already there.
func (x *index) setRoles(m map[string]*compiledRole, t int64) {
	next := &roleTable{ticket: t, roles: m}
	for {
		cur := x.roles.Load()
		if cur != nil && cur.ticket >= t {
			return
		}
		if x.roles.CompareAndSwap(cur, next) {
			return
		}
	}
}

// role returns the built-in or custom role with id, or nil.
func (x *index) role(id string) *compiledRole {
	if r, ok := builtinByID[id]; ok {
		return r
	}
	return x.customRole(id)
}

// customRole returns the custom role with id, or nil.
func (x *index) customRole(id string) *compiledRole {
	if rt := x.roles.Load(); rt != nil {
		return rt.roles[id]
	}
	return nil
}

// Decision is the answer to "may this principal do this action here", with
// the reason: which assignment allowed it, or that none did.
type Decision struct {
	Allowed      bool
	AssignmentID string // the assignment that allowed it
	RoleName     string
	GrantScope   string // the scope of that assignment
	Reason       string
}

// verdict is a decision before its reason is written: the hot path of
// Authorize, which needs no reason when it allows, does not allocate.
type verdict struct {
	action  Action        // the known action asked; zero when unknown
	known   bool          // whether the action is in the catalog
	allowed bool          // whether an assignment grants it
	role    *compiledRole // the role that allowed it
	grant   *grant        // the grant that allowed it
	expired bool          // an expired activation would have applied
}

// evaluate evaluates action on scope for principalID at now. It does no I/O
// and, for an action spelled as in the catalog, no allocation.
func (x *index) evaluate(principalID, action, scope string, now time.Time) verdict {
	a, la, ok := lookupAction(action)
	if !ok {
		return verdict{}
	}
	v := verdict{action: a, known: true}
	pg := x.entry(principalID)
	anc, n, hashed := ancestorHashes(scope)
	nowNano := now.UnixNano()
	for i := range pg.grants {
		g := &pg.grants[i]
		// Rule most grants out on their scope's hash, held in the grant, and
		// confirm a candidate on the text, which lives elsewhere in memory.
		if hashed && !slices.Contains(anc[:n], g.scopeHash) {
			continue
		}
		if !Within(scope, g.scope.Value()) {
			continue
		}
		if g.expires != 0 && nowNano >= g.expires {
			v.expired = true
			continue
		}
		r := builtinByHandle[g.roleID]
		if r == nil {
			r = x.customRole(g.roleID.Value())
		}
		if r == nil || !r.grants(la, a.Plane) {
			continue
		}
		v.allowed, v.role, v.grant = true, r, g
		return v
	}
	return v
}

// decision writes the verdict's reason.
func (v verdict) decision(principalID, action, scope string) Decision {
	switch {
	case !v.known:
		return Decision{Reason: action + " is not a known action"}
	case v.allowed:
		id, scope := v.grant.assignmentID, v.grant.scope.Value()
		return Decision{
			Allowed: true, AssignmentID: id, RoleName: v.role.role.Name, GrantScope: scope,
			Reason: "role " + strconv.Quote(v.role.role.Name) + " assigned at " + scope + " (assignment " + id + ") grants " + v.action.Name,
		}
	}
	reason := "no role assignment of " + principalID + " at " + scope + " or above grants " + v.action.Name
	if v.action.Plane == Data {
		reason += " (a data action: control-plane roles such as Owner or Contributor never grant it)"
	}
	if v.expired {
		reason += "; an activated eligible assignment here has expired"
	}
	return Decision{Reason: reason}
}

// decide evaluates action on scope for principalID at now, with the reason.
func (x *index) decide(principalID, action, scope string, now time.Time) Decision {
	return x.evaluate(principalID, action, scope, now).decision(principalID, action, scope)
}

// knownActions returns, for the escalation guard, the known actions that role
// c grants; a caller may assign it only if it holds all of them at the scope.
func (c *compiledRole) knownActions() []Action {
	var out []Action
	for _, a := range catalog {
		if c.grants(strings.ToLower(a.Name), a.Plane) {
			out = append(out, a)
		}
	}
	return out
}
