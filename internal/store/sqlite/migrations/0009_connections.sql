-- Connections are resources (kinds Connection and KeyVaultConnection) whose
-- names are unique within their parent, which their scope already ensures.
-- A hub has at most one Key Vault connection: the vault its connections'
-- secrets live in.
CREATE UNIQUE INDEX resources_keyvault_connection ON resources (parent) WHERE kind = 'KeyVaultConnection';
