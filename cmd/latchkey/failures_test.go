package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStartFailures: bad configuration ends the start with one clear line on
// stderr, saying what is wrong and how to fix it, and a non-zero exit code.
func TestStartFailures(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	shortKey := write("short.key", "AAAAAAAAAAAAAAAAAAAAAA==\n") // 16 bytes
	notPEM := write("not.pem", "this is not a certificate\n")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	tests := []struct {
		name     string
		env      []string
		args     []string
		wantCode int
		want     []string // substrings of the last stderr line
		never    []string // must not appear anywhere in stderr
	}{
		{"unreadable master key", nil, []string{"--master-key-file", filepath.Join(dir, "missing.key")}, 1,
			[]string{"missing.key", "check the path"}, nil},
		{"short master key", nil, []string{"--master-key-file", shortKey}, 1,
			[]string{"16 bytes, want 32"}, []string{"AAAAAAAAAAAAAAAAAAAAAA"}},
		{"short master key in env", []string{"LATCHKEY_MASTER_KEY=AAAAAAAAAAAAAAAAAAAAAA=="}, nil, 1,
			[]string{"LATCHKEY_MASTER_KEY", "16 bytes, want 32"}, []string{"AAAAAAAAAAAAAAAAAAAAAA"}},
		{"bad DSN", nil, []string{"--database", "postgres://app:pa55word@db:notaport/x"}, 1,
			[]string{"PostgreSQL"}, []string{"pa55word"}},
		{"unreachable database", nil, []string{"--database", "postgres://app:pa55word@127.0.0.1:1/x?sslmode=disable&connect_timeout=3"}, 1,
			[]string{"cannot reach PostgreSQL", "127.0.0.1:1"}, []string{"pa55word"}},
		{"unknown database kind", nil, []string{"--database", "mysql://root:pa55word@x/y"}, 1,
			[]string{"unknown kind", "postgres://"}, []string{"pa55word"}},
		{"address in use", nil, []string{"--addr", busy.Addr().String()}, 1,
			[]string{"address already in use", "--addr"}, nil},
		{"bad address", nil, []string{"--addr", "localhost"}, 1,
			[]string{`addr "localhost" is not host:port`}, nil},
		{"bad TLS files", nil, []string{"--tls-cert", notPEM, "--tls-key", notPEM}, 1,
			[]string{"TLS certificate", "--tls-cert"}, nil},
		{"TLS cert without key", nil, []string{"--tls-cert", notPEM}, 1,
			[]string{"give both --tls-cert and --tls-key"}, nil},
		{"unknown flag", nil, []string{"--bogus"}, 2,
			[]string{"unknown flag: --bogus", "--help"}, nil},
		{"bad log level", []string{"LATCHKEY_LOG_LEVEL=loud"}, nil, 1,
			[]string{`log_level "loud"`}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"dev", "--data", filepath.Join(t.TempDir(), "data"), "--addr", "127.0.0.1:0"}, tc.args...)
			code, _, stderr := runCLI(t, tc.env, args...)
			line := lastLine(stderr)
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, tc.wantCode, stderr)
			}
			if !strings.HasPrefix(line, "latchkey: ") {
				t.Errorf("last line %q does not start with \"latchkey: \"", line)
			}
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("last line %q lacks %q", line, w)
				}
			}
			for _, n := range tc.never {
				if strings.Contains(stderr, n) {
					t.Errorf("stderr shows %q:\n%s", n, stderr)
				}
			}
		})
	}
}

func TestServeRequiresTLSAndMasterKey(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no TLS", []string{"serve", "--data", t.TempDir()}, "HTTPS only"},
		{"no database", []string{"serve"}, "no database"},
		{"unknown command", []string{"srve"}, `unknown command "srve"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, nil, tc.args...)
			if code == 0 || !strings.Contains(lastLine(stderr), tc.want) {
				t.Errorf("latchkey %v: exit %d, last line %q, want it to say %q", tc.args, code, lastLine(stderr), tc.want)
			}
		})
	}
}
