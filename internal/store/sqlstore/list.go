package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/internal/store"
)

// conditions builds the WHERE clause of a listing with optional filters. Its
// text holds only column names written in this package and numbered
// placeholders; values travel as arguments.
type conditions struct {
	terms []string
	args  []any
}

// equal adds "column = $N" for value, unless value is "", which matches all.
func (c *conditions) equal(column, value string) {
	if value == "" {
		return
	}
	c.add(column+" = $%d", value)
}

// null adds "column IS NULL" when isNull, else "column IS NOT NULL".
func (c *conditions) null(column string, isNull bool) {
	if isNull {
		c.terms = append(c.terms, column+" IS NULL")
	} else {
		c.terms = append(c.terms, column+" IS NOT NULL")
	}
}

// add adds term, whose %d becomes the placeholder of arg.
func (c *conditions) add(term string, arg any) {
	c.args = append(c.args, arg)
	c.terms = append(c.terms, fmt.Sprintf(term, len(c.args)))
}

// listPage reads one page of the rows of table that match where, ordered by
// the text column key, and returns the cursor of the next page. columns are
// what scan reads; keyOf gives an item's key, the cursor of its page.
func listPage[T any](ctx context.Context, d *DB, columns, table, key string, where conditions, p store.Page,
	scan func(scanner) (T, error), keyOf func(T) string) ([]T, string, error) {
	after, err := decodeCursor(p.After)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(p.Limit)
	where.add(key+" > $%d", after)
	where.args = append(where.args, limit+1) // one row more tells whether a page follows
	query := fmt.Sprintf(`SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT $%d`,
		columns, table, strings.Join(where.terms, " AND "), key, len(where.args))
	rows, err := d.db.QueryContext(ctx, query, where.args...)
	if err != nil {
		return nil, "", err
	}
	items, err := scanAll(rows, scan)
	if err != nil {
		return nil, "", err
	}
	items, next := pageOf(items, limit, keyOf)
	return items, next, nil
}
