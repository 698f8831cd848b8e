package client

import "time"

// AuditEvent is one event of the audit trail as the management API, the CLI
// (`latchkey audit list --output json`) and the audit sinks (JSON Lines files,
// stdout, webhooks) write it. It never holds a secret value.
type AuditEvent struct {
	Seq           int64     `json:"seq"`
	Time          time.Time `json:"time"`
	CorrelationID string    `json:"correlationId,omitempty"`
	PrincipalID   string    `json:"principalId,omitempty"`
	PrincipalType string    `json:"principalType,omitempty"`
	PrincipalName string    `json:"principalName,omitempty"`
	AuthMethod    string    `json:"authMethod,omitempty"`
	ClientIP      string    `json:"clientIp,omitempty"`
	Operation     string    `json:"operation"`
	Scope         string    `json:"scope"`
	Result        string    `json:"result"`
	Status        int       `json:"status"`
	Reason        string    `json:"reason,omitempty"`
}
