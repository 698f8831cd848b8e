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
	// Hash is the audit trail's chain head after this event, in hex: a
	// copy that keeps it shows whether the trail was rewritten since
	// (latchkey audit verify --copy).
	Hash string `json:"hash,omitempty"`
}

// AuditFilter selects audit events for AuditEvents; fields left zero match
// every event.
type AuditFilter struct {
	Principal string    // a principal's object id (a deleted one's too), appId, user name or managed identity name
	Operation string    // operations that begin with this text: "Latchkey.KeyVault/" for every Key Vault operation
	Scope     string    // events at this scope path or below it; "" or "/" for all, and only "/" shows tenant-only events such as token requests
	Result    string    // allowed, denied or failed
	Since     time.Time // events at or after this time
	Until     time.Time // events before this time
	Newest    bool      // newest first instead of oldest first
}

// AuditPage asks for one page of audit events: at most Top (1 to 1000; 0:
// 100) after the cursor SkipToken ("" for the first page).
type AuditPage struct {
	Top       int
	SkipToken string
}

// AuditVerification is what verifying the audit trail's hash chain found.
type AuditVerification struct {
	Intact   bool        `json:"intact"`
	Batches  int64       `json:"batches"`            // batches checked
	Events   int64       `json:"events"`             // events checked
	Head     string      `json:"head"`               // the chain head walked to, in hex; "" for an empty trail
	FirstSeq int64       `json:"firstSeq,omitempty"` // the oldest event kept
	Broken   *AuditBreak `json:"broken,omitempty"`   // the first event at which the chain does not hold
}

// AuditBreak names the first event at which the audit chain does not hold.
type AuditBreak struct {
	Seq    int64  `json:"seq"`
	Batch  int64  `json:"batch"`
	Reason string `json:"reason"`
}

// AccessFinding is one finding of an access review.
type AccessFinding struct {
	Kind       string `json:"kind"`       // unusedIdentity, unusedAssignment, unreadSecret, expiringSecret, expiredSecret, staleKey, denialBurst, newClientAddress, incompleteReview
	Severity   string `json:"severity"`   // high, medium or low
	Subject    string `json:"subject"`    // a principal's object id, an assignment id, a secret's scope, a key's id, a client address
	Scope      string `json:"scope"`      // where it lies; "/" for the tenant
	Detail     string `json:"detail"`     // what was found
	Suggestion string `json:"suggestion"` // a concrete fix, usually a latchkey command
}
