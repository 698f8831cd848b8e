package gateway

import "bytes"

// sseUsage finds the usage in a server-sent event stream: each event's data
// lines are one JSON document, and the last event that reports a usage wins
// (OpenAI sends it once, in the last chunk, when the request asked for
// stream_options.include_usage; some servers repeat a running total).
type sseUsage struct {
	state     sseState
	afterCR   bool
	field     [5]byte
	fieldLen  int
	skipSpace bool // the next data byte is the optional space after "data:"
	hasData   bool // the current event has a data line
	ev        jsonUsage
	last      tokenUsage
	found     bool
}

type sseState uint8

const (
	lineStart sseState = iota
	inField
	inData
	skipLine
)

// write scans the next piece of the stream.
func (s *sseUsage) write(p []byte) {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if s.state == lineStart && s.afterCR && c == '\n' {
			s.afterCR = false // the \n of \r\n
			continue
		}
		s.afterCR = false
		if c == '\r' || c == '\n' {
			s.endLine()
			s.afterCR = c == '\r'
			continue
		}
		switch s.state {
		case lineStart:
			s.state, s.fieldLen = inField, 0
			fallthrough
		case inField:
			if c == ':' {
				s.startValue()
				continue
			}
			if s.fieldLen == len(s.field) {
				s.state = skipLine
				continue
			}
			s.field[s.fieldLen] = c
			s.fieldLen++
		case inData:
			if s.skipSpace {
				s.skipSpace = false
				if c == ' ' {
					continue
				}
			}
			j := indexEOL(p[i:])
			if j < 0 {
				j = len(p) - i
			}
			s.ev.write(p[i : i+j])
			i += j - 1
		case skipLine:
			j := indexEOL(p[i:])
			if j < 0 {
				return
			}
			i += j - 1
		}
	}
}

// indexEOL returns the index of the first \r or \n in p, or -1.
func indexEOL(p []byte) int {
	j := bytes.IndexByte(p, '\n')
	if j < 0 {
		j = len(p)
	}
	if k := bytes.IndexByte(p[:j], '\r'); k >= 0 {
		return k
	}
	if j == len(p) {
		return -1
	}
	return j
}

// startValue handles the colon after a field name.
func (s *sseUsage) startValue() {
	if string(s.field[:s.fieldLen]) != "data" {
		s.state = skipLine // comments (":...") and other fields
		return
	}
	s.state, s.skipSpace = inData, true
	if s.hasData {
		s.ev.write([]byte{'\n'}) // data lines join with a newline
	}
	s.hasData = true
}

// endLine handles the end of a line: a blank line ends the event.
func (s *sseUsage) endLine() {
	switch s.state {
	case lineStart:
		s.dispatch()
	case inField:
		if string(s.field[:s.fieldLen]) == "data" { // "data" alone: an empty data line
			if s.hasData {
				s.ev.write([]byte{'\n'})
			}
			s.hasData = true
		}
	}
	s.state = lineStart
}

// dispatch ends the current event.
func (s *sseUsage) dispatch() {
	if s.hasData {
		if u, ok := s.ev.result(); ok {
			s.last, s.found = u, true
		}
	}
	s.ev.reset()
	s.hasData = false
}

// reset makes s ready for a new stream, keeping its buffers.
func (s *sseUsage) reset() {
	ev := s.ev
	ev.reset()
	*s = sseUsage{ev: ev}
}

// result ends the stream and returns the last usage reported.
func (s *sseUsage) result() (tokenUsage, bool) {
	if s.state != lineStart {
		s.endLine()
	}
	s.dispatch() // an event the stream did not end with a blank line
	return s.last, s.found
}
