package sqlstore

import (
	"errors"
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	file := func(text string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(text)} }
	cases := []struct {
		name    string
		fsys    fstest.MapFS
		want    []string // names; nil when loading must fail
		wantErr bool
	}{
		{"two in order", fstest.MapFS{"0002_tags.sql": file("B"), "0001_init.sql": file("A"), "README": file("x")},
			[]string{"0001_init", "0002_tags"}, false},
		{"none", fstest.MapFS{"README": file("x")}, nil, true},
		{"gap", fstest.MapFS{"0001_init.sql": file("A"), "0003_more.sql": file("C")}, nil, true},
		{"starts at 2", fstest.MapFS{"0002_init.sql": file("A")}, nil, true},
		{"no name", fstest.MapFS{"0001.sql": file("A")}, nil, true},
		{"short number", fstest.MapFS{"1_init.sql": file("A")}, nil, true},
		{"not a number", fstest.MapFS{"init_0001.sql": file("A")}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := loadMigrations(tc.fsys)
			if (err != nil) != tc.wantErr {
				t.Fatalf("loadMigrations() = %v, want error %v", err, tc.wantErr)
			}
			if len(ms) != len(tc.want) {
				t.Fatalf("loadMigrations() = %d migrations, want %d", len(ms), len(tc.want))
			}
			for i, m := range ms {
				if m.name != tc.want[i] || m.version != i+1 {
					t.Errorf("migration %d = %d %q, want %d %q", i, m.version, m.name, i+1, tc.want[i])
				}
			}
		})
	}
}

func TestPending(t *testing.T) {
	ms := []migration{{1, "0001_init", ""}, {2, "0002_tags", ""}}
	d := New(nil, Dialect{Name: "TestDB"}, nil)
	cases := []struct {
		name     string
		done     map[int]string
		want     string // the next migration's name, "" for none
		tooNew   bool
		mismatch bool
	}{
		{"empty database", map[int]string{}, "0001_init", false, false},
		{"half way", map[int]string{1: "0001_init"}, "0002_tags", false, false},
		{"current", map[int]string{1: "0001_init", 2: "0002_tags"}, "", false, false},
		{"newer", map[int]string{1: "0001_init", 2: "0002_tags", 3: "0003_future"}, "", true, false},
		{"renamed", map[int]string{1: "0001_other"}, "", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next, err := d.pending(ms, tc.done)
			var tooNew *SchemaTooNewError
			if errors.As(err, &tooNew) != tc.tooNew || (err != nil && !tc.tooNew) != tc.mismatch {
				t.Fatalf("pending(%v) = %v, want too new %v, mismatch %v", tc.done, err, tc.tooNew, tc.mismatch)
			}
			got := ""
			if next != nil {
				got = next.name
			}
			if got != tc.want {
				t.Errorf("pending(%v) = %q, want %q", tc.done, got, tc.want)
			}
		})
	}
}
