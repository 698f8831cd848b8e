package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
	"golang.org/x/time/rate"

	"github.com/latchkey/latchkey/internal/identity"
)

// Config is everything `latchkey serve` and `latchkey dev` need. It is built in
// one order: defaults, then the YAML file, then LATCHKEY_* environment variables,
// then flags (flags win).
type Config struct {
	Addr            string        `yaml:"addr"`
	Data            string        `yaml:"data"`
	Database        string        `yaml:"database"`
	TLSCert         string        `yaml:"tls_cert"`
	TLSKey          string        `yaml:"tls_key"`
	MasterKeyFile   string        `yaml:"master_key_file"`
	LogFormat       string        `yaml:"log_format"`
	LogLevel        string        `yaml:"log_level"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// VaultDomain is the domain under which each vault is its own host:
	// https://{vault}.vault.{domain}[:port]. The TLS certificate must cover
	// *.vault.{domain}.
	VaultDomain string `yaml:"vault_domain"`

	// TokenRatePerClient and TokenRatePerAddress limit token requests, in
	// requests per second, per client and per source address. They hold the text
	// as given ("50", "12.5", "off"); validate checks it and throttleOptions
	// turns it into identity.ThrottleOptions.
	TokenRatePerClient  string `yaml:"token_rate_per_client"`
	TokenRatePerAddress string `yaml:"token_rate_per_address"`

	// TrustedProxies lists, comma-separated, the address ranges (CIDR, or
	// single addresses) of the proxies and load balancers in front of the
	// server, whose X-Forwarded-For names the client. Empty: none.
	TrustedProxies string `yaml:"trusted_proxies"`

	// Audit is the audit trail's retention and sinks (auditconfig.go).
	Audit AuditConfig `yaml:"audit"`

	// MasterKey is key material from LATCHKEY_MASTER_KEY. It is never read from
	// the file or a flag (both leak: files get committed, flags show in ps).
	MasterKey string `yaml:"-"`
}

// String prints the configuration with secrets redacted.
func (c Config) String() string {
	mk := ""
	if c.MasterKey != "" {
		mk = "[REDACTED]"
	}
	return fmt.Sprintf("addr=%s data=%s database=%s tls_cert=%s tls_key=%s master_key_file=%s master_key=%s log_format=%s log_level=%s shutdown_timeout=%s token_rate_per_client=%s token_rate_per_address=%s trusted_proxies=%s",
		c.Addr, c.Data, redactDSN(c.Database), c.TLSCert, c.TLSKey, c.MasterKeyFile, mk, c.LogFormat, c.LogLevel, c.ShutdownTimeout,
		c.TokenRatePerClient, c.TokenRatePerAddress, c.TrustedProxies) + " audit: " + c.Audit.String()
}

// option is one configuration key: its YAML name, flag, environment variable and
// how to set it from text. The table keeps the three sources in step.
type option struct {
	key, flag, env, usage string
	set                   func(c *Config, v string) error
	get                   func(c *Config) string
}

func stringOption(key, flag, usage string, field func(c *Config) *string) option {
	return option{
		key: key, flag: flag, env: "LATCHKEY_" + strings.ToUpper(key), usage: usage,
		set: func(c *Config, v string) error { *field(c) = v; return nil },
		get: func(c *Config) string { return *field(c) },
	}
}

var options = []option{
	stringOption("addr", "addr", "address to listen on, host:port", func(c *Config) *string { return &c.Addr }),
	stringOption("data", "data", "data folder (SQLite database, dev certificates and keys)", func(c *Config) *string { return &c.Data }),
	stringOption("database", "database", "database: postgres://user:password@host:5432/db, or sqlite:PATH (default: sqlite in the data folder)", func(c *Config) *string { return &c.Database }),
	stringOption("tls_cert", "tls-cert", "TLS certificate chain, PEM", func(c *Config) *string { return &c.TLSCert }),
	stringOption("tls_key", "tls-key", "TLS private key, PEM", func(c *Config) *string { return &c.TLSKey }),
	stringOption("master_key_file", "master-key-file", "file holding the 256-bit master key, base64 or hex (or set LATCHKEY_MASTER_KEY)", func(c *Config) *string { return &c.MasterKeyFile }),
	stringOption("vault_domain", "vault-domain", "domain of the vaults' hosts: https://{vault}.vault.{domain}; the certificate must cover *.vault.{domain}", func(c *Config) *string { return &c.VaultDomain }),
	stringOption("log_format", "log-format", "log format: text or json", func(c *Config) *string { return &c.LogFormat }),
	stringOption("log_level", "log-level", "log level: debug, info, warn or error", func(c *Config) *string { return &c.LogLevel }),
	{
		key: "shutdown_timeout", flag: "shutdown-timeout", env: "LATCHKEY_SHUTDOWN_TIMEOUT",
		usage: "how long to let requests finish on SIGINT/SIGTERM",
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%q is not a duration: write it like 15s or 1m", v)
			}
			c.ShutdownTimeout = d
			return nil
		},
		get: func(c *Config) string { return c.ShutdownTimeout.String() },
	},
	stringOption("token_rate_per_client", "token-rate-per-client",
		fmt.Sprintf("token requests per second per client, burst twice that; 0 means %g, off disables", float64(identity.DefaultThrottle.PerClient)),
		func(c *Config) *string { return &c.TokenRatePerClient }),
	stringOption("token_rate_per_address", "token-rate-per-address",
		fmt.Sprintf("token requests per second per source address, burst twice that; 0 means %g, off disables", float64(identity.DefaultThrottle.PerAddress)),
		func(c *Config) *string { return &c.TokenRatePerAddress }),
	stringOption("trusted_proxies", "trusted-proxies",
		"address ranges of the proxies in front of the server, whose X-Forwarded-For names the client: CIDRs such as 10.0.0.0/8, comma-separated",
		func(c *Config) *string { return &c.TrustedProxies }),
	{
		key: "audit.retention", flag: "audit-retention", env: "LATCHKEY_AUDIT_RETENTION",
		usage: "how long the audit trail keeps events: 365d (the default), 90d, 8760h, or forever",
		set:   func(c *Config, v string) error { c.Audit.Retention = v; return nil },
		get:   func(c *Config) string { return c.Audit.Retention },
	},
}

// addFlags declares configuration flags on fs: those of the given keys, or all
// when none are given. Their defaults are shown in help only; the values are
// applied by loadConfig.
func addFlags(fs *pflag.FlagSet, defaults Config, keys ...string) {
	fs.String("config", "", "YAML configuration file (or LATCHKEY_CONFIG)")
	for _, o := range options {
		if len(keys) == 0 || slices.Contains(keys, o.key) {
			fs.String(o.flag, o.get(&defaults), o.usage)
		}
	}
}

// loadConfig builds the configuration from defaults, the file named by --config
// or LATCHKEY_CONFIG, the environment, and the flags that were set, in that order.
func loadConfig(defaults Config, fs *pflag.FlagSet, getenv func(string) string) (Config, error) {
	c := defaults
	path, _ := fs.GetString("config")
	if path == "" {
		path = getenv("LATCHKEY_CONFIG")
	}
	if path != "" {
		if err := loadFile(&c, path); err != nil {
			return Config{}, err
		}
	}
	var problems []error
	for _, o := range options {
		if v := getenv(o.env); v != "" {
			if err := o.set(&c, v); err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", o.env, err))
			}
		}
	}
	c.MasterKey = getenv("LATCHKEY_MASTER_KEY")
	for _, o := range options {
		if f := fs.Lookup(o.flag); f != nil && f.Changed {
			if err := o.set(&c, f.Value.String()); err != nil {
				problems = append(problems, fmt.Errorf("--%s: %w", o.flag, err))
			}
		}
	}
	return c, errors.Join(problems...)
}

func loadFile(c *Config, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w: check the --config path", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) { // EOF: an empty file sets nothing
		return fmt.Errorf("config file %s: %w: the keys are %s", path, err, knownKeys())
	}
	return nil
}

// knownKeys lists the file's top-level keys (audit.retention is under audit).
func knownKeys() string {
	var keys []string
	for _, o := range options {
		if k, _, _ := strings.Cut(o.key, "."); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return strings.Join(keys, ", ")
}

// validate reports every problem with c at once, each naming the setting, the bad
// value and the fix.
func (c Config) validate() error {
	var problems []error
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		problems = append(problems, fmt.Errorf("addr %q is not host:port: write it like 127.0.0.1:8443 or :8443", c.Addr))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		problems = append(problems, fmt.Errorf("log_format %q is not text or json", c.LogFormat))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		problems = append(problems, err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		problems = append(problems, errors.New("tls_cert and tls_key go together: give both --tls-cert and --tls-key"))
	}
	if c.ShutdownTimeout <= 0 {
		problems = append(problems, fmt.Errorf("shutdown_timeout %s must be positive, like 15s", c.ShutdownTimeout))
	}
	if c.MasterKey != "" && c.MasterKeyFile != "" {
		problems = append(problems, errors.New("both LATCHKEY_MASTER_KEY and master_key_file are set: keep one"))
	}
	if c.Database == "" && c.Data == "" {
		problems = append(problems, errors.New("no database: give --database postgres://... or --data DIR for an embedded SQLite database"))
	}
	if _, err := c.throttleOptions(); err != nil {
		problems = append(problems, err)
	}
	if _, err := c.trustedProxies(); err != nil {
		problems = append(problems, err)
	}
	if err := c.Audit.validate(); err != nil {
		problems = append(problems, err)
	}
	return errors.Join(problems...)
}

// trustedProxies parses TrustedProxies: CIDRs, or single addresses (a /32
// or /128), separated by commas.
func (c Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(c.TrustedProxies, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("trusted_proxies: %q is not an address range: write CIDRs such as 10.0.0.0/8 or 192.0.2.10/32, separated by commas", f)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// maxTokenRate bounds a token rate setting: beyond it a limit means nothing, and
// its burst would not fit an int. Disable the limit with "off" instead.
const maxTokenRate = 1_000_000

// throttleOptions turns the token rate settings into identity.ThrottleOptions:
// "" or 0 keeps identity's default, "off" or a negative number disables the
// limit, and any other rate gets a burst of twice the rate (at least 1).
func (c Config) throttleOptions() (identity.ThrottleOptions, error) {
	var o identity.ThrottleOptions
	var problems []error
	var err error
	if o.PerClient, o.ClientBurst, err = parseTokenRate("token_rate_per_client", c.TokenRatePerClient); err != nil {
		problems = append(problems, err)
	}
	if o.PerAddress, o.AddressBurst, err = parseTokenRate("token_rate_per_address", c.TokenRatePerAddress); err != nil {
		problems = append(problems, err)
	}
	return o, errors.Join(problems...)
}

// parseTokenRate reads the setting key's value v. It returns a zero rate and
// burst for the default and a negative rate for "off".
func parseTokenRate(key, v string) (rate.Limit, int, error) {
	s := strings.TrimSpace(v)
	if s == "" {
		return 0, 0, nil
	}
	if strings.EqualFold(s, "off") {
		return -1, 0, nil
	}
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(r) || math.IsInf(r, 0) {
		return 0, 0, fmt.Errorf("%s %q is not a number of requests per second: write it like 50 or 12.5, 0 for the default, or off to disable the limit", key, v)
	}
	switch {
	case r == 0:
		return 0, 0, nil
	case r < 0:
		return -1, 0, nil
	case r > maxTokenRate:
		return 0, 0, fmt.Errorf("%s %q is more than %d requests per second: give a smaller rate, or off to disable the limit", key, v, maxTokenRate)
	}
	return rate.Limit(r), max(1, int(math.Ceil(2*r))), nil
}
