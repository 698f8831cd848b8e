package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/auditsink"
)

// AuditConfig is the audit section of the configuration file: how long the
// trail keeps events, and the sinks that copy it elsewhere (diagnostic
// settings). Only the file sets the sinks; the retention also comes from
// LATCHKEY_AUDIT_RETENTION and --audit-retention.
type AuditConfig struct {
	// Retention is how long events are kept: "365d", "8760h", or "forever"
	// (also "0"). "" means 365 days. At least a day.
	Retention string       `yaml:"retention"`
	Sinks     []SinkConfig `yaml:"sinks"`
}

// SinkConfig is one audit sink. Which fields apply depends on Type. It holds
// no credential: a webhook's headers come from a file or from environment
// variables named here, read when the server starts.
type SinkConfig struct {
	Name  string `yaml:"name"`  // required, unique: the sink label of its metrics
	Type  string `yaml:"type"`  // file, stdout or webhook
	Scope string `yaml:"scope"` // "" or "/" for the whole tenant, or a scope such as /hubs/h

	Path      string `yaml:"path"`        // file: the file to append to
	MaxSizeMB int    `yaml:"max_size_mb"` // file: rotate past this size; 0 means 100
	MaxFiles  int    `yaml:"max_files"`   // file: rotated files kept; 0 means 10

	URL         string            `yaml:"url"`          // webhook: https only
	HeadersFile string            `yaml:"headers_file"` // webhook: "Name: value" lines sent with each request
	HeaderEnv   map[string]string `yaml:"header_env"`   // webhook: header name -> environment variable holding its value
	CAFile      string            `yaml:"ca_file"`      // webhook: PEM certificates to trust instead of the system's

	QueueSize     int           `yaml:"queue_size"`     // events waiting; 0 means 10000
	BatchSize     int           `yaml:"batch_size"`     // events delivered at once; 0 means 100 (webhook) or 1000
	FlushInterval time.Duration `yaml:"flush_interval"` // how long a batch waits to fill; 0 means 1s (webhook) or none
}

// The sink types.
const (
	sinkFile    = "file"
	sinkStdout  = "stdout"
	sinkWebhook = "webhook"
)

// maxRetentionDays bounds a retention given in days: beyond it, use forever.
const maxRetentionDays = 100 * 366

// keep returns how long the trail keeps events: 0 for ever.
func (a AuditConfig) keep() (time.Duration, error) {
	s := strings.TrimSpace(a.Retention)
	bad := func(why string) error {
		return fmt.Errorf("audit.retention %q %s: write it like 365d, 90d or 8760h, or forever to keep every event", a.Retention, why)
	}
	var d time.Duration
	switch {
	case s == "":
		return audit.DefaultKeep, nil
	case strings.EqualFold(s, "forever") || s == "0":
		return 0, nil
	case strings.HasSuffix(s, "d"):
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err != nil || n <= 0 || n > maxRetentionDays {
			return 0, bad(fmt.Sprintf("is not a number of days from 1 to %d", maxRetentionDays))
		}
		d = time.Duration(n) * 24 * time.Hour
	default:
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, bad("is not a duration")
		}
	}
	if d < 24*time.Hour {
		return 0, bad("is shorter than a day")
	}
	return d, nil
}

// validate reports every problem of the audit section, each naming its
// key (audit.sinks[1].url) and the fix. It reads no file and no
// environment variable: openAuditSinks does, at start.
func (a AuditConfig) validate() error {
	var problems []error
	if _, err := a.keep(); err != nil {
		problems = append(problems, err)
	}
	names := map[string]int{}
	paths := map[string]int{}
	stdout := -1
	for i, s := range a.Sinks {
		key := fmt.Sprintf("audit.sinks[%d]", i)
		bad := func(field, format string, args ...any) {
			problems = append(problems, fmt.Errorf("%s.%s: %s", key, field, fmt.Sprintf(format, args...)))
		}
		switch err := auditsink.CheckName(s.Name); {
		case s.Name == "":
			bad("name", "every sink needs a name, like siem or local-file")
		case err != nil:
			bad("name", "%v", err)
		default:
			if j, dup := names[s.Name]; dup {
				bad("name", "%s is already the name of audit.sinks[%d]: names must be unique", s.Name, j)
			}
			names[s.Name] = i
		}
		if _, err := auditsink.CheckScope(s.Scope); err != nil {
			bad("scope", "%v", err)
		}
		if s.QueueSize < 0 || s.BatchSize < 0 || s.FlushInterval < 0 {
			bad("queue_size", "queue_size, batch_size and flush_interval must not be negative (leave them out for the defaults)")
		}
		switch s.Type {
		case sinkFile:
			if s.Path == "" {
				bad("path", "a file sink needs a path, like /var/log/latchkey/audit.jsonl")
			} else if j, dup := paths[s.Path]; dup {
				bad("path", "%s is already the path of audit.sinks[%d]: give each file sink its own file", s.Path, j)
			} else {
				paths[s.Path] = i
			}
			if s.MaxSizeMB < 0 || s.MaxFiles < 0 {
				bad("max_size_mb", "max_size_mb and max_files must not be negative (leave them out for 100 and 10)")
			}
		case sinkStdout:
			if stdout >= 0 {
				bad("type", "audit.sinks[%d] already writes to stdout: keep one stdout sink", stdout)
			}
			stdout = i
		case sinkWebhook:
			if _, err := auditsink.CheckURL(s.URL); err != nil {
				bad("url", "%v", err)
			}
			for _, h := range slices.Sorted(maps.Keys(s.HeaderEnv)) {
				if err := auditsink.CheckHeader(h, "x"); err != nil {
					bad("header_env", "%v", err)
				}
				if s.HeaderEnv[h] == "" {
					bad("header_env", "header %s names no environment variable", h)
				}
			}
		case "":
			bad("type", "every sink needs a type: file, stdout or webhook")
		default:
			bad("type", "%q is not file, stdout or webhook", s.Type)
		}
		for _, f := range s.misplaced() {
			bad(f, "applies to %s sinks only; this is a %s sink: leave it out", fieldType(f), s.Type)
		}
	}
	return errors.Join(problems...)
}

