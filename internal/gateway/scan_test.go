package gateway

import (
	"encoding/json"
	"testing"
)

// scanPieces feeds input to s in pieces cut at the given offsets.
func scanPieces(s usageScanner, input []byte, cuts ...int) (tokenUsage, bool) {
	prev := 0
	for _, c := range cuts {
		c = min(max(c, prev), len(input))
		s.write(input[prev:c])
		prev = c
	}
	s.write(input[prev:])
	return s.result()
}

func TestJSONUsage(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want tokenUsage
		ok   bool
	}{
		{"chat completion", `{"id":"x","choices":[{"message":{"content":"usage: {\"usage\":{\"prompt_tokens\":99}}"}}],"usage":{"prompt_tokens":7,"completion_tokens":5,"total_tokens":12}}`, tokenUsage{7, 5}, true},
		{"embeddings", `{"data":[{"embedding":[0.1,-2e-3]}],"model":"e","usage":{"prompt_tokens":3,"total_tokens":3}}`, tokenUsage{3, 0}, true},
		{"responses API", `{"object":"response","usage":{"input_tokens":11,"output_tokens":4,"output_tokens_details":{"reasoning_tokens":0}}}`, tokenUsage{11, 4}, true},
		{"nested usage is not the answer's", `{"choices":[{"usage":{"prompt_tokens":1}}],"meta":{"usage":{"prompt_tokens":2}}}`, tokenUsage{}, false},
		{"usage in response", `{"type":"response.completed","response":{"id":"r","usage":{"input_tokens":8,"output_tokens":2}}}`, tokenUsage{8, 2}, true},
		{"top-level wins over response", `{"response":{"usage":{"input_tokens":8}},"usage":{"prompt_tokens":1}}`, tokenUsage{1, 0}, true},
		{"usage null", `{"usage":null}`, tokenUsage{}, false},
		{"later member wins", `{"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2}}`, tokenUsage{2, 0}, true},
		{"later null wins", `{"usage":{"prompt_tokens":1},"usage":null}`, tokenUsage{}, false},
		{"escaped key", `{"us\u0061ge":{"prompt_tokens":4}}`, tokenUsage{4, 0}, true},
		{"key in a string value", `{"a":"\"usage\":{\"prompt_tokens\":4}"}`, tokenUsage{}, false},
		{"negative counts", `{"usage":{"prompt_tokens":-4,"completion_tokens":2}}`, tokenUsage{0, 2}, true},
		{"huge counts", `{"usage":{"prompt_tokens":1e300}}`, tokenUsage{}, false},
		{"array", `[{"usage":{"prompt_tokens":4}}]`, tokenUsage{}, false},
		{"truncated", `{"usage":{"prompt_tokens":4`, tokenUsage{}, false},
		{"whitespace", " {\n \"usage\" : {\n \"prompt_tokens\" : 4 ,\"completion_tokens\":1} } ", tokenUsage{4, 1}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for cut := range len(tc.in) + 1 { // every way of cutting it in two
				got, ok := scanPieces(&jsonUsage{}, []byte(tc.in), cut)
				if got != tc.want || ok != tc.ok {
					t.Fatalf("cut at %d: got %+v, %v; want %+v, %v", cut, got, ok, tc.want, tc.ok)
				}
			}
		})
	}
}

func TestSSEUsage(t *testing.T) {
	chunk := `{"choices":[{"delta":{"content":"Hi"}}],"usage":null}`
	usage := `{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":5}}`
	cases := []struct {
		name string
		in   string
		want tokenUsage
		ok   bool
	}{
		{"chat with usage", "data: " + chunk + "\n\ndata: " + usage + "\n\ndata: [DONE]\n\n", tokenUsage{7, 5}, true},
		{"chat without usage", "data: " + chunk + "\n\ndata: [DONE]\n\n", tokenUsage{}, false},
		{"CRLF and comments", ": keep-alive\r\n\r\ndata:" + usage + "\r\n\r\ndata: [DONE]\r\n\r\n", tokenUsage{7, 5}, true},
		{"CR only", "data: " + usage + "\r\rdata: [DONE]\r\r", tokenUsage{7, 5}, true},
		{"data over two lines", "data: {\"usage\":\ndata: {\"prompt_tokens\":3}}\n\n", tokenUsage{3, 0}, true},
		{"last report wins", "data: {\"usage\":{\"prompt_tokens\":1}}\n\ndata: {\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":9}}\n\n", tokenUsage{2, 9}, true},
		{"a later null does not erase", "data: " + usage + "\n\ndata: " + chunk + "\n\n", tokenUsage{7, 5}, true},
		{"no blank line at the end", "data: " + usage, tokenUsage{7, 5}, true},
		{"responses API", "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\nevent: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":6}}}\n\n", tokenUsage{5, 6}, true},
		{"other fields are not data", "event: {\"usage\":{\"prompt_tokens\":1}}\nid: 1\ndatax: {\"usage\":{\"prompt_tokens\":1}}\n\n", tokenUsage{}, false},
		{"two events without a blank line are one", "data: {\"usage\":{\"prompt_tokens\":1}}\ndata: {\"usage\":{\"prompt_tokens\":2}}\n\n", tokenUsage{1, 0}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for cut := range len(tc.in) + 1 {
				got, ok := scanPieces(&sseUsage{}, []byte(tc.in), cut)
				if got != tc.want || ok != tc.ok {
					t.Fatalf("cut at %d: got %+v, %v; want %+v, %v", cut, got, ok, tc.want, tc.ok)
				}
			}
		})
	}
}

