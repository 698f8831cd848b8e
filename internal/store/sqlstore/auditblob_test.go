package sqlstore

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/store"
)

// blobBatch is a batch of four events that share some texts and not
// others, with an empty text, a time that goes back, and extreme numbers.
func blobBatch() (store.AuditBatch, []store.AuditEvent) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 123456000, time.UTC)
	base := store.AuditEvent{
		Batch: 7, PrincipalID: "3f1c1a52-8f7e-4c55-9b11-3f8a2c1d0e01", PrincipalType: "ServicePrincipal",
		PrincipalName: "build-agent", AuthMethod: "bearer", ClientIP: "192.0.2.44",
		Operation: "Latchkey.KeyVault/vaults/secrets/getSecret/action", Scope: "/hubs/h/vaults/v",
		Result: "allowed", Status: 200,
	}
	events := make([]store.AuditEvent, 4)
	for i := range events {
		e := base
		e.Seq, e.Time = 40+int64(i), t0.Add(time.Duration(i)*time.Millisecond)
		e.CorrelationID = fmt.Sprintf("req-%d", i)
		e.Hash = bytes.Repeat([]byte{byte(i + 1)}, 32)
		events[i] = e
	}
	events[1].Result, events[1].Status, events[1].Reason = "denied", 403, "no role grants it: ask for Key Vault Secrets User"
	events[2].Time = t0.Add(-time.Hour) // a clock behind the others
	events[2].PrincipalName, events[2].Status = "", math.MaxInt32
	events[3].Status = -1
	b := store.AuditBatch{Batch: 7, FirstSeq: 40, LastSeq: 43, Committed: t0.Add(time.Second)}
	return b, events
}

func TestAuditBlobRoundTrip(t *testing.T) {
	b, events := blobBatch()
	blob := appendAuditBlob(nil, events)
	got, err := parseAuditBlob(b, blob)
	if err != nil {
		t.Fatalf("parseAuditBlob: %v", err)
	}
	if diff := cmp.Diff(events, got); diff != "" {
		t.Errorf("events read back mismatch (-want +got):\n%s", diff)
	}
	// Repeated texts cost a byte: the three events after the first are
	// far smaller than it.
	first := len(appendAuditBlob(nil, events[:1]))
	if rest := len(blob) - first; rest > 2*first {
		t.Errorf("a blob of 4 events takes %d bytes, the first alone %d: texts are not shared", len(blob), first)
	}
}

// TestAuditBlobChangedByte changes each byte of a blob in turn, to every
// other value in a few ways: the blob must read back either with the event
// the byte is in changed, or unreadable at that event, and the events
// before it unchanged. That is what lets the hash chain name the event.
func TestAuditBlobChangedByte(t *testing.T) {
	b, events := blobBatch()
	blob := appendAuditBlob(nil, events)
	// ends[i] is where event i's bytes end: the encoding of the first i+1
	// events is a prefix of the whole.
	ends := make([]int, len(events))
	for i := range events {
		ends[i] = len(appendAuditBlob(nil, events[:i+1]))
	}
	for off := range blob {
		owner := 0 // the version byte counts as the first event's
		for ends[owner] <= off {
			owner++
		}
		for _, flip := range []byte{0x01, 0x80, 0xff, 0x7f} {
			changed := bytes.Clone(blob)
			changed[off] ^= flip
			got, err := parseAuditBlob(b, changed)
			if k := min(owner, len(got)); k > 0 && !cmp.Equal(events[:k], got[:k]) {
				diff := cmp.Diff(events[:k], got[:k])
				t.Fatalf("byte %d ^ %#x: events before event %d changed:\n%s", off, flip, events[owner].Seq, diff)
			}
			// Either the event the byte is in reads back changed (what
			// follows may then be unreadable: the hash chain stops at the
			// changed event first), or it is the one found unreadable.
			var dmg *store.AuditDamage
			ownerChanged := len(got) > owner && !cmp.Equal(got[owner], events[owner])
			switch {
			case errors.As(err, &dmg):
				if !ownerChanged && dmg.Seq != events[owner].Seq {
					t.Errorf("byte %d ^ %#x: event %d reads back unchanged, and the damage is found at event %d (%s)",
						off, flip, events[owner].Seq, dmg.Seq, dmg.Detail)
				}
			case err != nil:
				t.Fatalf("byte %d ^ %#x: %v, want an *AuditDamage", off, flip, err)
			case !ownerChanged:
				t.Errorf("byte %d ^ %#x: read back without error and event %d unchanged", off, flip, events[owner].Seq)
			}
		}
	}
}

func TestAuditBlobDamage(t *testing.T) {
	b, events := blobBatch()
	blob := appendAuditBlob(nil, events)
	cases := []struct {
		name    string
		batch   store.AuditBatch
		blob    []byte
		seq     int64
		partial int
	}{
		{"empty", b, nil, 40, 0},
		{"unknown version", b, append([]byte{2}, blob[1:]...), 40, 0},
		{"cut short", b, blob[:len(blob)-5], 43, 3},
		{"bytes after the last event", b, append(bytes.Clone(blob), 0), 43, 4},
		{"the batch claims more events", store.AuditBatch{Batch: 7, FirstSeq: 40, LastSeq: 44}, blob, 44, 4},
		{"the batch claims no events", store.AuditBatch{Batch: 7, FirstSeq: 40, LastSeq: 39}, blob, 40, 0},
	}
	for _, tc := range cases {
		got, err := parseAuditBlob(tc.batch, tc.blob)
		var dmg *store.AuditDamage
		if !errors.As(err, &dmg) || !errors.Is(err, store.ErrDamaged) || dmg.Seq != tc.seq || dmg.Batch != 7 || len(got) != tc.partial {
			t.Errorf("%s: %d events, %v; want %d events and damage at event %d of batch 7", tc.name, len(got), err, tc.partial, tc.seq)
		}
	}
}

// FuzzParseAuditBlob: any bytes either fail to read with an *AuditDamage,
// or read back as events whose encoding is those very bytes (a blob has
// one encoding).
func FuzzParseAuditBlob(f *testing.F) {
	_, events := blobBatch()
	for i := range events {
		f.Add(appendAuditBlob(nil, events[:i+1]), int64(i+1))
	}
	f.Add([]byte{1, 0, 0}, int64(1))
	f.Fuzz(func(t *testing.T, blob []byte, n int64) {
		b := store.AuditBatch{Batch: 1, FirstSeq: 1, LastSeq: n}
		got, err := parseAuditBlob(b, blob)
		if err != nil {
			var dmg *store.AuditDamage
			if !errors.As(err, &dmg) {
				t.Fatalf("error %v is not an *AuditDamage", err)
			}
			return
		}
		if again := appendAuditBlob(nil, got); !bytes.Equal(again, blob) {
			t.Fatalf("%x read back as %d events, which encode as %x", blob, len(got), again)
		}
	})
}
