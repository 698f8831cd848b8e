package connection_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/connection"
	"github.com/latchkey/latchkey/internal/errs"
	"github.com/latchkey/latchkey/internal/vault"
)

var valueComparer = cmp.Comparer(func(a, b vault.Value) bool { return bytes.Equal(a.Reveal(), b.Reveal()) })

// testResolver resolves ${env:NAME} from env and @path from files, read from
// dir "/conf".
func testResolver(env map[string]string, files map[string]string) connection.Resolver {
	return connection.Resolver{
		Getenv: func(name string) (string, bool) { v, ok := env[name]; return v, ok },
		ReadFile: func(path string) ([]byte, error) {
			if v, ok := files[path]; ok {
				return []byte(v), nil
			}
			return nil, fs.ErrNotExist
		},
		Dir: "/conf",
	}
}

func spec(name string, d connection.Definition) connection.Spec {
	return connection.Spec{Name: name, Definition: d}
}

// TestParseYAML reads the file types of `az ml connection create --file`.
func TestParseYAML(t *testing.T) {
	res := testResolver(map[string]string{"AOAI_KEY": "k-from-env", "SP_SECRET": "sp-from-env"}, map[string]string{"/conf/keys/token": "t-from-file\n", "/abs/sas": "sas-from-file"})
	yes := true
	cases := []struct {
		name string
		doc  string
		want connection.Spec
	}{
		{"api_key", "name: partner\ntype: api_key\napi_base: https://api.partner.example/v1\napi_key: ${env:AOAI_KEY}\n",
			spec("partner", connection.Definition{Category: connection.CategoryAPIKey, AuthType: connection.AuthAPIKey,
				Target: "https://api.partner.example/v1", Credentials: creds("key", "k-from-env")})},
		{"custom", "name: partner-api\ntype: custom\nconfigs: {base_url: \"https://api.partner.example\"}\nsecrets: {api_token: \"@keys/token\"}\ntarget: https://api.partner.example\nproxy: {header: X-Token, prefix: \"\", requests_per_minute: 60, tokens_per_minute: 0}\n",
			spec("partner-api", connection.Definition{Category: connection.CategoryCustomKeys, AuthType: connection.AuthCustomKeys,
				Target: "https://api.partner.example", Metadata: map[string]string{"base_url": "https://api.partner.example"},
				Credentials: creds("keys.api_token", "t-from-file"), Proxy: &connection.ProxyHeader{Header: "X-Token", Prefix: ptr(""), RequestsPerMinute: ptr(60), TokensPerMinute: ptr(0)}})},
		{"azure_open_ai", "name: my-aoai\ntype: azure_open_ai\nendpoint: https://my-aoai.openai.azure.com/\napi_key: ${env:AOAI_KEY}\nopen_ai_resource_id: /subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/my-aoai\napi_version: 2024-10-21\ndeployments: {gpt: gpt-4o-mini, emb: text-embedding-3-small}\nis_shared: true\n",
			connection.Spec{Name: "my-aoai", Shared: &yes, Definition: connection.Definition{Category: connection.CategoryAzureOpenAI, AuthType: connection.AuthAPIKey,
				Target: "https://my-aoai.openai.azure.com/", Credentials: creds("key", "k-from-env"),
				Metadata: map[string]string{"ResourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/my-aoai",
					"ApiVersion": "2024-10-21", "Deployments": "emb=text-embedding-3-small,gpt=gpt-4o-mini"}}}},
		{"azure_open_ai with Entra", "name: aad\ntype: azure_open_ai\nendpoint: https://x.openai.azure.com/\n",
			spec("aad", connection.Definition{Category: connection.CategoryAzureOpenAI, Target: "https://x.openai.azure.com/"})},
		{"azure_ai_services", "name: ai\ntype: azure_ai_services\nai_services_resource_id: /hubs/h/accounts/ai\n",
			spec("ai", connection.Definition{Category: connection.CategoryAIServices, Account: "ai"})},
		{"azure_blob with account key", "name: blob\ntype: azure_blob\nurl: https://acct.blob.core.windows.net/data\naccount_name: acct\ncontainer_name: data\ncredentials:\n  type: account_key\n  account_key: \"@/abs/sas\"\n",
			spec("blob", connection.Definition{Category: connection.CategoryAzureBlob, AuthType: connection.AuthAccountKey, Target: "https://acct.blob.core.windows.net/data",
				Metadata: map[string]string{"AccountName": "acct", "ContainerName": "data"}, Credentials: creds("key", "sas-from-file")})},
		{"azure_data_lake_gen2 with a service principal", "name: lake\ntype: azure_data_lake_gen2\ntarget: https://acct.dfs.core.windows.net\npath: raw/2026\ncredentials: {client_id: cid, client_secret: \"${env:SP_SECRET}\", tenant_id: tid}\n",
			spec("lake", connection.Definition{Category: connection.CategoryAzureDataLakeGen2, AuthType: connection.AuthServicePrincipal, Target: "https://acct.dfs.core.windows.net",
				Metadata: map[string]string{"Path": "raw/2026"}, Credentials: creds("clientId", "cid", "clientSecret", "sp-from-env", "tenantId", "tid")})},
		{"azure_one_lake with SAS", "name: one\ntype: azure_one_lake\nendpoint: https://onelake.dfs.fabric.microsoft.com\none_lake_workspace_name: ws\nartifact: {name: lh, type: lake_house}\ncredentials: {sas_token: \"@/abs/sas\"}\n",
			spec("one", connection.Definition{Category: connection.CategoryAzureOneLake, AuthType: connection.AuthSAS, Target: "https://onelake.dfs.fabric.microsoft.com",
				Metadata: map[string]string{"WorkspaceName": "ws", "ArtifactName": "lh", "ArtifactType": "lake_house"}, Credentials: creds("sas", "sas-from-file")})},
		{"key_vault", "name: hub-vault\ntype: key_vault\nvault: kv\nidentity: h-vault\nreaders_read_datastore_credentials: false\n",
			spec("hub-vault", connection.Definition{Category: connection.CategoryKeyVault, Vault: "kv", Identity: "h-vault", ReadersReadDatastoreCredentials: ptr(false)})},
		{"generic with metadata and tags", "$schema: https://azuremlschemas.azureedge.net/latest/connection.schema.json\nname: g\ntype: api_key\ntarget: https://g.example\ndescription: a generic one\ntags: {team: ml}\nmetadata: {ApiVersion: v1}\ncredentials: {type: api_key, key: \"${env:AOAI_KEY}\"}\n",
			spec("g", connection.Definition{Category: connection.CategoryAPIKey, AuthType: connection.AuthAPIKey, Target: "https://g.example", Description: "a generic one",
				Tags: map[string]string{"team": "ml"}, Metadata: map[string]string{"ApiVersion": "v1"}, Credentials: creds("key", "k-from-env")})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, warnings, err := connection.ParseYAML("conn.yml", []byte(tc.doc), res)
			if err != nil {
				t.Fatalf("ParseYAML = %v", err)
			}
			if diff := cmp.Diff(tc.want, got, valueComparer); diff != "" {
				t.Errorf("ParseYAML mismatch (-want +got):\n%s", diff)
			}
			if len(warnings) != 0 {
				t.Errorf("warnings = %v, want none: every credential is a reference", warnings)
			}
		})
	}
}

