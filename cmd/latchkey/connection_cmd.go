package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/connection"
)

// This file is `latchkey connection`: connections of hubs and projects,
// written in the YAML of `az ml connection create --file`.

func newConnectionCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "connection",
		Short: "Manage connections: what hubs and projects reach, with credentials kept in the hub's vault",
		Long: `Manage connections (az ml connection). A hub's connections are shared with its projects;
a project's are its own. Credentials are kept as secrets in the vault of the hub's Key Vault
connection; listing and showing never print them, list-secrets does (a data action of its own).

  latchkey connection create --file conn.yml [--hub H] [--project P] [--name N] [--set PATH=VALUE]...
  latchkey connection show --name N [--hub H] [--project P]
  latchkey connection list [--hub H] [--project P]
  latchkey connection update --name N [--hub H] [--project P] [--file conn.yml] [--set PATH=VALUE]...
  latchkey connection delete --name N [--hub H] [--project P]
  latchkey connection list-secrets --name N [--hub H] [--project P]
  latchkey connection usage --name N [--hub H] [--project P]      the proxy's callers, metered

--hub defaults to "default"; without --project a command acts on the hub's shared connections.
Every command takes --output json|table|yaml.

In a file, write a credential as ${env:NAME} or @path/to/file (relative to the file), or give it
with --set credentials.key=... (also ${env:NAME} or @path). A credential written in the file is
accepted with a warning. --set may change: ` + connection.SetPaths + `.

File types: api_key (api_base, api_key), custom (configs, secrets), azure_open_ai (endpoint,
api_key, open_ai_resource_id, api_version, deployments), azure_ai_services (account or
ai_services_resource_id, endpoint, api_key), azure_blob (url, account_name, container_name,
credentials), azure_data_lake_gen2 (target, account_name, file_system, path, credentials),
azure_one_lake (endpoint, one_lake_workspace_name, artifact, credentials), and key_vault (vault,
identity, readers_read_datastore_credentials): the hub's one Key Vault connection.`,
	}
	f := addServerFlags(cmd)
	cmd.AddCommand(connectionCreate(e, f), connectionShow(e, f), connectionList(e, f), connectionUpdate(e, f),
		connectionDelete(e, f), connectionListSecrets(e, f), connectionUsage(e, f))
	return cmd
}

// connectionFlags are the flags that place a connection.
type connectionFlags struct {
	hub, project, name, output string
}

func addConnectionFlags(cmd *cobra.Command, name bool, output string) *connectionFlags {
	cf := &connectionFlags{}
	cmd.Flags().StringVar(&cf.hub, "hub", "default", "the hub")
	cmd.Flags().StringVar(&cf.project, "project", "", "the project (none: the hub's shared connections)")
	if name {
		cmd.Flags().StringVar(&cf.name, "name", "", "the connection's name")
	}
	cmd.Flags().StringVarP(&cf.output, "output", "o", output, "output format: json, table or yaml")
	return cf
}

func (cf *connectionFlags) needName() error {
	if cf.name == "" {
		return errors.New(`required flag "name" not set: give --name N`)
	}
	return nil
}

func connectionCreate(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "create --file conn.yml", Short: "Create a connection from a file, or replace it", Args: cobra.NoArgs}
	cf := addConnectionFlags(cmd, true, "json")
	file := requiredFlag(cmd, "file", "the connection's YAML file (az ml connection create --file)")
	sets := cmd.Flags().StringArray("set", nil, "override PATH=VALUE, such as credentials.key=${env:KEY} (repeatable)")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		spec, err := loadConnectionFile(e, *file, *sets)
		if err != nil {
			return err
		}
		if cf.name == "" {
			cf.name = spec.Name
		}
		if err := checkShared(spec, cf.project); err != nil {
			return err
		}
		out, _, err := c.PutConnection(cmd.Context(), cf.hub, cf.project, cf.name, definitionOf(spec))
		if err != nil {
			return err
		}
		return renderConnection(e.stdout, cf.output, out)
	})
	return cmd
}

func connectionShow(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "show --name N", Short: "Show a connection, without credentials", Args: cobra.NoArgs}
	cf := addConnectionFlags(cmd, true, "json")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		if err := cf.needName(); err != nil {
			return err
		}
		out, err := c.Connection(cmd.Context(), cf.hub, cf.project, cf.name)
		if err != nil {
			return err
		}
		return renderConnection(e.stdout, cf.output, out)
	})
	return cmd
}

