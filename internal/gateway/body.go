package gateway

import (
	"io"
	"mime"
	"strings"
)

// usageScanner finds the usage in an answer as it passes.
type usageScanner interface {
	write(p []byte)
	result() (tokenUsage, bool)
}

// scannerFor returns the scanner for an answer's content type, or nil when
// its kind carries no usage (audio, images as bytes, plain text).
func scannerFor(contentType string) usageScanner {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil
	}
	switch {
	case mt == "text/event-stream":
		return &sseUsage{}
	case mt == "application/json", strings.HasSuffix(mt, "+json"):
		return &jsonUsage{}
	}
	return nil
}

// meteredBody passes an upstream's answer through, showing every byte read to
// a usage scanner, and reports the usage found when it is closed (the proxy
// always closes it, however the copy ended).
type meteredBody struct {
	rc     io.ReadCloser
	scan   usageScanner
	report func(tokenUsage)
	closed bool
}

func newMeteredBody(rc io.ReadCloser, contentType string, report func(tokenUsage)) io.ReadCloser {
	scan := scannerFor(contentType)
	if scan == nil {
		return rc
	}
	return &meteredBody{rc: rc, scan: scan, report: report}
}

func (b *meteredBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.scan.write(p[:n])
	}
	return n, err
}

func (b *meteredBody) Close() error {
	err := b.rc.Close()
	if !b.closed {
		b.closed = true
		if u, ok := b.scan.result(); ok {
			b.report(u)
		}
	}
	return err
}