// fieldType returns the sink type a type-specific field belongs to.
func fieldType(field string) string {
	switch field {
	case "path", "max_size_mb", "max_files":
		return sinkFile
	}
	return sinkWebhook
}

// misplaced returns the fields set that s's type does not use.
func (s SinkConfig) misplaced() []string {
	var set []string
	if s.Type != sinkFile && s.Type != sinkStdout && s.Type != sinkWebhook {
		return nil
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"path", s.Path != ""}, {"max_size_mb", s.MaxSizeMB != 0}, {"max_files", s.MaxFiles != 0},
		{"url", s.URL != ""}, {"headers_file", s.HeadersFile != ""}, {"header_env", len(s.HeaderEnv) > 0}, {"ca_file", s.CAFile != ""},
	} {
		if f.set && fieldType(f.name) != s.Type {
			set = append(set, f.name)
		}
	}
	return set
}

// String describes the audit settings for logs: the retention and each
// sink's name, type and scope. It shows no URL, path or header.
func (a AuditConfig) String() string {
	var sinks []string
	for _, s := range a.Sinks {
		sinks = append(sinks, fmt.Sprintf("%s:%s:%s", s.Name, s.Type, cmp.Or(s.Scope, "/")))
	}
	return fmt.Sprintf("retention=%s sinks=[%s]", cmp.Or(a.Retention, "365d"), strings.Join(sinks, " "))
}

// auditSinks are the running sinks of a server.
type auditSinks struct {
	sinks  []*auditsink.Sink
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// openAuditSinks makes the sinks a validated AuditConfig describes: it opens
// the files, reads the headers files and the environment variables of
// header_env (getenv), and the CA files. It fails, naming the sink's key, if
// any of them cannot be read.
func openAuditSinks(a AuditConfig, logger *slog.Logger, stdout io.Writer, getenv func(string) string) (*auditSinks, error) {
	out := &auditSinks{}
	for i, s := range a.Sinks {
		sink, err := openSink(s, logger, stdout, getenv)
		if err != nil {
			for _, opened := range out.sinks {
				opened.Close(context.Background())
			}
			return nil, fmt.Errorf("audit.sinks[%d] (%s): %w", i, s.Name, err)
		}
		out.sinks = append(out.sinks, sink)
	}
	return out, nil
}

func openSink(s SinkConfig, logger *slog.Logger, stdout io.Writer, getenv func(string) string) (*auditsink.Sink, error) {
	o := auditsink.Options{Name: s.Name, Scope: s.Scope, QueueSize: s.QueueSize, BatchSize: s.BatchSize, FlushInterval: s.FlushInterval, Logger: logger}
	switch s.Type {
	case sinkFile:
		return auditsink.NewFile(o, auditsink.FileOptions{Path: s.Path, MaxSize: int64(s.MaxSizeMB) << 20, MaxFiles: s.MaxFiles})
	case sinkStdout:
		return auditsink.NewStream(o, stdout)
	case sinkWebhook:
		header := http.Header{}
		if s.HeadersFile != "" {
			h, err := auditsink.ReadHeadersFile(s.HeadersFile)
			if err != nil {
				return nil, fmt.Errorf("headers_file: %w", err)
			}
			header = h
		}
		for _, name := range slices.Sorted(maps.Keys(s.HeaderEnv)) {
			env := s.HeaderEnv[name]
			v := strings.TrimSpace(getenv(env))
			if v == "" {
				return nil, fmt.Errorf("header_env: the environment variable %s, which holds header %s, is not set", env, name)
			}
			if err := auditsink.CheckHeader(name, v); err != nil {
				return nil, fmt.Errorf("header_env: %s: %w", env, err)
			}
			header.Add(name, v)
		}
		return auditsink.NewWebhook(o, auditsink.WebhookOptions{URL: s.URL, Header: header, CAFile: s.CAFile})
	}
	return nil, fmt.Errorf("type %q is not file, stdout or webhook", s.Type)
}

// offered returns the sinks as the audit Writer takes them.
func (as *auditSinks) offered() []audit.Sink {
	out := make([]audit.Sink, len(as.sinks))
	for i, s := range as.sinks {
		out[i] = s
	}
	return out
}

// start runs the sinks until stop. They have their own context, so that
// they still deliver what the audit Writer's final drain offers them.
func (as *auditSinks) start() {
	ctx, cancel := context.WithCancel(context.Background())
	as.cancel = cancel
	for _, s := range as.sinks {
		as.wg.Go(func() { s.Run(ctx) })
	}
}

// register exports the sinks' metrics on reg.
func (as *auditSinks) register(reg prometheus.Registerer) {
	for _, s := range as.sinks {
		reg.MustRegister(s)
	}
}

// stop closes every sink at once, giving each until timeout to deliver
// what is queued; each logs what it could not deliver. Call it after the
// audit Writer has stopped.
func (as *auditSinks) stop(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range as.sinks {
		wg.Go(func() { s.Close(ctx) })
	}
	wg.Wait()
	if as.cancel != nil {
		as.cancel()
	}
	as.wg.Wait()
}
