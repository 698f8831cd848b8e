// scenario.mjs drives a Latchkey dev server's Key Vault data plane with the
// official Azure SDK for JavaScript (@azure/keyvault-secrets over
// @azure/identity), to prove the wire protocol rather than one client.
//
// Input: LATCHKEY_DEV_JSON, the path of the dev server's dev.json (url,
// caCert, tenantId, authorityHost, admin {clientId, clientSecret}, vaultUrl).
// The dev CA must be trusted through NODE_EXTRA_CA_CERTS: TLS verification
// stays on. Vault hosts ({vault}.vault.localhost) have no DNS here, so one
// pipeline policy gives every Key Vault request an agent whose lookup answers
// 127.0.0.1; SNI and certificate checks still use the vault's name.
//
// Prints "js scenario: ok" and exits 0, or says what differed and exits 1.
// cmd/latchkey/js_sdk_test.go runs it; by hand:
//
//	NODE_EXTRA_CA_CERTS=.latchkey/ca.pem LATCHKEY_DEV_JSON=.latchkey/dev.json node e2e/js/scenario.mjs

import dns from "node:dns";
import { readFileSync } from "node:fs";
import https from "node:https";

import { ClientSecretCredential } from "@azure/identity";
import { SecretClient, parseKeyVaultSecretIdentifier } from "@azure/keyvault-secrets";

class Mismatch extends Error {}

function check(ok, message) {
  if (!ok) {
    throw new Mismatch(message);
  }
}

function equal(got, want, what) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  check(g === w, `${what} = ${g}, want ${w}`);
}

// fails runs op, which must fail with HTTP status want.
async function fails(op, want, what) {
  try {
    await op();
  } catch (err) {
    check(err.statusCode === want, `${what}: failed with status ${err.statusCode} (${err.code}: ${err.message}), want ${want}`);
    return err;
  }
  throw new Mismatch(`${what}: succeeded, want status ${want}`);
}

function readDevJSON() {
  const path = process.env.LATCHKEY_DEV_JSON;
  check(path, "LATCHKEY_DEV_JSON is not set: give the path of the dev server's dev.json");
  const dev = JSON.parse(readFileSync(path, "utf8"));
  for (const key of ["tenantId", "authorityHost", "vaultUrl"]) {
    check(dev[key], `${path} has no ${key}`);
  }
  check(dev.admin?.clientId && dev.admin?.clientSecret, `${path} names no admin {clientId, clientSecret}`);
  return dev;
}

// vaultAgent dials every *.vault.localhost name at 127.0.0.1 and resolves the
// rest as usual. TLS still verifies the certificate for the name asked for.
function vaultAgent() {
  const lookup = (host, opts, cb) => {
    if (!host.toLowerCase().endsWith(".vault.localhost")) {
      return dns.lookup(host, opts, cb);
    }
    if (opts?.all) {
      return cb(null, [{ address: "127.0.0.1", family: 4 }]);
    }
    return cb(null, "127.0.0.1", 4);
  };
  return new https.Agent({ keepAlive: true, lookup });
}

function newClient(dev, agent) {
  const credential = new ClientSecretCredential(dev.tenantId, dev.admin.clientId, dev.admin.clientSecret, {
    authorityHost: dev.authorityHost,
    disableInstanceDiscovery: true,
  });
  const useAgent = {
    name: "latchkeyVaultDNS",
    sendRequest(request, next) {
      request.agent = agent;
      return next(request);
    },
  };
  return new SecretClient(dev.vaultUrl, credential, {
    additionalPolicies: [{ policy: useAgent, position: "perCall" }],
    retryOptions: { maxRetries: 0 },
  });
}

// checkID parses a secret id as the SDK does and checks its parts.
function checkID(id, vaultUrl, name, version, what) {
  const parsed = parseKeyVaultSecretIdentifier(id);
  equal(parsed.vaultUrl.replace(/\/$/, ""), vaultUrl, `${what}: vault of id ${id}`);
  equal(parsed.name, name, `${what}: name of id ${id}`);
  if (version !== undefined) {
    equal(parsed.version, version, `${what}: version of id ${id}`);
  }
  return parsed;
}

