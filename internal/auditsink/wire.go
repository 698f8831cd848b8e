package auditsink

import (
	"bytes"
	"encoding/hex"
	"encoding/json"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/audit"
)

// WireEvent returns a stored audit event as every sink writes it: the
// client.AuditEvent wire type, with the time in UTC and the client address
// as text ("" when unknown).
func WireEvent(e audit.Entry) client.AuditEvent {
	ip := ""
	if e.ClientIP.IsValid() {
		ip = e.ClientIP.String()
	}
	return client.AuditEvent{
		Seq:           e.Seq,
		Time:          e.Time.UTC(),
		CorrelationID: e.CorrelationID,
		PrincipalID:   e.PrincipalID,
		PrincipalType: e.PrincipalType,
		PrincipalName: e.PrincipalName,
		AuthMethod:    e.AuthMethod,
		ClientIP:      ip,
		Operation:     e.Operation,
		Scope:         e.Scope,
		Result:        string(e.Result),
		Status:        e.Status,
		Reason:        e.Reason,
		Hash:          hex.EncodeToString(e.Hash),
	}
}

// lines encodes events as JSON Lines: one JSON object per line, each ending
// in "\n". Its zero value is ready; it is not safe for concurrent use.
type lines struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// line returns the JSON line of e. It is valid until the next call.
func (l *lines) line(e client.AuditEvent) []byte {
	if l.enc == nil {
		l.enc = json.NewEncoder(&l.buf)
		l.enc.SetEscapeHTML(false)
	}
	l.buf.Reset()
	if err := l.enc.Encode(e); err != nil {
		// An AuditEvent holds strings, numbers and a time: it always encodes.
		panic("auditsink: encode an audit event: " + err.Error())
	}
	return l.buf.Bytes()
}
