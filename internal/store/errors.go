package store

import (
	"errors"

	"github.com/latchkey/latchkey/internal/errs"
)

// Error turns an error of a store method into the domain's error of operation
// op about what (such as "vault kv"): ErrNotFound becomes NotFound ("... was
// not found"), ErrConflict Conflict ("... already exists"), ErrInvalid an
// Invalid page token, anything else Unavailable. nil stays nil. Domains with
// better words for a case check for it before calling Error.
func Error(op, what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound):
		return errs.E(errs.NotFound, op, what+" was not found", err)
	case errors.Is(err, ErrConflict):
		return errs.E(errs.Conflict, op, what+" already exists", err)
	case errors.Is(err, ErrInvalid):
		return errs.Invalidf(op, "$skiptoken", "the page token is not one this server issued: follow nextLink unchanged")
	}
	return errs.E(errs.Unavailable, op, "", err)
}
