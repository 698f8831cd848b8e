package audit_test

import (
	"reflect"
	"testing"

	"github.com/latchkey/latchkey/internal/audit"
)

// TestEventHoldsNoSecret pins Event's fields and their types. Event must
// have no field that could carry a secret value by accident: no bytes, no
// map, no interface (an error, an any), no body or headers. A new field
// fails this test until it is added here, after that review.
func TestEventHoldsNoSecret(t *testing.T) {
	want := map[string]string{
		"Time":          "time.Time",
		"CorrelationID": "string",
		"PrincipalID":   "string",
		"PrincipalType": "string",
		"PrincipalName": "string",
		"AuthMethod":    "string",
		"ClientIP":      "netip.Addr",
		"Operation":     "string",
		"Scope":         "string",
		"Result":        "audit.Result",
		"Status":        "int",
		"Reason":        "string",
	}
	typ := reflect.TypeFor[audit.Event]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if got := f.Type.String(); want[f.Name] != got {
			t.Errorf("Event.%s is a %s: review it against the no-secret rule, then list it here", f.Name, got)
		}
		delete(want, f.Name)
		switch f.Type.Kind() {
		case reflect.Slice, reflect.Array, reflect.Map, reflect.Interface, reflect.Pointer, reflect.Func, reflect.Chan:
			t.Errorf("Event.%s is a %s, which could carry anything", f.Name, f.Type.Kind())
		}
	}
	for name := range want {
		t.Errorf("Event.%s is gone: update this test", name)
	}
}
