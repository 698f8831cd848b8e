package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// changeChannel is the notification channel of the change feed: every
// transaction that appends a change notifies it, and PostgreSQL delivers the
// notification when the transaction commits.
const changeChannel = "latchkey_changes"

// notifyChange is the dialect's Notify. Notifications of one transaction with
// the same payload are delivered once.
const notifyChange = `SELECT pg_notify('` + changeChannel + `', '')`

// changeLock is the dialect's ChangeLock. The EXCLUSIVE mode lets plain reads
// of changes through but makes writers of the feed take turns from their
// append to their commit, so a reader that sees a change has seen every
// change with a lower Seq.
const changeLock = `LOCK TABLE changes IN EXCLUSIVE MODE`

// The listener's reconnection backoff: it doubles from the first to the
// longest wait, and starts again after a successful LISTEN.
const (
	firstListenRetry   = 250 * time.Millisecond
	longestListenRetry = 30 * time.Second
)

// listen is the dialect's Listen: it holds one connection of db that LISTENs
// on changeChannel and calls signal once it listens and after every
// notification, until ctx is done. When the connection fails it reconnects
// with a growing backoff and signals again once it listens, since changes may
// have been missed meanwhile. It reports no errors: the change feed itself is
// durable, and a reader that is not woken catches up at the next signal.
func listen(ctx context.Context, db *sql.DB, signal func()) {
	wait := firstListenRetry
	for {
		listening, _ := listenOnce(ctx, db, signal)
		if listening {
			wait = firstListenRetry
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, longestListenRetry)
	}
}

// listenOnce takes a connection from db, LISTENs on it, and signals until ctx
// is done or the connection fails. It reports whether LISTEN succeeded. The
// connection is never given back to the pool, which would hand it on still
// listening: it is closed.
func listenOnce(ctx context.Context, db *sql.DB, signal func()) (listening bool, err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("listen for changes: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(driverConn any) error {
		c, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("listen for changes: the driver connection is a %T, not pgx's", driverConn)
		}
		pgc := c.Conn()
		if _, err := pgc.Exec(ctx, "LISTEN "+changeChannel); err != nil {
			return errors.Join(driver.ErrBadConn, fmt.Errorf("listen for changes: %w", err))
		}
		listening = true
		signal()
		for {
			if _, err := pgc.WaitForNotification(ctx); err != nil {
				// Discard the connection: it listens, and may be mid-message.
				return errors.Join(driver.ErrBadConn, fmt.Errorf("wait for changes: %w", err))
			}
			signal()
		}
	})
	return listening, err
}
