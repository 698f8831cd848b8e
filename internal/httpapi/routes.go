package httpapi

import (
	"net/http"

	"github.com/latchkey/latchkey/internal/access"
	"github.com/latchkey/latchkey/internal/store"
)

// Action names what a route does, for the access decision. Every route declares
// one; a test walks the table and fails on a route without it.
type Action string

// ActionPublic marks a route that needs no authentication: probes, metrics and
// discovery documents. It must never touch tenant data.
const ActionPublic Action = "latchkey/public"

// ActionAuthenticated marks a route any authenticated caller may use, whatever
// their roles: it authenticates, but asks the Authorizer nothing. It must only
// tell callers about themselves or about facts every caller may know (the
// built-in and custom role definitions).
const ActionAuthenticated Action = "latchkey/authenticated"

// The actions of the management API's routes, from access's catalog.
const (
	ActionServicePrincipalsRead             Action = access.ServicePrincipalsRead
	ActionServicePrincipalsWrite            Action = access.ServicePrincipalsWrite
	ActionServicePrincipalsDelete           Action = access.ServicePrincipalsDelete
	ActionServicePrincipalCredentialsWrite  Action = access.ServicePrincipalsCredentials
	ActionUsersRead                         Action = access.UsersRead
	ActionUsersWrite                        Action = access.UsersWrite
	ActionUsersDelete                       Action = access.UsersDelete
	ActionIdentitiesRead                    Action = access.IdentitiesRead
	ActionIdentitiesWrite                   Action = access.IdentitiesWrite
	ActionIdentitiesDelete                  Action = access.IdentitiesDelete
	ActionIdentityFederatedCredentialsWrite Action = access.IdentitiesFederated
	// ActionIdentitiesAssign lets a caller get tokens as an identity (latchkey
	// run), as Azure's Managed Identity Operator may assign one.
	ActionIdentitiesAssign Action = access.IdentitiesAssign
)

// tokenPattern is the token endpoint's route; its requests are audited.
const tokenPattern = "POST /{tenant}/oauth2/v2.0/token"

// handlerFunc is the shape of every handler: it writes a response or returns an
// error, which the route adapter hands to the error writer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// surface says which protocol a route speaks, which decides how its errors are
// written (errors.go).
type surface uint8

const (
	surfaceManagement surface = iota // Latchkey's JSON: {"error":{"code","message",...}}
	surfaceOAuth                     // Entra's OAuth2 error fields
	surfaceVault                     // Key Vault's error object, 401s with the bearer challenge
	surfaceAccount                   // Azure AI services' error object: accounts' data plane
)

// route is one row of the table: a ServeMux pattern, its action, its handler,
// the surface it belongs to, and where its scope comes from (nil: the tenant,
// "/"). Routes with an action other than ActionPublic authenticate the caller
// and are authorized before the handler runs.
type route struct {
	pattern string
	action  Action
	handle  handlerFunc
	surface surface
	scope   func(r *http.Request) string
	// inHandler says the handler (or the domain method it calls) authorizes
	// the action itself, because the scope lies in the body or the answer is
	// filtered item by item; the wrapper only authenticates.
	inHandler bool
	// dataCall marks a call of an account's data plane or through the
	// connection proxy: not a state write, so its audit event is enqueued
	// like a read's, and its response, which may stream, is never held back.
	dataCall bool
}