func connectionList(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List the connections of a hub, or those a project sees", Args: cobra.NoArgs}
	cf := addConnectionFlags(cmd, false, "table")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		out, err := c.Connections(cmd.Context(), cf.hub, cf.project)
		if err != nil {
			return err
		}
		return renderFormat(e.stdout, cf.output, out, connectionTable(out...))
	})
	return cmd
}

func connectionUpdate(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "update --name N", Short: "Change a connection: replace it from a file, or --set some of it", Args: cobra.NoArgs}
	cf := addConnectionFlags(cmd, true, "json")
	file := cmd.Flags().String("file", "", "replace the definition with this file's")
	sets := cmd.Flags().StringArray("set", nil, "change PATH=VALUE, such as credentials.key=@key.txt (repeatable)")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		if err := cf.needName(); err != nil {
			return err
		}
		var out client.Connection
		switch {
		case *file != "":
			spec, err := loadConnectionFile(e, *file, *sets)
			if err != nil {
				return err
			}
			if err := checkShared(spec, cf.project); err != nil {
				return err
			}
			if out, _, err = c.PutConnection(cmd.Context(), cf.hub, cf.project, cf.name, definitionOf(spec)); err != nil {
				return err
			}
		case len(*sets) > 0:
			var p connection.Patch
			for _, s := range *sets {
				path, value, ok := strings.Cut(s, "=")
				if !ok {
					return fmt.Errorf("--set %q: write PATH=VALUE", clipFlag(path))
				}
				if err := p.Set(path, value, cliResolver(e, "")); err != nil {
					return err
				}
			}
			var err error
			if out, err = c.UpdateConnection(cmd.Context(), cf.hub, cf.project, cf.name, changesOf(p)); err != nil {
				return err
			}
		default:
			return errors.New("nothing to update: give --file conn.yml, or --set PATH=VALUE")
		}
		return renderConnection(e.stdout, cf.output, out)
	})
	return cmd
}

func connectionDelete(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "delete --name N", Short: "Delete a connection; its secrets stay recoverable in the vault", Args: cobra.NoArgs}
	cf := addConnectionFlags(cmd, true, "json")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		if err := cf.needName(); err != nil {
			return err
		}
		return c.DeleteConnection(cmd.Context(), cf.hub, cf.project, cf.name)
	})
	return cmd
}

func connectionListSecrets(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "list-secrets --name N", Short: "Show a connection with its credentials (listsecrets)", Args: cobra.NoArgs}
	cf := addConnectionFlags(cmd, true, "json")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		if err := cf.needName(); err != nil {
			return err
		}
		out, err := c.ListConnectionSecrets(cmd.Context(), cf.hub, cf.project, cf.name)
		if err != nil {
			return err
		}
		return renderFormat(e.stdout, cf.output, out, credentialTable(out))
	})
	return cmd
}

func connectionUsage(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "usage --name N", Short: "Show the requests and tokens of each caller of the connection proxy, as the answering server metered them", Args: cobra.NoArgs}
	cf := addConnectionFlags(cmd, true, "json")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		if err := cf.needName(); err != nil {
			return err
		}
		u, err := c.ConnectionUsage(cmd.Context(), cf.hub, cf.project, cf.name)
		if err != nil {
			return err
		}
		return renderFormat(e.stdout, cf.output, u, callerUsageTable(u.Callers))
	})
	return cmd
}

// cliResolver reads ${env:NAME} from the command's environment and @path
// from files, relative paths from dir ("" for the working folder).
func cliResolver(e *env, dir string) connection.Resolver {
	return connection.Resolver{
		Getenv:   func(name string) (string, bool) { v := e.getenv(name); return v, v != "" },
		ReadFile: os.ReadFile,
		Dir:      dir,
	}
}

// loadConnectionFile reads a connection file, applies the --set overrides,
// and prints the file's warnings on stderr.
func loadConnectionFile(e *env, path string, sets []string) (connection.Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return connection.Spec{}, fmt.Errorf("read the connection file: %w", err)
	}
	spec, warnings, err := connection.ParseYAML(filepath.Base(path), data, cliResolver(e, filepath.Dir(path)))
	if err != nil {
		return spec, err
	}
	for _, w := range warnings {
		fmt.Fprintf(e.stderr, "latchkey: warning: %s\n", w.Message)
	}
	for _, s := range sets {
		p, value, ok := strings.Cut(s, "=")
		if !ok {
			return spec, fmt.Errorf("--set %q: write PATH=VALUE", clipFlag(p))
		}
		if err := spec.Set(p, value, cliResolver(e, "")); err != nil {
			return spec, err
		}
	}
	return spec, nil
}

