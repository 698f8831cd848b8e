package gateway

import (
	"bytes"
	"encoding/json"
)

// This file and sse.go find the usage an upstream reports while its answer
// passes through, without holding the answer: a JSON answer's top-level
// "usage" member (chat completions, completions, embeddings; the Responses
// API's "usage" with input_tokens and output_tokens), and in a server-sent
// event stream (sse.go) the same member of each event's data, or the "usage"
// of its "response" member (the Responses API's response.completed event).
//
// jsonUsage does not parse JSON: it follows strings and nesting, byte by
// byte, only far enough to know where the usage value starts and ends, and
// keeps those bytes (at most usageCap); encoding/json decodes them. Both
// scanners take their input in pieces of any size, as reads return them.

// usageCap bounds the bytes of a usage value kept; a larger one is ignored.
const usageCap = 4096

// keyCap bounds the bytes of a member name kept; longer names are neither
// "usage" nor "response".
const keyCap = 24

type memberKind uint8

const (
	memberOther memberKind = iota
	memberUsage
	memberResponse
)

// objState is where a tracked object is in its grammar.
type objState uint8

const (
	wantKey objState = iota
	inKey
	wantColon
	wantValue
	afterValue
)

// frame is a tracked container: the top-level value, or the object that is
// the top-level "response" member's value.
type frame struct {
	object bool
	state  objState
	member memberKind // the member whose value comes or is being read
}

// jsonUsage finds the usage in one JSON document.
type jsonUsage struct {
	depth    int
	frames   [2]frame // depth 1, and depth 2 when respObj
	respObj  bool     // frames[1] is the top-level "response" object
	done     bool     // the top-level value ended, or the input is not JSON
	inString bool
	escape   bool

	collectingKey bool
	keyLen        int
	keyLong       bool
	keyEsc        bool
	key           [keyCap]byte

	capturing bool
	capKind   byte // 'c' container, 's' string, 'l' literal
	capDepth  int
	capInResp bool // the value being captured is response.usage
	capLong   bool
	buf       []byte

	top, resp       []byte // the last usage values seen, top-level and in "response"
	hasTop, hasResp bool
}

// reset makes s ready for a new document, keeping its buffers.
func (s *jsonUsage) reset() {
	buf, top, resp := s.buf[:0], s.top[:0], s.resp[:0]
	*s = jsonUsage{buf: buf, top: top, resp: resp}
}

// tracked returns the frame of the current depth if it is tracked.
func (s *jsonUsage) tracked() *frame {
	switch {
	case s.depth == 1 && s.frames[0].object:
		return &s.frames[0]
	case s.depth == 2 && s.respObj:
		return &s.frames[1]
	}
	return nil
}

// write scans the next piece of the document.
func (s *jsonUsage) write(p []byte) {
	for i := 0; i < len(p) && !s.done; i++ {
		if s.inString {
			i = s.stringBytes(p, i)
			continue
		}
		if !s.capturing && s.depth > 1 && !s.respObj {
			// Deep inside an untracked value (choices, embeddings): only
			// strings and nesting matter, so skip to the next of those.
			for i < len(p) && !structural[p[i]] {
				i++
			}
			if i == len(p) {
				return
			}
		}
		c := p[i]
		if s.capturing && s.capKind == 'l' {
			switch c {
			case ' ', '\t', '\n', '\r', ',', '}', ']':
				s.finishCapture() // and handle c below
			default:
				s.capture(c)
				continue
			}
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			if s.capturing {
				s.capture(c)
			}
		case '"':
			s.inString = true
			if s.capturing {
				s.capture(c)
				break
			}
			if f := s.tracked(); f != nil && f.object {
				switch f.state {
				case wantKey:
					f.state = inKey
					s.collectingKey, s.keyLen, s.keyLong, s.keyEsc = true, 0, false, false
				case wantValue:
					s.beginValue(f, c)
				}
			}
		case '{', '[':
			s.open(c)
		case '}', ']':
			s.close(c)
		case ':':
			if s.capturing {
				s.capture(c)
			} else if f := s.tracked(); f != nil && f.object && f.state == wantColon {
				f.state = wantValue
			}
		case ',':
			if s.capturing {
				s.capture(c)
			} else if f := s.tracked(); f != nil && f.object {
				f.state, f.member = wantKey, memberOther
			}
		default: // the first byte of a number, true, false or null
			if s.capturing {
				s.capture(c)
			} else if s.depth == 0 {
				s.done = true // a top-level scalar holds no usage
			} else if f := s.tracked(); f != nil && f.object && f.state == wantValue {
				s.beginValue(f, c)
			}
		}
	}
}

// stringBytes consumes string content from p[i:] up to and including the
// closing quote, and returns the index of the last byte consumed.
func (s *jsonUsage) stringBytes(p []byte, i int) int {
	for ; i < len(p); i++ {
		if s.escape {
			s.escape = false
			s.stringByte(p[i])
			continue
		}
		j := bytes.IndexByte(p[i:], '"')
		if k := bytes.IndexByte(p[i:], '\\'); k >= 0 && (j < 0 || k < j) {
			j = k
		}
		if j < 0 {
			s.stringRun(p[i:])
			return len(p) - 1
		}
		s.stringRun(p[i : i+j])
		i += j
		if p[i] == '\\' {
			s.escape = true
			s.keyEsc = s.keyEsc || s.collectingKey
			s.stringByte('\\')
			continue
		}
		s.inString = false
		s.endString()
		return i
	}
	return len(p) - 1
}

