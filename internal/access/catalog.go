package access

// The actions Latchkey knows. Every route declares one of these; a test checks
// that. A role definition may name any pattern, but only these are ever asked.
const (
	// Authorization.
	RoleAssignmentsRead    = "Latchkey.Authorization/roleAssignments/read"
	RoleAssignmentsWrite   = "Latchkey.Authorization/roleAssignments/write"
	RoleAssignmentsDelete  = "Latchkey.Authorization/roleAssignments/delete"
	RoleDefinitionsRead    = "Latchkey.Authorization/roleDefinitions/read"
	RoleDefinitionsWrite   = "Latchkey.Authorization/roleDefinitions/write"
	RoleDefinitionsDelete  = "Latchkey.Authorization/roleDefinitions/delete"
	RoleEligibilityRead    = "Latchkey.Authorization/roleEligibilitySchedules/read"
	RoleEligibilityWrite   = "Latchkey.Authorization/roleEligibilitySchedules/write"
	RoleEligibilityDelete  = "Latchkey.Authorization/roleEligibilitySchedules/delete"
	RoleAssignmentSchedule = "Latchkey.Authorization/roleAssignmentScheduleRequests/write"

	// Hubs and projects (Azure: Machine Learning workspaces).
	WorkspacesRead   = "Latchkey.MachineLearningServices/workspaces/read"
	WorkspacesWrite  = "Latchkey.MachineLearningServices/workspaces/write"
	WorkspacesDelete = "Latchkey.MachineLearningServices/workspaces/delete"

	// Vaults (control plane).
	VaultsRead   = "Latchkey.KeyVault/vaults/read"
	VaultsWrite  = "Latchkey.KeyVault/vaults/write"
	VaultsDelete = "Latchkey.KeyVault/vaults/delete"

	// Secrets (data plane).
	SecretsGet          = "Latchkey.KeyVault/vaults/secrets/getSecret/action"
	SecretsSet          = "Latchkey.KeyVault/vaults/secrets/setSecret/action"
	SecretsReadMetadata = "Latchkey.KeyVault/vaults/secrets/readMetadata/action"
	SecretsUpdate       = "Latchkey.KeyVault/vaults/secrets/update/action"
	SecretsDelete       = "Latchkey.KeyVault/vaults/secrets/delete"
	SecretsBackup       = "Latchkey.KeyVault/vaults/secrets/backup/action"
	SecretsRestore      = "Latchkey.KeyVault/vaults/secrets/restore/action"
	SecretsRecover      = "Latchkey.KeyVault/vaults/secrets/recover/action"
	SecretsPurge        = "Latchkey.KeyVault/vaults/secrets/purge/action"

	// AI services accounts.
	AccountsRead          = "Latchkey.CognitiveServices/accounts/read"
	AccountsWrite         = "Latchkey.CognitiveServices/accounts/write"
	AccountsDelete        = "Latchkey.CognitiveServices/accounts/delete"
	AccountsListKeys      = "Latchkey.CognitiveServices/accounts/listKeys/action"
	AccountsRegenerateKey = "Latchkey.CognitiveServices/accounts/regenerateKey/action"
	// AccountsInference (data plane) calls an account's models through the
	// gateway with an Entra token; a subscription key or STS token proves the
	// same right by possession.
	AccountsInference = "Latchkey.CognitiveServices/accounts/OpenAI/inference/action"

	// Connections of hubs and projects. Listing and reading never return
	// credentials; listing them is a data action of its own, and so is calling
	// a connection's target through the connection proxy.
	ConnectionsRead        = "Latchkey.MachineLearningServices/workspaces/connections/read"
	ConnectionsWrite       = "Latchkey.MachineLearningServices/workspaces/connections/write"
	ConnectionsDelete      = "Latchkey.MachineLearningServices/workspaces/connections/delete"
	ConnectionsListSecrets = "Latchkey.MachineLearningServices/workspaces/connections/listsecrets/action"
	ConnectionsProxy       = "Latchkey.MachineLearningServices/workspaces/connections/proxy/action"

	// The audit trail and access reviews.
	AuditEventsRead   = "Latchkey.Insights/auditEvents/read"
	AccessReviewsRead = "Latchkey.Authorization/accessReviews/read"

	// Managed identities.
	IdentitiesRead      = "Latchkey.ManagedIdentity/userAssignedIdentities/read"
	IdentitiesWrite     = "Latchkey.ManagedIdentity/userAssignedIdentities/write"
	IdentitiesDelete    = "Latchkey.ManagedIdentity/userAssignedIdentities/delete"
	IdentitiesFederated = "Latchkey.ManagedIdentity/userAssignedIdentities/federatedCredentials/write"
	IdentitiesAssign    = "Latchkey.ManagedIdentity/userAssignedIdentities/assign/action"

	// The directory of service principals and users (Entra's role, at "/").
	ServicePrincipalsRead        = "Latchkey.Identity/servicePrincipals/read"
	ServicePrincipalsWrite       = "Latchkey.Identity/servicePrincipals/write"
	ServicePrincipalsDelete      = "Latchkey.Identity/servicePrincipals/delete"
	ServicePrincipalsCredentials = "Latchkey.Identity/servicePrincipals/credentials/write"
	UsersRead                    = "Latchkey.Identity/users/read"
	UsersWrite                   = "Latchkey.Identity/users/write"
	UsersDelete                  = "Latchkey.Identity/users/delete"
)

