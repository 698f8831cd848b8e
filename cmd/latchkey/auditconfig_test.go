package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// loadYAML loads a configuration file holding text, with env and flags, on
// serve's defaults.
func loadYAML(t *testing.T, text string, env map[string]string, flags ...string) (Config, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "latchkey.yaml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	addFlags(fs, serveDefaults())
	if err := fs.Parse(append([]string{"--config", file}, flags...)); err != nil {
		t.Fatal(err)
	}
	return loadConfig(serveDefaults(), fs, func(k string) string { return env[k] })
}

// exampleAudit is the audit section docs/audit.md shows.
const exampleAudit = `
addr: 127.0.0.1:8443
data: /var/lib/latchkey
audit:
  retention: 365d
  sinks:
    - name: siem
      type: webhook
      scope: /hubs/h
      url: https://siem.example/ingest
      headers_file: /etc/latchkey/siem-headers
      header_env:
        X-Api-Key: SIEM_API_KEY
      ca_file: /etc/latchkey/siem-ca.pem
      queue_size: 10000
      batch_size: 100
      flush_interval: 1s
    - name: local
      type: file
      path: /var/log/latchkey/audit.jsonl
      max_size_mb: 100
      max_files: 10
    - name: console
      type: stdout
`

func TestAuditConfigLoads(t *testing.T) {
	c, err := loadYAML(t, exampleAudit, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.validate(); err != nil {
		t.Fatalf("validate the documented example: %v", err)
	}
	a := c.Audit
	if len(a.Sinks) != 3 || a.Sinks[0].FlushInterval != time.Second || a.Sinks[0].HeaderEnv["X-Api-Key"] != "SIEM_API_KEY" ||
		a.Sinks[1].MaxSizeMB != 100 || a.Sinks[2].Type != "stdout" {
		t.Errorf("loaded %+v", a)
	}
	if s := c.String(); !strings.Contains(s, "audit: retention=365d sinks=[siem:webhook:/hubs/h local:file:/ console:stdout:/]") || strings.Contains(s, "siem.example") {
		t.Errorf("Config.String() = %s; want the sinks by name, type and scope, without their URLs", s)
	}
}

// TestAuditRetention: the retention setting's forms, and its sources: the
// file, LATCHKEY_AUDIT_RETENTION, then --audit-retention.
func TestAuditRetention(t *testing.T) {
	const day = 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"", 365 * day, ""},
		{"365d", 365 * day, ""},
		{"8760h", 365 * day, ""},
		{" 30d ", 30 * day, ""},
		{"forever", 0, ""},
		{"Forever", 0, ""},
		{"0", 0, ""},
		{"1d", day, ""},
		{"12h", 0, "is shorter than a day"},
		{"365m", 0, "is shorter than a day"},
		{"0d", 0, "is not a number of days"},
		{"-5d", 0, "is not a number of days"},
		{"1.5d", 0, "is not a number of days"},
		{"999999d", 0, "is not a number of days"},
		{"a year", 0, "is not a duration"},
		{"-1h", 0, "is shorter than a day"},
	} {
		got, err := AuditConfig{Retention: tc.in}.keep()
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "audit.retention")):
			t.Errorf("keep(%q) = %v, %v; want an error naming audit.retention and saying %q", tc.in, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("keep(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	c, err := loadYAML(t, "audit:\n  retention: 90d\n", nil)
	if err != nil || c.Audit.Retention != "90d" {
		t.Errorf("from the file: %q, %v", c.Audit.Retention, err)
	}
	c, err = loadYAML(t, "audit:\n  retention: 90d\n", map[string]string{"LATCHKEY_AUDIT_RETENTION": "forever"})
	if err != nil || c.Audit.Retention != "forever" {
		t.Errorf("the environment over the file: %q, %v", c.Audit.Retention, err)
	}
	c, err = loadYAML(t, "audit:\n  retention: 90d\n", map[string]string{"LATCHKEY_AUDIT_RETENTION": "forever"}, "--audit-retention", "30d")
	if err != nil || c.Audit.Retention != "30d" {
		t.Errorf("the flag over the environment: %q, %v", c.Audit.Retention, err)
	}
	if _, err := loadYAML(t, "audit:\n  retension: 90d\n", nil); err == nil || !strings.Contains(err.Error(), "retension") {
		t.Errorf("an unknown key under audit = %v, want an error naming it", err)
	}
	if _, err := loadYAML(t, "audits: {}\n", nil); err == nil || !strings.Contains(err.Error(), "the keys are addr, data, database") || !strings.Contains(err.Error(), ", audit") {
		t.Errorf("an unknown top-level key = %v, want the list of keys with audit", err)
	}
}

// TestAuditConfigErrors: each mistake in the audit section is reported with
// its key and a fix, all at once.
func TestAuditConfigErrors(t *testing.T) {
	cases := []struct {
		name, sinks string
		want        []string
	}{
		{"no name or type", "- {}", []string{"audit.sinks[0].name: every sink needs a name", "audit.sinks[0].type: every sink needs a type"}},
		{"bad name", "- {name: SIEM, type: stdout}", []string{"audit.sinks[0].name: sink name \"SIEM\" must be"}},
		{"duplicate name", "- {name: a, type: stdout}\n- {name: a, type: file, path: /x}", []string{"audit.sinks[1].name: a is already the name of audit.sinks[0]"}},
		{"unknown type", "- {name: a, type: kafka}", []string{`audit.sinks[0].type: "kafka" is not file, stdout or webhook`}},
		{"bad scope", "- {name: a, type: stdout, scope: hubs/h}", []string{"audit.sinks[0].scope: scope \"hubs/h\" must start with '/'"}},
		{"scope below nothing", "- {name: a, type: stdout, scope: /hubs/h/secrets/s}", []string{"audit.sinks[0].scope:", "cannot appear here"}},
		{"file without path", "- {name: a, type: file}", []string{"audit.sinks[0].path: a file sink needs a path"}},
		{"same file twice", "- {name: a, type: file, path: /x}\n- {name: b, type: file, path: /x}", []string{"audit.sinks[1].path: /x is already the path of audit.sinks[0]"}},
		{"negative sizes", "- {name: a, type: file, path: /x, max_files: -1, queue_size: -2}", []string{"audit.sinks[0].max_size_mb: max_size_mb and max_files must not be negative", "audit.sinks[0].queue_size:"}},
		{"two stdout", "- {name: a, type: stdout}\n- {name: b, type: stdout}", []string{"audit.sinks[1].type: audit.sinks[0] already writes to stdout"}},
		{"webhook without url", "- {name: a, type: webhook}", []string{"audit.sinks[0].url: a webhook sink needs a url"}},
		{"plain http", "- {name: a, type: webhook, url: 'http://siem.example/'}", []string{"audit.sinks[0].url: url http://siem.example/ is not https"}},
		{"password in url", "- {name: a, type: webhook, url: 'https://me:planted@siem.example/'}", []string{"audit.sinks[0].url:", "put credentials in a header"}},
		{"bad header name", "- {name: a, type: webhook, url: 'https://s.example/', header_env: {'X Key': K}}", []string{"audit.sinks[0].header_env: header name \"X Key\""}},
		{"header without variable", "- {name: a, type: webhook, url: 'https://s.example/', header_env: {X-Key: ''}}", []string{"audit.sinks[0].header_env: header X-Key names no environment variable"}},
		{"webhook fields on a file", "- {name: a, type: file, path: /x, url: 'https://s.example/', ca_file: /ca}", []string{"audit.sinks[0].url: applies to webhook sinks only; this is a file sink", "audit.sinks[0].ca_file: applies to webhook sinks only"}},
		{"file fields on stdout", "- {name: a, type: stdout, max_files: 3}", []string{"audit.sinks[0].max_files: applies to file sinks only; this is a stdout sink"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadYAML(t, "data: /d\naudit:\n  retention: 2h\n  sinks:\n"+indent(tc.sinks, "    ")+"\n", nil)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			err = c.validate()
			if err == nil {
				t.Fatal("validate accepted it")
			}
			for _, w := range append(tc.want, `audit.retention "2h" is shorter than a day`) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "planted") {
				t.Errorf("the error quotes a credential:\n%v", err)
			}
		})
	}
}

