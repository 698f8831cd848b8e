package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
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
	return fmt.Sprintf("addr=%s data=%s database=%s tls_cert=%s tls_key=%s master_key_file=%s master_key=%s log_format=%s log_level=%s shutdown_timeout=%s",
		c.Addr, c.Data, redactDSN(c.Database), c.TLSCert, c.TLSKey, c.MasterKeyFile, mk, c.LogFormat, c.LogLevel, c.ShutdownTimeout)
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

func knownKeys() string {
	keys := make([]string, len(options))
	for i, o := range options {
		keys[i] = o.key
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
	return errors.Join(problems...)
}
