package seal

import (
	"encoding/binary"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Binding is the additional authenticated data that ties a ciphertext to its
// record's identity (tenant, vault, name, version...). An envelope opened under
// a different Binding fails with ErrCorrupt. Its parts are identifiers, never
// secrets: they appear in error messages. Bindings are comparable with ==. The
// zero Binding binds nothing, and Seal and Open refuse it.
type Binding struct {
	// enc is the canonical encoding: kind and each part, each preceded by its
	// length as a uvarint. Length prefixes make it unambiguous, so
	// Bind("a", "bc") != Bind("ab", "c") and Bind("x", "a", "") != Bind("x", "a").
	enc string
}

// Bind returns the Binding of a record of the given kind ("secret",
// "account-key") identified by parts, most significant first (tenant, vault,
// name, version). The same kind and parts always give the same Binding.
func Bind(kind string, parts ...string) Binding {
	n := binary.MaxVarintLen64 + len(kind)
	for _, p := range parts {
		n += binary.MaxVarintLen64 + len(p)
	}
	var sb strings.Builder
	sb.Grow(n)
	writeField(&sb, kind)
	for _, p := range parts {
		writeField(&sb, p)
	}
	return Binding{enc: sb.String()}
}

func writeField(sb *strings.Builder, s string) {
	var lenBuf [binary.MaxVarintLen64]byte
	sb.Write(binary.AppendUvarint(lenBuf[:0], uint64(len(s))))
	sb.WriteString(s)
}

// String returns the Binding in a readable form for error messages, such as
// secret(t1/v1/db/abc). Parts that hold a slash, parentheses, quotes or
// non-printing characters are quoted, so a part cannot pass for two.
func (b Binding) String() string {
	fields := b.fields()
	if len(fields) == 0 {
		return "(no binding)"
	}
	var sb strings.Builder
	sb.WriteString(readable(fields[0]))
	sb.WriteByte('(')
	for i, p := range fields[1:] {
		if i > 0 {
			sb.WriteByte('/')
		}
		sb.WriteString(readable(p))
	}
	sb.WriteByte(')')
	return sb.String()
}

// IsZero reports whether b is the zero Binding, made without Bind.
func (b Binding) IsZero() bool { return b.enc == "" }

// fields decodes the canonical encoding. A Binding is only made by Bind, so the
// encoding is always well formed.
func (b Binding) fields() []string {
	var out []string
	s := b.enc
	for len(s) > 0 {
		n, w := binary.Uvarint([]byte(s[:min(len(s), binary.MaxVarintLen64)]))
		if w <= 0 || uint64(len(s)-w) < n {
			break // unreachable for a Binding made by Bind
		}
		out = append(out, s[w:w+int(n)])
		s = s[w+int(n):]
	}
	return out
}

func readable(s string) string {
	if s == "" {
		return `""`
	}
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if r == '/' || r == '(' || r == ')' || r == '"' || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