// TestLiteralCredentialWarning: a literal credential is accepted, and the
// warning names the field and the alternatives, never the value.
func TestLiteralCredentialWarning(t *testing.T) {
	const canary = "sk-canary-9f8e7d6c5b4a"
	doc := "name: p\ntype: custom\ntarget: https://x.example\nsecrets:\n  api_token: " + canary + "\n  other: ${env:OTHER}\n"
	got, warnings, err := connection.ParseYAML("conn.yml", []byte(doc), testResolver(map[string]string{"OTHER": "o"}, nil))
	if err != nil || string(got.Credentials["keys.api_token"].Reveal()) != canary {
		t.Fatalf("ParseYAML = %v; the literal must be accepted", err)
	}
	want := "conn.yml: secrets.api_token holds a credential written in the file: write it as ${env:NAME} or @path/to/file, or give it with --set credentials.keys.api_token=..."
	if len(warnings) != 1 || warnings[0].Field != "secrets.api_token" || warnings[0].Message != want {
		t.Fatalf("warnings = %+v, want one: %s", warnings, want)
	}
	if strings.Contains(warnings[0].Message, canary) {
		t.Errorf("the warning shows the value")
	}
}

// TestParseYAMLErrors: bad files are refused with the file, the line and the
// field, never a credential's value.
func TestParseYAMLErrors(t *testing.T) {
	const canary = "sk-canary-0a1b2c"
	res := testResolver(map[string]string{"EMPTY": ""}, map[string]string{"/conf/empty": "\n"})
	cases := []struct {
		name, doc, field, msg string
	}{
		{"not YAML", "name: [\n", "", "not a YAML document: line 1: did not find expected node content"},
		{"a tag", "name: x\ntype: api_key\napi_key: !vault " + canary + "\n", "", "tags such as"},
		{"binary", "name: x\ntype: api_key\napi_key: !!binary c2VjcmV0\n", "", "tags such as"},
		{"a list", "- a\n- b\n", "", "must be a mapping"},
		{"no type", "name: x\n", "type", "is not one Latchkey knows"},
		{"unknown type", "name: x\ntype: pinecone\n", "type", `type "pinecone" is not one Latchkey knows`},
		{"no name", "type: api_key\napi_base: https://x\n", "name", "needs a name"},
		{"key of another type", "name: x\ntype: azure_blob\napi_key: " + canary + "\n", "api_key", "api_key is not a key of a azure_blob connection"},
		{"duplicate key", "name: x\ntype: api_key\napi_key: a\napi_key: " + canary + "\n", "api_key", "given twice"},
		{"key twice", "name: x\ntype: api_key\napi_key: " + canary + "\ncredentials: {key: " + canary + "}\n", "credentials.key", "gives a credential the file gives already"},
		{"alias", "name: &n x\ntype: api_key\ndescription: *n\n", "", "anchors and aliases"},
		{"two documents", "name: x\ntype: api_key\n---\nname: y\n", "", "more than one YAML document"},
		{"unset variable", "name: x\ntype: api_key\napi_key: ${env:NOPE}\n", "api_key", "environment variable NOPE, which is not set"},
		{"empty variable", "name: x\ntype: api_key\napi_key: ${env:EMPTY}\n", "api_key", "environment variable EMPTY, which is not set (or empty)"},
		{"bad reference", "name: x\ntype: api_key\napi_key: ${file:x}\n", "api_key", "not ${env:NAME}"},
		{"missing file", "name: x\ntype: api_key\napi_key: \"@nope\"\n", "api_key", "refers to file /conf/nope, which cannot be read"},
		{"empty file", "name: x\ntype: api_key\napi_key: \"@empty\"\n", "api_key", "which is empty"},
		{"credential map", "name: x\ntype: api_key\napi_key: {a: " + canary + "}\n", "api_key", "must be a single value"},
		{"credentials key", "name: x\ntype: azure_blob\ncredentials: {pat: " + canary + "}\n", "credentials.pat", "not pat"},
		{"credentials type", "name: x\ntype: azure_blob\ncredentials: {type: oauth2}\n", "credentials.type", `"oauth2" is not one Latchkey knows`},
		{"conflicting targets", "name: x\ntype: api_key\napi_base: https://a\ntarget: https://b\n", "api_base", "say different things"},
		{"is_shared not a bool", "name: x\ntype: api_key\nis_shared: maybe\n", "is_shared", "true or false"},
		{"proxy key", "name: x\ntype: api_key\nproxy: {user: y}\n", "proxy.user", "proxy has header, prefix, key"},
		{"proxy limit", "name: x\ntype: api_key\nproxy: {requests_per_minute: many}\n", "proxy.requests_per_minute", "whole number"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := connection.ParseYAML("conn.yml", []byte(tc.doc), res)
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != errs.Invalid || e.Field != tc.field || !strings.Contains(e.Msg, tc.msg) || !strings.HasPrefix(e.Msg, "conn.yml") {
				t.Fatalf("ParseYAML = %v (field %q), want Invalid naming %q and saying %q", err, fieldOf(err), tc.field, tc.msg)
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("the error quotes a credential: %v", err)
			}
		})
	}
}