async function setAndGet(client, vaultUrl, name) {
  const tags = { env: "test", owner: "js" };
  const first = await client.setSecret(name, "value-one", { contentType: "text/plain", tags });
  equal(first.value, "value-one", "setSecret value");
  equal(first.properties.contentType, "text/plain", "setSecret contentType");
  equal(first.properties.tags, tags, "setSecret tags");
  equal(first.properties.enabled, true, "setSecret enabled");
  check(first.properties.version, `setSecret returned no version (id ${first.properties.id})`);
  const v1 = checkID(first.properties.id, vaultUrl, name, first.properties.version, "setSecret").version;

  const second = await client.setSecret(name, "value-two", { contentType: "text/plain", tags });
  const v2 = checkID(second.properties.id, vaultUrl, name, second.properties.version, "setSecret again").version;
  check(v1 !== v2, `two setSecret calls gave the same version ${v1}`);

  const latest = await client.getSecret(name);
  equal([latest.value, latest.properties.version], ["value-two", v2], "getSecret latest [value, version]");
  equal(latest.properties.tags, tags, "getSecret tags");
  const old = await client.getSecret(name, { version: v1 });
  equal([old.value, old.properties.version], ["value-one", v1], "getSecret by version [value, version]");
  checkID(old.properties.id, vaultUrl, name, v1, "getSecret by version");
  return { v1, v2 };
}

async function disableAndEnable(client, name, v2) {
  let raw;
  const off = await client.updateSecretProperties(name, v2, { enabled: false, onResponse: (r) => (raw = r) });
  equal(off.enabled, false, "updateSecretProperties(enabled=false) enabled");
  check(raw?.bodyAsText, "updateSecretProperties: the SDK handed over no raw response");
  check(!("value" in JSON.parse(raw.bodyAsText)), "updateSecretProperties: the response carries the secret's value; Key Vault omits it");
  await fails(() => client.getSecret(name, { version: v2 }), 403, "getSecret of a disabled version");
  await fails(() => client.getSecret(name), 403, "getSecret latest when it is disabled");
  const on = await client.updateSecretProperties(name, v2, { enabled: true, tags: { env: "prod" } });
  equal([on.enabled, on.tags], [true, { env: "prod" }], "updateSecretProperties(enabled=true) [enabled, tags]");
  equal((await client.getSecret(name)).value, "value-two", "getSecret after enabling again");
}

async function listWithPaging(client, vaultUrl, prefix) {
  const want = [];
  for (let i = 0; i < 30; i++) {
    const name = `${prefix}-list-${String(i).padStart(2, "0")}`;
    await client.setSecret(name, `list value ${i}`);
    want.push(name);
  }
  const seen = [];
  let pages = 0;
  for await (const page of client.listPropertiesOfSecrets().byPage({ maxPageSize: 10 })) {
    pages++;
    check(page.length <= 10, `listPropertiesOfSecrets page ${pages} has ${page.length} items, want at most 10`);
    for (const p of page) {
      const parsed = checkID(p.id, vaultUrl, p.name, undefined, "listPropertiesOfSecrets");
      check(parsed.version === undefined, `listPropertiesOfSecrets id ${p.id} names a version`);
      if (p.name.startsWith(`${prefix}-list-`)) {
        seen.push(p.name);
      }
    }
  }
  check(pages >= 3, `listPropertiesOfSecrets over 30+ secrets gave ${pages} pages of at most 10, want 3 or more`);
  equal([...seen].sort(), want, "names listed by listPropertiesOfSecrets");
  return pages;
}

async function listVersions(client, vaultUrl, name, versions) {
  const seen = [];
  for await (const page of client.listPropertiesOfSecretVersions(name).byPage({ maxPageSize: 1 })) {
    check(page.length <= 1, `listPropertiesOfSecretVersions page has ${page.length} items, want at most 1`);
    for (const p of page) {
      checkID(p.id, vaultUrl, name, p.version, "listPropertiesOfSecretVersions");
      seen.push(p.version);
    }
  }
  equal([...seen].sort(), [...versions].sort(), `versions of ${name}`);
}

