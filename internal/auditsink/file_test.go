package auditsink_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/audit"
	"github.com/latchkey/latchkey/internal/auditsink"
)

// readRotated returns the files of a file sink, oldest first (path.N ..
// path.1, then path), failing on a file whose mode is not 0600.
func readRotated(t *testing.T, path string, maxFiles int) [][]byte {
	t.Helper()
	var files [][]byte
	for i := maxFiles + 1; i >= 0; i-- {
		p := path
		if i > 0 {
			p += "." + strconv.Itoa(i)
		}
		fi, err := os.Stat(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if i > maxFiles {
			t.Errorf("%s exists: at most %d rotated files may be kept", p, maxFiles)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, fi.Mode().Perm())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	return files
}

// TestFileRotation writes 300 events in batches of various sizes to a
// file sink that rotates past 2,000 bytes and keeps 3 rotated files. Each
// file holds whole lines, is at most 2,000 bytes, and is full: the first
// line of the next file would not have fitted. Together the files hold the
// newest events, in order, without a gap; the oldest were rotated away.
func TestFileRotation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs") // made by the sink
	path := filepath.Join(dir, "audit.jsonl")
	const maxSize, maxFiles = 2000, 3
	s, err := auditsink.NewFile(auditsink.Options{Name: "local", BatchSize: 7},
		auditsink.FileOptions{Path: path, MaxSize: maxSize, MaxFiles: maxFiles})
	if err != nil {
		t.Fatal(err)
	}
	run(t, s)
	for from := int64(1); from <= 300; from += 25 {
		s.Offer(entries(from, from+24, "/hubs/h"))
	}
	if err := closeSink(s, 5*time.Second); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the sink's folder: %v, %v; want mode 0700", fi.Mode().Perm(), err)
	}
	files := readRotated(t, path, maxFiles)
	if len(files) != maxFiles+1 {
		t.Fatalf("found %d files, want %s and %d rotated", len(files), path, maxFiles)
	}
	var all []int64
	for i, b := range files {
		if len(b) > maxSize || !bytes.HasSuffix(b, []byte("\n")) {
			t.Errorf("file %d of %d: %d bytes, ends in newline %v; want at most %d bytes of whole lines", i, len(files), len(b), bytes.HasSuffix(b, []byte("\n")), maxSize)
		}
		if i+1 < len(files) {
			next, _, _ := bytes.Cut(files[i+1], []byte("\n"))
			if len(b)+len(next)+1 <= maxSize {
				t.Errorf("file %d was rotated at %d bytes, though the next line (%d bytes) fitted", i, len(b), len(next)+1)
			}
		}
		all = append(all, seqs(decodeLines(t, b))...)
	}
	if last := all[len(all)-1]; last != 300 || !slices.Equal(all, span(all[0], 300)) {
		t.Errorf("the files hold %v, want a run of events ending at 300", all)
	}
	if all[0] == 1 {
		t.Error("the oldest events are still there: nothing was rotated away")
	}
	if st := s.Stats(); st.Delivered != 300 {
		t.Errorf("Stats().Delivered = %d, want 300", st.Delivered)
	}
}

// TestFileReopen: a new sink on an existing file appends to it, ends a
// line cut short by a crash before writing, and rotates by the file's
// whole size; a line longer than the limit gets a file to itself.
func TestFileReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	first, err := auditsink.NewFile(auditsink.Options{Name: "local"}, auditsink.FileOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	run(t, first)
	first.Offer(entries(1, 2, "/"))
	if err := closeSink(first, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"seq":3,"time":"2026-11-2`) // a crash mid-line
	f.Close()
	before, _ := os.ReadFile(path)

	second, err := auditsink.NewFile(auditsink.Options{Name: "local"}, auditsink.FileOptions{Path: path, MaxSize: int64(len(before)) + 400, MaxFiles: 2})
	if err != nil {
		t.Fatal(err)
	}
	run(t, second)
	second.Offer(entries(4, 4, "/"))
	huge := entry(5, "/")
	huge.Reason = strings.Repeat("r", 1000)
	second.Offer([]audit.Entry{huge})
	second.Offer(entries(6, 6, "/"))
	if err := closeSink(second, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	files := readRotated(t, path, 2)
	if len(files) != 3 {
		t.Fatalf("found %d files, want 3", len(files))
	}
	cut := bytes.SplitAfter(files[0], []byte("\n"))
	if len(cut) != 5 || !bytes.HasPrefix(cut[2], []byte(`{"seq":3,`)) || !bytes.HasSuffix(cut[2], []byte("2026-11-2\n")) {
		t.Fatalf("the reopened file does not hold events 1, 2, the cut line ended by a newline, then 4:\n%s", files[0])
	}
	if got := seqs(decodeLines(t, slices.Concat(cut[0], cut[1], cut[3]))); !slices.Equal(got, []int64{1, 2, 4}) {
		t.Errorf("the first file holds %v around the cut line, want 1, 2, 4", got)
	}
	if got := seqs(decodeLines(t, files[1])); !slices.Equal(got, []int64{5}) {
		t.Errorf("the long line's file holds %v, want only 5", got)
	}
	if got := seqs(decodeLines(t, files[2])); !slices.Equal(got, []int64{6}) {
		t.Errorf("the current file holds %v, want 6", got)
	}
}

// TestFileErrors: a file sink refuses a folder as its path, and no path,
// at once.
func TestFileErrors(t *testing.T) {
	for _, tc := range []struct {
		path, want string
	}{
		{"", "needs a path"},
		{t.TempDir(), "is a directory"},
	} {
		if _, err := auditsink.NewFile(auditsink.Options{Name: "local"}, auditsink.FileOptions{Path: tc.path}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewFile(%q) = %v, want an error saying %q", tc.path, err, tc.want)
		}
	}
}
