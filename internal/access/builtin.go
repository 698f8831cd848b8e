package access

import "strings"

// kvActions are the control actions every Key Vault role of Azure carries
// (reading the vault and its authorization), under Latchkey's namespace.
var kvActions = []string{
	"Latchkey.Authorization/*/read",
	"Latchkey.KeyVault/checkNameAvailability/read",
	"Latchkey.KeyVault/deletedVaults/read",
	"Latchkey.KeyVault/locations/*/read",
	"Latchkey.KeyVault/vaults/*/read",
	"Latchkey.KeyVault/operations/read",
}

// Built-in role ids: the GUIDs of the same roles in Azure.
const (
	OwnerID                        = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	ContributorID                  = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	ReaderID                       = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	UserAccessAdministratorID      = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
	KeyVaultAdministratorID        = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
	KeyVaultSecretsOfficerID       = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
	KeyVaultSecretsUserID          = "4633458b-17de-408a-b874-0445c86b69e6"
	KeyVaultReaderID               = "21090545-7ca7-4776-b22c-e363652d74d2"
	CognitiveServicesUserID        = "a97b65f3-24c7-4388-baec-2e87135dc908"
	CognitiveServicesContributorID = "25fbc0a9-bd7c-42a3-aa1a-3b75d497ee68"
	AzureAIDeveloperID             = "64702f94-c441-49e6-a78b-ef80e0188fee"
	ManagedIdentityOperatorID      = "f1a07417-d97a-45cb-824c-7a7467783830"
)

func perm(actions, notActions, dataActions, notDataActions []string) []Permission {
	return []Permission{{Actions: actions, NotActions: notActions, DataActions: dataActions, NotDataActions: notDataActions}}
}

func list(s ...string) []string { return s }

// builtinRoles mirror Azure's built-in roles of the same names.
var builtinRoles = []*Role{
	{ID: OwnerID, Name: "Owner", Description: "Manage everything, including access. Grants no data actions: an Owner cannot read secret values.",
		Permissions: perm(list("*"), nil, nil, nil)},
	// Contributor also may not change the directory: in Azure, Entra is not
	// reached by ARM actions at all, and here a Contributor who could reset an
	// Owner's service principal credential would sign in as that Owner.
	{ID: ContributorID, Name: "Contributor", Description: "Manage everything except access, the directory of users and service principals, and acting as managed identities. No data actions.",
		Permissions: perm(list("*"), list("Latchkey.Authorization/*/Delete", "Latchkey.Authorization/*/Write", "Latchkey.Authorization/elevateAccess/Action",
			"Latchkey.Identity/*/write", "Latchkey.Identity/*/delete",
			// Acting as an identity could borrow its roles, Owner included.
			"Latchkey.ManagedIdentity/userAssignedIdentities/*/assign/action"), nil, nil)},
	{ID: ReaderID, Name: "Reader", Description: "View everything, change nothing. No data actions.",
		Permissions: perm(list("*/read"), nil, nil, nil)},
	{ID: UserAccessAdministratorID, Name: "User Access Administrator", Description: "Manage access: role assignments and custom roles.",
		Permissions: perm(list("*/read", "Latchkey.Authorization/*", "Latchkey.Support/*"), nil, nil, nil)},
	{ID: KeyVaultAdministratorID, Name: "Key Vault Administrator", Description: "All data actions on vaults: secrets of every kind.",
		Permissions: perm(kvActions, nil, list("Latchkey.KeyVault/vaults/*"), nil)},
	{ID: KeyVaultSecretsOfficerID, Name: "Key Vault Secrets Officer", Description: "Every action on secrets.",
		Permissions: perm(kvActions, nil, list("Latchkey.KeyVault/vaults/secrets/*"), nil)},
	{ID: KeyVaultSecretsUserID, Name: "Key Vault Secrets User", Description: "Read secret values and metadata.",
		Permissions: perm(nil, nil, list(SecretsGet, SecretsReadMetadata), nil)},
	{ID: KeyVaultReaderID, Name: "Key Vault Reader", Description: "Read vaults and secret metadata, never values.",
		Permissions: perm(kvActions, nil, list("Latchkey.KeyVault/vaults/*/read", SecretsReadMetadata), nil)},
	{ID: CognitiveServicesUserID, Name: "Cognitive Services User", Description: "Read accounts and their keys, and call their APIs.",
		Permissions: perm(list("Latchkey.CognitiveServices/*/read", "Latchkey.CognitiveServices/accounts/listkeys/action", "Latchkey.Support/*"), nil,
			list("Latchkey.CognitiveServices/*"), nil)},
	{ID: CognitiveServicesContributorID, Name: "Cognitive Services Contributor", Description: "Manage accounts and keys. No data actions.",
		Permissions: perm(list("Latchkey.Authorization/*/read", "Latchkey.CognitiveServices/*", "Latchkey.Support/*"), nil, nil, nil)},
	{ID: AzureAIDeveloperID, Name: "Azure AI Developer", Description: "Work in hubs and projects, use their connections' credentials, and call OpenAI, speech and content safety models; cannot create or delete hubs.",
		Permissions: perm(
			list("Latchkey.MachineLearningServices/workspaces/*/read", "Latchkey.MachineLearningServices/workspaces/*/action",
				"Latchkey.MachineLearningServices/workspaces/*/delete", "Latchkey.MachineLearningServices/workspaces/*/write",
				"Latchkey.MachineLearningServices/locations/*/read", "Latchkey.Authorization/*/read"),
			list("Latchkey.MachineLearningServices/workspaces/delete", "Latchkey.MachineLearningServices/workspaces/write",
				"Latchkey.MachineLearningServices/workspaces/listKeys/action", "Latchkey.MachineLearningServices/workspaces/hubs/write",
				"Latchkey.MachineLearningServices/workspaces/hubs/delete"),
			list("Latchkey.CognitiveServices/accounts/OpenAI/*", "Latchkey.CognitiveServices/accounts/SpeechServices/*",
				"Latchkey.CognitiveServices/accounts/ContentSafety/*",
				// In Azure its workspaces/*/action covers connections/listsecrets;
				// here listing a connection's secrets, and calling it through the
				// connection proxy, are data actions.
				"Latchkey.MachineLearningServices/workspaces/connections/*/action"), nil)},
	{ID: ManagedIdentityOperatorID, Name: "Managed Identity Operator", Description: "Read and assign (act as) user-assigned managed identities.",
		Permissions: perm(list("Latchkey.ManagedIdentity/userAssignedIdentities/*/read", "Latchkey.ManagedIdentity/userAssignedIdentities/*/assign/action",
			"Latchkey.Authorization/*/read", "Latchkey.Support/*"), nil, nil, nil)},
}

// builtinByID and builtinByName index the built-in roles (names lower-cased).
var builtinByID, builtinByName = func() (map[string]*compiledRole, map[string]*compiledRole) {
	byID, byName := map[string]*compiledRole{}, map[string]*compiledRole{}
	for _, r := range builtinRoles {
		r.BuiltIn = true
		r.AssignableScopes = []string{"/"}
		c := compileRole(r)
		byID[r.ID], byName[strings.ToLower(r.Name)] = c, c
	}
	return byID, byName
}()

// BuiltinRoles returns the built-in roles.
func BuiltinRoles() []Role {
	out := make([]Role, len(builtinRoles))
	for i, r := range builtinRoles {
		out[i] = *r
	}
	return out
}