// TestSetOverrides: --set PATH=VALUE, with references.
func TestSetOverrides(t *testing.T) {
	res := testResolver(map[string]string{"K": "from-env"}, map[string]string{"/conf/f": "from-file\n"})
	s, _, err := connection.ParseYAML("conn.yml", []byte("name: x\ntype: custom\nsecrets: {a: \"${env:K}\"}\n"), res)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{
		{"credentials.keys.a", "@f"}, {"credentials.keys.b", "literal"}, {"target", "https://t.example"},
		{"metadata.ApiVersion", "v2"}, {"tags.team", "ml"}, {"proxy.header", "X-Key"}, {"proxy.key", "b"},
	} {
		if err := s.Set(kv[0], kv[1], res); err != nil {
			t.Fatalf("Set(%s) = %v", kv[0], err)
		}
	}
	want := spec("x", connection.Definition{Category: connection.CategoryCustomKeys, AuthType: connection.AuthCustomKeys, Target: "https://t.example",
		Metadata: map[string]string{"ApiVersion": "v2"}, Tags: map[string]string{"team": "ml"},
		Credentials: creds("keys.a", "from-file", "keys.b", "literal"), Proxy: &connection.ProxyHeader{Header: "X-Key", Key: "b"}})
	if diff := cmp.Diff(want, s, valueComparer); diff != "" {
		t.Errorf("after --set (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"credentials.pat", "name", "vault", "readersReadDatastoreCredentials"} {
		if err := s.Set(bad, "SECRET-X", res); !errs.Is(err, errs.Invalid) || strings.Contains(err.Error(), "SECRET-X") {
			t.Errorf("Set(%s) = %v, want Invalid without the value", bad, err)
		}
	}
}

// FuzzParseYAML: the loader never panics on any input, and whatever it
// accepts, FormatYAML writes and ParseYAML reads back the same.
func FuzzParseYAML(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yml")
	for _, path := range seeds {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("name: x\ntype: api_key\napi_base: https://x\napi_key: ${env:K}\n"))
	f.Add([]byte("name: x\ntype: custom\nsecrets: {a: \"@f\", b: lit}\nproxy: {header: X, prefix: \"\"}\n"))
	f.Add([]byte("name: x\ntype: key_vault\nvault: kv\nidentity: id\nreaders_read_datastore_credentials: true\n"))
	f.Add([]byte("a: &x [*x, *x]\n"))
	res := testResolver(map[string]string{"K": "env-value"}, map[string]string{"/conf/f": "file-value"})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, warnings, err := connection.ParseYAML("f.yml", data, res)
		if err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("ParseYAML error of kind %s: %v", errs.KindOf(err), err)
			}
			return
		}
		for _, w := range warnings {
			if !strings.HasPrefix(w.Message, "f.yml: "+w.Field+" holds a credential written in the file") {
				t.Fatalf("warning %q is not about its field %q", w.Message, w.Field)
			}
		}
		out, err := connection.FormatYAML(s)
		if err != nil {
			return // a credential that reads as a reference has no literal form
		}
		back, _, err := connection.ParseYAML("f.yml", out, connection.Resolver{})
		if err != nil {
			t.Fatalf("ParseYAML(FormatYAML(spec)) = %v\n%s", err, out)
		}
		if diff := cmp.Diff(s, back, valueComparer); diff != "" {
			t.Fatalf("round trip mismatch (-parsed +reparsed):\n%s\n%s", diff, out)
		}
	})
}
