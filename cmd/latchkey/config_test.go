package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/latchkey/latchkey/internal/identity"
)

// TestConfigPrecedence: defaults, then file, then environment, then flags.
func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "latchkey.yaml")
	if err := os.WriteFile(file, []byte("addr: 127.0.0.1:1001\nlog_level: debug\ndatabase: sqlite:/file.db\nshutdown_timeout: 3s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		env   map[string]string
		flags []string
		want  func(c Config) string // "" when right, else what is wrong
	}{
		{"defaults only", nil, nil, func(c Config) string {
			return expect(c.Addr == ":8443" && c.LogLevel == "info" && c.ShutdownTimeout == 15*time.Second, c)
		}},
		{"file over defaults", map[string]string{"LATCHKEY_CONFIG": file}, nil, func(c Config) string {
			return expect(c.Addr == "127.0.0.1:1001" && c.LogLevel == "debug" && c.Database == "sqlite:/file.db" && c.ShutdownTimeout == 3*time.Second && c.LogFormat == "text", c)
		}},
		{"env over file", map[string]string{"LATCHKEY_CONFIG": file, "LATCHKEY_ADDR": "127.0.0.1:1002", "LATCHKEY_SHUTDOWN_TIMEOUT": "4s"}, nil, func(c Config) string {
			return expect(c.Addr == "127.0.0.1:1002" && c.LogLevel == "debug" && c.ShutdownTimeout == 4*time.Second, c)
		}},
		{"flags over env", map[string]string{"LATCHKEY_CONFIG": file, "LATCHKEY_ADDR": "127.0.0.1:1002"}, []string{"--addr", "127.0.0.1:1003", "--log-level", "warn"}, func(c Config) string {
			return expect(c.Addr == "127.0.0.1:1003" && c.LogLevel == "warn" && c.Database == "sqlite:/file.db", c)
		}},
		{"--config flag over LATCHKEY_CONFIG", map[string]string{"LATCHKEY_CONFIG": "/nonexistent.yaml"}, []string{"--config", file}, func(c Config) string {
			return expect(c.Addr == "127.0.0.1:1001", c)
		}},
		{"master key from env only", map[string]string{"LATCHKEY_MASTER_KEY": "k"}, nil, func(c Config) string {
			return expect(c.MasterKey == "k" && !strings.Contains(c.String(), "k ") && strings.Contains(c.String(), "master_key=[REDACTED]"), c)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			addFlags(fs, serveDefaults())
			if err := fs.Parse(tc.flags); err != nil {
				t.Fatal(err)
			}
			c, err := loadConfig(serveDefaults(), fs, func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			if msg := tc.want(c); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func expect(ok bool, c Config) string {
	if ok {
		return ""
	}
	return "unexpected config: " + c.String()
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	unknownKey := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknownKey, []byte("adress: :1\n"), 0o600)
	badYAML := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badYAML, []byte("addr: [\n"), 0o600)
	tests := []struct {
		name  string
		env   map[string]string
		flags []string
		want  []string // substrings of the error
	}{
		{"missing file", map[string]string{"LATCHKEY_CONFIG": filepath.Join(dir, "none.yaml")}, nil, []string{"config file", "none.yaml", "--config"}},
		{"unknown key in file", map[string]string{"LATCHKEY_CONFIG": unknownKey}, nil, []string{"adress", "the keys are addr, data"}},
		{"broken YAML", map[string]string{"LATCHKEY_CONFIG": badYAML}, nil, []string{"bad.yaml"}},
		{"bad duration in env", map[string]string{"LATCHKEY_SHUTDOWN_TIMEOUT": "soon"}, nil, []string{"LATCHKEY_SHUTDOWN_TIMEOUT", `"soon" is not a duration`}},
		{"bad duration flag", nil, []string{"--shutdown-timeout", "10"}, []string{"--shutdown-timeout", `"10" is not a duration`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			addFlags(fs, serveDefaults())
			if err := fs.Parse(tc.flags); err != nil {
				t.Fatal(err)
			}
			_, err := loadConfig(serveDefaults(), fs, func(k string) string { return tc.env[k] })
			if err == nil {
				t.Fatal("loadConfig succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Config{Addr: "nowhere", LogFormat: "xml", LogLevel: "loud", TLSCert: "c.pem", ShutdownTimeout: 0}
	err := c.validate()
	if err == nil {
		t.Fatal("validate accepted a bad config")
	}
	for _, w := range []string{`addr "nowhere"`, `log_format "xml"`, `log_level "loud"`, "tls_cert and tls_key go together", "shutdown_timeout", "no database"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("validate error lacks %q:\n%v", w, err)
		}
	}
}

func TestRedactDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://app:s3cret@db:5432/latchkey?sslmode=require", "postgres://app:xxxxx@db:5432/latchkey?sslmode=require"},
		{"postgres://db/latchkey", "postgres://db/latchkey"},
		{"sqlite:/var/lib/latchkey.db", "sqlite:/var/lib/latchkey.db"},
		{"post gres://a:s3cret@%zz", "[REDACTED]"},
		{"host=db password=hunter2 dbname=x", "host=db password=xxxxx dbname=x"},
		{"host=db password='hun ter2' dbname=x", "host=db password=xxxxx dbname=x"},
	}
	for _, tc := range tests {
		if got := redactDSN(tc.in); got != tc.want {
			t.Errorf("redactDSN(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestConfigTokenRates: each token rate reaches identity.ThrottleOptions from
// every source, with a burst of twice the rate; 0 or nothing keeps identity's
// default and off or a negative rate disables the limit.
func TestConfigTokenRates(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	numbers := file("numbers.yaml", "token_rate_per_client: 10\ntoken_rate_per_address: 2.5\n")
	off := file("off.yaml", "token_rate_per_client: off\ntoken_rate_per_address: -1\n")
	tests := []struct {
		name  string
		env   map[string]string
		flags []string
		want  identity.ThrottleOptions
	}{
		{"unset keeps the defaults", nil, nil, identity.ThrottleOptions{}},
		{"zero keeps the defaults", nil, []string{"--token-rate-per-client", "0", "--token-rate-per-address", "0"}, identity.ThrottleOptions{}},
		{"empty keeps the defaults", nil, []string{"--token-rate-per-client", "", "--token-rate-per-address", " "}, identity.ThrottleOptions{}},
		{"numbers in the file", map[string]string{"LATCHKEY_CONFIG": numbers}, nil,
			identity.ThrottleOptions{PerClient: 10, ClientBurst: 20, PerAddress: 2.5, AddressBurst: 5}},
		{"off and negative in the file", map[string]string{"LATCHKEY_CONFIG": off}, nil,
			identity.ThrottleOptions{PerClient: -1, PerAddress: -1}},
		{"environment over file", map[string]string{"LATCHKEY_CONFIG": numbers, "LATCHKEY_TOKEN_RATE_PER_CLIENT": "OFF", "LATCHKEY_TOKEN_RATE_PER_ADDRESS": "300"}, nil,
			identity.ThrottleOptions{PerClient: -1, PerAddress: 300, AddressBurst: 600}},
		{"flags over environment", map[string]string{"LATCHKEY_TOKEN_RATE_PER_CLIENT": "off"}, []string{"--token-rate-per-client", "7", "--token-rate-per-address", "off"},
			identity.ThrottleOptions{PerClient: 7, ClientBurst: 14, PerAddress: -1}},
		{"a slow rate still has a burst of one", nil, []string{"--token-rate-per-client", "0.2"},
			identity.ThrottleOptions{PerClient: 0.2, ClientBurst: 1}},
		{"an odd fraction rounds the burst up", nil, []string{"--token-rate-per-address", "1.25"},
			identity.ThrottleOptions{PerAddress: 1.25, AddressBurst: 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			addFlags(fs, devDefaults())
			if err := fs.Parse(tc.flags); err != nil {
				t.Fatal(err)
			}
			c, err := loadConfig(devDefaults(), fs, func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			if err := c.validate(); err != nil {
				t.Fatalf("validate: %v", err)
			}
			got, err := c.throttleOptions()
			if err != nil {
				t.Fatalf("throttleOptions: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("throttleOptions() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConfigTokenRateErrors: a bad rate is reported by validate with its key, the
// value as given and how to fix it, both rates at once.
func TestConfigTokenRateErrors(t *testing.T) {
	tests := []struct {
		name            string
		client, address string
		want            []string // substrings of the error
	}{
		{"words", "fast", "", []string{`token_rate_per_client "fast" is not a number of requests per second`, "off to disable"}},
		{"a unit", "", "50/s", []string{`token_rate_per_address "50/s" is not a number`}},
		{"not a number", "NaN", "", []string{`token_rate_per_client "NaN" is not a number`}},
		{"infinite", "", "+Inf", []string{`token_rate_per_address "+Inf" is not a number`}},
		{"too fast", "2e6", "", []string{`token_rate_per_client "2e6" is more than 1000000 requests per second`}},
		{"both at once", "disabled", "lots", []string{`token_rate_per_client "disabled"`, `token_rate_per_address "lots"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := devDefaults()
			c.TokenRatePerClient, c.TokenRatePerAddress = tc.client, tc.address
			err := c.validate()
			if err == nil {
				t.Fatalf("validate accepted token rates %q and %q", tc.client, tc.address)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("validate error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestConfigTrustedProxies: CIDRs and single addresses, comma-separated;
// anything else is refused naming it.
func TestConfigTrustedProxies(t *testing.T) {
	c := devDefaults()
	c.TrustedProxies = " 10.0.0.0/8, 192.0.2.10 ,2001:db8::/32,, ::ffff:198.51.100.1"
	got, err := c.trustedProxies()
	if err != nil || c.validate() != nil {
		t.Fatalf("trustedProxies = %v, %v; validate = %v", got, err, c.validate())
	}
	want := []string{"10.0.0.0/8", "192.0.2.10/32", "2001:db8::/32", "198.51.100.1/32"}
	if len(got) != len(want) {
		t.Fatalf("trustedProxies = %v, want %v", got, want)
	}
	for i, p := range got {
		if p.String() != want[i] {
			t.Errorf("trustedProxies[%d] = %s, want %s", i, p, want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "lb.internal", "10.0.0.1:443", "fe80::1%eth0"} {
		c.TrustedProxies = "10.0.0.0/8," + bad
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("trusted_proxies: %q is not an address range", bad)) {
			t.Errorf("validate with trusted_proxies %q = %v, want it named", bad, err)
		}
	}
}
