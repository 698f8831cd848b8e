package seal_test

import (
	"errors"
	"testing"

	"github.com/latchkey/latchkey/internal/seal"
)

func TestBindIsUnambiguous(t *testing.T) {
	r := mustKeyring(t, mustKey(t, hexA))
	tests := []struct {
		name string
		a, b seal.Binding
	}{
		{"kind and part boundary", seal.Bind("a", "bc"), seal.Bind("ab", "c")},
		{"part boundary", seal.Bind("x", "ab", "c"), seal.Bind("x", "a", "bc")},
		{"trailing empty part", seal.Bind("x", "a", ""), seal.Bind("x", "a")},
		{"empty kind", seal.Bind("", "x"), seal.Bind("x")},
		{"slash inside a part", seal.Bind("x", "a/b"), seal.Bind("x", "a", "b")},
		{"length byte lookalike", seal.Bind("x", "\x01a"), seal.Bind("x", "", "a")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.a == tc.b {
				t.Fatalf("%v == %v, want different Bindings", tc.a, tc.b)
			}
			if tc.a.String() == tc.b.String() {
				t.Errorf("both Bindings print as %s", tc.a)
			}
			env := mustSeal(t, r, []byte("v"), tc.a)
			if _, err := r.Open(env, tc.b); !errors.Is(err, seal.ErrCorrupt) {
				t.Errorf("Open under %v of an envelope bound to %v: error = %v, want ErrCorrupt", tc.b, tc.a, err)
			}
		})
	}
	if seal.Bind("x", "a") != seal.Bind("x", "a") {
		t.Error("Bind is not deterministic")
	}
}

func TestBindingString(t *testing.T) {
	tests := []struct {
		b    seal.Binding
		want string
	}{
		{seal.Bind("secret", "t1", "v1", "db", "abc"), "secret(t1/v1/db/abc)"},
		{seal.Bind("signing-key"), "signing-key()"},
		{seal.Bind("x", "a", ""), `x(a/"")`},
		{seal.Bind("x", "a/b", "c(d)"), `x("a/b"/"c(d)")`},
		{seal.Bind("x", "line\nbreak", "\xff"), `x("line\nbreak"/"\xff")`},
		{seal.Binding{}, "(no binding)"},
	}
	for _, tc := range tests {
		if got := tc.b.String(); got != tc.want {
			t.Errorf("String() = %s, want %s", got, tc.want)
		}
	}
}