func (s *jsonUsage) stringByte(c byte) {
	b := [1]byte{c}
	s.stringRun(b[:])
}

// stringRun records string content for a key or a capture.
func (s *jsonUsage) stringRun(b []byte) {
	switch {
	case s.capturing:
		s.capture(b...)
	case s.collectingKey && !s.keyLong:
		if s.keyLen+len(b) > keyCap {
			s.keyLong = true
			return
		}
		s.keyLen += copy(s.key[s.keyLen:], b)
	}
}

// endString handles a closing quote.
func (s *jsonUsage) endString() {
	switch {
	case s.capturing:
		s.capture('"')
		if s.capKind == 's' && s.depth == s.capDepth {
			s.finishCapture()
		}
	case s.collectingKey:
		s.collectingKey = false
		f := s.tracked()
		f.state, f.member = wantColon, memberOther
		if s.keyLong {
			return
		}
		name := string(s.key[:s.keyLen])
		if s.keyEsc {
			var unq string
			if json.Unmarshal(append(append([]byte{'"'}, s.key[:s.keyLen]...), '"'), &unq) != nil {
				return
			}
			name = unq
		}
		switch {
		case name == "usage":
			f.member = memberUsage
		case name == "response" && s.depth == 1:
			f.member = memberResponse
		}
	}
}

// beginValue starts the value of f's current member with its first byte c.
func (s *jsonUsage) beginValue(f *frame, c byte) {
	f.state = afterValue
	switch f.member {
	case memberResponse:
		s.resp, s.hasResp = s.resp[:0], false // a later "response" replaces an earlier one
	case memberUsage:
		s.capturing, s.capLong, s.capDepth = true, false, s.depth
		s.capInResp = s.depth == 2
		switch c {
		case '{', '[':
			s.capKind = 'c'
		case '"':
			s.capKind = 's'
		default:
			s.capKind = 'l'
		}
		s.buf = s.buf[:0]
		s.capture(c)
	}
}

// open handles '{' or '['.
func (s *jsonUsage) open(c byte) {
	if s.capturing {
		s.capture(c)
		s.depth++
		return
	}
	intoResponse := false
	if f := s.tracked(); f != nil && f.object && f.state == wantValue {
		intoResponse = f.member == memberResponse && s.depth == 1 && c == '{'
		s.beginValue(f, c)
	}
	s.depth++
	switch s.depth {
	case 1:
		s.frames[0] = frame{object: c == '{'}
	case 2:
		s.respObj = intoResponse
		s.frames[1] = frame{object: c == '{'}
	}
}

// close handles '}' or ']'.
func (s *jsonUsage) close(c byte) {
	if s.capturing {
		s.capture(c)
		s.depth--
		if s.depth == s.capDepth {
			s.finishCapture()
		}
		return
	}
	s.depth--
	switch {
	case s.depth < 0:
		s.done = true // not JSON
	case s.depth == 0:
		s.done = true // the document ended; what follows is not ours
	case s.depth == 1:
		s.respObj = false
	}
}

func (s *jsonUsage) capture(b ...byte) {
	if s.capLong {
		return
	}
	if len(s.buf)+len(b) > usageCap {
		s.capLong = true
		return
	}
	s.buf = append(s.buf, b...)
}

// finishCapture keeps the usage value just read; an oversized one clears
// what an earlier one said, as the later member wins in JSON.
func (s *jsonUsage) finishCapture() {
	s.capturing = false
	dst, has := &s.top, &s.hasTop
	if s.capInResp {
		dst, has = &s.resp, &s.hasResp
	}
	*dst, *has = (*dst)[:0], false
	if !s.capLong {
		*dst, *has = append(*dst, s.buf...), true
	}
}

// result decodes the usage found: the top-level one, else the response's.
// It reports false when there is none or it holds no token counts.
func (s *jsonUsage) result() (tokenUsage, bool) {
	if s.capturing && s.capKind == 'l' {
		s.finishCapture() // a literal ends with the input
	}
	switch {
	case s.hasTop:
		return decodeUsage(s.top)
	case s.hasResp:
		return decodeUsage(s.resp)
	}
	return tokenUsage{}, false
}

// structural marks the bytes that open or close a string or a container.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

// usageFields are the token counts of a usage object: chat completions,
// completions and embeddings name them prompt_ and completion_tokens, the
// Responses API input_ and output_tokens. An answer has one pair or the other.
type usageFields struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	InputTokens      int64 `json:"input_tokens"`
	OutputTokens     int64 `json:"output_tokens"`
}

// maxTokens bounds one answer's counts, so a wild upstream cannot wrap a counter.
const maxTokens = 1 << 40

// decodeUsage decodes a usage value; it reports false when the value is not
// an object of counts or counts nothing.
func decodeUsage(raw []byte) (tokenUsage, bool) {
	if string(raw) == "null" { // every chunk of a stream but the last says so
		return tokenUsage{}, false
	}
	var f usageFields
	if json.Unmarshal(raw, &f) != nil {
		return tokenUsage{}, false
	}
	clamp := func(n int64) int64 { return min(max(n, 0), maxTokens) }
	u := tokenUsage{prompt: clamp(f.PromptTokens), completion: clamp(f.CompletionTokens)}
	if u.prompt == 0 {
		u.prompt = clamp(f.InputTokens)
	}
	if u.completion == 0 {
		u.completion = clamp(f.OutputTokens)
	}
	return u, u.prompt != 0 || u.completion != 0
}
