package seal_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/seal"
)

// urlKey has bytes whose standard base64 holds '+' and '/', so the URL
// alphabet differs from it.
var urlKey = bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 11)[:32]

func TestParseKeyAccepts(t *testing.T) {
	raw, _ := hex.DecodeString(hexA)
	std := base64.StdEncoding.EncodeToString(raw)
	urlStd := base64.StdEncoding.EncodeToString(urlKey)
	if !strings.ContainsAny(urlStd, "+/") {
		t.Fatalf("urlKey encodes as %s, which has no + or /", urlStd)
	}
	tests := []struct {
		name string
		text string
		raw  []byte
	}{
		{"base64 padded", std, raw},
		{"base64 unpadded", strings.TrimRight(std, "="), raw},
		{"base64 with newline", std + "\n", raw},
		{"base64 with surrounding whitespace", " \t" + std + " \r\n\n", raw},
		{"hex lower case", hexA, raw},
		{"hex upper case", strings.ToUpper(hexA), raw},
		{"hex with newline", hexA + "\n", raw},
		{"standard base64 with + and /", urlStd, urlKey},
		{"URL base64 padded", base64.URLEncoding.EncodeToString(urlKey), urlKey},
		{"URL base64 unpadded", base64.RawURLEncoding.EncodeToString(urlKey), urlKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := seal.ParseKey([]byte(tc.text))
			if err != nil {
				t.Fatalf("ParseKey: %v", err)
			}
			if want := idOf(tc.raw); k.ID() != want {
				t.Errorf("ID() = %s, want %s", k.ID(), want)
			}
			if want := base64.StdEncoding.EncodeToString(tc.raw); k.Encode() != want {
				t.Errorf("Encode() = %s, want %s", k.Encode(), want)
			}
			if k.IsZero() {
				t.Error("IsZero() = true for a parsed key")
			}
		})
	}
}

// idOf derives a key id the way the package documents it, to pin the scheme:
// changing it would orphan every stored envelope.
func idOf(raw []byte) string {
	mac := hmac.New(sha256.New, raw)
	mac.Write([]byte("latchkey master key id v1"))
	return hex.EncodeToString(mac.Sum(nil)[:8])
}

func TestParseKeyRejects(t *testing.T) {
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, n)) }
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"16 bytes of base64", b64(16), []string{"16 bytes", "want 32", "openssl rand -base64 32"}},
		{"48 bytes of base64", b64(48), []string{"48 bytes, want 32"}},
		{"16 bytes of hex", hexA[:32], []string{"32 hex characters (16 bytes)", "want 64 (32 bytes)"}},
		{"garbage", "this is not a key!", []string{"not base64 or hex", "openssl rand"}},
		{"mixed base64 alphabets", strings.Repeat("a+b-", 11), []string{"not base64 or hex"}},
		{"empty", "", []string{"master key is empty"}},
		{"only whitespace", " \n\t\n", []string{"master key is empty"}},
		{"all zero bytes", strings.Repeat("0", 64), []string{"all zero bytes"}},
		{"all zero bytes base64", base64.StdEncoding.EncodeToString(make([]byte, 32)), []string{"all zero"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := seal.ParseKey([]byte(tc.text))
			if err == nil {
				t.Fatalf("ParseKey = key %s, want an error", k.ID())
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("ParseKey error = %q, want it to contain %q", msg, w)
				}
			}
			if text := strings.TrimSpace(tc.text); len(text) >= 8 && strings.Contains(msg, text) {
				t.Errorf("ParseKey error %q quotes the key text", msg)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("ParseKey error %q is not one line", msg)
			}
		})
	}
}

func TestLoadKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := mustKey(t, hexA)
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 16))
	tests := []struct {
		name    string
		path    string
		wantErr []string
		wantIs  error
	}{
		{"good key with newline", write("good.key", good.Encode()+"\n"), nil, nil},
		{"missing file", filepath.Join(dir, "missing.key"),
			[]string{"missing.key", "no such file or directory", "check the path and permissions"}, fs.ErrNotExist},
		{"directory", dir, []string{dir, "check the path and permissions"}, nil},
		{"short key", write("short.key", short+"\n"), []string{"short.key", "16 bytes, want 32"}, nil},
		{"empty file", write("empty.key", ""), []string{"empty.key", "master key is empty"}, nil},
		{"large file", write("large.key", strings.Repeat("A", 4096)), []string{"large.key", "larger than"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := seal.LoadKeyFile(tc.path)
			if tc.wantErr == nil {
				if err != nil || k.ID() != good.ID() {
					t.Fatalf("LoadKeyFile = %s, %v; want %s", k.ID(), err, good.ID())
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadKeyFile = %s, want an error", k.ID())
			}
			msg := err.Error()
			for _, w := range tc.wantErr {
				if !strings.Contains(msg, w) {
					t.Errorf("LoadKeyFile error = %q, want it to contain %q", msg, w)
				}
			}
			if strings.Count(msg, tc.path) != 1 {
				t.Errorf("LoadKeyFile error = %q, want the path named once", msg)
			}
			if strings.Contains(msg, short) {
				t.Errorf("LoadKeyFile error %q quotes the key", msg)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("LoadKeyFile error = %v, want it to wrap %v", err, tc.wantIs)
			}
		})
	}
}

func TestKeyIsRedacted(t *testing.T) {
	k := mustKey(t, hexA)
	raw, _ := hex.DecodeString(hexA)
	// Forms the key could leak in: hex, base64, and fmt's rendering of bytes.
	leaks := []string{hexA, k.Encode(), strings.TrimRight(k.Encode(), "="), "1 2 3 4 5 6", "0x1, 0x2, 0x3", string(raw[:8])}
	holder := struct {
		Exported   seal.Key
		unexported seal.Key
	}{k, k}

	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("x", "key", k, "holder", holder)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("x", "key", k)

	outputs := map[string]string{
		"%v":           fmt.Sprintf("%v", k),
		"%+v":          fmt.Sprintf("%+v", k),
		"%#v":          fmt.Sprintf("%#v", k),
		"%s":           fmt.Sprintf("%s", k),
		"%x":           fmt.Sprintf("%x", k),
		"%q":           fmt.Sprintf("%q", k),
		"%d":           fmt.Sprintf("%d", k),
		"Sprint":       fmt.Sprint(k),
		"pointer %+v":  fmt.Sprintf("%+v", &k),
		"holder %+v":   fmt.Sprintf("%+v", holder),
		"holder %#v":   fmt.Sprintf("%#v", holder),
		"slog text":    text.String(),
		"slog json":    js.String(),
		"errorf %v":    fmt.Errorf("load: %v", k).Error(),
		"slice of key": fmt.Sprintf("%v", []seal.Key{k}),
	}
	for name, out := range outputs {
		if !strings.Contains(out, "[REDACTED]") {
			t.Errorf("%s: %q does not say [REDACTED]", name, out)
		}
		for _, leak := range leaks {
			if strings.Contains(out, leak) {
				t.Errorf("%s: %q holds key material %q", name, out, leak)
			}
		}
	}
}

func TestKeyID(t *testing.T) {
	a1, a2 := mustKey(t, hexA), mustKey(t, hexA)
	b := mustKey(t, hexB)
	if a1.ID() != a2.ID() || a1.ID() == b.ID() {
		t.Errorf("IDs = %s, %s, %s; want the first two equal and the third different", a1.ID(), a2.ID(), b.ID())
	}
	if len(a1.ID()) != 16 || strings.ToLower(a1.ID()) != a1.ID() {
		t.Errorf("ID() = %q, want 16 lower-case hex digits", a1.ID())
	}

	n1, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	n2, _ := seal.NewKey()
	if n1.IsZero() || n1.ID() == n2.ID() {
		t.Errorf("NewKey gave ids %s and %s, IsZero %v; want two distinct keys", n1.ID(), n2.ID(), n1.IsZero())
	}
	back, err := seal.ParseKey([]byte(n1.Encode()))
	if err != nil || back.ID() != n1.ID() {
		t.Errorf("ParseKey(Encode()) = %s, %v; want %s", back.ID(), err, n1.ID())
	}

	var zero seal.Key
	if !zero.IsZero() || zero.ID() != "" || zero.Encode() != "" {
		t.Errorf("zero Key: IsZero %v, ID %q, Encode %q", zero.IsZero(), zero.ID(), zero.Encode())
	}
}
