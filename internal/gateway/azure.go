package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/latchkey/latchkey/internal/errs"
)

// azureOperations are the Azure OpenAI deployment operations the gateway
// serves, each a POST of a JSON body, and the OpenAI path each maps to.
var azureOperations = map[string]string{
	"chat/completions":   "/chat/completions",
	"completions":        "/completions",
	"embeddings":         "/embeddings",
	"audio/speech":       "/audio/speech",
	"images/generations": "/images/generations",
}

// azureOperationList names the operations in messages.
const azureOperationList = "chat/completions, completions, embeddings, audio/speech and images/generations"

// azurePath splits an Azure OpenAI rest path, "/deployments/{d}/{operation}",
// into the deployment and the upstream's OpenAI path.
func azurePath(op, method, rest string) (deployment, path string, err error) {
	tail, ok := strings.CutPrefix(strings.TrimPrefix(rest, "/"), "deployments/")
	if !ok {
		return "", "", errs.E(errs.NotFound, op, fmt.Sprintf(
			"the gateway serves Azure OpenAI deployment calls, /openai/deployments/{deployment}/{operation} with %s; %q is not one: for OpenAI paths use /accounts/{account}/v1/...",
			azureOperationList, "/openai"+ensureSlash(rest)), nil)
	}
	deployment, operation, _ := strings.Cut(tail, "/")
	path, known := azureOperations[operation]
	switch {
	case deployment == "":
		return "", "", errs.Invalidf(op, "deployment", "the path names no deployment: use /openai/deployments/{deployment}/{operation}")
	case !known:
		return "", "", errs.E(errs.NotFound, op, fmt.Sprintf(
			"the gateway does not serve the Azure OpenAI operation %q of deployment %q: it serves %s",
			operation, deployment, azureOperationList), nil)
	case method != http.MethodPost:
		return "", "", errs.Invalidf(op, "method", "%s is not allowed on %s: send a POST with a JSON body", method, operation)
	}
	return deployment, path, nil
}

func ensureSlash(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return "/" + p
}

// readBody reads a request body of at most limit bytes (body is a
// MaxBytesReader of that limit). It returns Invalid when the body is larger
// or cannot be read.
func readBody(op string, body io.Reader, limit int64) ([]byte, error) {
	raw, err := io.ReadAll(body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, errs.Invalidf(op, "body", "the request body is larger than %d bytes: send a smaller one", limit)
	case err != nil:
		return nil, errs.E(errs.Invalid, op, "the request body could not be read", err)
	}
	return raw, nil
}

// rewriteModel reads a JSON object of at most limit bytes from body and
// returns it with its "model" member set to model, every other member kept
// as sent. A duplicated "model" is replaced by the one model. It returns an
// Invalid error naming what is wrong with a body that is not a JSON object.
func rewriteModel(op string, body io.Reader, limit int64, model string) ([]byte, error) {
	raw, err := readBody(op, body, limit)
	if err != nil {
		return nil, err
	}
	return setModel(op, raw, model)
}

// setModel is rewriteModel's work on a body already read.
func setModel(op string, raw []byte, model string) ([]byte, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errs.Invalidf(op, "body", `the request body is empty: send a JSON object such as {"messages":[{"role":"user","content":"Hello"}]}`)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, errs.Invalidf(op, "body", "%s", jsonProblem(err))
	}
	if members == nil { // the body was null
		return nil, errs.Invalidf(op, "body", "the request body must be a JSON object; it is null")
	}
	name, err := json.Marshal(model)
	if err != nil {
		return nil, errs.E(errs.Internal, op, "", err)
	}
	members["model"] = name
	var out bytes.Buffer
	out.Grow(len(raw) + len(name) + 10)
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // keep the caller's text as it was sent
	if err := enc.Encode(members); err != nil {
		return nil, errs.E(errs.Internal, op, "", err)
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// jsonProblem says in a sentence what is wrong with a body json.Unmarshal
// refused.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("the request body is not valid JSON: %s, at byte %d", syntax.Error(), syntax.Offset)
	case errors.As(err, &typ) && typ.Field == "":
		return fmt.Sprintf(`the request body must be a JSON object such as {"messages":[...]}; it is a JSON %s`, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the request body is not valid JSON: it ends before the object is closed"
	}
	return "the request body is not a valid JSON object: " + err.Error()
}
