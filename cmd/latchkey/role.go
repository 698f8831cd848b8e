package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/client"
)

// This file is `latchkey role`: role definitions, role assignments, eligible
// assignments and access checks, after az role.

func newRoleCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "role",
		Short: "Manage roles, role assignments and eligible (just-in-time) assignments",
		Long: `Manage access control (az role). Scopes are paths (/, /hubs/H, /hubs/H/projects/P,
/hubs/H/vaults/V) and an assignment holds below its scope too. An assignee is an object id,
an appId, a user name or a managed identity name.

  latchkey role definition list [--custom-role-only]
  latchkey role definition show --name NAME|ID
  latchkey role definition create --role-definition FILE|JSON
  latchkey role definition update --role-definition FILE|JSON
  latchkey role definition delete --name NAME|ID
  latchkey role assignment create --assignee ID --role NAME --scope SCOPE
  latchkey role assignment list [--assignee ID] [--role NAME] [--scope SCOPE]
  latchkey role assignment delete --ids ID... | [--assignee ID] [--role NAME] [--scope SCOPE]
  latchkey role eligible create --assignee ID --role NAME --scope SCOPE [--max-duration 8h] [--no-justification]
  latchkey role eligible list [--assignee ID|me] [--scope SCOPE]
  latchkey role eligible activate --id ID --justification TEXT [--duration 1h]
  latchkey role eligible deactivate --id ID
  latchkey role eligible delete --id ID
  latchkey role check --assignee ID --action ACTION --scope SCOPE`,
	}
	f := addServerFlags(cmd)
	definition := &cobra.Command{Use: "definition", Short: "Manage role definitions: built-in and custom roles"}
	definition.AddCommand(newRoleDefinitionListCommand(e, f), newRoleDefinitionShowCommand(e, f), newRoleDefinitionDeleteCommand(e, f),
		newRoleDefinitionWriteCommand(e, f, "create"), newRoleDefinitionWriteCommand(e, f, "update"))
	assignment := &cobra.Command{Use: "assignment", Short: "Manage role assignments"}
	assignment.AddCommand(newRoleAssignmentCreateCommand(e, f), newRoleAssignmentListCommand(e, f), newRoleAssignmentDeleteCommand(e, f))
	eligible := &cobra.Command{Use: "eligible", Short: "Manage eligible assignments, activated for a while with a justification"}
	eligible.AddCommand(newEligibleCreateCommand(e, f), newEligibleListCommand(e, f), newEligibleActivateCommand(e, f),
		newEligibleIDCommand(e, f, "deactivate", "End an eligible assignment's activation early", (*client.Client).Deactivate),
		newEligibleIDCommand(e, f, "delete", "Delete an eligible assignment and its activation", (*client.Client).DeleteEligible))
	cmd.AddCommand(definition, assignment, eligible, newRoleCheckCommand(e, f))
	return cmd
}

func newRoleDefinitionListCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List role definitions", Args: cobra.NoArgs}
	custom := cmd.Flags().Bool("custom-role-only", false, "list custom roles only")
	out := addOutputFlag(cmd, "table")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		defs, err := c.RoleDefinitions(cmd.Context())
		if err != nil {
			return err
		}
		if *custom {
			defs = slices.DeleteFunc(defs, func(d client.RoleDefinition) bool { return d.RoleType != "CustomRole" })
		}
		return render(e.stdout, *out, defs, roleDefinitionTable(defs...))
	})
	return cmd
}

func newRoleDefinitionShowCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "show --name NAME|ID", Short: "Show a role definition", Args: cobra.NoArgs}
	name := requiredFlag(cmd, "name", "the role's name or id")
	out := addOutputFlag(cmd, "json")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		d, err := c.RoleDefinition(cmd.Context(), *name)
		if err != nil {
			return err
		}
		return render(e.stdout, *out, d, roleDefinitionTable(d))
	})
	return cmd
}