async function deleteAndRecover(client, vaultUrl, name, v2) {
  const deleted = await (await client.beginDeleteSecret(name, { updateIntervalInMs: 100 })).pollUntilDone();
  equal(deleted.name, name, "beginDeleteSecret name");
  check(deleted.properties.deletedOn instanceof Date, "beginDeleteSecret: no deletedOn");
  check(deleted.properties.scheduledPurgeDate > deleted.properties.deletedOn, "beginDeleteSecret: scheduledPurgeDate is not after deletedOn");
  const got = await client.getDeletedSecret(name);
  equal(got.name, name, "getDeletedSecret name");
  equal(got.properties.recoveryId, `${vaultUrl}/deletedsecrets/${name}`, "getDeletedSecret recoveryId");
  await fails(() => client.getSecret(name), 404, "getSecret of a deleted secret");
  await fails(() => client.setSecret(name, "again"), 409, "setSecret on a deleted but recoverable name");

  const recovered = await (await client.beginRecoverDeletedSecret(name, { updateIntervalInMs: 100 })).pollUntilDone();
  equal(recovered.name, name, "beginRecoverDeletedSecret name");
  const back = await client.getSecret(name);
  equal([back.value, back.properties.version], ["value-two", v2], "getSecret after recovery [value, version]");
  await fails(() => client.getDeletedSecret(name), 404, "getDeletedSecret after recovery");
}

async function deleteAndPurge(client, name) {
  await (await client.beginDeleteSecret(name, { updateIntervalInMs: 100 })).pollUntilDone();
  await client.purgeDeletedSecret(name);
  await fails(() => client.getDeletedSecret(name), 404, `getDeletedSecret(${name}) after purge`);
  await fails(() => client.getSecret(name), 404, `getSecret(${name}) after purge`);
}

async function backupAndRestore(client, vaultUrl, name) {
  const v1 = (await client.setSecret(name, "backed-up-one")).properties.version;
  const v2 = (await client.setSecret(name, "backed-up-two", { contentType: "application/json" })).properties.version;
  const blob = await client.backupSecret(name);
  check(blob instanceof Uint8Array && blob.length > 0, "backupSecret returned no bytes");
  await deleteAndPurge(client, name);

  const restored = await client.restoreSecretBackup(blob);
  equal(restored.name, name, "restoreSecretBackup name");
  checkID(restored.id, vaultUrl, name, v2, "restoreSecretBackup");
  const latest = await client.getSecret(name);
  equal([latest.value, latest.properties.version, latest.properties.contentType], ["backed-up-two", v2, "application/json"], "getSecret after restore [value, version, contentType]");
  equal((await client.getSecret(name, { version: v1 })).value, "backed-up-one", "getSecret of the older version after restore");
  await fails(() => client.restoreSecretBackup(blob), 409, "restoreSecretBackup over an existing secret");
}

async function main() {
  const dev = readDevJSON();
  const vaultUrl = dev.vaultUrl.replace(/\/$/, "");
  const agent = vaultAgent();
  try {
    const client = newClient(dev, agent);
    const prefix = `js-${Date.now().toString(36)}`;
    const name = `${prefix}-db-password`;
    const { v1, v2 } = await setAndGet(client, vaultUrl, name);
    await disableAndEnable(client, name, v2);
    const pages = await listWithPaging(client, vaultUrl, prefix);
    await listVersions(client, vaultUrl, name, [v1, v2]);
    await deleteAndRecover(client, vaultUrl, name, v2);
    await deleteAndPurge(client, name);
    await backupAndRestore(client, vaultUrl, `${prefix}-backup`);
    console.log(`listed 30 secrets in ${pages} pages; versions ${v1}, ${v2}`);
  } finally {
    agent.destroy();
  }
  console.log("js scenario: ok");
}

main().catch((err) => {
  if (err instanceof Mismatch) {
    console.error(`js scenario: FAILED: ${err.message}`);
  } else {
    console.error(`js scenario: FAILED with an error: ${err.stack ?? err}`);
    if (err.statusCode) {
      console.error(`  status ${err.statusCode}, code ${err.code}, request ${err.request?.method} ${err.request?.url}`);
    }
  }
  process.exitCode = 1;
});
