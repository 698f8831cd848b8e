package postgres

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// dsnHint shows the DSN shape in every parse error.
const dsnHint = "use postgres://user:password@host:5432/dbname?sslmode=disable"

// redacted replaces a password in error text.
const redacted = "xxxxx"

// redactedError is an error whose text has had passwords removed. It unwraps
// to its cause (nil when the cause itself may quote the DSN), so callers can
// still test it with errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// dsnError explains a DSN that pgx cannot parse. It keeps pgx's reason but not
// pgx's error: that quotes the DSN, redacted only on a best-effort basis, and
// its causes may quote parts of it. So the result wraps nothing.
func dsnError(dsn string, err error) error {
	reason := scrub(redactQuoted(parseReason(err), dsn), passwordsIn(dsn))
	return &redactedError{msg: fmt.Sprintf("invalid PostgreSQL DSN: %s: %s", reason, dsnHint)}
}

// parseReason extracts from a pgx parse error its message and cause, without
// the "cannot parse `<dsn>`" part.
func parseReason(err error) string {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return "it does not parse"
	}
	text := pe.Error() // "cannot parse `<dsn>`: <msg>" + " (<cause>)"
	cause := pe.Unwrap()
	if cause != nil {
		text = strings.TrimSuffix(text, " ("+cause.Error()+")")
	}
	if i := strings.LastIndex(text, "`: "); i >= 0 {
		text = text[i+len("`: "):]
	} else {
		text = "it does not parse"
	}
	if cause != nil {
		var ue *url.Error
		if errors.As(cause, &ue) { // its text quotes the whole URL
			cause = ue.Err
		}
		text += ": " + cause.Error()
	}
	return text
}

// reachError explains a failed first connection: the server is down or
// unreachable, or it answered and refused (unknown user or database, wrong
// password). The address is shown; the password never is.
func reachError(cfg *pgx.ConnConfig, err error) error {
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	var msg string
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		msg = fmt.Sprintf("PostgreSQL at %s refused the connection: %s: check the user, password and database name in --database",
			addr, connectCause(err))
	} else {
		msg = fmt.Sprintf("cannot reach PostgreSQL at %s: %s: check that the server is running and that --database is right",
			addr, connectCause(err))
	}
	return &redactedError{msg: scrub(msg, []string{cfg.Password}), err: err}
}

// connectCause describes why pgx could not connect, on one line: pgx tries
// each address (and with and without TLS) and joins the errors of every
// attempt, each prefixed with its address, which the caller already shows.
func connectCause(err error) string {
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) || ce.Unwrap() == nil {
		return err.Error()
	}
	joined, ok := ce.Unwrap().(interface{ Unwrap() []error })
	if !ok {
		return strings.ReplaceAll(ce.Unwrap().Error(), "\n", "; ")
	}
	var texts []string
	for _, attempt := range joined.Unwrap() {
		if inner := errors.Unwrap(attempt); inner != nil { // drop "address (host): "
			attempt = inner
		}
		if text := strings.ReplaceAll(attempt.Error(), "\n", "; "); !slices.Contains(texts, text) {
			texts = append(texts, text)
		}
	}
	return strings.Join(texts, "; ")
}

// passwordsIn finds, on a best-effort basis, the passwords a DSN may hold,
// also when it is malformed: the URL userinfo password (up to the last '@',
// also percent-decoded) and password= or sslpassword= values.
func passwordsIn(dsn string) []string {
	var pws []string
	for _, scheme := range []string{"postgres://", "postgresql://"} {
		rest, ok := strings.CutPrefix(dsn, scheme)
		if !ok {
			continue
		}
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				pws = append(pws, pw)
			}
		}
	}
	fields := strings.FieldsFunc(dsn, func(r rune) bool { return r == ' ' || r == '&' || r == '?' })
	for _, f := range fields {
		for _, key := range []string{"password=", "sslpassword="} {
			if v, ok := strings.CutPrefix(f, key); ok {
				pws = append(pws, strings.Trim(v, "'"))
			}
		}
	}
	for _, pw := range pws {
		if dec, err := url.PathUnescape(pw); err == nil && dec != pw {
			pws = append(pws, dec)
		}
	}
	return pws
}

// redactQuoted replaces each double-quoted part of text that is a piece of the
// DSN, such as a query parameter pgx quotes back, because a piece of a
// malformed DSN may be a misplaced password. Single characters stay.
func redactQuoted(text, dsn string) string {
	var b strings.Builder
	for {
		start := strings.IndexByte(text, '"')
		if start < 0 {
			break
		}
		end := strings.IndexByte(text[start+1:], '"')
		if end < 0 {
			break
		}
		end += start + 1
		quoted := text[start+1 : end]
		b.WriteString(text[:start+1])
		if len(quoted) > 1 && strings.Contains(dsn, quoted) {
			quoted = redacted
		}
		b.WriteString(quoted + `"`)
		text = text[end+1:]
	}
	b.WriteString(text)
	return b.String()
}

// scrub replaces every occurrence of each password in text, longest first.
func scrub(text string, passwords []string) string {
	passwords = slices.Clone(passwords)
	slices.SortFunc(passwords, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	for _, pw := range passwords {
		if pw != "" {
			text = strings.ReplaceAll(text, pw, redacted)
		}
	}
	return text
}