// routes is the table of every route Latchkey serves.
func (s *Server) routes() []route {
	return []route{
		{pattern: "GET /healthz", action: ActionPublic, handle: s.healthz},
		{pattern: "GET /readyz", action: ActionPublic, handle: s.readyz},
		{pattern: "GET /metrics", action: ActionPublic, handle: s.serveMetrics},

		// Entra-compatible token service. The token endpoint authenticates the
		// client itself, from the credentials in the request.
		{pattern: "GET /{tenant}/v2.0/.well-known/openid-configuration", action: ActionPublic, handle: s.openIDConfiguration, surface: surfaceOAuth},
		{pattern: "GET /{tenant}/discovery/v2.0/keys", action: ActionPublic, handle: s.jwks, surface: surfaceOAuth},
		{pattern: tokenPattern, action: ActionPublic, handle: s.token, surface: surfaceOAuth},

		// Principals: service principals, users and the caller (principals.go),
		// managed identities at their own scope (identities.go).
		{pattern: "GET /api/v1/me", action: ActionAuthenticated, handle: s.me},
		{pattern: "POST /api/v1/servicePrincipals", action: ActionServicePrincipalsWrite, handle: s.createServicePrincipal},
		{pattern: "GET /api/v1/servicePrincipals", action: ActionServicePrincipalsRead, handle: s.servicePrincipals},
		{pattern: "GET /api/v1/servicePrincipals/{appId}", action: ActionServicePrincipalsRead, handle: s.onServicePrincipal(s.servicePrincipal)},
		{pattern: "DELETE /api/v1/servicePrincipals/{appId}", action: ActionServicePrincipalsDelete, handle: s.onServicePrincipal(s.deletePrincipal)},
		{pattern: "POST /api/v1/servicePrincipals/{appId}/resetCredential", action: ActionServicePrincipalCredentialsWrite, handle: s.onServicePrincipal(s.resetCredential)},
		{pattern: "POST /api/v1/servicePrincipals/{appId}/certificates", action: ActionServicePrincipalCredentialsWrite, handle: s.onServicePrincipal(s.addCertificate)},
		{pattern: "POST /api/v1/servicePrincipals/{appId}/federatedCredentials", action: ActionServicePrincipalCredentialsWrite, handle: s.onServicePrincipal(s.addFederatedCredential)},
		{pattern: "GET /api/v1/servicePrincipals/{appId}/credentials", action: ActionServicePrincipalsRead, handle: s.onServicePrincipal(s.credentials)},
		{pattern: "DELETE /api/v1/servicePrincipals/{appId}/credentials/{id}", action: ActionServicePrincipalCredentialsWrite, handle: s.onServicePrincipal(s.deleteCredential)},
		{pattern: "POST /api/v1/users", action: ActionUsersWrite, handle: s.createUser},
		{pattern: "GET /api/v1/users", action: ActionUsersRead, handle: s.users},
		{pattern: "DELETE /api/v1/users/{name}", action: ActionUsersDelete, handle: s.deleteUser},
		{pattern: "POST /api/v1/identities", action: ActionIdentitiesWrite, handle: s.createIdentity},
		{pattern: "GET /api/v1/identities", action: ActionIdentitiesRead, handle: s.identities},
		{pattern: "GET /api/v1/identities/{name}", action: ActionIdentitiesRead, handle: s.onIdentity(s.managedIdentity), scope: identityScope},
		{pattern: "DELETE /api/v1/identities/{name}", action: ActionIdentitiesDelete, handle: s.onIdentity(s.deletePrincipal), scope: identityScope},
		{pattern: "POST /api/v1/identities/{name}/federatedCredentials", action: ActionIdentityFederatedCredentialsWrite, handle: s.onIdentity(s.addFederatedCredential), scope: identityScope},
		{pattern: "GET /api/v1/identities/{name}/credentials", action: ActionIdentitiesRead, handle: s.onIdentity(s.credentials), scope: identityScope},
		{pattern: "DELETE /api/v1/identities/{name}/credentials/{id}", action: ActionIdentityFederatedCredentialsWrite, handle: s.onIdentity(s.deleteCredential), scope: identityScope},
		{pattern: "POST /api/v1/identities/{name}/token", action: ActionIdentitiesAssign, handle: s.onIdentity(s.identityToken), scope: identityScope},

		// The scope tree's records (resources.go): hubs, projects, vaults, and
		// a vault's settings (vaultsettings.go).
		{pattern: "GET /api/v1/hubs", action: access.WorkspacesRead, handle: s.listResources(store.Hub, nil, access.WorkspacesRead), inHandler: true},
		{pattern: "PUT /api/v1/hubs/{hub}", action: access.WorkspacesWrite, handle: s.putResource(hubScope), scope: hubScope},
		{pattern: "GET /api/v1/hubs/{hub}", action: access.WorkspacesRead, handle: s.getResource(hubScope), scope: hubScope},
		{pattern: "DELETE /api/v1/hubs/{hub}", action: access.WorkspacesDelete, handle: s.deleteResource(hubScope), scope: hubScope},
		{pattern: "GET /api/v1/hubs/{hub}/projects", action: access.WorkspacesRead, handle: s.listResources(store.Project, hubScope, access.WorkspacesRead), inHandler: true},
		{pattern: "PUT /api/v1/hubs/{hub}/projects/{project}", action: access.WorkspacesWrite, handle: s.putResource(projectScope), scope: projectScope},
		{pattern: "GET /api/v1/hubs/{hub}/projects/{project}", action: access.WorkspacesRead, handle: s.getResource(projectScope), scope: projectScope},
		{pattern: "DELETE /api/v1/hubs/{hub}/projects/{project}", action: access.WorkspacesDelete, handle: s.deleteResource(projectScope), scope: projectScope},
		{pattern: "GET /api/v1/hubs/{hub}/vaults", action: access.VaultsRead, handle: s.listResources(store.Vault, hubScope, access.VaultsRead), inHandler: true},
		{pattern: "PUT /api/v1/hubs/{hub}/vaults/{vault}", action: access.VaultsWrite, handle: s.putResource(vaultScope), scope: vaultScope},
		{pattern: "GET /api/v1/hubs/{hub}/vaults/{vault}", action: access.VaultsRead, handle: s.getResource(vaultScope), scope: vaultScope},
		{pattern: "DELETE /api/v1/hubs/{hub}/vaults/{vault}", action: access.VaultsDelete, handle: s.deleteResource(vaultScope), scope: vaultScope},
		{pattern: "GET /api/v1/vaults", action: access.VaultsRead, handle: s.listResources(store.Vault, nil, access.VaultsRead), inHandler: true},
		{pattern: "GET /api/v1/hubs/{hub}/accounts", action: access.AccountsRead, handle: s.listAccounts, inHandler: true},
		{pattern: "PUT /api/v1/hubs/{hub}/accounts/{account}", action: access.AccountsWrite, handle: s.putAccount, scope: accountScope},
		{pattern: "GET /api/v1/hubs/{hub}/accounts/{account}", action: access.AccountsRead, handle: s.getAccount, scope: accountScope},
		{pattern: "DELETE /api/v1/hubs/{hub}/accounts/{account}", action: access.AccountsDelete, handle: s.deleteAccount, scope: accountScope},
		{pattern: "GET /api/v1/vaults/{vault}", action: access.VaultsRead, handle: s.getVaultByName, scope: s.vaultByNameScope},
		{pattern: "DELETE /api/v1/vaults/{vault}", action: access.VaultsDelete, handle: s.deleteVaultByName, scope: s.vaultByNameScope},
		{pattern: "PATCH /api/v1/vaults/{vault}", action: access.VaultsWrite, handle: s.updateVault, scope: s.vaultByNameScope},
		{pattern: "GET /api/v1/vaults/{vault}/settings", action: access.VaultsRead, handle: s.vaultSettings, scope: s.vaultByNameScope},

		// Access control (roles.go). Role definitions are readable by every
		// caller, as in Azure; writes are authorized by the access service
		// against the scopes in the body.
		{pattern: "GET /api/v1/roleDefinitions", action: ActionAuthenticated, handle: s.roleDefinitions},
		{pattern: "GET /api/v1/roleDefinitions/{role}", action: ActionAuthenticated, handle: s.roleDefinition},
		{pattern: "POST /api/v1/roleDefinitions", action: access.RoleDefinitionsWrite, handle: s.createRoleDefinition, inHandler: true},
		{pattern: "PUT /api/v1/roleDefinitions/{role}", action: access.RoleDefinitionsWrite, handle: s.updateRoleDefinition, inHandler: true},
		{pattern: "DELETE /api/v1/roleDefinitions/{role}", action: access.RoleDefinitionsDelete, handle: s.deleteRoleDefinition, inHandler: true},
		{pattern: "GET /api/v1/roleAssignments", action: access.RoleAssignmentsRead, handle: s.roleAssignments, scope: queryScope},
		{pattern: "POST /api/v1/roleAssignments", action: access.RoleAssignmentsWrite, handle: s.createRoleAssignment, inHandler: true},
		{pattern: "DELETE /api/v1/roleAssignments/{id}", action: access.RoleAssignmentsDelete, handle: s.deleteRoleAssignment, inHandler: true},
		{pattern: "GET /api/v1/roleEligibilities", action: access.RoleEligibilityRead, handle: s.eligibles, inHandler: true},
		{pattern: "POST /api/v1/roleEligibilities", action: access.RoleEligibilityWrite, handle: s.createEligible, inHandler: true},
		{pattern: "DELETE /api/v1/roleEligibilities/{id}", action: access.RoleEligibilityDelete, handle: s.deleteEligible, inHandler: true},
		{pattern: "POST /api/v1/roleEligibilities/{id}/activate", action: access.RoleAssignmentSchedule, handle: s.activateEligible, inHandler: true},
		{pattern: "POST /api/v1/roleEligibilities/{id}/deactivate", action: access.RoleAssignmentSchedule, handle: s.deactivateEligible, inHandler: true},
		{pattern: "GET /api/v1/checkAccess", action: access.RoleAssignmentsRead, handle: s.checkAccess, scope: queryScope},

		// The audit trail and the access review (auditapi.go).
		{pattern: "GET /api/v1/auditEvents", action: access.AuditEventsRead, handle: s.auditEvents, scope: queryScope},
		{pattern: "GET /api/v1/auditTrail/verify", action: access.AuditEventsRead, handle: s.verifyAuditTrail},
		{pattern: "GET /api/v1/accessReview", action: access.AccessReviewsRead, handle: s.accessReview, scope: queryScope},

		// AI services accounts (accounts.go), by hub as in Azure's paths, and
		// by name. The account service authorizes each on the account.
		{pattern: "POST /api/v1/hubs/{hub}/accounts/{account}/listKeys", action: access.AccountsListKeys, handle: s.listKeys, scope: accountScope},
		{pattern: "POST /api/v1/hubs/{hub}/accounts/{account}/regenerateKey", action: access.AccountsRegenerateKey, handle: s.regenerateKey, scope: accountScope},
		{pattern: "GET /api/v1/accounts", action: access.AccountsRead, handle: s.listAccounts, inHandler: true},
		{pattern: "GET /api/v1/accounts/{account}", action: access.AccountsRead, handle: s.getAccount, inHandler: true},
		{pattern: "PATCH /api/v1/accounts/{account}", action: access.AccountsWrite, handle: s.updateAccount, inHandler: true},
		{pattern: "DELETE /api/v1/accounts/{account}", action: access.AccountsDelete, handle: s.deleteAccount, inHandler: true},
		{pattern: "POST /api/v1/accounts/{account}/listKeys", action: access.AccountsListKeys, handle: s.listKeys, inHandler: true},
		{pattern: "POST /api/v1/accounts/{account}/regenerateKey", action: access.AccountsRegenerateKey, handle: s.regenerateKey, inHandler: true},
		{pattern: "POST /api/v1/accounts/{account}/activeKey", action: access.AccountsListKeys, handle: s.activeKey, inHandler: true},
		{pattern: "POST /api/v1/accounts/{account}/rotateKeys", action: access.AccountsRegenerateKey, handle: s.rotateKeys, inHandler: true},
		{pattern: "GET /api/v1/accounts/{account}/keyUsage", action: access.AccountsRead, handle: s.keyUsage, inHandler: true},
		{pattern: "GET /api/v1/accounts/{account}/usage", action: access.AccountsRead, handle: s.usage, inHandler: true},

		// Accounts' data plane (accountdata.go): a key, an STS token or an
		// Entra token with the account's data action.
		{pattern: stsPattern, action: access.AccountsInference, handle: s.issueToken, surface: surfaceAccount, dataCall: true},
		{pattern: "/accounts/{account}/openai/{rest...}", action: access.AccountsInference, handle: s.azureOpenAI, surface: surfaceAccount, dataCall: true},
		{pattern: "/accounts/{account}/v1/{rest...}", action: access.AccountsInference, handle: s.openAI, surface: surfaceAccount, dataCall: true},

		// Connections (connections.go): a hub's shared ones and a project's
		// own. The connection service authorizes each operation itself too:
		// reads through a project reach the hub's shared connections, and
		// listsecrets has a rule for readers of datastore connections.
		{pattern: "GET /api/v1/hubs/{hub}/connections", action: access.ConnectionsRead, handle: s.listConnections, inHandler: true},
		{pattern: "PUT /api/v1/hubs/{hub}/connections/{name}", action: access.ConnectionsWrite, handle: s.putConnection, scope: hubConnectionScope},
		{pattern: "PATCH /api/v1/hubs/{hub}/connections/{name}", action: access.ConnectionsWrite, handle: s.patchConnection, scope: hubConnectionScope},
		{pattern: "GET /api/v1/hubs/{hub}/connections/{name}", action: access.ConnectionsRead, handle: s.getConnection, scope: hubConnectionScope},
		{pattern: "DELETE /api/v1/hubs/{hub}/connections/{name}", action: access.ConnectionsDelete, handle: s.deleteConnection, scope: hubConnectionScope},
		{pattern: "POST /api/v1/hubs/{hub}/connections/{name}/listsecrets", action: access.ConnectionsListSecrets, handle: s.listConnectionSecrets, inHandler: true},
		{pattern: "GET /api/v1/hubs/{hub}/connections/{name}/usage", action: access.ConnectionsRead, handle: s.connectionUsage, inHandler: true},
		{pattern: "GET /api/v1/hubs/{hub}/projects/{project}/connections", action: access.ConnectionsRead, handle: s.listConnections, inHandler: true},
		{pattern: "PUT /api/v1/hubs/{hub}/projects/{project}/connections/{name}", action: access.ConnectionsWrite, handle: s.putConnection, scope: projectConnectionScope},
		{pattern: "PATCH /api/v1/hubs/{hub}/projects/{project}/connections/{name}", action: access.ConnectionsWrite, handle: s.patchConnection, scope: projectConnectionScope},
		{pattern: "GET /api/v1/hubs/{hub}/projects/{project}/connections/{name}", action: access.ConnectionsRead, handle: s.getConnection, inHandler: true},
		{pattern: "DELETE /api/v1/hubs/{hub}/projects/{project}/connections/{name}", action: access.ConnectionsDelete, handle: s.deleteConnection, scope: projectConnectionScope},
		{pattern: "POST /api/v1/hubs/{hub}/projects/{project}/connections/{name}/listsecrets", action: access.ConnectionsListSecrets, handle: s.listConnectionSecrets, inHandler: true},
		{pattern: "GET /api/v1/hubs/{hub}/projects/{project}/connections/{name}/usage", action: access.ConnectionsRead, handle: s.connectionUsage, inHandler: true},
		// The connection proxy: {project} is "_" for a hub's connection.
		{pattern: "/connections/{hub}/{project}/{name}/proxy/{rest...}", action: access.ConnectionsProxy, handle: s.proxyConnection, inHandler: true, dataCall: true},

		{pattern: "/", action: ActionPublic, handle: s.notFound},
	}
}