// newRoleDefinitionWriteCommand is role definition create or update: both
// take the whole definition; update finds the role by its id or roleName.
func newRoleDefinitionWriteCommand(e *env, f *serverFlags, verb string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   verb + " --role-definition FILE|JSON",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a custom role",
		Long: `The definition is a file or inline JSON, in Azure's shape:
  {"roleName": "...", "description": "...", "assignableScopes": ["/hubs/h"],
   "permissions": [{"actions": [], "notActions": [], "dataActions": [], "notDataActions": []}]}
or az's flattened shape:
  {"Name": "...", "Description": "...", "Actions": [], "NotActions": [], "DataActions": [],
   "NotDataActions": [], "AssignableScopes": ["/hubs/h"]}
An update names the role by "id" or by its name, and replaces the whole definition.`,
		Args: cobra.NoArgs,
	}
	src := requiredFlag(cmd, "role-definition", "a JSON file, or the JSON itself")
	out := addOutputFlag(cmd, "json")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		def, err := readRoleDefinition(*src)
		if err != nil {
			return err
		}
		if verb == "create" {
			def, err = c.CreateRoleDefinition(cmd.Context(), def)
		} else {
			ref := firstOf(def.ID, def.RoleName)
			if ref == "" {
				return errors.New(`--role-definition: name the role to update with "id" or "roleName"`)
			}
			def, err = c.UpdateRoleDefinition(cmd.Context(), ref, def)
		}
		if err != nil {
			return err
		}
		return render(e.stdout, *out, def, roleDefinitionTable(def))
	})
	return cmd
}

func newRoleDefinitionDeleteCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "delete --name NAME|ID", Short: "Delete a custom role that nothing is assigned", Args: cobra.NoArgs}
	name := requiredFlag(cmd, "name", "the role's name or id")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		return c.DeleteRoleDefinition(cmd.Context(), *name)
	})
	return cmd
}

// roleDefinitionInput is a role definition as the CLI reads it: Azure's shape
// or az's flattened one. JSON field names match case-insensitively, so each
// field serves both shapes where they share a name.
type roleDefinitionInput struct {
	ID               string              `json:"id"`
	RoleName         string              `json:"roleName"`
	Name             string              `json:"name"`     // the flattened shape's role name
	RoleType         string              `json:"roleType"` // accepted, so that show's output reads back; ignored
	IsCustom         *bool               `json:"isCustom"` // accepted, as az's examples carry it; ignored
	Description      string              `json:"description"`
	Permissions      []client.Permission `json:"permissions"`
	AssignableScopes []string            `json:"assignableScopes"`
	Actions          []string            `json:"actions"`
	NotActions       []string            `json:"notActions"`
	DataActions      []string            `json:"dataActions"`
	NotDataActions   []string            `json:"notDataActions"`
}

// readRoleDefinition reads --role-definition: inline JSON, or a file (az's
// @FILE works too).
func readRoleDefinition(src string) (client.RoleDefinition, error) {
	b := []byte(strings.TrimSpace(src))
	if !bytes.HasPrefix(b, []byte("{")) {
		var err error
		if b, err = os.ReadFile(strings.TrimPrefix(src, "@")); err != nil {
			return client.RoleDefinition{}, fmt.Errorf("--role-definition: %w: give a JSON file or the JSON itself", err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var in roleDefinitionInput
	if err := dec.Decode(&in); err != nil {
		return client.RoleDefinition{}, fmt.Errorf("--role-definition: %w: see latchkey role definition create --help", err)
	}
	flat := in.Actions != nil || in.NotActions != nil || in.DataActions != nil || in.NotDataActions != nil
	if flat && in.Permissions != nil {
		return client.RoleDefinition{}, errors.New(`--role-definition: give "permissions" or the flattened "Actions", "DataActions", ..., not both`)
	}
	def := client.RoleDefinition{
		ID:       in.ID[strings.LastIndexByte(in.ID, '/')+1:], // az prints ids as paths ending in the GUID
		RoleName: firstOf(in.RoleName, in.Name), Description: in.Description,
		Permissions: in.Permissions, AssignableScopes: in.AssignableScopes,
	}
	if flat {
		def.Permissions = []client.Permission{{Actions: in.Actions, NotActions: in.NotActions, DataActions: in.DataActions, NotDataActions: in.NotDataActions}}
	}
	return def, nil
}

func newRoleAssignmentCreateCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "create --assignee ID --role NAME --scope SCOPE", Short: "Assign a role to a principal at a scope", Args: cobra.NoArgs}
	assignee := requiredFlag(cmd, "assignee", "object id, appId, user name or managed identity name")
	role := requiredFlag(cmd, "role", "the role's name or id")
	scope := requiredFlag(cmd, "scope", "where the role holds, such as /hubs/default/vaults/default")
	out := addOutputFlag(cmd, "json")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		a, err := c.CreateRoleAssignment(cmd.Context(), client.CreateRoleAssignmentRequest{Assignee: *assignee, Role: *role, Scope: *scope})
		if err != nil {
			return err
		}
		return render(e.stdout, *out, a, assignmentTable(a))
	})
	return cmd
}