func indent(s, by string) string {
	return by + strings.ReplaceAll(s, "\n", "\n"+by)
}

// TestOpenAuditSinks: what validate cannot see, because it reads no file
// nor environment, fails at start, naming the sink and quoting no secret.
func TestOpenAuditSinks(t *testing.T) {
	dir := t.TempDir()
	headers := filepath.Join(dir, "headers")
	os.WriteFile(headers, []byte("Authorization planted\n"), 0o600)
	good := filepath.Join(dir, "good-headers")
	os.WriteFile(good, []byte("Authorization: Bearer planted\n"), 0o600)
	webhook := func(s SinkConfig) SinkConfig {
		s.Name, s.Type, s.URL = "siem", sinkWebhook, "https://siem.example/ingest"
		return s
	}
	env := map[string]string{"SIEM_KEY": "planted-env"}
	cases := []struct {
		name string
		sink SinkConfig
		want string
	}{
		{"missing variable", webhook(SinkConfig{HeaderEnv: map[string]string{"X-Key": "SIEM_NONE"}}), "audit.sinks[0] (siem): header_env: the environment variable SIEM_NONE, which holds header X-Key, is not set"},
		{"bad headers file", webhook(SinkConfig{HeadersFile: headers}), "audit.sinks[0] (siem): headers_file: " + headers + ": line 1 has no ':'"},
		{"missing headers file", webhook(SinkConfig{HeadersFile: headers + ".none"}), "headers_file: open " + headers + ".none"},
		{"missing CA file", webhook(SinkConfig{HeadersFile: good, HeaderEnv: map[string]string{"X-Key": "SIEM_KEY"}, CAFile: headers + ".none"}), "ca_file: open"},
		{"unwritable file", SinkConfig{Name: "local", Type: sinkFile, Path: dir}, "audit.sinks[0] (local): audit sink local: open " + dir},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openAuditSinks(AuditConfig{Sinks: []SinkConfig{tc.sink}}, slog.New(slog.DiscardHandler), os.Stdout, func(k string) string { return env[k] })
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "planted") {
				t.Errorf("openAuditSinks = %v, want an error with %q that quotes no credential", err, tc.want)
			}
		})
	}
	sinks, err := openAuditSinks(AuditConfig{Sinks: []SinkConfig{webhook(SinkConfig{HeadersFile: good, HeaderEnv: map[string]string{"X-Key": "SIEM_KEY"}})}},
		slog.New(slog.DiscardHandler), os.Stdout, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("openAuditSinks with good headers = %v", err)
	}
	sinks.start()
	sinks.stop(time.Second)
}
