package auditsink

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/latchkey/latchkey/client"
)

// The defaults of a file sink.
const (
	DefaultFileBatch   = 1000
	DefaultMaxFileSize = 100 << 20 // bytes
	DefaultMaxFiles    = 10
)

// FileOptions says where a file sink writes and when it rotates.
type FileOptions struct {
	// Path is the file events are appended to; its folder is made (mode
	// 0700) if missing.
	Path string
	// MaxSize is the size in bytes past which the file is rotated; 0 means
	// DefaultMaxFileSize. A line is never split: a file ends before the line
	// that would take it past MaxSize, and a line longer than MaxSize gets a
	// file to itself.
	MaxSize int64
	// MaxFiles is how many rotated files are kept, Path.1 (the newest) to
	// Path.MaxFiles; 0 means DefaultMaxFiles. Older ones are removed at
	// rotation.
	MaxFiles int
}

// NewFile returns a Sink that appends events to a file as JSON Lines, one
// client.AuditEvent per line, and rotates it by size: Path becomes Path.1,
// Path.1 becomes Path.2, and so on up to Path.MaxFiles, which is replaced.
// Files are created with mode 0600.
//
// Each batch (by default what is queued, up to DefaultFileBatch events,
// written without waiting) is one write followed by an fsync, and counts as
// delivered only after the fsync; a rotation fsyncs the file and its folder.
// A failed write or fsync is retried with backoff after reopening the file,
// so a line may appear twice; a line cut short by a crash is ended with a
// newline when the file is reopened, so every other line stands alone.
//
// NewFile opens the file at once and returns the error if it cannot.
func NewFile(o Options, f FileOptions) (*Sink, error) {
	return newSink("file", o, DefaultFileBatch, 0, func() (destination, error) {
		switch {
		case f.Path == "":
			return nil, errors.New("a file sink needs a path")
		case f.MaxSize < 0, f.MaxFiles < 0:
			return nil, fmt.Errorf("file size limit %d and file count %d must not be negative (0 for the defaults)", f.MaxSize, f.MaxFiles)
		}
		d := &file{path: f.Path, maxSize: cmp.Or(f.MaxSize, DefaultMaxFileSize), maxFiles: cmp.Or(f.MaxFiles, DefaultMaxFiles)}
		if err := d.open(); err != nil {
			return nil, err
		}
		return d, nil
	})
}

// file is the destination of a file sink. Run's goroutine alone uses it.
type file struct {
	path     string
	maxSize  int64
	maxFiles int
	f        *os.File // nil after a failure: the next delivery reopens it
	size     int64    // bytes in f
	lines    lines
	buf      []byte
}

// open opens the file for appending and ends a line cut short.
func (d *file) open() error {
	if err := os.MkdirAll(filepath.Dir(d.path), 0o700); err != nil {
		return fmt.Errorf("make the sink's folder: %w", err)
	}
	f, err := os.OpenFile(d.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err // a *fs.PathError names the file
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
		f.Close()
		return err
	case !fi.Mode().IsRegular():
		f.Close()
		return fmt.Errorf("%s is not a regular file: give a file path", d.path)
	}
	size := fi.Size()
	if size > 0 {
		var last [1]byte
		if _, err := f.ReadAt(last[:], size-1); err != nil {
			f.Close()
			return fmt.Errorf("read %s: %w", d.path, err)
		}
		if last[0] != '\n' {
			if _, err := f.Write([]byte{'\n'}); err != nil {
				f.Close()
				return fmt.Errorf("write %s: %w", d.path, err)
			}
			size++
		}
	}
	d.f, d.size = f, size
	return nil
}

func (d *file) deliver(_ context.Context, events []client.AuditEvent) error {
	if d.f == nil {
		if err := d.open(); err != nil {
			return err
		}
	}
	d.buf = d.buf[:0]
	for _, e := range events {
		line := d.lines.line(e)
		if pending := d.size + int64(len(d.buf)); pending > 0 && pending+int64(len(line)) > d.maxSize {
			if err := d.write(d.buf); err != nil {
				return err
			}
			d.buf = d.buf[:0]
			if err := d.rotate(); err != nil {
				return err
			}
		}
		d.buf = append(d.buf, line...)
	}
	if err := d.write(d.buf); err != nil {
		return err
	}
	return d.sync()
}

// write appends p; after a failure the file is closed, to be reopened.
func (d *file) write(p []byte) error {
	n, err := d.f.Write(p)
	d.size += int64(n)
	if err != nil {
		d.fail()
		return fmt.Errorf("write %s: %w", d.path, err)
	}
	return nil
}

func (d *file) sync() error {
	if err := d.f.Sync(); err != nil {
		d.fail()
		return fmt.Errorf("fsync %s: %w", d.path, err)
	}
	return nil
}

func (d *file) fail() {
	d.f.Close()
	d.f = nil
}

// rotate fsyncs and closes the file, shifts Path.i to Path.i+1 (the last
// is replaced), renames Path to Path.1, fsyncs the folder and opens a new
// Path.
func (d *file) rotate() error {
	if err := d.sync(); err != nil {
		return err
	}
	if err := d.f.Close(); err != nil {
		d.f = nil
		return fmt.Errorf("close %s: %w", d.path, err)
	}
	d.f = nil
	numbered := func(i int) string { return d.path + "." + strconv.Itoa(i) }
	for i := d.maxFiles - 1; i >= 1; i-- {
		if err := os.Rename(numbered(i), numbered(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate %s: %w", d.path, err)
		}
	}
	if err := os.Rename(d.path, numbered(1)); err != nil {
		return fmt.Errorf("rotate %s: %w", d.path, err)
	}
	if dir, err := os.Open(filepath.Dir(d.path)); err == nil {
		dir.Sync() // best effort: some file systems cannot fsync a folder
		dir.Close()
	}
	return d.open()
}

func (d *file) close() error {
	if d.f == nil {
		return nil
	}
	err := d.f.Sync()
	if cerr := d.f.Close(); err == nil {
		err = cerr
	}
	d.f = nil
	return err
}
