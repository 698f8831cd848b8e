package client

import (
	"reflect"
	"testing"
)

func TestNewConnectionCredentials(t *testing.T) {
	cases := []struct {
		name   string
		fields map[string]string
		want   *ConnectionCredentials
	}{
		{"none", nil, nil},
		{"api key", map[string]string{"key": "k"}, &ConnectionCredentials{Key: "k"}},
		{"custom keys", map[string]string{"keys.a": "1", "keys.b": "2"}, &ConnectionCredentials{Keys: map[string]string{"a": "1", "b": "2"}}},
		{"service principal", map[string]string{"clientId": "c", "clientSecret": "s", "tenantId": "t", "resourceId": "r"},
			&ConnectionCredentials{ClientID: "c", ClientSecret: "s", TenantID: "t", ResourceID: "r"}},
		{"sas and an unknown field", map[string]string{"sas": "x", "other": "y"}, &ConnectionCredentials{SAS: "x"}},
	}
	for _, tc := range cases {
		if got := NewConnectionCredentials(tc.fields); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: NewConnectionCredentials(%v) = %+v, want %+v", tc.name, tc.fields, got, tc.want)
		}
	}
}
