package mysql

import (
	"errors"

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

// cause reads a MariaDB error into the words last_operation shows: the node and the cause in
// plain words, never driver text, which can quote an account.
func cause(err error) backends.Cause {
	if c := backends.TransportCause(err); c != "" {
		return c
	}
	if errors.Is(err, gomysql.ErrNoTLS) {
		return backends.NotTLS
	}
	if errors.Is(err, gomysql.ErrInvalidConn) {
		// The driver says no more when the socket failed or its read timeout expired.
		return "node %[1]s dropped the connection or stopped answering"
	}
	e, ok := errors.AsType[*gomysql.MySQLError](err)
	if !ok {
		return backends.FailedTo
	}
	switch e.Number {
	case erAccessDenied, erAccessDeniedNoPassword, erHostNotPrivileged, erNotSupportedAuthMode,
		erMustChangePasswordLogin, erAccountHasBeenLocked:
		return backends.LoginRejected
	case erHostIsBlocked:
		return "node %[1]s blocks the broker's host after too many failed connections"
	case erConCount, erTooManyUserConnections:
		return backends.OutOfConnections
	case erDiskFull, erRecordFileFull, erOutOfMemory, erOutOfSortMemory, erOutOfResources,
		erCantCreateThread, erUserLimitReached:
		return backends.OutOfResources
	case erQueryInterrupted, erStatementTimeout:
		return backends.StatementCancelled
	case erServerShutdown:
		return backends.ShuttingDown
	case erConnectionKilled:
		return backends.Dropped
	case erDBAccessDenied, erTableAccessDenied, erColumnAccessDenied, erSpecificAccessDenied,
		erProcAccessDenied, erKillDenied:
		return backends.LacksPrivilege
	case erLockWaitTimeout, erLockDeadlock:
		return "node %[1]s could not %[2]s: another session held a lock it needed"
	case erOptionPreventsStatement, erReadOnlyMode:
		return "node %[1]s is read-only, or runs with an option that forbids the statement to %[2]s"
	case erBadDB:
		return backends.DatabaseMissing
	}
	return backends.FailedTo
}