func clipFlag(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// checkShared compares the file's is_shared with --project.
func checkShared(spec connection.Spec, project string) error {
	switch {
	case spec.Shared == nil:
		return nil
	case !*spec.Shared && project == "":
		return errors.New("the file says is_shared: false, which makes a project's connection: give --project P, or set is_shared: true")
	case *spec.Shared && project != "":
		return errors.New("the file says is_shared: true, which makes a hub's connection shared with its projects: leave out --project, or set is_shared: false")
	}
	return nil
}

// definitionOf is the wire form of a file's connection.
func definitionOf(s connection.Spec) client.ConnectionDefinition {
	d := client.ConnectionDefinition{
		Category: string(s.Category), AuthType: string(s.AuthType), Target: s.Target, Description: s.Description,
		Metadata: s.Metadata, Tags: s.Tags, Account: s.Account, Vault: s.Vault, Identity: s.Identity,
		ReadersReadDatastoreCredentials: s.ReadersReadDatastoreCredentials, Credentials: credentialsWire(s.Credentials),
	}
	d.Proxy = proxyWire(s.Proxy)
	return d
}

// changesOf is the wire form of --set changes.
func changesOf(p connection.Patch) client.ConnectionUpdate {
	ch := client.ConnectionChanges{
		Target: p.Target, Description: p.Description, Metadata: p.Metadata, Tags: p.Tags, Account: p.Account, Identity: p.Identity,
		ReadersReadDatastoreCredentials: p.ReadersReadDatastoreCredentials, Credentials: credentialsWire(p.Credentials),
	}
	if p.AuthType != nil {
		a := string(*p.AuthType)
		ch.AuthType = &a
	}
	ch.Proxy = proxyWire(p.Proxy)
	return client.ConnectionUpdate{Properties: ch}
}

func proxyWire(p *connection.ProxyHeader) *client.ConnectionProxy {
	if p == nil {
		return nil
	}
	return &client.ConnectionProxy{Header: p.Header, Prefix: p.Prefix, Key: p.Key,
		RequestsPerMinute: p.RequestsPerMinute, TokensPerMinute: p.TokensPerMinute}
}

func credentialsWire(creds connection.Credentials) *client.ConnectionCredentials {
	return client.NewConnectionCredentials(creds.Plain())
}

func renderConnection(w io.Writer, format string, c client.Connection) error {
	return renderFormat(w, format, c, connectionTable(c))
}

// renderFormat prints v as json, yaml or a table.
func renderFormat(w io.Writer, format string, v any, tab table) error {
	switch format {
	case "json", "table":
		return render(w, format, v, tab)
	case "yaml":
	default:
		return fmt.Errorf("--output %q is not a format: use json, table or yaml", format)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	// JSON is YAML: decoding it keeps the fields' order; the styles are
	// cleared so that it prints in block style.
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return err
	}
	blockStyle(&n)
	out, err := yaml.Marshal(&n)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

func blockStyle(n *yaml.Node) {
	if n.Style&(yaml.FlowStyle) != 0 || n.Kind == yaml.ScalarNode && n.Style == yaml.DoubleQuotedStyle {
		n.Style = 0
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}

func connectionTable(cs ...client.Connection) table {
	t := table{header: []string{"Name", "Hub", "Project", "Category", "AuthType", "Target"}}
	for _, c := range cs {
		p := c.Project
		if p == "" {
			p = "(shared)"
		}
		t.rows = append(t.rows, []string{c.Name, c.Hub, p, c.Properties.Category, c.Properties.AuthType, c.Properties.Target})
	}
	return t
}

// credentialTable lists a connection's credentials, one per row.
func credentialTable(c client.Connection) table {
	t := table{header: []string{"Name", "Field", "Vault", "Secret", "Value"}}
	cr := c.Properties.Credentials
	if cr == nil {
		return t
	}
	values := map[string]string{"key": cr.Key, "sas": cr.SAS, "clientId": cr.ClientID, "clientSecret": cr.ClientSecret,
		"tenantId": cr.TenantID, "resourceId": cr.ResourceID}
	for k, v := range cr.Keys {
		values[connection.CustomKeyPrefix+k] = v
	}
	secrets := slices.Clone(c.Properties.Secrets)
	for _, s := range secrets {
		t.rows = append(t.rows, []string{c.Name, s.Field, s.Vault, s.Name, values[s.Field]})
	}
	return t
}