// catalog maps every known action (lower-cased) to its definition.
var catalog = func() map[string]Action {
	m := map[string]Action{}
	add := func(p Plane, desc string, names ...string) {
		for _, n := range names {
			m[lower(n)] = Action{Name: n, Plane: p, Description: desc}
		}
	}
	add(Control, "manage role assignments", RoleAssignmentsRead, RoleAssignmentsWrite, RoleAssignmentsDelete)
	add(Control, "manage custom roles", RoleDefinitionsRead, RoleDefinitionsWrite, RoleDefinitionsDelete)
	add(Control, "manage eligible assignments", RoleEligibilityRead, RoleEligibilityWrite, RoleEligibilityDelete, RoleAssignmentSchedule)
	add(Control, "manage hubs and projects", WorkspacesRead, WorkspacesWrite, WorkspacesDelete)
	add(Control, "manage vaults", VaultsRead, VaultsWrite, VaultsDelete)
	add(Data, "use secrets", SecretsGet, SecretsSet, SecretsReadMetadata, SecretsUpdate, SecretsDelete,
		SecretsBackup, SecretsRestore, SecretsRecover, SecretsPurge)
	add(Control, "manage AI services accounts", AccountsRead, AccountsWrite, AccountsDelete, AccountsListKeys, AccountsRegenerateKey)
	add(Data, "call AI services accounts' models", AccountsInference)
	add(Control, "manage connections", ConnectionsRead, ConnectionsWrite, ConnectionsDelete)
	add(Data, "use connections' credentials", ConnectionsListSecrets, ConnectionsProxy)
	add(Control, "read the audit trail and access reviews", AuditEventsRead, AccessReviewsRead)
	add(Control, "manage managed identities", IdentitiesRead, IdentitiesWrite, IdentitiesDelete, IdentitiesFederated, IdentitiesAssign)
	add(Control, "manage the directory", ServicePrincipalsRead, ServicePrincipalsWrite, ServicePrincipalsDelete,
		ServicePrincipalsCredentials, UsersRead, UsersWrite, UsersDelete)
	return m
}()

// knownAction is a catalog entry with its lower-cased name, for matching.
type knownAction struct {
	action Action
	lower  string
}

// exactActions maps every known action, spelled as in the catalog, to its
// entry, so that a decision on one of the constants above allocates nothing.
var exactActions = func() map[string]knownAction {
	m := make(map[string]knownAction, len(catalog))
	for l, a := range catalog {
		m[a.Name] = knownAction{a, l}
	}
	return m
}()

// lookupAction returns the known action named name (case-insensitively) and
// its lower-cased name.
func lookupAction(name string) (Action, string, bool) {
	if e, ok := exactActions[name]; ok {
		return e.action, e.lower, true
	}
	l := lower(name)
	a, ok := catalog[l]
	return a, l, ok
}

// Lookup returns the known action named name (case-insensitively).
func Lookup(name string) (Action, bool) {
	a, ok := catalog[lower(name)]
	return a, ok
}

// Actions returns every known action.
func Actions() []Action {
	out := make([]Action, 0, len(catalog))
	for _, a := range catalog {
		out = append(out, a)
	}
	return out
}
