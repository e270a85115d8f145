package mysql

import (
	"errors"
	"fmt"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/omnibroker/omnibroker/backends"
)

// Server error numbers this package words or tests for (MariaDB's errmsg names).
const (
	erDiskFull                = 1021
	erOutOfMemory             = 1037
	erOutOfSortMemory         = 1038
	erConCount                = 1040
	erOutOfResources          = 1041
	erDBAccessDenied          = 1044
	erAccessDenied            = 1045
	erBadDB                   = 1049
	erServerShutdown          = 1053
	erNoSuchThread            = 1094
	erKillDenied              = 1095
	erRecordFileFull          = 1114
	erHostIsBlocked           = 1129
	erHostNotPrivileged       = 1130
	erCantCreateThread        = 1135
	erTableAccessDenied       = 1142
	erColumnAccessDenied      = 1143
	erTooManyUserConnections  = 1203
	erLockWaitTimeout         = 1205
	erLockDeadlock            = 1213
	erUserLimitReached        = 1226
	erSpecificAccessDenied    = 1227
	erNotSupportedAuthMode    = 1251
	erOptionPreventsStatement = 1290
	erQueryInterrupted        = 1317
	erProcAccessDenied        = 1370
	erAccessDeniedNoPassword  = 1698
	erReadOnlyMode            = 1836
	erMustChangePasswordLogin = 1862
	erConnectionKilled        = 1927
	erStatementTimeout        = 1969
	erAccountHasBeenLocked    = 4151
)

// fail turns an error met while the node was doing action (a verb phrase such as "create the
// database") into one that carries a sentence for last_operation: the node and the cause in
// plain words, never driver text, which can quote an account. Errors that already carry a
// sentence pass through unchanged, unless the context ended: then that is the cause worth
// telling. None of these are permanent: an operator can fix each of them, and a retry then
// succeeds.
func (n *node) fail(action string, err error) error {
	return backends.Fail(err, func(err error) string { return n.sentence(action, err) })
}

func (n *node) sentence(action string, err error) string {
	if s := backends.TransportSentence(n.name, err); s != "" {
		return s
	}
	if errors.Is(err, gomysql.ErrInvalidConn) {
		// The driver says no more when the socket failed or its read timeout expired.
		return fmt.Sprintf("node %s dropped the connection or stopped answering", n.name)
	}
	if e, ok := errors.AsType[*gomysql.MySQLError](err); ok {
		switch e.Number {
		case erAccessDenied, erAccessDeniedNoPassword, erHostNotPrivileged, erNotSupportedAuthMode,
			erMustChangePasswordLogin, erAccountHasBeenLocked:
			return fmt.Sprintf("node %s rejected the broker's login", n.name)
		case erHostIsBlocked:
			return fmt.Sprintf("node %s blocks the broker's host after too many failed connections", n.name)
		case erConCount, erTooManyUserConnections:
			return fmt.Sprintf("node %s ran out of connections", n.name)
		case erDiskFull, erRecordFileFull, erOutOfMemory, erOutOfSortMemory, erOutOfResources,
			erCantCreateThread, erUserLimitReached:
			return fmt.Sprintf("node %s ran out of resources (disk, memory or connections)", n.name)
		case erQueryInterrupted, erStatementTimeout:
			return fmt.Sprintf("node %s cancelled the statement to %s", n.name, action)
		case erServerShutdown:
			return fmt.Sprintf("node %s is starting up or shutting down", n.name)
		case erConnectionKilled:
			return fmt.Sprintf("node %s dropped the connection", n.name)
		case erDBAccessDenied, erTableAccessDenied, erColumnAccessDenied, erSpecificAccessDenied,
			erProcAccessDenied, erKillDenied:
			return fmt.Sprintf("the broker's admin user on node %s lacks a privilege it needs to %s", n.name, action)
		case erLockWaitTimeout, erLockDeadlock:
			return fmt.Sprintf("node %s could not %s: another session held a lock it needed", n.name, action)
		case erOptionPreventsStatement, erReadOnlyMode:
			return fmt.Sprintf("node %s is read-only, or runs with an option that forbids the statement to %s", n.name, action)
		case erBadDB:
			return fmt.Sprintf("node %s could not %s: a database is missing", n.name, action)
		}
	}
	return fmt.Sprintf("node %s failed to %s", n.name, action)
}
