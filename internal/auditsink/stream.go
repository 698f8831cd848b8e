package auditsink

import (
	"context"
	"io"

	"github.com/latchkey/latchkey/client"
)

// DefaultStreamBatch is how many events a stream sink writes at once by
// default.
const DefaultStreamBatch = 1000

// NewStream returns a Sink that writes events to w, such as os.Stdout, as
// JSON Lines: one client.AuditEvent per line. Each batch is one Write of
// whole lines; a failed Write is retried, so a line may appear twice. By
// default a batch is what is queued, up to DefaultStreamBatch events,
// written without waiting. Close does not close w.
func NewStream(o Options, w io.Writer) (*Sink, error) {
	return newSink("stdout", o, DefaultStreamBatch, 0, func() (destination, error) { return &stream{w: w}, nil })
}

type stream struct {
	w     io.Writer
	lines lines
	buf   []byte
}

func (s *stream) deliver(_ context.Context, events []client.AuditEvent) error {
	s.buf = s.buf[:0]
	for _, e := range events {
		s.buf = append(s.buf, s.lines.line(e)...)
	}
	_, err := s.w.Write(s.buf)
	return err
}

func (s *stream) close() error { return nil }