// oracleUsage is what encoding/json says an answer's usage is: the top-level
// "usage" member, else the top-level "response" object's. It reports false
// as well when the usage value is longer than the scanner keeps.
func oracleUsage(doc []byte) (u tokenUsage, ok, comparable bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(doc, &top) != nil {
		return tokenUsage{}, false, false
	}
	raw, has := top["usage"]
	if !has {
		var resp map[string]json.RawMessage
		if r, ok := top["response"]; ok && json.Unmarshal(r, &resp) == nil {
			raw, has = resp["usage"]
		}
	}
	if !has {
		return tokenUsage{}, false, true
	}
	if len(raw) > usageCap {
		return tokenUsage{}, false, false
	}
	u, ok = decodeUsage(raw)
	return u, ok, true
}

// FuzzJSONUsage: on any input the scanner neither panics nor depends on how
// the input is cut; on a JSON document it finds what encoding/json finds.
func FuzzJSONUsage(f *testing.F) {
	for _, s := range []string{
		`{"usage":{"prompt_tokens":7,"completion_tokens":5}}`,
		`{"response":{"usage":{"input_tokens":1,"output_tokens":2}}}`,
		`{"a":[{"usage":1}],"usage":{"prompt_tokens":"x"}}`,
		`{"us\u0061ge":{"prompt_tokens":4},"usage":null}`,
		`{"response":null,"response":{"usage":{"input_tokens":3}}}`,
		`{"usage":true}`, `{"usage":7}`, `[]`, `"usage"`, `}{`, `{"usage":{"prompt_tokens":1}`,
	} {
		f.Add([]byte(s), uint16(3), uint16(20))
	}
	f.Fuzz(func(t *testing.T, doc []byte, cut1, cut2 uint16) {
		whole, okWhole := scanPieces(&jsonUsage{}, doc)
		cut, okCut := scanPieces(&jsonUsage{}, doc, int(cut1), int(cut1)+int(cut2))
		if whole != cut || okWhole != okCut {
			t.Fatalf("whole: %+v %v; cut at %d and +%d: %+v %v", whole, okWhole, cut1, cut2, cut, okCut)
		}
		if !json.Valid(doc) {
			return
		}
		want, ok, comparable := oracleUsage(doc)
		if comparable && (whole != want || okWhole != ok) {
			t.Fatalf("scanner found %+v %v; encoding/json %+v %v", whole, okWhole, want, ok)
		}
	})
}

// FuzzSSEUsage: on any stream the scanner neither panics nor depends on how
// the stream is cut; a stream whose last data event is a JSON document
// reports what encoding/json finds in it, when that is a usage.
func FuzzSSEUsage(f *testing.F) {
	for _, s := range []string{
		`{"usage":{"prompt_tokens":7,"completion_tokens":5}}`,
		`{"type":"response.completed","response":{"usage":{"input_tokens":1,"output_tokens":2}}}`,
		"{\"usage\":\r\n{\"prompt_tokens\":1}}",
		`[DONE]`, `{"usage":null}`,
	} {
		f.Add([]byte("data: {\"x\":1}\n\n: comment\r\n"), []byte(s), uint16(5), uint16(9))
	}
	f.Fuzz(func(t *testing.T, prefix, data []byte, cut1, cut2 uint16) {
		stream := append(append(append([]byte{}, prefix...), "\n\ndata: "...), data...)
		stream = append(stream, "\n\n"...)
		whole, okWhole := scanPieces(&sseUsage{}, stream)
		cut, okCut := scanPieces(&sseUsage{}, stream, int(cut1), int(cut1)+int(cut2))
		if whole != cut || okWhole != okCut {
			t.Fatalf("whole: %+v %v; cut at %d and +%d: %+v %v", whole, okWhole, cut1, cut2, cut, okCut)
		}
		for _, c := range data {
			if c == '\r' || c == '\n' {
				return // the data spans lines: its JSON is not what was written
			}
		}
		if !json.Valid(data) {
			return
		}
		if want, ok, comparable := oracleUsage(data); comparable && ok && (whole != want || !okWhole) {
			t.Fatalf("stream's last event reports %+v; scanner found %+v %v", want, whole, okWhole)
		}
	})
}
