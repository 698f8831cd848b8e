package audit

import (
	"context"
	"testing"
)

func TestNote(t *testing.T) {
	if Annotate(context.Background(), "/", "nothing to note on") {
		t.Error("Annotate without a Note reported true")
	}
	ctx, n := WithNote(context.Background())
	if n.Detail() != "" || n.Scope() != "" {
		t.Errorf("a new Note holds %q at %q", n.Detail(), n.Scope())
	}
	if !Annotate(ctx, "/hubs/h", "roleAssignment.create: principal p, role r") || !Annotate(ctx, "/hubs/h2", "second") {
		t.Fatal("Annotate with a Note reported false")
	}
	if got, want := n.Detail(), "roleAssignment.create: principal p, role r; second"; got != want {
		t.Errorf("Detail() = %q, want %q", got, want)
	}
	if got := n.Scope(); got != "/hubs/h" {
		t.Errorf("Scope() = %q, want the first annotation's, /hubs/h", got)
	}
	var none *Note
	if none.Detail() != "" || none.Scope() != "" {
		t.Error("a nil Note is not empty")
	}
}
