package errs

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestKindOf(t *testing.T) {
	plain := errors.New("disk full")
	cases := []struct {
		name string
		err  error
		want Kind
	}{
		{"nil", nil, Internal},
		{"plain error", plain, Internal},
		{"*Error", E(NotFound, "vault.Get", "secret db not found", nil), NotFound},
		{"zero *Error", &Error{}, Internal},
		{"wrapped with %w", fmt.Errorf("get secret: %w", E(Forbidden, "vault.Get", "", nil)), Forbidden},
		{"wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", E(Conflict, "op", "", nil))), Conflict},
		{"outermost wins", E(Invalid, "outer", "", E(NotFound, "inner", "", nil)), Invalid},
		{"wrapped with %v loses the kind", fmt.Errorf("get secret: %v", E(Forbidden, "vault.Get", "", nil)), Internal},
		{"joined after a plain error", errors.Join(plain, E(Unavailable, "op", "", nil)), Unavailable},
		{"joined, first *Error wins", errors.Join(E(Conflict, "a", "", nil), E(NotFound, "b", "", nil)), Conflict},
		{"joined plain errors", errors.Join(plain, errors.New("other")), Internal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := KindOf(tc.err); got != tc.want {
				t.Errorf("KindOf(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestIs(t *testing.T) {
	notFound := E(NotFound, "vault.Get", "", nil)
	cases := []struct {
		name string
		err  error
		kind Kind
		want bool
	}{
		{"nil is not Internal", nil, Internal, false},
		{"nil is not NotFound", nil, NotFound, false},
		{"same kind", notFound, NotFound, true},
		{"other kind", notFound, Conflict, false},
		{"wrapped", fmt.Errorf("read: %w", notFound), NotFound, true},
		{"joined", errors.Join(errors.New("x"), notFound), NotFound, true},
		// KindOf calls an unclassified error Internal, and Is agrees with it.
		{"plain error is Internal", errors.New("x"), Internal, true},
		{"plain error is not NotFound", errors.New("x"), NotFound, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Is(tc.err, tc.kind); got != tc.want {
				t.Errorf("Is(%v, %v) = %v, want %v", tc.err, tc.kind, got, tc.want)
			}
		})
	}
}

func TestMessage(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"plain error", errors.New("pq: password authentication failed"), ""},
		{"*Error", E(Invalid, "op", "name must not be empty", nil), "name must not be empty"},
		{"*Error without a message", E(Internal, "op", "", errors.New("cause")), ""},
		{"wrapped", fmt.Errorf("ctx: %w", E(NotFound, "op", "secret db not found", nil)), "secret db not found"},
		{"outermost wins", E(Forbidden, "outer", "not allowed", E(NotFound, "inner", "missing", nil)), "not allowed"},
		{"joined", errors.Join(errors.New("x"), E(Conflict, "op", "already exists", nil)), "already exists"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Message(tc.err); got != tc.want {
				t.Errorf("Message(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	cause := errors.New("connection refused")
	cases := []struct {
		name string
		err  *Error
		want string
	}{
		{"op, message and cause", E(Unavailable, "vault.Get", "the database is down", cause), "vault.Get: the database is down: connection refused"},
		{"op and message", E(Invalid, "vault.Set", "value is empty", nil), "vault.Set: value is empty"},
		{"op and cause", E(Internal, "vault.Get", "", cause), "vault.Get: connection refused"},
		{"message and cause", E(Internal, "", "failed", cause), "failed: connection refused"},
		{"op only", E(NotFound, "vault.Get", "", nil), "vault.Get"},
		{"message only", E(Conflict, "", "already exists", nil), "already exists"},
		{"cause only", E(Internal, "", "", cause), "connection refused"},
		{"nothing: the kind", E(Forbidden, "", "", nil), "forbidden"},
		{"zero Error", &Error{}, "internal"},
		{"field is not printed", Invalidf("vault.Set", "value", "value is empty"), "vault.Set: value is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestErrorUnwrap(t *testing.T) {
	cause := errors.New("connection refused")
	err := fmt.Errorf("start: %w", E(Unavailable, "store.Open", "", cause))
	if !errors.Is(err, cause) {
		t.Errorf("errors.Is(%v, cause) = false, want true", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Op != "store.Open" {
		t.Errorf("errors.As(%v, *Error) = %v, want the store.Open error", err, e)
	}
	if got := E(NotFound, "op", "", nil).Unwrap(); got != nil {
		t.Errorf("Unwrap() without a cause = %v, want nil", got)
	}
}

func TestKindString(t *testing.T) {
	cases := []struct {
		kind Kind
		want string
	}{
		{Internal, "internal"},
		{Invalid, "invalid"},
		{Unauthenticated, "unauthenticated"},
		{Forbidden, "forbidden"},
		{NotFound, "not found"},
		{Conflict, "conflict"},
		{Throttled, "throttled"},
		{Unavailable, "unavailable"},
		{Unavailable + 1, fmt.Sprintf("kind(%d)", Unavailable+1)},
		{Kind(255), "kind(255)"},
	}
	for _, tc := range cases {
		if got := tc.kind.String(); got != tc.want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(tc.kind), got, tc.want)
		}
	}
	// Every named kind has a name: a kind added without one prints as kind(N).
	for k := Internal; k <= Unavailable; k++ {
		if got := k.String(); got == fmt.Sprintf("kind(%d)", uint8(k)) {
			t.Errorf("Kind(%d) has no name", uint8(k))
		}
	}
}

func TestE(t *testing.T) {
	cause := errors.New("cause")
	got := E(Conflict, "vault.Create", "secret db already exists", cause)
	want := Error{Kind: Conflict, Op: "vault.Create", Msg: "secret db already exists", Err: cause}
	// Compare values: *Error is itself an error, and the comparer must see only Err.
	if diff := cmp.Diff(want, *got, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
		t.Errorf("E() mismatch (-want +got):\n%s", diff)
	}
}

func TestInvalidf(t *testing.T) {
	cases := []struct {
		name   string
		op     string
		field  string
		format string
		args   []any
		want   *Error
	}{
		{"with args", "vault.Set", "attributes.exp", "exp %d is before nbf %d: swap them", []any{10, 20},
			&Error{Kind: Invalid, Op: "vault.Set", Field: "attributes.exp", Msg: "exp 10 is before nbf 20: swap them"}},
		{"without args", "vault.Set", "value", "value is empty", nil,
			&Error{Kind: Invalid, Op: "vault.Set", Field: "value", Msg: "value is empty"}},
		{"no field", "config.Validate", "", "bad %s", []any{"input"},
			&Error{Kind: Invalid, Op: "config.Validate", Msg: "bad input"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Invalidf(tc.op, tc.field, tc.format, tc.args...)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Invalidf(%q, %q, %q) mismatch (-want +got):\n%s", tc.op, tc.field, tc.format, diff)
			}
			if KindOf(got) != Invalid || Message(got) != tc.want.Msg {
				t.Errorf("Invalidf: KindOf = %v, Message = %q, want invalid, %q", KindOf(got), Message(got), tc.want.Msg)
			}
		})
	}
}
