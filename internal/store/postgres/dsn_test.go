package postgres

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// password is planted in every DSN below; no error may show it.
const password = "Pl4nted-S3cret"

func TestInvalidDSN(t *testing.T) {
	cases := []struct {
		name string
		dsn  string
	}{
		{"bad port", "postgres://user:" + password + "@127.0.0.1:port/latchkey"},
		{"slash in password", "postgres://user:" + password + "/x@127.0.0.1:5432/latchkey"},
		{"colon in password", "postgres://user:" + password + ":x@127.0.0.1:port/latchkey"},
		{"percent-escaped password", "postgres://user:" + url.PathEscape(password+"/%") + "@127.0.0.1:99999/latchkey"},
		{"bad escape", "postgres://user:" + password + "%zz@127.0.0.1/latchkey"},
		{"bad sslmode", "postgres://user:" + password + "@127.0.0.1/latchkey?sslmode=sometimes"},
		{"bad connect_timeout", "postgres://user:" + password + "@127.0.0.1/latchkey?connect_timeout=soon"},
		{"password in query", "postgres://127.0.0.1/latchkey?password=" + password + "&port=x"},
		{"query without value", "postgres://127.0.0.1/latchkey?" + password},
		{"keyword/value bad port", "host=127.0.0.1 password=" + password + " port=abc"},
		{"keyword/value unterminated", "host=127.0.0.1 password='" + password},
		{"keyword/value stray word", "host=127.0.0.1 " + password},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Open(t.Context(), tc.dsn)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%s) succeeded, want an error", tc.name)
			}
			msg := err.Error()
			if strings.Contains(msg, password) || strings.Contains(msg, password[:8]) {
				t.Errorf("Open(%s) error shows the password: %q", tc.name, msg)
			}
			if !strings.HasPrefix(msg, "invalid PostgreSQL DSN: ") || !strings.HasSuffix(msg, ": "+dsnHint) {
				t.Errorf("Open(%s) = %q, want an invalid DSN error with the hint", tc.name, msg)
			}
			if errors.Unwrap(err) != nil {
				t.Errorf("Open(%s) error wraps %v; it must wrap nothing, pgx's error quotes the DSN", tc.name, errors.Unwrap(err))
			}
		})
	}
}

// TestUnreachable needs no server: nothing listens on port 1.
func TestUnreachable(t *testing.T) {
	cases := []struct {
		name string
		dsn  string
	}{
		{"URL", "postgres://user:" + password + "@127.0.0.1:1/latchkey?sslmode=disable"},
		{"URL with TLS fallback", "postgres://user:" + password + "@127.0.0.1:1/latchkey"},
		{"keyword/value", "host=127.0.0.1 port=1 user=user password=" + password + " dbname=latchkey"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Open(t.Context(), tc.dsn)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded, want an error")
			}
			msg := err.Error()
			if strings.Contains(msg, password) {
				t.Errorf("Open error shows the password: %q", msg)
			}
			if !strings.HasPrefix(msg, "cannot reach PostgreSQL at 127.0.0.1:1: ") ||
				!strings.HasSuffix(msg, ": check that the server is running and that --database is right") ||
				strings.Contains(msg, "\n") {
				t.Errorf("Open = %q, want one line with the address and the hint", msg)
			}
			var ce *pgconn.ConnectError
			if !errors.As(err, &ce) {
				t.Errorf("Open error does not wrap pgx's *pgconn.ConnectError: %v", err)
			}
		})
	}
}

// TestRefused connects to the test server with a password (ignored under
// trust authentication) and a database that does not exist.
func TestRefused(t *testing.T) {
	u, err := url.Parse(testDSN(t))
	if err != nil || u.Scheme == "" {
		t.Skip("LATCHKEY_TEST_POSTGRES is not a URL")
	}
	u.User = url.UserPassword(u.User.Username(), password)
	u.Path = "/latchkey_no_such_database"
	db, err := Open(t.Context(), u.String())
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded, want an error")
	}
	msg := err.Error()
	if strings.Contains(msg, password) {
		t.Errorf("Open error shows the password: %q", msg)
	}
	want := "PostgreSQL at " + u.Host + " refused the connection: "
	if !strings.HasPrefix(msg, want) || !strings.Contains(msg, "latchkey_no_such_database") {
		t.Errorf("Open = %q, want it to start %q and name the database", msg, want)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "3D000" {
		t.Errorf("Open error does not wrap the server's invalid_catalog_name error: %v", err)
	}
}
