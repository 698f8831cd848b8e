package gateway

import (
	"io"
	"strings"
	"sync"
)

// usageScanner finds the usage in an answer as it passes.
type usageScanner interface {
	write(p []byte)
	result() (tokenUsage, bool)
}

// The scanners are recycled: a new one per answer would grow its buffers
// anew each time.
var (
	jsonScanners = sync.Pool{New: func() any { return new(jsonUsage) }}
	sseScanners  = sync.Pool{New: func() any { return new(sseUsage) }}
)

// scannerFor returns a scanner for an answer's content type, or nil when its
// kind carries no usage (audio, images as bytes, plain text).
func scannerFor(contentType string) usageScanner {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(mt)
	switch {
	case strings.EqualFold(mt, "text/event-stream"):
		return sseScanners.Get().(*sseUsage)
	case strings.EqualFold(mt, "application/json"), len(mt) > 5 && strings.EqualFold(mt[len(mt)-5:], "+json"):
		return jsonScanners.Get().(*jsonUsage)
	}
	return nil
}

// release resets a scanner and returns it to its pool.
func release(s usageScanner) {
	switch s := s.(type) {
	case *jsonUsage:
		s.reset()
		jsonScanners.Put(s)
	case *sseUsage:
		s.reset()
		sseScanners.Put(s)
	}
}

// meteredBody passes an upstream's answer through, showing every byte read to
// a usage scanner, and charges the usage found to the call's caller when it
// is closed (the proxy always closes it, however the copy ended).
type meteredBody struct {
	rc   io.ReadCloser
	scan usageScanner // nil once closed
	cl   *call
}

func (b *meteredBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 && b.scan != nil {
		b.scan.write(p[:n])
	}
	return n, err
}

func (b *meteredBody) Close() error {
	err := b.rc.Close()
	if b.scan != nil {
		if u, ok := b.scan.result(); ok {
			b.cl.charge(u)
		}
		release(b.scan)
		b.scan = nil
	}
	return err
}