// assignmentFilterFlags registers --assignee, --role and --scope as filters.
func assignmentFilterFlags(cmd *cobra.Command) (assignee, role, scope *string) {
	assignee = cmd.Flags().String("assignee", "", "only this principal's: object id, appId or name")
	role = cmd.Flags().String("role", "", "only this role's: name or id")
	scope = cmd.Flags().String("scope", "", "only those at exactly this scope")
	return assignee, role, scope
}

func newRoleAssignmentListCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List role assignments", Args: cobra.NoArgs}
	assignee, role, scope := assignmentFilterFlags(cmd)
	out := addOutputFlag(cmd, "table")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		as, err := c.RoleAssignments(cmd.Context(), *assignee, *role, *scope)
		if err != nil {
			return err
		}
		return render(e.stdout, *out, as, assignmentTable(as...))
	})
	return cmd
}

func newRoleAssignmentDeleteCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete --ids ID [ID...] | [--assignee ID] [--role NAME] [--scope SCOPE]",
		Short: "Delete role assignments by id, or every one that matches the filters",
		Args:  cobra.ArbitraryArgs, // the ids after the first of --ids ID ID...
	}
	ids := cmd.Flags().StringSlice("ids", nil, "ids of the assignments to delete")
	assignee, role, scope := assignmentFilterFlags(cmd)
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, args []string) error {
		filtered := *assignee != "" || *role != "" || *scope != ""
		switch {
		case len(args) > 0 && !cmd.Flags().Changed("ids"):
			return fmt.Errorf("unexpected %q: give assignment ids with --ids", args[0])
		case len(*ids) > 0 && filtered:
			return errors.New("give --ids, or --assignee, --role and --scope, not both")
		case len(*ids) == 0 && !filtered:
			return errors.New("give --ids, or at least one of --assignee, --role and --scope")
		}
		del := append(*ids, args...)
		if filtered {
			as, err := c.RoleAssignments(cmd.Context(), *assignee, *role, *scope)
			if err != nil {
				return err
			}
			if len(as) == 0 {
				return errors.New("no role assignment matches: see latchkey role assignment list")
			}
			for _, a := range as {
				del = append(del, a.ID)
			}
		}
		for _, id := range del {
			if err := c.DeleteRoleAssignment(cmd.Context(), id); err != nil {
				return fmt.Errorf("delete role assignment %s: %w", id, err)
			}
		}
		return nil
	})
	return cmd
}

func newEligibleCreateCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "create --assignee ID --role NAME --scope SCOPE", Short: "Make a principal eligible to activate a role at a scope", Args: cobra.NoArgs}
	assignee := requiredFlag(cmd, "assignee", "object id, appId, user name or managed identity name")
	role := requiredFlag(cmd, "role", "the role's name or id")
	scope := requiredFlag(cmd, "scope", "where the role holds once activated")
	maxDuration := cmd.Flags().Duration("max-duration", 0, "longest activation, 1m to 24h (default 8h)")
	noJustification := cmd.Flags().Bool("no-justification", false, "let activations go without a justification")
	out := addOutputFlag(cmd, "json")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		longest, err := minutes("max-duration", *maxDuration)
		if err != nil {
			return err
		}
		req := client.CreateEligibleRequest{Assignee: *assignee, Role: *role, Scope: *scope, MaxDurationMinutes: longest}
		if *noJustification {
			req.RequireJustification = new(bool)
		}
		el, err := c.CreateEligible(cmd.Context(), req)
		if err != nil {
			return err
		}
		return render(e.stdout, *out, el, eligibleTable(el))
	})
	return cmd
}

func newEligibleListCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List eligible assignments", Args: cobra.NoArgs}
	assignee := cmd.Flags().String("assignee", "", `only this principal's: object id, appId, name, or "me"`)
	scope := cmd.Flags().String("scope", "", "only those at exactly this scope")
	out := addOutputFlag(cmd, "table")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		who := *assignee
		if who == "me" {
			me, err := c.Me(cmd.Context())
			if err != nil {
				return err
			}
			who = me.ID
		}
		els, err := c.Eligibles(cmd.Context(), who, *scope)
		if err != nil {
			return err
		}
		return render(e.stdout, *out, els, eligibleTable(els...))
	})
	return cmd
}

func newEligibleActivateCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "activate --id ID --justification TEXT", Short: "Activate your eligible assignment for a while", Args: cobra.NoArgs}
	id := requiredFlag(cmd, "id", "the eligible assignment's id")
	justification := cmd.Flags().String("justification", "", "why you elevate: kept in the audit trail")
	duration := cmd.Flags().Duration("duration", 0, "how long, such as 1h (default: the eligibility's maximum)")
	out := addOutputFlag(cmd, "json")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		d, err := minutes("duration", *duration)
		if err != nil {
			return err
		}
		a, err := c.Activate(cmd.Context(), *id, client.ActivateRequest{Justification: *justification, DurationMinutes: d})
		if err != nil {
			return err
		}
		return render(e.stdout, *out, a, assignmentTable(a))
	})
	return cmd
}

// newEligibleIDCommand is an eligible assignment command that takes --id and
// prints nothing: deactivate and delete.
func newEligibleIDCommand(e *env, f *serverFlags, verb, short string, do func(*client.Client, context.Context, string) error) *cobra.Command {
	cmd := &cobra.Command{Use: verb + " --id ID", Short: short, Args: cobra.NoArgs}
	id := requiredFlag(cmd, "id", "the eligible assignment's id")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		return do(c, cmd.Context(), *id)
	})
	return cmd
}

func newRoleCheckCommand(e *env, f *serverFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check --assignee ID --action ACTION --scope SCOPE",
		Short: "Tell whether a principal may perform an action at a scope, and why (exit 0 either way)",
		Args:  cobra.NoArgs,
	}
	assignee := requiredFlag(cmd, "assignee", "object id, appId, user name or managed identity name")
	action := requiredFlag(cmd, "action", "such as Latchkey.KeyVault/vaults/secrets/getSecret/action")
	scope := requiredFlag(cmd, "scope", "such as /hubs/default/vaults/default")
	out := addOutputFlag(cmd, "json")
	cmd.RunE = withClient(e, f, func(cmd *cobra.Command, c *client.Client, _ []string) error {
		d, err := c.CheckAccess(cmd.Context(), *assignee, *action, *scope)
		if err != nil {
			return err
		}
		verdict := "DENIED"
		if d.Allowed {
			verdict = "ALLOWED"
		}
		return render(e.stdout, *out, d, table{header: []string{"Decision", "Role", "Reason"}, rows: [][]string{{verdict, d.RoleName, d.Reason}}})
	})
	return cmd
}

func roleDefinitionTable(defs ...client.RoleDefinition) table {
	t := table{header: []string{"RoleName", "RoleType", "Id", "Description"}}
	for _, d := range defs {
		t.rows = append(t.rows, []string{d.RoleName, d.RoleType, d.ID, d.Description})
	}
	return t
}

func assignmentTable(as ...client.RoleAssignment) table {
	t := table{header: []string{"Id", "PrincipalId", "Role", "Scope", "Expires"}}
	for _, a := range as {
		expires := ""
		if a.Expires != nil {
			expires = when(*a.Expires)
		}
		t.rows = append(t.rows, []string{a.ID, a.PrincipalID, a.RoleDefinitionName, a.Scope, expires})
	}
	return t
}

func eligibleTable(els ...client.EligibleAssignment) table {
	t := table{header: []string{"Id", "PrincipalId", "Role", "Scope", "MaxDuration", "NeedsJustification"}}
	for _, el := range els {
		longest := (time.Duration(el.MaxDurationMinutes) * time.Minute).String()
		t.rows = append(t.rows, []string{el.ID, el.PrincipalID, el.RoleDefinitionName, el.Scope, longest, yesNo(el.RequireJustification)})
	}
	return t
}
