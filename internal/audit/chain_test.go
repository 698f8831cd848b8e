package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// canonicalExample is the worked example of docs/audit.md: the first event
// of a trail.
func canonicalExample() store.AuditEvent {
	return store.AuditEvent{
		Seq: 1, Batch: 1, Time: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC),
		CorrelationID: "r1", PrincipalID: "p1", PrincipalType: "User", PrincipalName: "Ada",
		AuthMethod: "password", ClientIP: "192.0.2.1", Operation: "op", Scope: "/",
		Result: "allowed", Status: 200, Reason: "",
	}
}

// TestCanonical pins the canonical encoding and the hash of the example in
// docs/audit.md: a change here breaks every stored chain, so it must come
// with a new chainVersion.
func TestCanonical(t *testing.T) {
	e := canonicalExample()
	const wantEncoding = "000000116c617463686b65792d61756469742d7631" + // str("latchkey-audit-v1")
		"00000000" + // bytes(prev): none before the first event
		"0000000000000001" + "0000000000000001" + // int(Seq), int(Batch)
		"000660f055503000" + // int(Time): 1795435200000000 µs
		"000000027231" + "000000027031" + "0000000455736572" + "00000003416461" + // r1, p1, User, Ada
		"0000000870617373776f7264" + "000000093139322e302e322e31" + // password, 192.0.2.1
		"000000026f70" + "000000012f" + "00000007616c6c6f776564" + // op, /, allowed
		"00000000000000c8" + "00000000" // int(Status) 200, str(Reason) ""
	got := hex.EncodeToString(canonical(nil, nil, &e))
	if got != wantEncoding {
		t.Errorf("canonical(example) =\n%s, want\n%s", got, wantEncoding)
	}
	sum := sha256.Sum256(canonical(nil, nil, &e))
	if h := hex.EncodeToString(eventHash(nil, &e)); h != hex.EncodeToString(sum[:]) || h != exampleHash {
		t.Errorf("eventHash(example) = %s, want %s", h, exampleHash)
	}
	linked := []store.AuditEvent{e}
	link(store.AuditHead{}, linked, e.Time)
	if h := hex.EncodeToString(linked[0].Hash); h != exampleHash {
		t.Errorf("link(example) gave hash %s, want %s", h, exampleHash)
	}
}

// exampleHash is SHA-256 of the example's encoding, as docs/audit.md gives it.
const exampleHash = "e881bee0e0444c9d32381513ab96526975642bff501fa7b07785409d66ab7b3b"

// TestCanonicalLengths: moving bytes between adjacent fields changes the
// encoding, since every field carries its length.
func TestCanonicalLengths(t *testing.T) {
	a, b := canonicalExample(), canonicalExample()
	a.PrincipalID, a.PrincipalType = "p1U", "ser"
	if string(canonical(nil, nil, &a)) == string(canonical(nil, nil, &b)) {
		t.Error("two events that differ only in where one field ends encode alike")
	}
	prev := []byte{1, 2, 3}
	if string(canonical(nil, prev, &a)) == string(canonical(nil, prev[:2], &a)) {
		t.Error("two heads encode alike")
	}
}

// BenchmarkLink measures linking a batch of 256 typical events: encoding
// and SHA-256 of each, the writer's CPU cost per event.
func BenchmarkLink(b *testing.B) {
	events := make([]store.AuditEvent, 256)
	for i := range events {
		e := canonicalExample()
		e.PrincipalID, e.Operation, e.Scope = "3f1c1a52-8f7e-4c55-9b11-3f8a2c1d0e01",
			"Latchkey.KeyVault/vaults/secrets/getSecret/action", "/hubs/h/vaults/v"
		events[i] = e
	}
	b.ReportAllocs()
	for b.Loop() {
		link(store.AuditHead{Batch: 7, Seq: 1000, Hash: make([]byte, 32)}, events, events[0].Time)
	}
	b.ReportMetric(float64(b.N*len(events))/b.Elapsed().Seconds(), "events/s")
}
